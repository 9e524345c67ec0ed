"""The gate's answers to issue 12's open questions (ADR 0025): suspended and retired
models are denied everywhere; a caller learns nothing about models it may not see,
while the decision is recorded in full."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from audits.models import AuditEvent
from governance import services
from governance.models import GateDecision, ReleaseRequest
from registry import services as registry_services
from registry.models import ModelVersion
from tests.conftest import client_for
from tests.factories import UserFactory, sha
from tests.governance.test_admission import (
    ANNOTATED,
    ARTIFACT_URI,
    DIGEST,
    UID,
    deployment,
    inference_service,
    post,
    review,
)
from tests.governance.test_gate_api import URL, approve

ASK = {"model": "credit-risk", "version": "1.0.0", "environment": "production"}


@pytest.fixture(autouse=True)
def namespaces(settings: Any) -> None:
    settings.MODELGOV_NAMESPACE_ENVIRONMENTS = {
        "credit-prod": "production",
        "credit-staging": "staging",
    }


@pytest.fixture
def approval(
    submitted_version: Any, developer: Any, validator: Any, risk_officer: Any
) -> ReleaseRequest:
    return approve(
        version=submitted_version,
        developer=developer,
        validator=validator,
        risk_officer=risk_officer,
        environments=["production"],
    )


@pytest.fixture
def stranger_bot(db: Any) -> Any:
    """A service account with gate:check that is on no model's team."""
    return UserFactory(username="stranger-bot", role="service_account")


def _set_status(model: Any, status: str, risk_officer: Any) -> None:
    registry_services.model_update(
        actor=risk_officer, model=model, data={"status": status}
    )


# --- Suspended and retired models ------------------------------------------------


@pytest.mark.parametrize("status", ["suspended", "retired"])
def test_rest_gate_denies_an_approved_version_of_a_model_taken_out_of_use(
    approval: ReleaseRequest, service: Any, risk_officer: Any, status: str
) -> None:
    # given an approved version whose model the risk function then takes out of use
    _set_status(approval.model_version.model, status, risk_officer)
    # when the pipeline asks the gate (as modelgov check does)
    response = client_for(service).post(
        URL, ASK, format="json", HTTP_X_MODELGOV_CLIENT="cli"
    )
    # then it is denied for that reason alone, and the decision is recorded
    assert response.status_code == 200
    body = response.json()
    reason = f"the model credit-risk is {status}: no version of it may be promoted"
    assert (body["allowed"], body["reason"], body["reasons"]) == (
        False,
        reason,
        [reason],
    )
    assert (body["approval"], body["expires_at"]) == (None, None)
    record = GateDecision.objects.get()
    assert (record.allowed, record.reason, record.source) == (False, reason, "cli")
    assert record.inputs["subject"]["model_status"] == status
    approval.refresh_from_db()
    assert approval.state == "approved"


def test_gate_allows_again_when_the_model_is_back_in_use(
    approval: ReleaseRequest, service: Any, risk_officer: Any
) -> None:
    # given a suspended model put back in use
    model = approval.model_version.model
    _set_status(model, "suspended", risk_officer)
    _set_status(model, "in_use", risk_officer)
    # when
    response = client_for(service).post(URL, ASK, format="json")
    # then its still-valid approval allows again
    assert response.json()["allowed"] is True
    assert response.json()["approval"]["id"] == f"RR-{approval.pk}"


def test_admission_denies_an_approved_model_that_is_suspended(
    approval: ReleaseRequest, service: Any, risk_officer: Any
) -> None:
    # given
    _set_status(approval.model_version.model, "suspended", risk_officer)
    # when the apiserver asks about its InferenceService
    response = post(client_for(service), review(inference_service(ARTIFACT_URI)))
    # then
    record = GateDecision.objects.get()
    answer = response.json()["response"]
    assert answer["allowed"] is False
    assert answer["status"]["message"] == (
        "modelgov denied InferenceService credit-prod/credit in production "
        f"(spec.predictor.model.storageUri {ARTIFACT_URI}): the model credit-risk is "
        f"suspended: no version of it may be promoted [decision {record.decision_id}]"
    )


