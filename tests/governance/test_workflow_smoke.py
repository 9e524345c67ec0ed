"""The tier-2 happy path end to end, and the gate following the approval."""

from __future__ import annotations

from typing import Any

from governance import services
from governance.choices import RequestState
from registry.models import Model
from tests.factories import PASSWORD
from tests.governance.workflow_helpers import document_everything


def test_tier_2_request_goes_from_draft_to_approved_and_the_gate_follows(
    developer: Any, validator: Any, risk_officer: Any, submitted_version: Any
) -> None:
    # given a tier-2 model's submitted version, fully documented
    Model.objects.filter(pk=submitted_version.model_id).update(risk_tier=2)
    submitted_version.refresh_from_db()
    document_everything(
        version=submitted_version, developer=developer, validator=validator
    )
    before = services.gate_check(
        actor=risk_officer,
        model="credit-risk",
        version="1.0.0",
        environment="production",
    )
    assert before.decision.allowed is False
    assert before.decision.reason == "credit-risk 1.0.0 has no approval for production"
    # when it is requested, validated and approved
    rr = services.release_request_create(
        actor=developer, version=submitted_version, environments=["production"]
    )
    rr = services.release_request_submit(actor=developer, request=rr)
    rr = services.release_request_start_validation(actor=validator, request=rr)
    rr = services.release_request_record_validation(
        actor=validator, request=rr, outcome="approve", password=PASSWORD
    )
    rr = services.release_request_approve(
        actor=risk_officer, request=rr, password=PASSWORD
    )
    # then it is approved for 548 days and the gate allows
    assert rr.state == RequestState.APPROVED
    assert (rr.expires_at - rr.approved_at).days == 548
    after = services.gate_check(
        actor=risk_officer,
        model="credit-risk",
        version="1.0.0",
        environment="production",
    )
    assert after.decision.allowed is True
    assert after.record.approval_id == rr.pk
    assert [s.meaning for s in rr.signatures.all()] == ["validated", "approved"]
    assert all(services.signature_binding_is_intact(s) for s in rr.signatures.all())
    # and a revocation makes it deny at once
    services.release_request_revoke(actor=risk_officer, request=rr, reason="AIR breach")
    revoked = services.gate_check(
        actor=risk_officer,
        model="credit-risk",
        version="1.0.0",
        environment="production",
    )
    assert revoked.decision.allowed is False
    assert revoked.decision.reason.startswith("the approval RR-")
    assert revoked.decision.reason.endswith(": AIR breach")
