"""Workflow API: release requests, e-signatures in the session only, attestations
and findings."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from audits.models import AuditEvent, RefusalKind, RefusedAction
from governance import attestations as att
from governance import services
from governance.choices import RequestState
from governance.models import Finding, ReleaseRequest, Signature
from registry.models import Model
from tests.conftest import client_for
from tests.factories import PASSWORD
from tests.governance.workflow_helpers import document_everything

TOKEN_REFUSAL = {
    "detail": "signatures are given in the browser with the password",
    "code": "permission_denied",
    "errors": {},
}


@pytest.fixture
def attestation_key(settings: Any) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.from_private_bytes(b"\x11" * 32)
    settings.MODELGOV_ATTESTATION_KEY = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return key


@pytest.fixture
def releasable(submitted_version: Any, developer: Any, validator: Any) -> Any:
    """A tier-2, fully documented, submitted version."""
    Model.objects.filter(pk=submitted_version.model_id).update(risk_tier=2)
    submitted_version.refresh_from_db()
    document_everything(
        version=submitted_version, developer=developer, validator=validator
    )
    return submitted_version


@pytest.fixture
def validated_request(releasable: Any, developer: Any, validator: Any) -> Any:
    rr = services.release_request_create(
        actor=developer, version=releasable, environments=["production"]
    )
    rr = services.release_request_submit(actor=developer, request=rr)
    rr = services.release_request_start_validation(actor=validator, request=rr)
    return services.release_request_record_validation(
        actor=validator, request=rr, outcome="approve", password=PASSWORD
    )


@pytest.fixture
def approved_request(validated_request: Any, risk_officer: Any) -> Any:
    return services.release_request_approve(
        actor=risk_officer, request=validated_request, password=PASSWORD
    )


def session_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _counts() -> tuple[int, int, int]:
    return (
        Signature.objects.count(),
        AuditEvent.objects.count(),
        RefusedAction.objects.count(),
    )


def test_team_member_creates_a_draft_request(releasable: Any, developer: Any) -> None:
    # given a developer of the model with a token
    client = client_for(developer)
    # when they request a production release
    response = client.post(
        "/api/v1/release-requests",
        {
            "model": "credit-risk",
            "version": "1.0.0",
            "environments": ["production"],
            "justification": "Quarterly refit",
        },
        format="json",
    )
    # then a draft request exists with its policy checklist
    assert response.status_code == 201
    body = response.json()
    rr = ReleaseRequest.objects.get()
    assert body["id"] == rr.pk
    assert body["state"] == "draft"
    assert body["model"] == "credit-risk"
    assert body["version"] == "1.0.0"
    assert body["environments"] == ["production"]
    assert body["requested_by"] == "dana"
    assert body["signatures"] == []
    assert body["findings"] == []
    assert body["checklist"][0] == {
        "item": "Independent validation",
        "satisfied": False,
        "detail": "pending",
    }


def test_create_refuses_unknown_fields(releasable: Any, developer: Any) -> None:
    response = client_for(developer).post(
        "/api/v1/release-requests",
        {
            "model": "credit-risk",
            "version": "1.0.0",
            "environments": ["production"],
            "state": "approved",
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"state": ["Unknown field."]}
    assert ReleaseRequest.objects.count() == 0


def test_outsider_developer_cannot_request_another_teams_model(
    releasable: Any, other_developer: Any
) -> None:
    # the model is not visible to a developer of another team: 404, nothing created
    response = client_for(other_developer).post(
        "/api/v1/release-requests",
        {"model": "credit-risk", "version": "1.0.0", "environments": ["production"]},
        format="json",
    )
    assert response.status_code == 404
    assert ReleaseRequest.objects.count() == 0


@pytest.mark.parametrize(
    ("persona", "visible"),
    [
        ("developer", True),
        ("validator", True),
        ("risk_officer", True),
        ("auditor", True),
        ("other_developer", False),
        ("outsider", False),
    ],
)
def test_requests_are_listed_to_the_team_and_the_second_line(
    request: pytest.FixtureRequest,
    validated_request: Any,
    persona: str,
    visible: bool,
) -> None:
    # given a request and a persona
    user = request.getfixturevalue(persona)
    client = session_for(user)
    # when they list and open it
    listing = client.get("/api/v1/release-requests")
    detail = client.get(f"/api/v1/release-requests/{validated_request.pk}")
    # then only those who may see the model see the request
    assert listing.status_code == 200
    ids = [r["id"] for r in listing.json()["results"]]
    assert ids == ([validated_request.pk] if visible else [])
    assert detail.status_code == (200 if visible else 404)


def test_list_for_anonymous_is_401(api_client: APIClient) -> None:
    assert api_client.get("/api/v1/release-requests").status_code == 401


def test_submit_withdraw_and_start_validation_through_the_api(
    releasable: Any, developer: Any, validator: Any
) -> None:
    # given a draft request
    rr = services.release_request_create(
        actor=developer, version=releasable, environments=["production"]
    )
    dev = client_for(developer)
    # when the team submits and a validator takes it
    submitted = dev.post(f"/api/v1/release-requests/{rr.pk}/submit")
    started = client_for(validator).post(
        f"/api/v1/release-requests/{rr.pk}/start-validation"
    )
    withdrawn = dev.post(f"/api/v1/release-requests/{rr.pk}/withdraw")
    # then each transition is applied
    assert submitted.status_code == 200
    assert submitted.json()["state"] == "submitted"
    assert started.status_code == 200
    assert started.json()["state"] == "in_validation"
    assert started.json()["validator"] == "vera"
    assert withdrawn.status_code == 200
    assert withdrawn.json()["state"] == "withdrawn"


def test_developer_cannot_start_validation_of_their_model(
    releasable: Any, developer: Any
) -> None:
    rr = services.release_request_create(
        actor=developer, version=releasable, environments=["production"]
    )
    rr = services.release_request_submit(actor=developer, request=rr)
    client = client_for(developer)
    events = AuditEvent.objects.count()
    response = client.post(f"/api/v1/release-requests/{rr.pk}/start-validation")
    assert response.status_code == 403
    rr.refresh_from_db()
    assert rr.state == RequestState.SUBMITTED
    assert AuditEvent.objects.count() == events


def test_illegal_transition_is_a_409(validated_request: Any, developer: Any) -> None:
    response = client_for(developer).post(
        f"/api/v1/release-requests/{validated_request.pk}/submit"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"
    validated_request.refresh_from_db()
    assert validated_request.state == RequestState.VALIDATED


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("approve", {"password": PASSWORD, "comment": "ok"}),
        ("reject", {"password": PASSWORD, "comment": "no"}),
    ],
)
def test_a_token_cannot_sign(
    validated_request: Any, risk_officer: Any, action: str, body: dict[str, Any]
) -> None:
    # given a risk officer's token, with the right password
    client = client_for(risk_officer)
    before = _counts()
    # when the token tries to sign
    response = client.post(
        f"/api/v1/release-requests/{validated_request.pk}/{action}",
        body,
        format="json",
    )
    # then it is refused, nothing changed, and the attempt is on record as misuse
    assert response.status_code == 403
    assert response.json() == TOKEN_REFUSAL
    validated_request.refresh_from_db()
    assert validated_request.state == RequestState.VALIDATED
    assert _counts() == (before[0], before[1], before[2] + 1)
    assert RefusedAction.objects.latest("pk").kind == RefusalKind.TOKEN_MISUSE


def test_a_token_cannot_record_a_validation(
    releasable: Any, developer: Any, validator: Any
) -> None:
    rr = services.release_request_create(
        actor=developer, version=releasable, environments=["production"]
    )
    rr = services.release_request_submit(actor=developer, request=rr)
    rr = services.release_request_start_validation(actor=validator, request=rr)
    client = client_for(validator)
    before = _counts()
    response = client.post(
        f"/api/v1/release-requests/{rr.pk}/record-validation",
        {"password": PASSWORD, "outcome": "approve"},
        format="json",
    )
    assert response.status_code == 403
    assert response.json() == TOKEN_REFUSAL
    rr.refresh_from_db()
    assert rr.state == RequestState.IN_VALIDATION
    assert _counts() == (before[0], before[1], before[2] + 1)
    assert RefusedAction.objects.latest("pk").kind == RefusalKind.TOKEN_MISUSE


def test_session_validation_then_approval_with_the_password(
    releasable: Any, developer: Any, validator: Any, risk_officer: Any
) -> None:
    # given a request in validation
    rr = services.release_request_create(
        actor=developer, version=releasable, environments=["production"]
    )
    rr = services.release_request_submit(actor=developer, request=rr)
    rr = services.release_request_start_validation(actor=validator, request=rr)
    # when the validator signs in the browser session
    vera = session_for(validator)
    validated = vera.post(
        f"/api/v1/release-requests/{rr.pk}/record-validation",
        {"password": PASSWORD, "outcome": "approve", "comment": "sound"},
        format="json",
    )
    # and the risk officer approves in hers
    rita = session_for(risk_officer)
    key_before = rita.session.session_key
    approved = rita.post(
        f"/api/v1/release-requests/{rr.pk}/approve",
        {"password": PASSWORD, "comment": "fit for production"},
        format="json",
    )
    # then the request is approved, signed twice, and the session key rotated
    assert validated.status_code == 200
    assert validated.json()["state"] == "validated"
    assert approved.status_code == 200
    body = approved.json()
    assert body["state"] == "approved"
    assert [(s["signer"], s["meaning"]) for s in body["signatures"]] == [
        ("vera", "validated"),
        ("rita", "approved"),
    ]
    assert body["signatures"][1]["comment"] == "fit for production"
    assert body["signatures"][1]["printed_name"] == "Rita Risk (rita)"
    assert body["approved_artifact_sha256"] == releasable.artifact_sha256
    key_after = rita.session.session_key
    assert key_after is not None
    assert key_after != key_before
    # and she is still signed in under the new key
    assert rita.get(f"/api/v1/release-requests/{rr.pk}").status_code == 200


def test_session_approval_with_a_wrong_password_changes_nothing(
    validated_request: Any, risk_officer: Any
) -> None:
    # given a risk officer in a session
    rita = session_for(risk_officer)
    key_before = rita.session.session_key
    signatures = Signature.objects.count()
    events = AuditEvent.objects.count()
    # when she signs with the wrong password
    response = rita.post(
        f"/api/v1/release-requests/{validated_request.pk}/approve",
        {"password": "wrong", "comment": "ok"},
        format="json",
    )
    # then it is refused, recorded as refused, and nothing else changed
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "The password is not correct; the signature was not applied."
    )
    validated_request.refresh_from_db()
    assert validated_request.state == RequestState.VALIDATED
    assert Signature.objects.count() == signatures
    assert AuditEvent.objects.count() == events
    assert (
        RefusedAction.objects.filter(action="governance.request.approve").count() == 1
    )
    assert rita.session.session_key == key_before


def test_developer_cannot_approve_their_own_model_in_a_session(
    validated_request: Any, developer: Any
) -> None:
    signatures = Signature.objects.count()
    response = session_for(developer).post(
        f"/api/v1/release-requests/{validated_request.pk}/approve",
        {"password": PASSWORD},
        format="json",
    )
    assert response.status_code == 403
    validated_request.refresh_from_db()
    assert validated_request.state == RequestState.VALIDATED
    assert Signature.objects.count() == signatures


def test_session_reject_needs_a_reason(
    validated_request: Any, risk_officer: Any
) -> None:
    response = session_for(risk_officer).post(
        f"/api/v1/release-requests/{validated_request.pk}/reject",
        {"password": PASSWORD, "comment": "  "},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"comment": ["A rejection needs its reason."]}
    validated_request.refresh_from_db()
    assert validated_request.state == RequestState.VALIDATED


def test_revoke_through_the_api_names_the_reason(
    approved_request: Any, risk_officer: Any
) -> None:
    response = client_for(risk_officer).post(
        f"/api/v1/release-requests/{approved_request.pk}/revoke",
        {"reason": "AIR breach"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["state"] == "revoked"
    assert response.json()["revocation_reason"] == "AIR breach"
    assert response.json()["rollback_targets"] == {"production": None}


def test_developer_cannot_revoke(approved_request: Any, developer: Any) -> None:
    response = client_for(developer).post(
        f"/api/v1/release-requests/{approved_request.pk}/revoke",
        {"reason": "mine"},
        format="json",
    )
    assert response.status_code == 403
    approved_request.refresh_from_db()
    assert approved_request.state == RequestState.APPROVED


def test_attestation_downloads_and_verifies_with_the_published_key(
    approved_request: Any, auditor: Any, attestation_key: Ed25519PrivateKey
) -> None:
    # given an approved request and the published public key
    client = client_for(auditor)
    published = client.get("/api/v1/attestations/public-key").json()
    # when the attestation is downloaded
    response = client.get(f"/api/v1/release-requests/{approved_request.pk}/attestation")
    # then it is an attachment that verifies offline for the approved digest
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="rr-{approved_request.pk}.intoto.json"'
    )
    assert published == {
        "keyid": att.keyid_for(attestation_key.public_key()),
        "algorithm": "ed25519",
        "public_key_pem": att.public_key_pem(attestation_key),
    }
    statement = att.verify_envelope(
        response.json(),
        published["public_key_pem"],
        environment="production",
        artifact_sha256=approved_request.model_version.artifact_sha256,
    )
    predicate = statement["predicate"]
    assert statement["subject"] == [
        {
            "name": "credit-risk@1.0.0",
            "digest": {"sha256": approved_request.model_version.artifact_sha256},
        }
    ]
    assert predicate["approval_id"] == f"RR-{approved_request.pk}"
    assert predicate["environments"] == ["production"]
    assert [(a["name"], a["meaning"]) for a in predicate["approvers"]] == [
        ("Vera Validator (vera)", "validated"),
        ("Rita Risk (rita)", "approved"),
    ]
    assert predicate["issuer"] == f"modelgov ({django_settings.MODELGOV_ORGANISATION})"
    # and the same approval gives the same bytes
    again = client.get(f"/api/v1/release-requests/{approved_request.pk}/attestation")
    assert again.content == response.content


def test_attestation_of_an_unapproved_request_is_409(
    validated_request: Any, auditor: Any, attestation_key: Any
) -> None:
    response = client_for(auditor).get(
        f"/api/v1/release-requests/{validated_request.pk}/attestation"
    )
    assert response.status_code == 409
    assert response.json() == {
        "detail": f"RR-{validated_request.pk} was never approved; it has no attestation.",
        "code": "not_approved",
        "errors": {},
    }


def test_attestation_without_a_configured_key_is_409_outside_debug(
    approved_request: Any, auditor: Any, settings: Any
) -> None:
    settings.MODELGOV_ATTESTATION_KEY = ""
    settings.DEBUG = False
    response = client_for(auditor).get(
        f"/api/v1/release-requests/{approved_request.pk}/attestation"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "attestation_key_missing"
    assert response.json()["detail"].startswith("attestation key not configured")


def test_debug_generates_one_key_file_and_reuses_it(
    settings: Any, tmp_path: Any
) -> None:
    from governance.services import attestations as attestation_services

    # given DEBUG without a configured key
    settings.MODELGOV_ATTESTATION_KEY = ""
    settings.DEBUG = True
    settings.BASE_DIR = tmp_path
    # when the key is asked for twice
    first = attestation_services.public_key_pem()
    second = attestation_services.public_key_pem()
    # then one private key file (0600) was written and reused
    path = tmp_path / "var" / "attestation-key.pem"
    assert path.stat().st_mode & 0o777 == 0o600
    assert first == second


def test_revoked_attestation_is_still_downloadable(
    approved_request: Any, risk_officer: Any, auditor: Any, attestation_key: Any
) -> None:
    services.release_request_revoke(
        actor=risk_officer, request=approved_request, reason="AIR breach"
    )
    response = client_for(auditor).get(
        f"/api/v1/release-requests/{approved_request.pk}/attestation"
    )
    assert response.status_code == 200
    assert response.json()["payloadType"] == "application/vnd.in-toto+json"


def test_attestation_of_an_invisible_request_is_404(
    approved_request: Any, other_developer: Any, attestation_key: Any
) -> None:
    response = client_for(other_developer).get(
        f"/api/v1/release-requests/{approved_request.pk}/attestation"
    )
    assert response.status_code == 404


def test_validator_raises_a_finding_and_it_blocks_the_checklist(
    validated_request: Any, validator: Any, developer: Any
) -> None:
    # given a validated request
    url = "/api/v1/models/credit-risk/versions/1.0.0/findings"
    # when the validator raises a high finding owned by the developer
    response = client_for(validator).post(
        url,
        {
            "severity": "high",
            "title": "Unstable PSI",
            "description": "PSI over 0.25 on the holdout.",
            "owner": "dana",
            "due_date": "2026-12-31",
            "request": validated_request.pk,
        },
        format="json",
    )
    # then the finding exists and appears on the request with the checklist blocked
    assert response.status_code == 201
    body = response.json()
    finding = Finding.objects.get()
    assert body["id"] == finding.pk
    assert body["status"] == "open"
    assert body["owner"] == "dana"
    assert body["raised_by"] == "vera"
    assert body["request"] == validated_request.pk
    detail = (
        client_for(developer)
        .get(f"/api/v1/release-requests/{validated_request.pk}")
        .json()
    )
    assert [f["id"] for f in detail["findings"]] == [finding.pk]
    assert detail["checklist"][-1] == {
        "item": "No open blocking findings",
        "satisfied": False,
        "detail": f"F-{finding.pk} (high)",
    }
    listing = client_for(developer).get(url).json()
    assert [f["id"] for f in listing["results"]] == [finding.pk]


def test_developer_cannot_raise_a_finding(releasable: Any, developer: Any) -> None:
    response = client_for(developer).post(
        "/api/v1/models/credit-risk/versions/1.0.0/findings",
        {"severity": "low", "title": "x", "description": "y"},
        format="json",
    )
    assert response.status_code == 403
    assert Finding.objects.count() == 0


def test_finding_is_remediated_by_the_team_and_closed_with_evidence(
    releasable: Any, developer: Any, validator: Any
) -> None:
    # given an open finding
    finding = services.finding_raise(
        actor=validator,
        version=releasable,
        severity="medium",
        title="Missing monitoring",
        description="No PSI alert.",
        owner=developer,
    )
    # when the owner remediates and the validator closes it
    remediated = client_for(developer).post(
        f"/api/v1/findings/{finding.pk}/remediation",
        {"remediation": "PSI alert added."},
        format="json",
    )
    closed = client_for(validator).post(
        f"/api/v1/findings/{finding.pk}/close",
        {"evidence": "Alert rule MON-12 fires on PSI > 0.2."},
        format="json",
    )
    # then it is closed with the evidence
    assert remediated.status_code == 200
    assert remediated.json()["status"] == "remediation_submitted"
    assert closed.status_code == 200
    assert closed.json()["status"] == "closed"
    assert closed.json()["closed_by"] == "vera"
    assert closed.json()["closure_evidence"] == "Alert rule MON-12 fires on PSI > 0.2."


def test_owner_cannot_close_their_own_finding(
    releasable: Any, developer: Any, validator: Any
) -> None:
    finding = services.finding_raise(
        actor=validator,
        version=releasable,
        severity="medium",
        title="Missing monitoring",
        description="No PSI alert.",
        owner=developer,
    )
    response = client_for(developer).post(
        f"/api/v1/findings/{finding.pk}/close",
        {"evidence": "done"},
        format="json",
    )
    assert response.status_code == 403
    finding.refresh_from_db()
    assert finding.status == "open"


def test_finding_of_an_invisible_model_is_404(
    releasable: Any, validator: Any, other_developer: Any
) -> None:
    finding = services.finding_raise(
        actor=validator,
        version=releasable,
        severity="low",
        title="Typo",
        description="Card typo.",
    )
    response = client_for(other_developer).post(
        f"/api/v1/findings/{finding.pk}/remediation",
        {"remediation": "fixed"},
        format="json",
    )
    assert response.status_code == 404
    finding.refresh_from_db()
    assert finding.remediation == ""