def test_gate_facts_carry_the_models_status(
    approval: ReleaseRequest, risk_officer: Any
) -> None:
    # given a retired model
    _set_status(approval.model_version.model, "retired", risk_officer)
    facts = services.gate_facts(
        version=ModelVersion.objects.get(pk=approval.model_version_id),
        environment="production",
        now=approval.approved_at,
    )
    # then the facts carry the status the rules deny on
    assert facts.subject is not None
    assert facts.subject.model_status == "retired"


# --- Models the caller may not see -------------------------------------------------


def _without_ids(body: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in body.items()
        if k not in {"decision_id", "decided_at", "caller"}
    }


@pytest.mark.parametrize(
    "ask",
    [
        ASK,
        {"artifact_sha256": sha("artifact-1.0.0"), "environment": "production"},
        {"model": "credit-risk", "version": "1.0.0", "environment": "moon"},
    ],
    ids=["by-name", "by-digest", "unknown-environment"],
)
def test_a_caller_who_may_not_see_the_model_gets_the_answer_for_no_model(
    approval: ReleaseRequest, stranger_bot: Any, risk_officer: Any, ask: Any
) -> None:
    # given a revoked approval (its reason is confidential to the model's people)
    services.release_request_revoke(
        actor=risk_officer, request=approval, reason="AIR breach in the back-test"
    )
    client = client_for(stranger_bot)
    missing = {**ask}
    if "model" in missing:
        missing["model"] = "no-such-model"
    else:
        missing["artifact_sha256"] = "0" * 64
    nothing_there = client.post(URL, missing, format="json").json()
    # when a gate:check token whose owner is on no team asks about the model
    response = client.post(URL, ask, format="json")
    # then it gets exactly the answer about a model that does not exist
    assert response.status_code == 200
    body = response.json()
    expected = _without_ids(nothing_there)
    expected.update(
        {k: ask.get(k, "") for k in ("model", "version", "artifact_sha256")}
    )
    assert _without_ids(body) == expected
    assert "AIR breach" not in response.content.decode()
    assert "RR-" not in response.content.decode()
    # and the decision is recorded in full for auditors
    record = GateDecision.objects.get(decision_id=body["decision_id"])
    assert (record.model_slug, record.version) == ("credit-risk", "1.0.0")
    assert (record.allowed, record.reason, record.approval) == (
        False,
        body["reason"],
        None,
    )
    assert record.reasons[1] == (
        f"concealed: {record.caller_display} may not see the model credit-risk; "
        "the rules said: denied"
    )
    if ask["environment"] == "production":
        assert record.reasons[2].endswith(": AIR breach in the back-test")
        assert record.inputs["concealed"] == {
            "allowed": False,
            "reason": record.reasons[2],
            "approval_id": f"RR-{approval.pk}",
        }
    event = AuditEvent.objects.filter(
        event_type="governance.gate.decided", object_id=str(record.pk)
    ).get()
    assert event is not None
    assert event.payload["concealed"] is True


def test_an_allowed_version_is_denied_to_a_caller_who_may_not_see_it(
    approval: ReleaseRequest, stranger_bot: Any
) -> None:
    # when
    response = client_for(stranger_bot).post(URL, ASK, format="json")
    # then the answer is a denial naming nothing, the record says the rules allowed
    body = response.json()
    assert (body["allowed"], body["reasons"], body["approval"]) == (
        False,
        ["no registered model version matches the request"],
        None,
    )
    record = GateDecision.objects.get()
    assert record.allowed is False
    assert record.inputs["concealed"]["allowed"] is True
    assert record.reasons[1].endswith("the rules said: allowed")


def test_a_gatekeeper_sees_every_model_and_is_answered_in_full(
    approval: ReleaseRequest,
) -> None:
    # given the admission webhook's account, on no team
    keeper = services.account_create(
        actor=None, username="kube-apiserver", role="gatekeeper"
    )
    # when
    response = client_for(keeper).post(URL, ASK, format="json")
    # then
    assert response.json()["allowed"] is True
    assert response.json()["approval"]["id"] == f"RR-{approval.pk}"
    assert keeper.has_usable_password() is False


def test_a_gatekeeper_token_carries_gate_check_only(db: Any) -> None:
    # given
    keeper = services.account_create(actor=None, username="gk", role="gatekeeper")
    # when
    issued = services.api_token_create(actor=keeper, user=keeper, name="t")
    # then
    assert list(issued.token.scopes) == ["gate:check"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw}")
    assert client.get("/api/v1/models").status_code == 403


