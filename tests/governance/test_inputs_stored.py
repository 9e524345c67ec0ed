"""Data stored before the input boundary (inserted here with SQL, bypassing it) stays
readable everywhere and is found by ``manage.py input_scan``."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.evidence import collect
from audits.models import AuditEvent
from governance.exceptions import Conflict
from registry import services as registry_services
from registry.models import ModelCard, ModelVersion

DEEP = "[" * 100 + "]" * 100
# What PostgreSQL's jsonb keeps and the boundary now refuses: a number past a double
# (jsonb keeps 1e400 exactly, read back as a 401-digit integer), an integer beyond
# 64 bits, nesting past 64 levels. Lone surrogates and NUL only fit in SQLite.
BAD_HYPERPARAMETERS = (
    '{"C": 1e400, "big": 18446744073709551617, "deep": ' + DEEP + ', "ok": 1}'
)


def _store_bad(version: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE registry_modelversion SET hyperparameters = %s::jsonb, "
            "metrics = %s::jsonb WHERE id = %s",
            [BAD_HYPERPARAMETERS, '{"auc": -1e400}', version.pk],
        )
        cursor.execute(
            "UPDATE registry_modelcard SET content = jsonb_set(content, "
            "'{model_details}', %s::jsonb) WHERE model_version_id = %s",
            ['{"weird": 1e999, "n": 18446744073709551617}', version.pk],
        )


def _page(user: Any, url: str) -> Any:
    client = Client()
    client.force_login(user)
    return client.get(url)


def test_stored_bad_values_are_readable_on_pages(draft_version, developer):
    # given
    _store_bad(draft_version)
    slug, number = draft_version.model.slug, draft_version.version
    # when
    card = _page(developer, reverse("registry:card_detail", args=[slug, number]))
    detail = _page(developer, reverse("registry:version_detail", args=[slug, number]))
    model = _page(developer, reverse("registry:model_detail", args=[slug]))
    # then
    assert card.status_code == 200
    assert detail.status_code == 200
    assert model.status_code == 200
    assert b"18446744073709551617" in detail.content


def test_stored_bad_values_are_readable_over_the_api(draft_version, developer, as_user):
    # given
    _store_bad(draft_version)
    slug, number = draft_version.model.slug, draft_version.version
    client = as_user(developer)
    # when
    version = client.get(f"/api/v1/models/{slug}/versions/{number}")
    versions = client.get(f"/api/v1/models/{slug}/versions")
    card = client.get(f"/api/v1/models/{slug}/versions/{number}/card")
    # then
    assert version.status_code == 200
    assert versions.status_code == 200
    assert card.status_code == 200
    body = version.json()
    assert body["hyperparameters"]["C"] == 10**400
    assert body["hyperparameters"]["big"] == 18446744073709551617
    assert body["metrics"] == {"auc": -(10**400)}


def test_submit_of_stored_bad_values_is_refused_naming_the_fields(
    draft_version, developer, as_user
):
    # given
    _store_bad(draft_version)
    slug, number = draft_version.model.slug, draft_version.version
    # when
    response = as_user(developer).post(
        f"/api/v1/models/{slug}/versions/{number}/submit"
    )
    # then
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "hyperparameters.C" in errors
    assert "hyperparameters.big" in errors
    assert "metrics.auc" in errors
    version = ModelVersion.objects.get(pk=draft_version.pk)
    assert (version.status, version.content_digest) == ("draft", "")


def test_stored_bad_values_are_collected_into_a_version_pack(draft_version):
    # given
    _store_bad(draft_version)
    now = timezone.now()
    # when
    content = collect.version_pack_content(
        version=draft_version,
        period_start=now - timedelta(days=30),
        period_end=now,
        as_of=now,
    )
    # then
    sources = {source.name: source.content for source in content.sources}
    assert b'"big":18446744073709551617' in sources["version.json"]
    assert content.html.startswith("<!DOCTYPE html>")


def test_input_scan_reports_stored_bad_values(draft_version):
    # given
    _store_bad(draft_version)
    out = StringIO()
    # when
    call_command("input_scan", stdout=out)
    # then
    text = out.getvalue()
    assert (
        f"registry.modelversion {draft_version.pk} hyperparameters.C: "
        "Integer outside" in text
    )
    assert f"registry.modelversion {draft_version.pk} hyperparameters.big:" in text
    assert f"registry.modelcard {draft_version.card.pk} content.model_details.n:" in (
        text
    )
    assert (
        ModelCard.objects.get(pk=draft_version.card.pk).content["model_details"]["n"]
        == 18446744073709551617
    )


def test_input_scan_repair_rewrites_a_draft_with_an_audit_event(draft_version):
    # given
    _store_bad(draft_version)
    out = StringIO()
    # when
    call_command("input_scan", "--repair", stdout=out)
    # then
    version = ModelVersion.objects.get(pk=draft_version.pk)
    assert version.hyperparameters["big"] == "18446744073709551617"
    assert version.hyperparameters["C"] == str(10**400)
    assert version.hyperparameters["ok"] == 1
    deep: Any = "[" * 37 + "]" * 37  # levels 64 to 100 of "deep", as text
    for _ in range(63):
        deep = [deep]
    assert version.hyperparameters["deep"] == deep
    assert version.metrics == {"auc": str(-(10**400))}
    event = AuditEvent.objects.get(
        event_type="registry.input.repaired",
        object_type="registry.modelversion",
        object_id=str(version.pk),
    )
    assert event.payload["fields"] == ["hyperparameters", "metrics"]
    again = StringIO()
    call_command("input_scan", stdout=again)
    assert f"registry.modelversion {version.pk} " not in again.getvalue()


def test_input_scan_reports_but_never_rewrites_insert_only_rows(draft_version):
    # given an audit event holding an integer beyond 64 bits
    event = AuditEvent.objects.create(
        event_type="test.stored", payload={"n": 2**64 + 1}
    )
    out = StringIO()
    # when
    call_command("input_scan", "--repair", stdout=out)
    # then
    text = out.getvalue()
    assert f"audits.auditevent {event.pk} payload.n: Integer outside" in text
    assert f"audits.auditevent {event.pk}: not repaired (insert-only" in text
    assert AuditEvent.objects.get(pk=event.pk).payload == {"n": 2**64 + 1}
    assert not AuditEvent.objects.filter(event_type="registry.input.repaired").exists()


def test_stored_input_repair_refuses_a_frozen_version(submitted_version):
    # given
    events = AuditEvent.objects.count()
    # when
    with pytest.raises(Conflict, match="only a draft's records may be repaired"):
        registry_services.stored_input_repair(
            actor=None,
            obj=submitted_version,
            fields={"hyperparameters": {"C": 1}},
            paths=["hyperparameters.C"],
        )
    # then
    version = ModelVersion.objects.get(pk=submitted_version.pk)
    assert version.hyperparameters == {"C": 1.0, "penalty": "l2"}
    assert AuditEvent.objects.count() == events
