"""Review findings on the approval workflow and the promotion gate.

Each test demonstrated one defect (fixed since): it failed
against the current code and turns the suite red once the defect is fixed, so the
marker can then be removed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from governance import attestations, cli, services
from governance.choices import RequestState
from governance.models import ReleaseRequest, Signature
from governance.services.workflow import SeparationOfDutiesError
from registry import services as registry_services
from registry.models import Model, ModelVersion
from tests.conftest import client_for
from tests.factories import PASSWORD, UserFactory, sha, version_payload
from tests.governance.workflow_helpers import document_everything

GATE_URL = "/api/v1/gate/decisions"


def _releasable(version: ModelVersion, developer: Any, validator: Any) -> None:
    Model.objects.filter(pk=version.model_id).update(risk_tier=2)
    version.refresh_from_db()
    document_everything(version=version, developer=developer, validator=validator)


def _validated(version: ModelVersion, developer: Any, validator: Any) -> Any:
    rr = services.release_request_create(
        actor=developer, version=version, environments=["production"]
    )
    rr = services.release_request_submit(actor=developer, request=rr)
    rr = services.release_request_start_validation(actor=validator, request=rr)
    return services.release_request_record_validation(
        actor=validator, request=rr, outcome="approve", password=PASSWORD
    )


# --- Separation of duties --------------------------------------------------------


def test_owner_cannot_approve_own_model_after_handing_ownership_away(
    submitted_version: Any, developer: Any, validator: Any, risk_officer: Any
) -> None:
    # given a model owned by a risk officer, and a validated request of its version
    registry_services.model_update(
        actor=risk_officer,
        model=submitted_version.model,
        data={"owner": risk_officer.username},
    )
    _releasable(submitted_version, developer, validator)
    rr = _validated(submitted_version, developer, validator)
    with pytest.raises(SeparationOfDutiesError):
        services.release_request_approve(
            actor=risk_officer, request=rr, password=PASSWORD
        )
    # when the owner (who may edit any inventory entry) clears the owner field
    registry_services.model_update(
        actor=risk_officer, model=submitted_version.model, data={"owner": ""}
    )
    # then approving their own model is still refused, with nothing signed
    with pytest.raises(SeparationOfDutiesError):
        services.release_request_approve(
            actor=risk_officer, request=rr, password=PASSWORD
        )
    rr.refresh_from_db()
    assert rr.state == RequestState.VALIDATED
    assert not Signature.objects.filter(request=rr, signer=risk_officer).exists()


def test_developer_cannot_approve_after_leaving_the_team(
    submitted_version: Any, developer: Any, validator: Any, risk_officer: Any
) -> None:
    # given a developer of the model who also holds the risk-officer role
    quinn = UserFactory(username="quinn", role="model_developer")
    quinn.groups.add(Group.objects.get(name="risk_officer"))
    model = submitted_version.model
    model.developers.add(quinn)
    _releasable(submitted_version, developer, validator)
    rr = _validated(submitted_version, developer, validator)
    with pytest.raises(SeparationOfDutiesError):
        services.release_request_approve(actor=quinn, request=rr, password=PASSWORD)
    # when they take themselves off the team (any member may edit the team)
    remaining = [u.username for u in model.developers.exclude(pk=quinn.pk)]
    registry_services.model_update(
        actor=quinn, model=model, data={"developers": remaining}
    )
    # then they still may not approve the model they developed
    with pytest.raises(SeparationOfDutiesError):
        services.release_request_approve(actor=quinn, request=rr, password=PASSWORD)
    rr.refresh_from_db()
    assert rr.state == RequestState.VALIDATED


# --- Information leaks ---------------------------------------------------------


def test_gate_decision_does_not_leak_another_teams_findings(
    submitted_version: Any,
    developer: Any,
    validator: Any,
    risk_officer: Any,
    other_developer: Any,
) -> None:
    # given an approved version of credit-risk with a critical finding raised later
    _releasable(submitted_version, developer, validator)
    rr = _validated(submitted_version, developer, validator)
    services.release_request_approve(actor=risk_officer, request=rr, password=PASSWORD)
    title = "Confidential: PD underestimated for thin-file applicants"
    services.finding_raise(
        actor=validator,
        version=submitted_version,
        severity="critical",
        title=title,
        description="Back-testing shows a 40 % underestimate.",
    )
    # and a developer of another team, who may not see credit-risk at all
    client = APIClient()
    client.force_login(other_developer)
    assert client.get("/api/v1/models/credit-risk").status_code == 404
    # when they ask the gate about it in their browser session
    response = client.post(
        GATE_URL,
        {"model": "credit-risk", "version": "1.0.0", "environment": "production"},
        format="json",
    )
    # then they learn nothing about the model's findings or approval
    text = json.dumps(response.json())
    assert title not in text
    assert "Rita" not in text


# --- Permissions ---------------------------------------------------------------


def test_service_account_cannot_open_a_release_request_through_the_api(
    submitted_version: Any, developer: Any, validator: Any, service: Any
) -> None:
    # given a pipeline service account on the model's team (its role has no
    # governance.add_releaserequest; the browser refuses it)
    _releasable(submitted_version, developer, validator)
    assert not service.has_perm("governance.add_releaserequest")
    client = client_for(service)
    # when it opens a release request through the API
    response = client.post(
        "/api/v1/release-requests",
        {
            "model": "credit-risk",
            "version": "1.0.0",
            "environments": ["production"],
            "justification": "",
        },
        format="json",
    )
    # then it is refused and no request (blocking the version's slot) exists
    assert response.status_code == 403
    assert not ReleaseRequest.objects.exists()


# --- Offline attestation verification ------------------------------------------


def _envelope(tmp_path: Path, digest: str) -> tuple[Path, Path]:
    key = Ed25519PrivateKey.from_private_bytes(b"\x22" * 32)
    now = datetime.now(UTC)
    claim = attestations.ApprovalClaim(
        model="other-model",
        version="9.9.9",
        artifact_sha256=digest,
        content_digest=sha("content"),
        environments=("production",),
        approval_id="RR-1",
        approved_at=now - timedelta(days=1),
        expires_at=now + timedelta(days=30),
    )
    envelope = attestations.sign_envelope(attestations.build_statement(claim), key)
    file = tmp_path / "rr-1.intoto.json"
    file.write_text(json.dumps(envelope))
    pub = tmp_path / "modelgov.pub"
    pub.write_text(attestations.public_key_pem(key))
    return file, pub


def test_verify_attestation_with_an_empty_digest_does_not_pass(
    tmp_path: Path,
) -> None:
    # given a valid attestation of some *other* artifact
    file, pub = _envelope(tmp_path, sha("another artifact"))
    # when a pipeline runs the documented command with an unset $DIGEST
    code = cli.main(
        [
            "verify-attestation",
            str(file),
            "--public-key",
            str(pub),
            "--env",
            "production",
            "--artifact-sha256",
            "",
        ]
    )
    # then it must not exit 0 (valid): the digest was asked for and not checked
    assert code != cli.EXIT_OK


# --- Policy and revocation -----------------------------------------------------


def test_a_model_raised_to_tier_1_needs_the_tier_1_sign_offs(
    submitted_version: Any, developer: Any, validator: Any, risk_officer: Any
) -> None:
    # given a draft request opened while the model was tier 2
    _releasable(submitted_version, developer, validator)
    rr = services.release_request_create(
        actor=developer, version=submitted_version, environments=["production"]
    )
    # when the risk function re-tiers the model to tier 1 (two approvers plus the
    # committee) before anyone validated or approved the release
    registry_services.model_update(
        actor=risk_officer,
        model=submitted_version.model,
        data={"risk_tier": 1, "tier_rationale": "Materiality reassessed: high."},
    )
    rr = services.release_request_submit(actor=developer, request=rr)
    rr = services.release_request_start_validation(actor=validator, request=rr)
    rr = services.release_request_record_validation(
        actor=validator, request=rr, outcome="approve", password=PASSWORD
    )
    rr = services.release_request_approve(
        actor=risk_officer, request=rr, password=PASSWORD
    )
    # then one risk officer's signature does not approve a tier-1 model
    assert rr.state != RequestState.APPROVED
    gate = services.gate_check(
        actor=risk_officer,
        model="credit-risk",
        version="1.0.0",
        environment="production",
    )
    assert gate.decision.allowed is False


def test_rollback_target_is_a_version_the_gate_allows(
    submitted_version: Any,
    developer: Any,
    validator: Any,
    risk_officer: Any,
) -> None:
    # given 1.0.0 approved for production, then a critical finding on 1.0.0
    _releasable(submitted_version, developer, validator)
    rr_old = _validated(submitted_version, developer, validator)
    services.release_request_approve(
        actor=risk_officer, request=rr_old, password=PASSWORD
    )
    services.finding_raise(
        actor=validator,
        version=submitted_version,
        severity="critical",
        title="Leaks a protected attribute",
        description="Found in monitoring.",
    )
    # and 1.1.0 approved for production
    newer = registry_services.model_version_register(
        actor=developer, model=submitted_version.model, data=version_payload("1.1.0")
    )
    newer = registry_services.model_version_submit(actor=developer, version=newer)
    _releasable(newer, developer, validator)
    rr_new = _validated(newer, developer, validator)
    rr_new = services.release_request_approve(
        actor=risk_officer, request=rr_new, password=PASSWORD
    )
    # when 1.1.0 is revoked
    rr_new = services.release_request_revoke(
        actor=risk_officer, request=rr_new, reason="AIR breach"
    )
    # then 1.0.0, which the gate denies for its critical finding, is not named:
    # there is no version to roll back to
    assert rr_new.rollback_targets == {"production": None}
    assert not services.gate_check(
        actor=risk_officer,
        model="credit-risk",
        version="1.0.0",
        environment="production",
    ).decision.allowed