def test_admission_about_a_hidden_storage_uri_answers_as_if_unregistered(
    approval: ReleaseRequest, stranger_bot: Any
) -> None:
    # given an apiserver whose account may not see the model
    client = client_for(stranger_bot)
    # when it asks about the approved model's storage URI
    response = post(client, review(inference_service(ARTIFACT_URI)))
    # then the message is the one for an unregistered URI
    record = GateDecision.objects.get()
    assert response.json()["response"]["status"]["message"] == (
        "modelgov denied InferenceService credit-prod/credit in production "
        f"(spec.predictor.model.storageUri {ARTIFACT_URI}): no registered model "
        f"version has the artifact URI {ARTIFACT_URI} [decision {record.decision_id}]"
    )
    assert (record.model_slug, record.inputs["concealed"]["allowed"]) == (
        "credit-risk",
        True,
    )


@pytest.mark.parametrize(
    "obj",
    [deployment(ANNOTATED), deployment({"modelgov.io/artifact-sha256": DIGEST})],
    ids=["by-name", "by-digest"],
)
def test_admission_about_a_hidden_model_by_annotation_names_nothing(
    approval: ReleaseRequest, stranger_bot: Any, obj: Any
) -> None:
    # when
    response = post(client_for(stranger_bot), review(obj))
    # then
    record = GateDecision.objects.get()
    assert response.json()["response"] == {
        "uid": UID,
        "allowed": False,
        "warnings": [],
        "status": {
            "code": 403,
            "reason": "Forbidden",
            "message": (
                "modelgov denied Deployment credit-prod/credit-scorer in production: "
                "no registered model version matches the request "
                f"[decision {record.decision_id}]"
            ),
        },
        "auditAnnotations": {"decision-id": str(record.decision_id)},
    }


def test_decision_reads_leave_out_models_the_reader_may_not_see(
    approval: ReleaseRequest, service: Any, stranger_bot: Any
) -> None:
    # given a decision about the model and one about nothing, by the stranger
    about_model = services.gate_check(
        actor=service, environment="production", model="credit-risk", version="1.0.0"
    ).record
    about_nothing = services.gate_check(
        actor=stranger_bot, environment="production", artifact_sha256="0" * 64
    ).record
    # and a reader who may read decisions but sees no model (granted by hand)
    reader = UserFactory(username="reader", role="service_account")
    reader.user_permissions.add(
        Permission.objects.get(
            content_type__app_label="governance", codename="view_gatedecision"
        )
    )
    client = APIClient()
    client.force_login(reader)
    # when
    listed = client.get(URL).json()
    detail = client.get(f"{URL}/{about_model.decision_id}")
    # then the decision about the hidden model is neither listed nor readable
    assert listed["count"] == 0
    assert detail.status_code == 404
    # while the stranger's own decision about no model is its to read
    stranger = APIClient()
    stranger_bot.user_permissions.add(
        Permission.objects.get(
            content_type__app_label="governance", codename="view_gatedecision"
        )
    )
    stranger.force_login(stranger_bot)
    assert [r["decision_id"] for r in stranger.get(URL).json()["results"]] == [
        str(about_nothing.decision_id)
    ]


def test_auditor_reads_the_concealed_decision_in_full(
    approval: ReleaseRequest, stranger_bot: Any, auditor: Any
) -> None:
    # given a concealed answer
    result = services.gate_check(
        actor=stranger_bot,
        environment="production",
        model="credit-risk",
        version="1.0.0",
    )
    assert result.concealed is True
    # when an auditor reads the decision
    body = client_for(auditor).get(f"{URL}/{result.record.decision_id}").json()
    # then it names the model and what the rules said
    assert (body["model"], body["version"], body["allowed"]) == (
        "credit-risk",
        "1.0.0",
        False,
    )
    assert body["reasons"][1] == (
        f"concealed: {result.record.caller_display} may not see the model "
        "credit-risk; the rules said: allowed"
    )
    assert body["reasons"][2].startswith("credit-risk 1.0.0 is approved for production")


def test_the_systems_own_gate_checks_are_not_concealed(
    approval: ReleaseRequest,
) -> None:
    # when the system itself asks (no account: the expiry sweep, benchmarks)
    result = services.gate_check(
        actor=None, environment="production", model="credit-risk", version="1.0.0"
    )
    # then it is judged in full
    assert result.concealed is False
    assert result.decision.allowed is True
    assert "concealed" not in result.record.inputs
