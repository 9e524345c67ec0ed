"""Every kind of refusal, made the way an attacker or a careless user makes it (the
login form, an e-signature, the API with a session or a token), is recorded once
and shown to the auditor: on the Refused actions page, in GET /api/v1/refusals, and
(for the refusals that concern the model and its people) in the model's period pack.

tests/audits/test_refusals.py checks the page and API in detail on rows recorded
directly; this file checks that the real paths reach them."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.evidence import collect
from audits.models import RefusalKind, RefusedAction
from governance import services
from governance.choices import TokenScope
from tests.conftest import client_for
from tests.factories import PASSWORD

pytestmark = pytest.mark.usefixtures("ledger_key")

ATTACKER = "203.0.113.50"
WRONG = "not-the-password"


def _session(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _token(user: Any, scopes: list[str]) -> Client:
    issued = services.api_token_create(
        actor=user, user=user, name=f"only {scopes}", scopes=scopes
    )
    client = Client()
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {issued.raw}"
    return client


def test_each_kind_of_refusal_made_for_real_reaches_the_auditor(
    settings: Any,
    developer: Any,
    validator: Any,
    risk_officer: Any,
    auditor: Any,
    submitted_version: Any,
) -> None:
    settings.MODELGOV_REFUSAL_ALERT_THRESHOLD = 0  # alerts: test_refusal_alerts.py
    start = timezone.now()
    last = RefusedAction.objects.order_by("-id").values_list("id", flat=True).first()
    model = submitted_version.model
    # given five wrong passwords for dana at the login form: failed, then locked
    for _ in range(5):
        Client().post(
            reverse("login"),
            {"username": "dana", "password": WRONG},
            REMOTE_ADDR=ATTACKER,
        )
    # and a validation signed with a wrong password
    rr = services.release_request_create(
        actor=developer, version=submitted_version, environments=["production"]
    )
    rr = services.release_request_submit(actor=developer, request=rr)
    rr = services.release_request_start_validation(actor=validator, request=rr)
    with pytest.raises(services.SignaturePasswordError):
        services.release_request_record_validation(
            actor=validator, request=rr, outcome="approve", password=WRONG
        )
    # and a developer putting the risk officer on the team through the API
    team = _session(developer).patch(
        f"/api/v1/models/{model.slug}",
        data=json.dumps({"developers": ["dana", "rita"]}),
        content_type="application/json",
    )
    # and a validator registering a model, which the role may not
    write = _session(validator).post(
        "/api/v1/models",
        data=json.dumps({"slug": "shadow", "name": "Shadow"}),
        content_type="application/json",
    )
    # and a registry token listing its owner's tokens, and another minting one
    scope = _token(risk_officer, [TokenScope.REGISTRY_READ]).get("/api/v1/tokens")
    mint = _token(risk_officer, [TokenScope.REGISTRY_READ]).post(
        "/api/v1/tokens",
        data=json.dumps({"name": "another"}),
        content_type="application/json",
    )
    assert (team.status_code, write.status_code) == (403, 403)
    assert (scope.status_code, mint.status_code) == (403, 403)
    # then each attempt is recorded once, with its kind and who made it
    made = [
        (r.kind, r.username)
        for r in RefusedAction.objects.filter(id__gt=last or 0).order_by("id")
    ]
    assert made == [
        *[(RefusalKind.LOGIN_FAILED, "dana")] * 5,
        (RefusalKind.LOCKED_OUT, "dana"),
        (RefusalKind.SIGNATURE_PASSWORD, "vera"),
        (RefusalKind.SEPARATION_OF_DUTIES, "dana"),
        (RefusalKind.PERMISSION, "vera"),
        (RefusalKind.TOKEN_SCOPE, "rita"),
        (RefusalKind.TOKEN_MISUSE, "rita"),
    ]
    # when the auditor reads the API and the page
    listed = client_for(auditor).get("/api/v1/refusals?limit=100").json()
    page = _session(auditor).get("/audits/refusals").content.decode()
    # then every kind is there
    assert {row["kind"] for row in listed["results"]} == set(RefusalKind.values)
    for label in RefusalKind.labels:
        assert str(label) in page, label
    # and the model's period pack holds the refusals on the model and of its people
    now = timezone.now()
    content = collect.period_pack_content(
        model=model,
        period_start=start - timedelta(minutes=1),
        period_end=now + timedelta(minutes=1),
        as_of=now,
    )
    source = json.loads(
        next(s for s in content.sources if s.name == "refusals.json").content
    )
    assert [r["kind"] for r in source["on_model"]] == [
        RefusalKind.SIGNATURE_PASSWORD,
        RefusalKind.SEPARATION_OF_DUTIES,
    ]
    assert [r["kind"] for r in source["of_people"]] == [
        *[RefusalKind.LOGIN_FAILED] * 5,
        RefusalKind.LOCKED_OUT,
    ]
    # and the right password stays refused while dana is locked
    assert not Client().login(username="dana", password=PASSWORD)
