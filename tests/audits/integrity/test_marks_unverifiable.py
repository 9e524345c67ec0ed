"""With every record leaf's index gone (the superuser emptied the record index),
no page or API answer fails: every record that was checked against it shows
"not verified", and none shows the check mark (issue 13, item 5). Also: the
pack page and API mark the pack row, and an empty page costs no ledger query."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits import services as audit_services
from audits.evidence import services as pack_services
from audits.integrity import verify
from audits.models import RefusalKind
from audits.monitoring import services as monitoring
from governance import services
from governance.models import ReleaseRequest
from registry.models import Document, ModelCard
from tests.audits.integrity.marks_helpers import element, marks, sequence, tamper
from tests.conftest import client_for

pytestmark = pytest.mark.usefixtures("ledger_key")


def _empty_the_record_index() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute('ALTER TABLE "audits_recordcommitment" DISABLE TRIGGER ALL')
        cursor.execute('DELETE FROM "audits_recordcommitment"')
        cursor.execute('ALTER TABLE "audits_recordcommitment" ENABLE TRIGGER ALL')


def test_without_record_leaves_every_page_answers_and_nothing_is_vouched_for(
    approved: ReleaseRequest,
    validator: Any,
    approver: Any,
    developer: Any,
    auditor: Any,
) -> None:
    risk_officer = approver  # rita, a risk officer
    version = approved.model_version
    finding = services.finding_raise(
        actor=validator,
        version=version,
        severity="low",
        title="Thin holdout",
        description="Small.",
        owner=None,
        due_date=None,
        sr_section="",
    )
    end = timezone.now().replace(minute=0, second=0, microsecond=0)
    report = monitoring.report_request(
        actor=risk_officer,
        version=version,
        environment="production",
        kind="drift",
        window_start=end - timedelta(days=1),
        window_end=end,
    )
    alert, _ = monitoring.alert_raise(
        kind="drift",
        version=version,
        environment="production",
        message="drift breached",
        details={},
    )
    pack = pack_services.evidence_pack_request(
        actor=auditor,
        version=version,
        period_start=end - timedelta(days=30),
        period_end=end,
    )
    audit_services.refused_action_record(
        actor=developer,
        action="governance.release_request.approve",
        reason="separation of duties",
        kind=RefusalKind.SEPARATION_OF_DUTIES,
    )
    sequence()
    _empty_the_record_index()
    model = version.model
    card = ModelCard.objects.get(model_version=version)
    document = Document.objects.filter(model_version=version).order_by("pk").first()
    pages = {
        approver: [
            reverse("governance:request_detail", args=[approved.pk]),
            reverse("governance:findings"),
            reverse("audits:report", args=[report.pk]),
            reverse("audits:monitoring"),
        ],
        developer: [
            reverse("registry:model_history", args=[model.slug]),
            reverse("registry:card_history", args=[model.slug, version.version]),
            reverse(
                "registry:document_history",
                args=[model.slug, version.version, document.pk],
            ),
        ],
        auditor: [
            reverse("audits:access_log"),
            reverse("audits:refusals"),
            reverse("audits:pack", args=[pack.pk]),
        ],
    }
    for user, urls in pages.items():
        client = Client()
        client.force_login(user)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, url
            html = response.content.decode()
            if "access-log" in url or "refusals" in url:
                # audit events and refusals are their own leaves, still there
                assert set(marks(html)) == {"verified"}, url
            else:
                assert "not_verified" in marks(html), url
    history = _page(
        developer, reverse("registry:card_history", args=[model.slug, version.version])
    )
    assert set(marks(history)) == {"not_verified"}
    assert card.history.count() >= 1
    request_page = _page(
        approver, reverse("governance:request_detail", args=[approved.pk])
    )
    assert marks(element(request_page, "request-integrity")) == ["not_verified"]
    assert marks(element(request_page, f"finding-{finding.pk}")) == ["not_verified"]
    monitoring_page = _page(risk_officer, reverse("audits:monitoring"))
    assert marks(element(monitoring_page, f"alert-{alert.pk}")) == ["not_verified"]
    api = client_for(approver)
    for url in (
        f"/api/v1/release-requests/{approved.pk}",
        "/api/v1/release-requests",
        f"/api/v1/models/{model.slug}/versions/{version.version}/findings",
    ):
        response = api.get(url)
        assert response.status_code == 200, url
    body = api.get(f"/api/v1/release-requests/{approved.pk}").json()
    assert body["integrity"]["state"] == "not_verified"
    assert {s["integrity"]["state"] for s in body["signatures"]} == {"not_verified"}
    pack_api = client_for(auditor).get(f"/api/v1/evidence-packs/{pack.pk}")
    assert pack_api.status_code == 200
    assert pack_api.json()["integrity"]["state"] == "not_verified"


def _page(user: Any, url: str) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_pack_page_and_api_mark_an_altered_digest(
    approved: ReleaseRequest, auditor: Any
) -> None:
    end = timezone.now()
    pack = pack_services.evidence_pack_request(
        actor=auditor,
        version=approved.model_version,
        period_start=end - timedelta(days=30),
        period_end=end,
    )
    sequence()
    url = reverse("audits:pack", args=[pack.pk])

    clean = _page(auditor, url)
    tamper("audits_evidencepack", "manifest_sha256 = %s", pack.pk, ("0" * 64,))
    altered = _page(auditor, url)
    api = client_for(auditor).get(f"/api/v1/evidence-packs/{pack.pk}")

    assert marks(element(clean, "pack-integrity")) == ["verified"]
    assert marks(element(altered, "pack-integrity")) == ["altered"]
    assert api.status_code == 200
    assert api.json()["integrity"]["state"] == "altered"
    assert api.json()["integrity"]["fields"] == ["manifest_sha256"]


def test_an_empty_page_costs_no_ledger_query(
    db: Any, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(0):
        assert verify.verdicts([]) == {}
