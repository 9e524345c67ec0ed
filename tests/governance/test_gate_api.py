"""The gate decision API: POST /api/v1/gate/decisions and the decision reads."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from audits.models import AuditEvent
from governance import services
from governance.models import GateDecision, ReleaseRequest
from registry.models import Model, ModelVersion
from tests.conftest import client_for
from tests.factories import PASSWORD, sha
from tests.governance.workflow_helpers import document_everything

URL = "/api/v1/gate/decisions"


def approve(
    *,
    version: ModelVersion,
    developer: Any,
    validator: Any,
    risk_officer: Any,
    environments: list[str],
) -> ReleaseRequest:
    """Take ``version`` through the tier-2 workflow to an approval."""
    # Saved (not a queryset update), so the history records it as a service would.
    model = Model.objects.get(pk=version.model_id)
    model.risk_tier = 2
    model.save()
    version.refresh_from_db()
    document_everything(version=version, developer=developer, validator=validator)
    rr = services.release_request_create(
        actor=developer, version=version, environments=environments
    )
    rr = services.release_request_submit(actor=developer, request=rr)
    rr = services.release_request_start_validation(actor=validator, request=rr)
    rr = services.release_request_record_validation(
        actor=validator, request=rr, outcome="approve", password=PASSWORD
    )
    return services.release_request_approve(
        actor=risk_officer, request=rr, password=PASSWORD
    )


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


def test_allowed_decision_returns_the_approval_and_is_stored(
    approval: ReleaseRequest, service: Any
) -> None:
    # given a service account's client and an approved version
    client = client_for(service)
    # when it asks the gate
    response = client.post(
        URL,
        {
            "model": "credit-risk",
            "version": "1.0.0",
            "environment": "production",
            "context": {"source": "github-actions", "correlation_id": "run-42"},
        },
        format="json",
    )
    # then it is allowed, with the approval, and exactly one decision is stored
    assert response.status_code == 200
    body = response.json()
    record = GateDecision.objects.get()
    approval.refresh_from_db()
    expires = approval.expires_at.isoformat().replace("+00:00", "Z")
    assert body == {
        "allowed": True,
        "reason": (
            f"credit-risk 1.0.0 is approved for production until "
            f"{approval.expires_at:%Y-%m-%d %H:%M} UTC (approval RR-{approval.pk})"
        ),
        "reasons": [body["reason"]],
        "decision_id": str(record.decision_id),
        "approval": {
            "id": f"RR-{approval.pk}",
            "model": "credit-risk",
            "version": "1.0.0",
            "environments": ["production"],
            "approved_at": approval.approved_at.isoformat().replace("+00:00", "Z"),
            "expires_at": expires,
            "revoked_at": None,
            "approvers": ["Rita Risk (rita)"],
            "conditions": "",
        },
        "expires_at": expires,
        "decided_at": record.decided_at.isoformat().replace("+00:00", "Z"),
        "model": "credit-risk",
        "version": "1.0.0",
        "artifact_sha256": sha("artifact-1.0.0"),
        "environment": "production",
        "source": "api",
        "correlation_id": "run-42",
        "caller": record.caller_display,
    }
    assert record.caller == service
    assert record.allowed is True
    assert record.approval == approval
    assert record.inputs["environment"] == "production"
    assert record.inputs["subject"]["model"] == "credit-risk"


def test_decision_by_artifact_digest_from_the_cli_is_allowed(
    approval: ReleaseRequest, service: Any
) -> None:
    # given
    client = client_for(service)
    # when the CLI asks by digest
    response = client.post(
        URL,
        {"artifact_sha256": sha("artifact-1.0.0"), "environment": "production"},
        format="json",
        HTTP_X_MODELGOV_CLIENT="cli",
    )
    # then
    assert response.status_code == 200
    assert response.json()["allowed"] is True
    record = GateDecision.objects.get()
    assert (record.source, record.model_slug, record.version) == (
        "cli",
        "credit-risk",
        "1.0.0",
    )
    assert record.artifact_sha256 == sha("artifact-1.0.0")


def test_version_approved_for_production_only_is_denied_for_staging(
    approval: ReleaseRequest, service: Any
) -> None:
    # when
    response = client_for(service).post(
        URL,
        {"model": "credit-risk", "version": "1.0.0", "environment": "staging"},
        format="json",
    )
    # then a denial is a normal 200 answer, stored
    assert response.status_code == 200
    body = response.json()
    assert body["allowed"] is False
    assert (
        body["reason"]
        == "credit-risk 1.0.0 is approved for production only, not staging"
    )
    assert body["approval"] is None
    assert body["expires_at"] is None
    record = GateDecision.objects.get()
    assert (record.allowed, record.environment, record.reason) == (
        False,
        "staging",
        body["reason"],
    )


def test_unapproved_version_is_denied(submitted_version: Any, service: Any) -> None:
    # when
    response = client_for(service).post(
        URL,
        {"model": "credit-risk", "version": "1.0.0", "environment": "production"},
        format="json",
    )
    # then
    assert response.status_code == 200
    assert response.json()["allowed"] is False
    assert (
        response.json()["reason"] == "credit-risk 1.0.0 has no approval for production"
    )
    assert GateDecision.objects.count() == 1


def test_unknown_environment_is_denied_and_stored(
    approval: ReleaseRequest, service: Any
) -> None:
    # when
    response = client_for(service).post(
        URL,
        {"model": "credit-risk", "version": "1.0.0", "environment": "moon"},
        format="json",
    )
    # then
    assert response.status_code == 200
    assert response.json()["allowed"] is False
    assert (
        response.json()["reason"]
        == "unknown environment 'moon'; known: production, staging"
    )
    record = GateDecision.objects.get()
    assert (record.environment, record.allowed) == ("moon", False)


def test_unknown_digest_is_denied(service: Any) -> None:
    # when
    response = client_for(service).post(
        URL, {"artifact_sha256": "0" * 64, "environment": "production"}, format="json"
    )
    # then
    assert response.status_code == 200
    assert (
        response.json()["reason"] == "no registered model version matches the request"
    )
    assert GateDecision.objects.get().artifact_sha256 == "0" * 64


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        (
            {"environment": "production"},
            {
                "model": [
                    "Give either model and version, or artifact_sha256 (exactly one form)."
                ],
                "version": [
                    "Give either model and version, or artifact_sha256 (exactly one form)."
                ],
                "artifact_sha256": [
                    "Give either model and version, or artifact_sha256 (exactly one form)."
                ],
            },
        ),
        (
            {"model": "credit-risk", "environment": "production"},
            {
                "version": [
                    "Give either model and version, or artifact_sha256 (exactly one form)."
                ]
            },
        ),
        (
            {
                "model": "credit-risk",
                "version": "1.0.0",
                "artifact_sha256": "a" * 64,
                "environment": "production",
            },
            {
                f: [
                    "Give either model and version, or artifact_sha256 (exactly one form)."
                ]
                for f in ("model", "version", "artifact_sha256")
            },
        ),
        (
            {"artifact_sha256": "A" * 64, "environment": "production"},
            {
                "artifact_sha256": [
                    "Must be 64 lowercase hexadecimal characters (a SHA-256)."
                ]
            },
        ),
        (
            {"model": "credit-risk", "version": "1.0.0"},
            {"environment": ["This field is required."]},
        ),
        (
            {
                "model": "credit-risk",
                "version": "1.0.0",
                "environment": "production",
                "colour": "red",
            },
            {"colour": ["Unknown field."]},
        ),
        (
            {
                "model": "credit-risk",
                "version": "1.0.0",
                "environment": "production",
                "context": {"who": "me"},
            },
            {"context": {"who": ["Unknown field."]}},
        ),
    ],
)
def test_bad_body_is_400_naming_the_fields(
    service: Any, payload: dict[str, Any], errors: dict[str, Any]
) -> None:
    # when
    response = client_for(service).post(URL, payload, format="json")
    # then
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Invalid input.",
        "code": "invalid",
        "errors": errors,
    }
    assert GateDecision.objects.count() == 0


def test_anonymous_call_is_401_json_not_a_redirect(db: Any) -> None:
    # when
    response = APIClient().post(
        URL,
        {"model": "credit-risk", "version": "1.0.0", "environment": "production"},
        format="json",
    )
    # then
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_authenticated"
    assert GateDecision.objects.count() == 0


def test_bad_token_is_401_json(db: Any) -> None:
    # given
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer mg_nonsense")
    # when
    response = client.post(
        URL, {"artifact_sha256": "0" * 64, "environment": "production"}, format="json"
    )
    # then
    assert response.status_code == 401
    assert response.json() == {
        "detail": "Unknown token.",
        "code": "authentication_failed",
        "errors": {},
    }


def test_token_without_gate_check_scope_is_403_and_nothing_is_stored(
    developer: Any,
) -> None:
    # given a developer's token (registry scopes only)
    client = client_for(developer)
    events = AuditEvent.objects.count()
    # when
    response = client.post(
        URL,
        {"model": "credit-risk", "version": "1.0.0", "environment": "production"},
        format="json",
    )
    # then
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert GateDecision.objects.count() == 0
    assert AuditEvent.objects.count() == events


def test_service_token_restricted_to_registry_read_is_403(service: Any) -> None:
    # given a service token without gate:check
    issued = services.api_token_create(
        actor=service, user=service, name="ro", scopes=["registry:read"]
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw}")
    # when
    response = client.post(
        URL, {"artifact_sha256": "0" * 64, "environment": "production"}, format="json"
    )
    # then
    assert response.status_code == 403
    assert GateDecision.objects.count() == 0


def test_session_user_with_view_model_may_ask(
    approval: ReleaseRequest, risk_officer: Any
) -> None:
    # given a signed-in risk officer
    client = APIClient()
    client.force_login(risk_officer)
    # when
    response = client.post(
        URL,
        {"model": "credit-risk", "version": "1.0.0", "environment": "production"},
        format="json",
    )
    # then
    assert response.status_code == 200
    assert response.json()["allowed"] is True
    assert GateDecision.objects.get().caller == risk_officer


def test_session_user_without_a_role_is_403(outsider: Any) -> None:
    # given
    client = APIClient()
    client.force_login(outsider)
    # when
    response = client.post(
        URL, {"artifact_sha256": "0" * 64, "environment": "production"}, format="json"
    )
    # then
    assert response.status_code == 403
    assert GateDecision.objects.count() == 0


def test_risk_officer_lists_decisions_filtered(
    approval: ReleaseRequest, risk_officer: Any, service: Any
) -> None:
    # given two decisions
    for env in ("production", "staging"):
        services.gate_check(
            actor=service, model="credit-risk", version="1.0.0", environment=env
        )
    client = APIClient()
    client.force_login(risk_officer)
    # when
    response = client.get(
        URL, {"model": "credit-risk", "version": "1.0.0", "environment": "staging"}
    )
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert [(r["environment"], r["allowed"]) for r in body["results"]] == [
        ("staging", False)
    ]


def test_auditor_reads_one_decision(
    approval: ReleaseRequest, auditor: Any, service: Any
) -> None:
    # given
    result = services.gate_check(
        actor=service, model="credit-risk", version="1.0.0", environment="production"
    )
    # when
    response = client_for(auditor).get(f"{URL}/{result.record.decision_id}")
    # then
    assert response.status_code == 200
    assert response.json()["decision_id"] == str(result.record.decision_id)
    assert response.json()["approval"]["id"] == f"RR-{approval.pk}"


def test_unknown_decision_is_404(auditor: Any) -> None:
    # when
    response = client_for(auditor).get(f"{URL}/00000000-0000-4000-8000-000000000000")
    # then
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("developer", 403), ("service", 403), ("risk_officer", 200), ("auditor", 200)],
)
def test_decision_list_needs_view_gatedecision(
    request: Any, persona: str, expected: int
) -> None:
    # given
    user = request.getfixturevalue(persona)
    # when
    response = client_for(user).get(URL)
    # then
    assert response.status_code == expected


def test_decision_list_query_count_does_not_grow_with_rows(
    approval: ReleaseRequest,
    risk_officer: Any,
    service: Any,
    django_assert_num_queries: Any,
) -> None:
    # given five decisions citing the approval
    for _ in range(5):
        services.gate_check(
            actor=service,
            model="credit-risk",
            version="1.0.0",
            environment="production",
        )
    client = APIClient()
    client.force_login(risk_officer)
    # when / then: session, user, 2 permissions, count, page, signatures, and the
    # ledger check of the page (record leaves, ledger entries, checkpoint, nodes)
    with django_assert_num_queries(10):
        response = client.get(URL)
    assert response.json()["count"] == 5
