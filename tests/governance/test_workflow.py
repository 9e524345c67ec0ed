"""The approval workflow against PostgreSQL: every default tier end to end, separation
of duties, e-signatures, illegal transitions, findings, expiry, revocation, and the
database guards behind the gate."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audits.models import AuditEvent, RefusalKind, RefusedAction
from governance import services, tasks
from governance.choices import RequestState
from governance.exceptions import Conflict
from governance.models import (
    Deployment,
    Finding,
    GateDecision,
    ReleaseRequest,
    Signature,
)
from registry import selectors as registry_selectors
from registry import services as registry_services
from registry.models import Model, ModelCard, ModelVersion
from tests.factories import PASSWORD, UserFactory, sha, version_payload
from tests.governance.workflow_helpers import complete_values, document_everything

SoD = services.SeparationOfDutiesError

# -- helpers -----------------------------------------------------------------


def _set_tier(version: ModelVersion, tier: int) -> None:
    Model.objects.filter(pk=version.model_id).update(risk_tier=tier)
    version.refresh_from_db()


def _user(username: str, *roles: str, first: str = "", last: str = "") -> Any:
    user = UserFactory(
        username=username,
        first_name=first or username.title(),
        last_name=last or "Tester",
    )
    for role in roles:
        user.groups.add(Group.objects.get(name=role))
    return user


def _validated(
    version: ModelVersion,
    *,
    requester: Any,
    validator: Any,
    environments: list[str] | None = None,
) -> ReleaseRequest:
    rr = services.release_request_create(
        actor=requester, version=version, environments=environments or ["production"]
    )
    rr = services.release_request_submit(actor=requester, request=rr)
    rr = services.release_request_start_validation(actor=validator, request=rr)
    return services.release_request_record_validation(
        actor=validator, request=rr, outcome="approve", password=PASSWORD
    )


def _approved(
    version: ModelVersion,
    *,
    requester: Any,
    validator: Any,
    approver: Any,
    environments: list[str] | None = None,
) -> ReleaseRequest:
    rr = _validated(
        version, requester=requester, validator=validator, environments=environments
    )
    rr = services.release_request_approve(actor=approver, request=rr, password=PASSWORD)
    assert rr.state == RequestState.APPROVED
    return rr


def _new_version(model: Model, developer: Any, validator: Any, v: str) -> ModelVersion:
    version = registry_services.model_version_register(
        actor=developer, model=model, data=version_payload(v)
    )
    version = registry_services.model_version_submit(actor=developer, version=version)
    document_everything(version=version, developer=developer, validator=validator)
    return version


def _events(rr: ReleaseRequest) -> list[str]:
    return list(
        AuditEvent.objects.filter(
            object_type="governance.releaserequest", object_id=str(rr.pk)
        )
        .order_by("id")
        .values_list("event_type", flat=True)
    )


def _gate(version: ModelVersion, environment: str = "production", **kw: Any) -> Any:
    return services.gate_check(
        actor=None,
        model=version.model.slug,
        version=version.version,
        environment=environment,
        **kw,
    )


def _last_refusal_id() -> int:
    return (
        RefusedAction.objects.order_by("-id").values_list("id", flat=True).first() or 0
    )


def _assert_refused(
    call: Callable[[], Any],
    *,
    actor: Any,
    exc_type: type[Exception],
    message: str,
    action: str,
    snapshot: Callable[[], Any],
) -> None:
    """``call`` raises exactly ``exc_type(message)``; nothing changed; one refusal."""
    before = snapshot()
    audits = AuditEvent.objects.count()
    signatures = Signature.objects.count()
    last_refusal = _last_refusal_id()
    with pytest.raises(exc_type) as info:
        call()
    assert type(info.value) is exc_type
    assert str(info.value) == message
    assert snapshot() == before
    assert AuditEvent.objects.count() == audits
    assert Signature.objects.count() == signatures
    refusals = [
        (r.actor_id, r.action, r.reason, r.kind)
        for r in RefusedAction.objects.filter(id__gt=last_refusal)
    ]
    kind = {
        services.SeparationOfDutiesError: RefusalKind.SEPARATION_OF_DUTIES,
        services.SignaturePasswordError: RefusalKind.SIGNATURE_PASSWORD,
    }.get(exc_type, RefusalKind.PERMISSION)
    assert refusals == [(actor.pk, action, message, kind)]


def _request_state(rr: ReleaseRequest) -> Callable[[], Any]:
    return lambda: ReleaseRequest.objects.filter(pk=rr.pk).values().get()


def _finding_state(finding: Finding) -> Callable[[], Any]:
    return lambda: Finding.objects.filter(pk=finding.pk).values().get()


def _findings_of(version: ModelVersion) -> Callable[[], Any]:
    return lambda: list(Finding.objects.filter(model_version=version).values())


# -- happy paths ---------------------------------------------------------------


def test_tier_1_needs_validation_two_approvers_and_a_committee_signature(
    developer: Any, validator: Any, risk_officer: Any, submitted_version: Any
) -> None:
    # given a tier-1 (EU AI Act high-risk) model's submitted version, documented,
    # and two more risk officers
    rolf = UserFactory(
        username="rolf", first_name="Rolf", last_name="Reviewer", role="risk_officer"
    )
    ruth = UserFactory(
        username="ruth", first_name="Ruth", last_name="Chair", role="risk_officer"
    )
    document_everything(
        version=submitted_version, developer=developer, validator=validator
    )
    version = submitted_version
    # when it is requested for staging and production
    rr = services.release_request_create(
        actor=developer, version=version, environments=["staging", "production"]
    )
    # then it is a draft under the tier-1 policy
    assert rr.state == RequestState.DRAFT
    assert rr.policy.risk_tier == 1
    assert rr.policy.approvals_required == 2
    assert rr.policy.requires_committee is True
    # when it is submitted, taken and validated
    rr = services.release_request_submit(actor=developer, request=rr)
    assert rr.state == RequestState.SUBMITTED
    rr = services.release_request_start_validation(actor=validator, request=rr)
    assert rr.state == RequestState.IN_VALIDATION
    assert rr.validator_id == validator.pk
    rr = services.release_request_record_validation(
        actor=validator,
        request=rr,
        outcome="approve_with_conditions",
        conditions="Monitor PSI monthly.",
        password=PASSWORD,
    )
    assert rr.state == RequestState.VALIDATED
    assert rr.conditions == "Monitor PSI monthly."
    # when the first approver signs, it still waits for the second and the committee
    rr = services.release_request_approve(
        actor=risk_officer, request=rr, password=PASSWORD, comment="Fine."
    )
    assert rr.state == RequestState.VALIDATED
    assert rr.approved_at is None
    rr = services.release_request_approve(actor=rolf, request=rr, password=PASSWORD)
    assert rr.state == RequestState.VALIDATED
    assert _gate(version).decision.allowed is False
    # when the committee signs
    rr = services.release_request_approve(
        actor=ruth, request=rr, password=PASSWORD, committee=True
    )
    # then it is approved for exactly 365 days, bound to the artifact digest
    assert rr.state == RequestState.APPROVED
    rr.refresh_from_db()
    assert rr.approved_at is not None
    assert rr.expires_at == rr.approved_at + timedelta(days=365)
    assert rr.decided_at == rr.approved_at
    assert rr.approved_artifact_sha256 == sha("artifact-1.0.0")
    assert rr.approved_content_digest == version.content_digest
    signatures = list(rr.signatures.order_by("id"))
    assert [(s.meaning, s.printed_name, s.signer_id) for s in signatures] == [
        ("validated", "Vera Validator (vera)", validator.pk),
        ("approved", "Rita Risk (rita)", risk_officer.pk),
        ("approved", "Rolf Reviewer (rolf)", rolf.pk),
        ("committee", "Ruth Chair (ruth)", ruth.pk),
    ]
    assert {s.artifact_sha256 for s in signatures} == {sha("artifact-1.0.0")}
    assert {s.model_version_id for s in signatures} == {version.pk}
    assert [s.environments for s in signatures] == [["staging", "production"]] * 4
    assert signatures[1].comment == "Fine."
    assert all(services.signature_binding_is_intact(s) for s in signatures)
    assert _events(rr) == [
        "governance.request.created",
        "governance.request.submitted",
        "governance.request.validation_started",
        "governance.request.validated",
        "governance.request.signed",
        "governance.request.signed",
        "governance.request.signed",
        "governance.request.approved",
    ]
    # and the gate allows both environments
    for env in ("staging", "production"):
        result = _gate(version, env)
        assert result.decision.allowed is True
        assert result.decision.reason == (
            f"credit-risk 1.0.0 is approved for {env} until "
            f"{rr.expires_at:%Y-%m-%d %H:%M} UTC (approval RR-{rr.pk})"
        )
        assert result.record.approval_id == rr.pk


def test_tier_2_needs_validation_and_one_approver_for_548_days(
    developer: Any, validator: Any, risk_officer: Any, submitted_version: Any
) -> None:
    # given a tier-2 model's documented submitted version
    _set_tier(submitted_version, 2)
    document_everything(
        version=submitted_version, developer=developer, validator=validator
    )
    # when it goes through the workflow
    rr = services.release_request_create(
        actor=developer, version=submitted_version, environments=["production"]
    )
    assert rr.state == RequestState.DRAFT
    assert rr.policy.risk_tier == 2
    rr = services.release_request_submit(actor=developer, request=rr)
    assert rr.state == RequestState.SUBMITTED
    rr = services.release_request_start_validation(actor=validator, request=rr)
    assert rr.state == RequestState.IN_VALIDATION
    rr = services.release_request_record_validation(
        actor=validator, request=rr, outcome="approve", password=PASSWORD
    )
    assert rr.state == RequestState.VALIDATED
    rr = services.release_request_approve(
        actor=risk_officer, request=rr, password=PASSWORD
    )
    # then one approval suffices
    assert rr.state == RequestState.APPROVED
    rr.refresh_from_db()
    assert rr.expires_at == rr.approved_at + timedelta(days=548)
    assert rr.approved_artifact_sha256 == sha("artifact-1.0.0")
    assert [
        (s.meaning, s.printed_name, s.artifact_sha256) for s in rr.signatures.all()
    ] == [
        ("validated", "Vera Validator (vera)", sha("artifact-1.0.0")),
        ("approved", "Rita Risk (rita)", sha("artifact-1.0.0")),
    ]
    assert _events(rr) == [
        "governance.request.created",
        "governance.request.submitted",
        "governance.request.validation_started",
        "governance.request.validated",
        "governance.request.signed",
        "governance.request.approved",
    ]
    result = _gate(submitted_version)
    assert result.decision.allowed is True
    assert result.decision.expires_at == rr.expires_at


def test_tier_3_needs_only_its_documents_and_one_approver_for_730_days(
    developer: Any, validator: Any, risk_officer: Any, submitted_version: Any
) -> None:
    # given a tier-3 model whose version has only what tier 3 (and the EU AI Act)
    # requires: the card, the development document and Annex IV
    _set_tier(submitted_version, 3)
    card = ModelCard.objects.select_related("template").get(
        model_version=submitted_version
    )
    registry_services.model_card_replace(
        actor=developer, card=card, content=complete_values(card.template)
    )
    for key in ("sr11-7-development", "eu-ai-act-annex-iv"):
        template = registry_selectors.template_latest(key=key)
        assert template is not None
        registry_services.document_create(
            actor=developer,
            version=submitted_version,
            template=template,
            content=complete_values(template),
        )
    # when it goes through the workflow
    rr = services.release_request_create(
        actor=developer, version=submitted_version, environments=["production"]
    )
    assert rr.policy.risk_tier == 3
    rr = services.release_request_submit(actor=developer, request=rr)
    assert rr.state == RequestState.SUBMITTED
    rr = services.release_request_start_validation(actor=validator, request=rr)
    assert rr.state == RequestState.IN_VALIDATION
    rr = services.release_request_record_validation(
        actor=validator, request=rr, outcome="approve", password=PASSWORD
    )
    assert rr.state == RequestState.VALIDATED
    assert services.approval_checklist(rr) == [
        ("Independent validation", True, "approve"),
        ("Model card complete", True, "100 %"),
        ("Document sr11-7-development complete", True, "100 %"),
        ("Document eu-ai-act-annex-iv complete", True, "100 %"),
        ("No open blocking findings", True, "none"),
    ]
    rr = services.release_request_approve(
        actor=risk_officer, request=rr, password=PASSWORD
    )
    # then it is approved for 730 days and the gate allows
    assert rr.state == RequestState.APPROVED
    rr.refresh_from_db()
    assert rr.expires_at == rr.approved_at + timedelta(days=730)
    assert [(s.meaning, s.printed_name) for s in rr.signatures.all()] == [
        ("validated", "Vera Validator (vera)"),
        ("approved", "Rita Risk (rita)"),
    ]
    assert _events(rr) == [
        "governance.request.created",
        "governance.request.submitted",
        "governance.request.validation_started",
        "governance.request.validated",
        "governance.request.signed",
        "governance.request.approved",
    ]
    assert _gate(submitted_version).decision.allowed is True


def test_tier_3_a_high_finding_does_not_block_but_a_critical_one_does(
    developer: Any, validator: Any, risk_officer: Any, submitted_version: Any
) -> None:
    # given a tier-3 version with an open high finding
    _set_tier(submitted_version, 3)
    document_everything(
        version=submitted_version, developer=developer, validator=validator
    )
    services.finding_raise(
        actor=validator,
        version=submitted_version,
        severity="high",
        title="Thin segment",
        description="Few applicants under 25.",
    )
    rr = _approved(
        submitted_version,
        requester=developer,
        validator=validator,
        approver=risk_officer,
    )
    assert _gate(submitted_version).decision.allowed is True
    # when a critical finding is raised
    critical = services.finding_raise(
        actor=validator,
        version=submitted_version,
        severity="critical",
        title="Leakage",
        description="Target leaks into a feature.",
    )
    # then the gate denies with it
    denied = _gate(submitted_version)
    assert denied.decision.allowed is False
    assert denied.decision.reason == (
        f"open blocking findings: F-{critical.pk} (critical)"
    )
    assert denied.record.approval_id == rr.pk


# -- separation of duties ----------------------------------------------------------


def test_a_developer_cannot_start_validation(
    developer: Any, submitted_version: Any
) -> None:
    # given a submitted request
    rr = services.release_request_create(
        actor=developer, version=submitted_version, environments=["production"]
    )
    rr = services.release_request_submit(actor=developer, request=rr)
    # when / then the developer's attempt to validate is refused
    _assert_refused(
        lambda: services.release_request_start_validation(actor=developer, request=rr),
        actor=developer,
        exc_type=PermissionDenied,
        message="Only a validator may validate a release.",
        action="governance.request.start_validation",
        snapshot=_request_state(rr),
    )


def test_a_validator_on_the_models_team_cannot_validate_it(
    developer: Any, credit_model: Any, submitted_version: Any
) -> None:
    # given a validator who is also one of the model's developers
    insider = _user("ivan", "validator")
    credit_model.developers.add(insider)
    rr = services.release_request_create(
        actor=developer, version=submitted_version, environments=["production"]
    )
    rr = services.release_request_submit(actor=developer, request=rr)
    # when / then
    _assert_refused(
        lambda: services.release_request_start_validation(actor=insider, request=rr),
        actor=insider,
        exc_type=SoD,
        message=f"You may not validate RR-{rr.pk}: you are one of the model's developers.",
        action="governance.request.start_validation",
        snapshot=_request_state(rr),
    )


def test_only_the_assigned_validator_records_the_validation(
    developer: Any, validator: Any, submitted_version: Any
) -> None:
    # given a request taken by vera
    walt = _user("walt", "validator")
    rr = services.release_request_create(
        actor=developer, version=submitted_version, environments=["production"]
    )
    rr = services.release_request_submit(actor=developer, request=rr)
    rr = services.release_request_start_validation(actor=validator, request=rr)
    # when / then another validator cannot sign her validation
    _assert_refused(
        lambda: services.release_request_record_validation(
            actor=walt, request=rr, outcome="approve", password=PASSWORD
        ),
        actor=walt,
        exc_type=PermissionDenied,
        message=f"RR-{rr.pk} is being validated by someone else.",
        action="governance.request.record_validation",
        snapshot=_request_state(rr),
    )


def test_a_developer_cannot_approve(
    developer: Any, validator: Any, submitted_version: Any
) -> None:
    # given a validated request
    document_everything(
        version=submitted_version, developer=developer, validator=validator
    )
    rr = _validated(submitted_version, requester=developer, validator=validator)
    # when / then
    _assert_refused(
        lambda: services.release_request_approve(
            actor=developer, request=rr, password=PASSWORD
        ),
        actor=developer,
        exc_type=PermissionDenied,
        message="Only a risk officer may approve a release.",
        action="governance.request.approve",
        snapshot=_request_state(rr),
    )


def test_a_developer_who_is_also_a_risk_officer_cannot_approve_their_model(
    developer: Any, validator: Any, submitted_version: Any
) -> None:
    # given the model's developer also holds the risk-officer role
    developer.groups.add(Group.objects.get(name="risk_officer"))
    developer = type(developer).objects.get(pk=developer.pk)  # no stale perm cache
    rr = _validated(submitted_version, requester=developer, validator=validator)
    # when / then
    _assert_refused(
        lambda: services.release_request_approve(
            actor=developer, request=rr, password=PASSWORD
        ),
        actor=developer,
        exc_type=SoD,
        message=f"You may not approve RR-{rr.pk}: you are one of the model's developers.",
        action="governance.request.approve",
        snapshot=_request_state(rr),
    )


def test_the_model_owner_cannot_approve(
    developer: Any, validator: Any, risk_officer: Any, submitted_version: Any
) -> None:
    # given the risk officer owns the model
    Model.objects.filter(pk=submitted_version.model_id).update(owner=risk_officer)
    rr = _validated(submitted_version, requester=developer, validator=validator)
    # when / then
    _assert_refused(
        lambda: services.release_request_approve(
            actor=risk_officer, request=rr, password=PASSWORD
        ),
        actor=risk_officer,
        exc_type=SoD,
        message=f"You may not approve RR-{rr.pk}: you own the model.",
        action="governance.request.approve",
        snapshot=_request_state(rr),
    )


def test_the_version_registrant_cannot_approve(
    developer: Any, validator: Any, credit_model: Any
) -> None:
    # given a version registered by a developer who later left the team and
    # became a risk officer
    reg = _user("regina", "model_developer", "risk_officer")
    credit_model.developers.add(reg)
    version = registry_services.model_version_register(
        actor=reg, model=credit_model, data=version_payload("2.0.0")
    )
    version = registry_services.model_version_submit(actor=developer, version=version)
    credit_model.developers.remove(reg)
    rr = _validated(version, requester=developer, validator=validator)
    # when / then
    _assert_refused(
        lambda: services.release_request_approve(
            actor=reg, request=rr, password=PASSWORD
        ),
        actor=reg,
        exc_type=SoD,
        message=f"You may not approve RR-{rr.pk}: you registered this version.",
        action="governance.request.approve",
        snapshot=_request_state(rr),
    )


def test_the_version_submitter_cannot_approve(
    developer: Any, validator: Any, credit_model: Any, draft_version: Any
) -> None:
    # given a version submitted by someone who later left the team
    sub = _user("sully", "model_developer", "risk_officer")
    credit_model.developers.add(sub)
    version = registry_services.model_version_submit(actor=sub, version=draft_version)
    credit_model.developers.remove(sub)
    rr = _validated(version, requester=developer, validator=validator)
    # when / then
    _assert_refused(
        lambda: services.release_request_approve(
            actor=sub, request=rr, password=PASSWORD
        ),
        actor=sub,
        exc_type=SoD,
        message=f"You may not approve RR-{rr.pk}: you submitted this version.",
        action="governance.request.approve",
        snapshot=_request_state(rr),
    )


def test_the_requester_cannot_approve(
    validator: Any, credit_model: Any, submitted_version: Any
) -> None:
    # given a request opened by a team member who then left the team
    req = _user("reqa", "model_developer", "risk_officer")
    credit_model.developers.add(req)
    rr = _validated(submitted_version, requester=req, validator=validator)
    credit_model.developers.remove(req)
    # when / then
    _assert_refused(
        lambda: services.release_request_approve(
            actor=req, request=rr, password=PASSWORD
        ),
        actor=req,
        exc_type=SoD,
        message=f"You may not approve RR-{rr.pk}: you requested this release.",
        action="governance.request.approve",
        snapshot=_request_state(rr),
    )


def test_a_validator_cannot_approve(
    developer: Any, validator: Any, submitted_version: Any
) -> None:
    # given a validated request
    rr = _validated(submitted_version, requester=developer, validator=validator)
    # when / then the validator (no approval right) is refused
    _assert_refused(
        lambda: services.release_request_approve(
            actor=validator, request=rr, password=PASSWORD
        ),
        actor=validator,
        exc_type=PermissionDenied,
        message="Only a risk officer may approve a release.",
        action="governance.request.approve",
        snapshot=_request_state(rr),
    )


def test_the_validator_cannot_approve_what_they_validated_even_as_risk_officer(
    developer: Any, submitted_version: Any
) -> None:
    # given a request validated by someone who holds both roles
    both = _user("bea", "validator", "risk_officer")
    rr = _validated(submitted_version, requester=developer, validator=both)
    # when / then
    _assert_refused(
        lambda: services.release_request_approve(
            actor=both, request=rr, password=PASSWORD
        ),
        actor=both,
        exc_type=SoD,
        message=f"You may not approve RR-{rr.pk}: you validated it.",
        action="governance.request.approve",
        snapshot=_request_state(rr),
    )


def test_the_same_approver_cannot_sign_twice(
    developer: Any, validator: Any, risk_officer: Any, submitted_version: Any
) -> None:
    # given a tier-1 request with rita's first approval
    document_everything(
        version=submitted_version, developer=developer, validator=validator
    )
    rr = _validated(submitted_version, requester=developer, validator=validator)
    rr = services.release_request_approve(
        actor=risk_officer, request=rr, password=PASSWORD
    )
    # when / then her second approval (or committee signature) is refused
    message = (
        f"You have already signed RR-{rr.pk}; the next signature must come "
        "from someone else."
    )
    for committee in (False, True):
        _assert_refused(
            lambda c=committee: services.release_request_approve(
                actor=risk_officer, request=rr, password=PASSWORD, committee=c
            ),
            actor=risk_officer,
            exc_type=SoD,
            message=message,
            action="governance.request.approve",
            snapshot=_request_state(rr),
        )
    assert rr.signatures.count() == 2


def test_a_developer_cannot_raise_a_finding(
    developer: Any, submitted_version: Any
) -> None:
    # when / then
    _assert_refused(
        lambda: services.finding_raise(
            actor=developer,
            version=submitted_version,
            severity="low",
            title="Nit",
            description="Nothing.",
        ),
        actor=developer,
        exc_type=PermissionDenied,
        message="Only a validator may raise findings.",
        action="governance.finding.raise",
        snapshot=_findings_of(submitted_version),
    )


def test_a_validator_on_the_team_cannot_raise_a_finding(
    credit_model: Any, submitted_version: Any
) -> None:
    # given a validator on the model's team
    insider = _user("ivan", "validator")
    credit_model.developers.add(insider)
    # when / then
    _assert_refused(
        lambda: services.finding_raise(
            actor=insider,
            version=submitted_version,
            severity="low",
            title="Nit",
            description="Nothing.",
        ),
        actor=insider,
        exc_type=SoD,
        message="Findings are raised by someone independent of the model.",
        action="governance.finding.raise",
        snapshot=_findings_of(submitted_version),
    )


def _finding(validator: Any, version: ModelVersion, owner: Any) -> Finding:
    return services.finding_raise(
        actor=validator,
        version=version,
        severity="high",
        title="Unstable PD",
        description="PD unstable across vintages.",
        owner=owner,
    )


def test_a_developer_cannot_close_a_finding(
    developer: Any, validator: Any, submitted_version: Any
) -> None:
    # given an open finding owned by the developer
    finding = _finding(validator, submitted_version, developer)
    # when / then
    _assert_refused(
        lambda: services.finding_close(
            actor=developer, finding=finding, evidence="Fixed."
        ),
        actor=developer,
        exc_type=PermissionDenied,
        message="Only a validator may close findings.",
        action="governance.finding.close",
        snapshot=_finding_state(finding),
    )


def test_the_finding_owner_cannot_close_it(
    validator: Any, submitted_version: Any
) -> None:
    # given a finding owned by another validator
    walt = _user("walt", "validator")
    finding = _finding(validator, submitted_version, walt)
    # when / then
    _assert_refused(
        lambda: services.finding_close(actor=walt, finding=finding, evidence="Done."),
        actor=walt,
        exc_type=SoD,
        message="A finding is closed by a second person, not by its owner or remediator.",
        action="governance.finding.close",
        snapshot=_finding_state(finding),
    )


def test_the_remediator_cannot_close_the_finding(
    developer: Any, validator: Any, credit_model: Any, submitted_version: Any
) -> None:
    # given a remediation submitted by a team member who is also a validator
    vic = _user("vic", "validator")
    credit_model.developers.add(vic)
    finding = _finding(validator, submitted_version, developer)
    finding = services.finding_submit_remediation(
        actor=vic, finding=finding, remediation="Re-estimated."
    )
    # when / then
    _assert_refused(
        lambda: services.finding_close(actor=vic, finding=finding, evidence="Done."),
        actor=vic,
        exc_type=SoD,
        message="A finding is closed by a second person, not by its owner or remediator.",
        action="governance.finding.close",
        snapshot=_finding_state(finding),
    )


def test_a_validator_on_the_team_cannot_close_a_finding(
    developer: Any, validator: Any, credit_model: Any, submitted_version: Any
) -> None:
    # given a finding and a validator on the model's team
    insider = _user("ivan", "validator")
    credit_model.developers.add(insider)
    finding = _finding(validator, submitted_version, developer)
    # when / then
    _assert_refused(
        lambda: services.finding_close(
            actor=insider, finding=finding, evidence="Done."
        ),
        actor=insider,
        exc_type=SoD,
        message="Findings are closed by someone independent of the model.",
        action="governance.finding.close",
        snapshot=_finding_state(finding),
    )


# -- e-signatures ----------------------------------------------------------------


@pytest.mark.parametrize("password", ["", "wrong-password"])
def test_an_approval_without_the_right_password_is_refused(
    developer: Any,
    validator: Any,
    risk_officer: Any,
    submitted_version: Any,
    password: str,
) -> None:
    # given a validated tier-2 request
    _set_tier(submitted_version, 2)
    document_everything(
        version=submitted_version, developer=developer, validator=validator
    )
    rr = _validated(submitted_version, requester=developer, validator=validator)
    # when / then
    _assert_refused(
        lambda: services.release_request_approve(
            actor=risk_officer, request=rr, password=password
        ),
        actor=risk_officer,
        exc_type=services.SignaturePasswordError,
        message="The password is not correct; the signature was not applied.",
        action="governance.request.approve",
        snapshot=_request_state(rr),
    )


@pytest.mark.parametrize("password", ["", "wrong-password"])
def test_a_validation_without_the_right_password_is_refused(
    developer: Any, validator: Any, submitted_version: Any, password: str
) -> None:
    # given a request in validation
    rr = services.release_request_create(
        actor=developer, version=submitted_version, environments=["production"]
    )
    rr = services.release_request_submit(actor=developer, request=rr)
    rr = services.release_request_start_validation(actor=validator, request=rr)
    # when / then
    _assert_refused(
        lambda: services.release_request_record_validation(
            actor=validator, request=rr, outcome="approve", password=password
        ),
        actor=validator,
        exc_type=services.SignaturePasswordError,
        message="The password is not correct; the signature was not applied.",
        action="governance.request.record_validation",
        snapshot=_request_state(rr),
    )


def test_a_rejection_without_the_password_is_refused(
    developer: Any, validator: Any, risk_officer: Any, submitted_version: Any
) -> None:
    # given a validated request
    rr = _validated(submitted_version, requester=developer, validator=validator)
    # when / then
    _assert_refused(
        lambda: services.release_request_reject(
            actor=risk_officer, request=rr, password="", comment="No."
        ),
        actor=risk_officer,
        exc_type=services.SignaturePasswordError,
        message="The password is not correct; the signature was not applied.",
        action="governance.request.reject",
        snapshot=_request_state(rr),
    )


# -- illegal transitions ---------------------------------------------------------------


def _assert_conflict(
    call: Callable[[], Any], rr: ReleaseRequest, code: str, message: str
) -> None:
    before = ReleaseRequest.objects.filter(pk=rr.pk).values().get()
    audits = AuditEvent.objects.count()
    signatures = Signature.objects.count()
    refusals = RefusedAction.objects.count()
    with pytest.raises(Conflict) as info:
        call()
    assert info.value.code == code
    assert str(info.value) == message
    assert ReleaseRequest.objects.filter(pk=rr.pk).values().get() == before
    assert AuditEvent.objects.count() == audits
    assert Signature.objects.count() == signatures
    assert RefusedAction.objects.count() == refusals


def test_approving_a_submitted_request_is_an_invalid_state(
    developer: Any, risk_officer: Any, submitted_version: Any
) -> None:
    # given a submitted request
    rr = services.release_request_create(
        actor=developer, version=submitted_version, environments=["production"]
    )
    rr = services.release_request_submit(actor=developer, request=rr)
    # when / then
    _assert_conflict(
        lambda: services.release_request_approve(
            actor=risk_officer, request=rr, password=PASSWORD
        ),
        rr,
        "invalid_state",
        f"RR-{rr.pk} is submitted; this needs it to be validated.",
    )


def test_submitting_twice_is_an_invalid_state(
    developer: Any, submitted_version: Any
) -> None:
    # given a submitted request
    rr = services.release_request_create(
        actor=developer, version=submitted_version, environments=["production"]
    )
    rr = services.release_request_submit(actor=developer, request=rr)
    # when / then
    _assert_conflict(
        lambda: services.release_request_submit(actor=developer, request=rr),
        rr,
        "invalid_state",
        f"RR-{rr.pk} is submitted; this needs it to be draft.",
    )


def test_revoking_a_validated_request_is_an_invalid_state(
    developer: Any, validator: Any, risk_officer: Any, submitted_version: Any
) -> None:
    # given a validated request
    rr = _validated(submitted_version, requester=developer, validator=validator)
    # when / then
    _assert_conflict(
        lambda: services.release_request_revoke(
            actor=risk_officer, request=rr, reason="Because."
        ),
        rr,
        "invalid_state",
        f"RR-{rr.pk} is validated; this needs it to be approved.",
    )


def test_validating_a_draft_and_withdrawing_an_approval_are_invalid_states(
    developer: Any,
    validator: Any,
    risk_officer: Any,
    submitted_version: Any,
) -> None:
    # given a draft request
    _set_tier(submitted_version, 2)
    document_everything(
        version=submitted_version, developer=developer, validator=validator
    )
    rr = services.release_request_create(
        actor=developer, version=submitted_version, environments=["production"]
    )
    # when / then a validator cannot take a draft
    _assert_conflict(
        lambda: services.release_request_start_validation(actor=validator, request=rr),
        rr,
        "invalid_state",
        f"RR-{rr.pk} is draft; this needs it to be submitted.",
    )
    # and an approved request cannot be withdrawn
    services.release_request_submit(actor=developer, request=rr)
    services.release_request_start_validation(actor=validator, request=rr)
    services.release_request_record_validation(
        actor=validator, request=rr, outcome="approve", password=PASSWORD
    )
    services.release_request_approve(actor=risk_officer, request=rr, password=PASSWORD)
    _assert_conflict(
        lambda: services.release_request_withdraw(actor=developer, request=rr),
        rr,
        "invalid_state",
        f"RR-{rr.pk} is approved; this needs it to be draft, submitted, "
        "in_validation, validated.",
    )


def test_a_draft_version_cannot_be_requested(
    developer: Any, draft_version: Any
) -> None:
    # when / then
    with pytest.raises(Conflict) as info:
        services.release_request_create(
            actor=developer, version=draft_version, environments=["production"]
        )
    assert info.value.code == "invalid_state"
    assert str(info.value) == (
        "credit-risk 1.0.0 is a draft; submit it (freeze its content) before "
        "requesting release."
    )
    assert ReleaseRequest.objects.count() == 0


# -- one open request per (version, environment) --------------------------------------


def test_a_second_open_request_for_the_same_environment_is_a_duplicate(
    developer: Any, submitted_version: Any
) -> None:
    # given an open request for production
    services.release_request_create(
        actor=developer, version=submitted_version, environments=["production"]
    )
    audits = AuditEvent.objects.count()
    # when / then a second one that includes production is refused
    with pytest.raises(Conflict) as info:
        services.release_request_create(
            actor=developer,
            version=submitted_version,
            environments=["staging", "production"],
        )
    assert info.value.code == "duplicate"
    assert str(info.value) == (
        "credit-risk 1.0.0 already has an open release request for one of: "
        "staging, production."
    )
    assert ReleaseRequest.objects.count() == 1
    assert AuditEvent.objects.count() == audits
    # and staging alone is fine
    staging = services.release_request_create(
        actor=developer, version=submitted_version, environments=["staging"]
    )
    assert staging.environments == ["staging"]


def test_after_rejection_or_withdrawal_a_new_request_can_be_opened(
    developer: Any, validator: Any, risk_officer: Any, submitted_version: Any
) -> None:
    # given a rejected request
    rr = _validated(submitted_version, requester=developer, validator=validator)
    rr = services.release_request_reject(
        actor=risk_officer, request=rr, password=PASSWORD, comment="Not yet."
    )
    assert rr.state == RequestState.REJECTED
    assert [s.meaning for s in rr.signatures.all()] == ["validated", "rejected"]
    # when a new one is opened, then withdrawn, and a third opened
    second = services.release_request_create(
        actor=developer, version=submitted_version, environments=["production"]
    )
    second = services.release_request_withdraw(actor=developer, request=second)
    third = services.release_request_create(
        actor=developer, version=submitted_version, environments=["production"]
    )
    # then
    assert second.state == RequestState.WITHDRAWN
    assert third.state == RequestState.DRAFT
    assert _events(rr)[-1] == "governance.request.rejected"
    assert _events(second) == [
        "governance.request.created",
        "governance.request.withdrawn",
    ]


# -- the policy checklist ---------------------------------------------------------------


def test_approval_is_blocked_by_an_incomplete_document_and_an_open_high_finding(
    developer: Any, validator: Any, risk_officer: Any, submitted_version: Any
) -> None:
    # given a tier-2 version whose development document is empty and which has an
    # open high finding
    _set_tier(submitted_version, 2)
    card = ModelCard.objects.select_related("template").get(
        model_version=submitted_version
    )
    registry_services.model_card_replace(
        actor=developer, card=card, content=complete_values(card.template)
    )
    for key, author, complete in (
        ("sr11-7-development", developer, False),
        ("eu-ai-act-annex-iv", developer, True),
        ("validation-report", validator, True),
    ):
        template = registry_selectors.template_latest(key=key)
        assert template is not None
        registry_services.document_create(
            actor=author,
            version=submitted_version,
            template=template,
            content=complete_values(template) if complete else {},
        )
    finding = _finding(validator, submitted_version, developer)
    rr = _validated(submitted_version, requester=developer, validator=validator)
    # when / then approval is refused with exactly what is missing
    assert services.approval_checklist(rr) == [
        ("Independent validation", True, "approve"),
        ("Model card complete", True, "100 %"),
        ("Document sr11-7-development complete", False, "0 %"),
        ("Document validation-report complete", True, "100 %"),
        ("Document eu-ai-act-annex-iv complete", True, "100 %"),
        ("No open blocking findings", False, f"F-{finding.pk} (high)"),
    ]
    _assert_conflict(
        lambda: services.release_request_approve(
            actor=risk_officer, request=rr, password=PASSWORD
        ),
        rr,
        "policy_unsatisfied",
        f"RR-{rr.pk} cannot be approved yet: Document sr11-7-development complete; "
        "No open blocking findings.",
    )


def test_approval_is_blocked_by_missing_documents(
    developer: Any, validator: Any, risk_officer: Any, submitted_version: Any
) -> None:
    # given a tier-1 version with nothing documented
    rr = _validated(submitted_version, requester=developer, validator=validator)
    # when / then
    _assert_conflict(
        lambda: services.release_request_approve(
            actor=risk_officer, request=rr, password=PASSWORD
        ),
        rr,
        "policy_unsatisfied",
        f"RR-{rr.pk} cannot be approved yet: Model card complete; "
        "Document sr11-7-development complete; Document sr26-2-materiality complete; "
        "Document validation-report complete; Document eu-ai-act-annex-iv complete.",
    )


# -- findings ------------------------------------------------------------------------


def test_a_blocking_finding_is_raised_remediated_and_closed_by_a_second_person(
    developer: Any, validator: Any, risk_officer: Any, submitted_version: Any
) -> None:
    # given an approved tier-2 version
    _set_tier(submitted_version, 2)
    document_everything(
        version=submitted_version, developer=developer, validator=validator
    )
    rr = _approved(
        submitted_version,
        requester=developer,
        validator=validator,
        approver=risk_officer,
    )
    walt = _user("walt", "validator")
    # when the validator raises a high finding owned by the developer
    finding = _finding(validator, submitted_version, developer)
    # then it is open and the gate denies
    assert finding.status == "open"
    assert finding.raised_by_id == validator.pk
    denied = _gate(submitted_version)
    assert denied.decision.allowed is False
    assert denied.decision.reason == (f"open blocking findings: F-{finding.pk} (high)")
    # when the developer submits the remediation
    finding = services.finding_submit_remediation(
        actor=developer, finding=finding, remediation="Re-estimated on 2015-2024."
    )
    assert finding.status == "remediation_submitted"
    assert finding.remediation_submitted_by_id == developer.pk
    assert _gate(submitted_version).decision.allowed is False
    # and a second validator tries to close it without evidence
    with pytest.raises(ValidationError) as info:
        services.finding_close(actor=walt, finding=finding, evidence="  ")
    assert info.value.message_dict == {
        "evidence": ["Closing a finding needs evidence."]
    }
    assert Finding.objects.get(pk=finding.pk).status == "remediation_submitted"
    # when the second validator closes it with evidence
    finding = services.finding_close(
        actor=walt, finding=finding, evidence="Back-test report BT-42."
    )
    # then it is closed and the gate allows again
    assert finding.status == "closed"
    assert finding.closed_by_id == walt.pk
    assert finding.closure_evidence == "Back-test report BT-42."
    assert finding.closed_at is not None
    allowed = _gate(submitted_version)
    assert allowed.decision.allowed is True
    assert allowed.record.approval_id == rr.pk
    assert list(
        AuditEvent.objects.filter(
            object_type="governance.finding", object_id=str(finding.pk)
        )
        .order_by("id")
        .values_list("event_type", "actor_id")
    ) == [
        ("governance.finding.raised", validator.pk),
        ("governance.finding.remediation_submitted", developer.pk),
        ("governance.finding.closed", walt.pk),
    ]
    # and a closed finding cannot be closed again
    with pytest.raises(Conflict) as again:
        services.finding_close(actor=validator, finding=finding, evidence="Again.")
    assert again.value.code == "invalid_state"
    assert str(again.value) == f"F-{finding.pk} is already closed."


# -- expiry -----------------------------------------------------------------------------


def test_expiry_flips_exactly_the_due_approvals_once_and_the_gate_denies(
    developer: Any, validator: Any, risk_officer: Any, submitted_version: Any
) -> None:
    # given two tier-2 approvals, production approved before staging
    _set_tier(submitted_version, 2)
    document_everything(
        version=submitted_version, developer=developer, validator=validator
    )
    prod = _approved(
        submitted_version,
        requester=developer,
        validator=validator,
        approver=risk_officer,
        environments=["production"],
    )
    staging = _approved(
        submitted_version,
        requester=developer,
        validator=validator,
        approver=risk_officer,
        environments=["staging"],
    )
    assert prod.expires_at is not None and staging.expires_at is not None
    assert prod.expires_at < staging.expires_at
    due = prod.expires_at
    # when the sweep runs a moment before, at, and again at the expiry
    before = services.release_requests_expire_due(now=due - timedelta(seconds=1))
    flipped = services.release_requests_expire_due(now=due)
    again = services.release_requests_expire_due(now=due)
    # then exactly the production approval expired, once
    assert (before, flipped, again) == ([], [prod.pk], [])
    prod.refresh_from_db()
    staging.refresh_from_db()
    assert prod.state == RequestState.EXPIRED
    assert staging.state == RequestState.APPROVED
    expired = AuditEvent.objects.filter(
        event_type="governance.request.expired"
    ).values_list("object_id", "actor_id", "actor_display", "payload")
    assert list(expired) == [
        (
            str(prod.pk),
            None,
            "system",
            {
                "model": "credit-risk",
                "version": "1.0.0",
                "environments": ["production"],
                "state": "expired",
                "expired_at": due.isoformat(),
            },
        )
    ]
    # and the gate denies production with the expiry, still allows staging
    denied = _gate(submitted_version, "production", now=due)
    assert denied.decision.allowed is False
    assert denied.decision.reason == (
        f"the approval RR-{prod.pk} expired on {due:%Y-%m-%d %H:%M} UTC"
    )
    assert _gate(submitted_version, "staging", now=due).decision.allowed is True
    # and a new request for production can be opened
    fresh = services.release_request_create(
        actor=developer, version=submitted_version, environments=["production"]
    )
    assert fresh.state == RequestState.DRAFT


def test_the_expiry_task_calls_the_sweep(
    developer: Any, validator: Any, risk_officer: Any, submitted_version: Any
) -> None:
    # given an approval whose validity ended a minute ago
    _set_tier(submitted_version, 2)
    document_everything(
        version=submitted_version, developer=developer, validator=validator
    )
    rr = _approved(
        submitted_version,
        requester=developer,
        validator=validator,
        approver=risk_officer,
    )
    past = timezone.now() - timedelta(minutes=1)
    ReleaseRequest.objects.filter(pk=rr.pk).update(
        approved_at=past - timedelta(days=548), expires_at=past
    )
    # when the task function runs
    result = tasks.release_requests_expire_due_task()
    # then it expired the request and the gate denies
    assert result == [rr.pk]
    rr.refresh_from_db()
    assert rr.state == RequestState.EXPIRED
    assert tasks.release_requests_expire_due_task() == []
    denied = _gate(submitted_version)
    assert denied.decision.allowed is False
    assert denied.decision.reason == (
        f"the approval RR-{rr.pk} expired on {past:%Y-%m-%d %H:%M} UTC"
    )


# -- revocation -------------------------------------------------------------------------


def test_revocation_names_the_previous_approved_version_as_rollback_target(
    developer: Any,
    validator: Any,
    risk_officer: Any,
    credit_model: Any,
    submitted_version: Any,
) -> None:
    # given 1.0.0 and then 1.1.0 approved for production
    _set_tier(submitted_version, 2)
    document_everything(
        version=submitted_version, developer=developer, validator=validator
    )
    old = _approved(
        submitted_version,
        requester=developer,
        validator=validator,
        approver=risk_officer,
    )
    newer = _new_version(credit_model, developer, validator, "1.1.0")
    new = _approved(
        newer, requester=developer, validator=validator, approver=risk_officer
    )
    # when 1.1.0 is revoked
    new = services.release_request_revoke(
        actor=risk_officer, request=new, reason="Drift in PSI."
    )
    # then the rollback target is 1.0.0 and the gate denies 1.1.0
    assert new.state == RequestState.REVOKED
    new.refresh_from_db()
    assert new.rollback_targets == {"production": "1.0.0"}
    assert new.revoked_by_id == risk_officer.pk
    assert new.revocation_reason == "Drift in PSI."
    event = AuditEvent.objects.get(
        event_type="governance.request.revoked", object_id=str(new.pk)
    )
    assert event.payload["rollback_targets"] == {"production": "1.0.0"}
    assert event.payload["reason"] == "Drift in PSI."
    denied = _gate(newer)
    assert denied.decision.allowed is False
    assert new.revoked_at is not None
    assert denied.decision.reason == (
        f"the approval RR-{new.pk} was revoked on {new.revoked_at:%Y-%m-%d %H:%M} "
        "UTC: Drift in PSI."
    )
    assert _gate(submitted_version).decision.allowed is True
    # when 1.0.0, now the only approval, is revoked
    old = services.release_request_revoke(
        actor=risk_officer, request=old, reason="Superseded."
    )
    # then there is nothing to roll back to
    old.refresh_from_db()
    assert old.rollback_targets == {"production": None}
    assert _gate(submitted_version).decision.allowed is False


# -- tampering --------------------------------------------------------------------------


def test_a_version_changed_after_approval_is_denied(
    developer: Any, validator: Any, risk_officer: Any, submitted_version: Any
) -> None:
    # given an approved version whose approval now names another artifact digest
    _set_tier(submitted_version, 2)
    document_everything(
        version=submitted_version, developer=developer, validator=validator
    )
    rr = _approved(
        submitted_version,
        requester=developer,
        validator=validator,
        approver=risk_officer,
    )
    other = sha("another artifact")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE governance_releaserequest SET approved_artifact_sha256 = %s "
            "WHERE id = %s",
            [other, rr.pk],
        )
    # when the gate is asked
    result = _gate(submitted_version)
    # then it denies: the approval does not bind the registered artifact
    assert result.decision.allowed is False
    assert result.decision.reason == (
        f"the version changed after approval RR-{rr.pk}: the approved artifact digest "
        f"is {other}, the registered one is {sha('artifact-1.0.0')}"
    )


def test_the_database_refuses_to_change_a_frozen_versions_artifact(
    submitted_version: Any,
) -> None:
    # when / then
    with pytest.raises(DatabaseError, match="is frozen"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "UPDATE registry_modelversion SET artifact_sha256 = %s WHERE id = %s",
                [sha("another artifact"), submitted_version.pk],
            )
    submitted_version.refresh_from_db()
    assert submitted_version.artifact_sha256 == sha("artifact-1.0.0")


@pytest.mark.parametrize(
    "table",
    [
        "governance_signature",
        "governance_gatedecision",
        "governance_deployment",
        "audits_refusedaction",
    ],
)
@pytest.mark.parametrize(
    ("operation", "sql"),
    [("UPDATE", "UPDATE {table} SET id = id"), ("DELETE", "DELETE FROM {table}")],
)
def test_signatures_decisions_deployments_and_refusals_are_append_only(
    developer: Any,
    validator: Any,
    risk_officer: Any,
    service: Any,
    submitted_version: Any,
    table: str,
    operation: str,
    sql: str,
) -> None:
    # given one row in each guarded table
    rr = _validated(submitted_version, requester=developer, validator=validator)
    decision = _gate(submitted_version)
    Deployment.objects.create(
        model_version=submitted_version,
        environment="staging",
        deployed_at=timezone.now(),
        reported_by=service,
        gate_decision=decision.record,
    )
    with pytest.raises(PermissionDenied):
        services.release_request_approve(actor=validator, request=rr, password=PASSWORD)
    counts = {
        "governance_signature": Signature.objects.count,
        "governance_gatedecision": GateDecision.objects.count,
        "governance_deployment": Deployment.objects.count,
        "audits_refusedaction": RefusedAction.objects.count,
    }
    before = counts[table]()
    assert before >= 1
    # when / then the database refuses the change
    with pytest.raises(
        DatabaseError,
        match=f"{operation} on {table} is refused: the table is append-only",
    ):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql.format(table=table))
    assert counts[table]() == before
