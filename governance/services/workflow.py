"""The approval workflow: release requests, validation, e-signatures, findings,
expiry and revocation.

Guarantees of every entry point:
- it runs in one durable transaction and writes its audit event inside it;
- illegal transitions raise Conflict (code ``invalid_state``);
- separation of duties is enforced here, not only in views: the version's developers,
  its registrant and submitter, the requester and the model's owner never validate
  or approve it; the validator never approves; two approvals come from two people;
- a refusal (PermissionDenied) leaves nothing changed and is recorded as an
  ``audits.RefusedAction`` in its own transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audits import services as audit_services
from audits.integrity import commit as integrity
from audits.models import RefusalKind
from governance import refusals
from governance.choices import (
    OPEN_STATES,
    FindingSeverity,
    FindingStatus,
    RequestState,
    SignatureMeaning,
    ValidationOutcome,
)
from governance.exceptions import Conflict
from governance.models import (
    ApprovalPolicy,
    Finding,
    ReleaseRequest,
    ReleaseTarget,
    Signature,
)
from governance.services import deployments, dossier, lockout, notifications
from registry import digests
from registry.models import Document, ModelCard, ModelVersion

F = TypeVar("F", bound=Callable[..., Any])

PERM_VALIDATE = "governance.validate_releaserequest"
PERM_APPROVE = "governance.approve_releaserequest"
PERM_REVOKE = "governance.revoke_releaserequest"
PERM_COMMITTEE = "governance.committee_releaserequest"
PERM_FINDINGS = "governance.raise_finding"


class SeparationOfDutiesError(PermissionDenied):
    """The actor holds a role that separation of duties excludes from this act."""


class SignaturePasswordError(PermissionDenied):
    """The password re-entered to sign is not the signer's."""


def _refusal_kind(exc: PermissionDenied) -> str:
    if isinstance(exc, lockout.AccountLockedError):
        return RefusalKind.LOCKED_OUT
    if isinstance(exc, SeparationOfDutiesError):
        return RefusalKind.SEPARATION_OF_DUTIES
    if isinstance(exc, SignaturePasswordError):
        return RefusalKind.SIGNATURE_PASSWORD
    return RefusalKind.PERMISSION


def records_refusals(action: str) -> Callable[[F], F]:
    """Record any PermissionDenied of the wrapped service as a RefusedAction."""

    def wrap(func: F) -> F:
        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except PermissionDenied as exc:
                target = (
                    kwargs.get("request")
                    or kwargs.get("version")
                    or kwargs.get("finding")
                )
                audit_services.refused_action_record(
                    actor=kwargs.get("actor"),
                    action=action,
                    obj=target,
                    reason=str(exc),
                    kind=_refusal_kind(exc),
                )
                if isinstance(exc, SignaturePasswordError):
                    # Counted after the rollback, towards the sign-in lockout.
                    lockout.signature_failed(actor=kwargs["actor"])
                # The API and the pages must not record it a second time.
                refusals.mark_recorded(exc)
                raise

        return inner  # type: ignore[return-value]

    return wrap


def _require(actor: Any, perm: str, message: str) -> None:
    if not getattr(actor, "is_authenticated", False) or not actor.has_perm(perm):
        raise PermissionDenied(message)


def _lock(request: ReleaseRequest) -> ReleaseRequest:
    return (
        ReleaseRequest.objects.select_for_update()
        .select_related("model_version__model", "policy")
        .get(pk=request.pk)
    )


def _expect(request: ReleaseRequest, *states: str) -> None:
    if request.state not in states:
        allowed = ", ".join(states)
        raise Conflict(
            f"RR-{request.pk} is {request.state}; this needs it to be {allowed}.",
            code="invalid_state",
        )


def involved_people(
    version: ModelVersion, requester_id: int | None = None
) -> dict[int, str]:
    """People who may not validate or approve ``version``, with why.

    Read from the model's history as well as its current state: leaving the team
    or handing ownership away does not make anyone independent of the model.
    """
    from django.apps import apps

    model = version.model
    people: dict[int, str] = {}
    for user in model.developers.all():
        people.setdefault(user.pk, "you are one of the model's developers")
    if model.owner_id:
        people.setdefault(model.owner_id, "you own the model")

    if version.created_by_id:
        people.setdefault(version.created_by_id, "you registered this version")
    if version.submitted_by_id:
        people.setdefault(version.submitted_by_id, "you submitted this version")
    if requester_id is not None:
        people.setdefault(requester_id, "you requested this release")
    past_developers = apps.get_model("registry", "HistoricalModel_developers")
    for user_id in past_developers.objects.filter(model_id=model.pk).values_list(
        "user_id", flat=True
    ):
        people.setdefault(user_id, "you have been one of the model's developers")
    for owner_id in (
        model.history.filter(id=model.pk)
        .exclude(owner=None)
        .values_list("owner_id", flat=True)
    ):
        people.setdefault(owner_id, "you have owned the model")
    return people


def _check_independent(actor: Any, request: ReleaseRequest, act: str) -> None:
    why = involved_people(request.model_version, request.requested_by_id).get(actor.pk)
    if why:
        raise SeparationOfDutiesError(f"You may not {act} RR-{request.pk}: {why}.")


def _check_password(actor: Any, password: str) -> None:
    # While locked, not even the right password signs (ADR 0021).
    lockout.signature_allowed_check(actor=actor)
    if not password or not actor.check_password(password):
        raise SignaturePasswordError(
            "The password is not correct; the signature was not applied."
        )


def _in_force_changed(request: ReleaseRequest, reason: str) -> None:
    """Record the deployment state of each environment of ``request`` (its
    approval came into force or ended)."""
    for environment in request.environments:
        deployments.deployment_state_refresh(
            model=request.model_version.model, environment=environment, reason=reason
        )


def _close_targets(request: ReleaseRequest) -> None:
    ReleaseTarget.objects.filter(request=request, is_open=True).update(is_open=False)


def _audit(actor: Any, event: str, request: ReleaseRequest, **payload: Any) -> None:
    """The audit event of a change to ``request``, and the request's new revision
    as a record leaf (every change of a request goes through here)."""
    integrity.record_commit(request)
    audit_services.audit_event_record(
        actor=actor,
        event_type=event,
        obj=request,
        payload={
            "model": request.model_version.model.slug,
            "version": request.model_version.version,
            "environments": request.environments,
            "state": request.state,
            **payload,
        },
    )


def effective_policy(request: ReleaseRequest) -> ApprovalPolicy:
    """The policy a request is decided under: the one pinned at creation, or the
    current tier's when the model was re-tiered to a stricter (lower) tier since."""
    current = policy_for(request.model_version)
    if current.risk_tier < request.policy.risk_tier:
        return current
    return request.policy


def policy_for(version: ModelVersion) -> ApprovalPolicy:
    """The active policy of the version's risk tier."""
    policy = ApprovalPolicy.objects.filter(
        risk_tier=version.model.risk_tier, is_active=True
    ).first()
    if policy is None:
        raise Conflict(f"No active approval policy for tier {version.model.risk_tier}.")
    return policy


@records_refusals("governance.request.create")
@transaction.atomic(durable=True)
def release_request_create(
    *,
    actor: Any,
    version: ModelVersion,
    environments: list[str],
    justification: str = "",
) -> ReleaseRequest:
    """Open a draft request to release a submitted (frozen) version.

    The model's team asks. One open request per (version, environment): a second
    is a Conflict. The tier's active policy is pinned. Audited as
    ``governance.request.created``.
    """
    from registry import services as registry_services

    _require(
        actor, "governance.add_releaserequest", "Your role may not request releases."
    )
    version = ModelVersion.objects.select_related("model").get(pk=version.pk)
    if not registry_services.is_model_member(actor, version.model):
        raise PermissionDenied("Only the model's team may request its release.")
    if not version.is_frozen:
        raise Conflict(
            f"{version} is a draft; submit it (freeze its content) before requesting release.",
            code="invalid_state",
        )
    policy = policy_for(version)
    wanted = list(dict.fromkeys(environments))
    unknown = [e for e in wanted if e not in settings.MODELGOV_ENVIRONMENTS]
    not_covered = [e for e in wanted if e not in policy.environments]
    if not wanted or unknown or not_covered:
        message = "Name at least one environment."
        if unknown:
            message = f"Unknown environments: {', '.join(unknown)}."
        elif not_covered:
            message = f"The tier {policy.risk_tier} policy does not cover: {', '.join(not_covered)}."
        raise ValidationError({"environments": [message]})
    request = ReleaseRequest.objects.create(
        model_version=version,
        policy=policy,
        environments=wanted,
        state=RequestState.DRAFT,
        justification=justification,
        requested_by=actor,
    )
    try:
        with transaction.atomic():
            for env in wanted:
                ReleaseTarget.objects.create(
                    request=request, model_version=version, environment=env
                )
    except IntegrityError as exc:
        raise Conflict(
            f"{version} already has an open release request for one of: {', '.join(wanted)}.",
            code="duplicate",
        ) from exc
    _audit(actor, "governance.request.created", request, policy=str(policy))
    return request


@records_refusals("governance.request.submit")
@transaction.atomic(durable=True)
def release_request_submit(*, actor: Any, request: ReleaseRequest) -> ReleaseRequest:
    """Submit a draft request; it then waits for validation (or approval when the
    policy needs none). Audited as ``governance.request.submitted``."""
    from registry import services as registry_services

    _require(
        actor, "governance.add_releaserequest", "Your role may not request releases."
    )
    request = _lock(request)
    if not registry_services.is_model_member(actor, request.model_version.model):
        raise PermissionDenied("Only the model's team may submit its release request.")
    _expect(request, RequestState.DRAFT)
    # The dossier freezes now (ADR 0026): the version row is locked as an edit of
    # the dossier locks it, so no edit slips in beside the submission.
    ModelVersion.objects.select_for_update().filter(pk=request.model_version_id).get()
    request.state = (
        RequestState.SUBMITTED
        if request.policy.requires_validation
        else RequestState.VALIDATED
    )
    request.submitted_at = timezone.now()
    request.save(update_fields=["state", "submitted_at"])
    _audit(actor, "governance.request.submitted", request)
    notifications.schedule_request_notification(
        request.pk,
        "submitted" if request.state == RequestState.SUBMITTED else "validated",
    )
    return request


@records_refusals("governance.request.start_validation")
@transaction.atomic(durable=True)
def release_request_start_validation(
    *, actor: Any, request: ReleaseRequest
) -> ReleaseRequest:
    """An independent validator takes the request. Audited as
    ``governance.request.validation_started``."""
    _require(actor, PERM_VALIDATE, "Only a validator may validate a release.")
    request = _lock(request)
    _check_independent(actor, request, "validate")
    _expect(request, RequestState.SUBMITTED)
    request.state = RequestState.IN_VALIDATION
    request.validator = actor
    request.save(update_fields=["state", "validator"])
    _audit(actor, "governance.request.validation_started", request)
    return request


def _binding(
    signature: Signature, *, model_slug: str, version: str, signer: str
) -> dict[str, Any]:
    """What a signature's ``binding_sha256`` is the digest of. The dossier is bound
    only when the row carries one (signatures before ADR 0026 carry none)."""
    bound: dict[str, Any] = {
        "request": signature.request_id,
        "model": model_slug,
        "version": version,
        "version_id": signature.model_version_id,
        "artifact_sha256": signature.artifact_sha256,
        "content_digest": signature.content_digest,
        "environments": signature.environments,
        "meaning": signature.meaning,
        "signer": signer,
        "printed_name": signature.printed_name,
        "signed_at": signature.signed_at.isoformat(),
        "comment": signature.comment,
    }
    if signature.dossier is not None:
        bound["dossier"] = signature.dossier
    return bound


def _sign(
    *, actor: Any, request: ReleaseRequest, meaning: str, comment: str, now: datetime
) -> Signature:
    # The version row is locked: an edit of the dossier waits for the signature
    # (dossier.dossier_edit_allow locks it too), so what is bound is what was shown.
    version = (
        ModelVersion.objects.select_for_update()
        .select_related("model")
        .get(pk=request.model_version_id)
    )
    signature = Signature(
        request=request,
        model_version=version,
        signer=actor,
        printed_name=audit_services.actor_display_name(actor),
        meaning=meaning,
        comment=comment,
        signed_at=now,
        artifact_sha256=version.artifact_sha256,
        content_digest=version.content_digest,
        environments=request.environments,
        dossier=dossier.dossier_of(version),
    )
    signature.binding_sha256 = digests.content_digest(
        _binding(
            signature,
            model_slug=version.model.slug,
            version=version.version,
            signer=actor.get_username(),
        )
    )
    signature.save(force_insert=True)
    integrity.record_commit(signature)
    return signature


def signature_binding_is_intact(signature: Signature) -> bool:
    """Recompute a signature's binding (its dossier included) from its row and its
    version; False when the row or the version's artifact no longer match it."""
    version = signature.model_version
    bound = _binding(
        signature,
        model_slug=version.model.slug,
        version=version.version,
        signer=signature.signer.get_username(),
    )
    return digests.content_digest(bound) == signature.binding_sha256 and (
        signature.artifact_sha256 == version.artifact_sha256
    )


@records_refusals("governance.request.record_validation")
@transaction.atomic(durable=True)
def release_request_record_validation(
    *,
    actor: Any,
    request: ReleaseRequest,
    outcome: str,
    password: str,
    conditions: str = "",
    comment: str = "",
) -> ReleaseRequest:
    """The assigned validator signs the validation outcome.

    Approve (or approve with conditions, which needs the conditions) moves the
    request to validated; reject ends it. Audited as ``governance.request.validated``
    or ``governance.request.rejected``, with the signature.
    """
    _require(actor, PERM_VALIDATE, "Only a validator may record a validation.")
    request = _lock(request)
    _check_independent(actor, request, "validate")
    _expect(request, RequestState.IN_VALIDATION)
    if request.validator_id != actor.pk:
        raise PermissionDenied(f"RR-{request.pk} is being validated by someone else.")
    if outcome not in ValidationOutcome.values:
        raise ValidationError(
            {"outcome": [f"One of: {', '.join(ValidationOutcome.values)}."]}
        )
    if outcome == ValidationOutcome.APPROVE_WITH_CONDITIONS and not conditions.strip():
        raise ValidationError(
            {"conditions": ["Approval with conditions needs the conditions."]}
        )
    _check_password(actor, password)
    now = timezone.now()
    rejected = outcome == ValidationOutcome.REJECT
    meaning = SignatureMeaning.REJECTED if rejected else SignatureMeaning.VALIDATED
    signature = _sign(
        actor=actor, request=request, meaning=meaning, comment=comment, now=now
    )
    request.validation_outcome = outcome
    request.conditions = conditions.strip()
    request.validated_at = now
    request.state = RequestState.REJECTED if rejected else RequestState.VALIDATED
    fields = ["validation_outcome", "conditions", "validated_at", "state"]
    if rejected:
        request.decided_at = now
        fields.append("decided_at")
        _close_targets(request)
    request.save(update_fields=fields)
    event = (
        "governance.request.rejected" if rejected else "governance.request.validated"
    )
    _audit(actor, event, request, outcome=outcome, signature=signature.binding_sha256)
    notifications.schedule_request_notification(
        request.pk, "rejected" if rejected else "validated"
    )
    return request


def approval_checklist(request: ReleaseRequest) -> list[tuple[str, bool, str]]:
    """The policy checklist of a request: (item, satisfied, detail) in order."""
    version = request.model_version
    policy = effective_policy(request)
    items: list[tuple[str, bool, str]] = []
    if policy.requires_validation:
        done = request.validated_at is not None and request.validation_outcome in (
            ValidationOutcome.APPROVE,
            ValidationOutcome.APPROVE_WITH_CONDITIONS,
        )
        items.append(
            ("Independent validation", done, request.validation_outcome or "pending")
        )
    card = (
        ModelCard.objects.select_related("template", "model_version__model")
        .filter(model_version=version)
        .first()
    )
    card_done = card is not None and card.completeness().is_complete
    items.append(
        (
            "Model card complete",
            card_done,
            f"{card.completeness().percent} %" if card else "missing",
        )
    )
    required = list(policy.required_documents)
    if version.model.is_eu_ai_act_high_risk and "eu-ai-act-annex-iv" not in required:
        required.append("eu-ai-act-annex-iv")
    docs = {
        d.template.key: d
        for d in Document.objects.select_related(
            "template", "model_version__model"
        ).filter(model_version=version)
    }
    for key in required:
        doc = docs.get(key)
        if doc is None:
            items.append((f"Document {key} complete", False, "missing"))
        else:
            c = doc.completeness()
            items.append((f"Document {key} complete", c.is_complete, f"{c.percent} %"))
    blocking = list(blocking_findings(version, policy))
    items.append(
        (
            "No open blocking findings",
            not blocking,
            ", ".join(f"F-{f.pk} ({f.severity})" for f in blocking) or "none",
        )
    )
    return items


def blocking_findings(version: ModelVersion, policy: ApprovalPolicy) -> Any:
    """Open findings of ``version`` whose severity the policy says blocks."""
    return Finding.objects.filter(
        model_version=version, severity__in=policy.blocking_severities
    ).exclude(status=FindingStatus.CLOSED)


@records_refusals("governance.request.approve")
@transaction.atomic(durable=True)
def release_request_approve(
    *,
    actor: Any,
    request: ReleaseRequest,
    password: str,
    comment: str = "",
    committee: bool = False,
) -> ReleaseRequest:
    """Sign an approval (or the committee sign-off) of a validated request.

    Needs the password (e-signature), an independent approver, a different person
    from every earlier signer, and a satisfied policy checklist. When the policy's
    approvals (and committee sign-off) are all in, the request is approved: its
    expiry is set from the policy's validity and the digests are bound. Audited as
    ``governance.request.signed`` and, when complete, ``governance.request.approved``.
    """
    _require(actor, PERM_APPROVE, "Only a risk officer may approve a release.")
    if committee:
        _require(
            actor, PERM_COMMITTEE, "Only a committee member may sign for the committee."
        )
    request = _lock(request)
    _check_independent(actor, request, "approve")
    if request.validator_id == actor.pk:
        raise SeparationOfDutiesError(
            f"You may not approve RR-{request.pk}: you validated it."
        )
    _expect(request, RequestState.VALIDATED)
    signers = set(request.signatures.values_list("signer_id", flat=True))
    if actor.pk in signers:
        raise SeparationOfDutiesError(
            f"You have already signed RR-{request.pk}; the next signature must come "
            "from someone else."
        )
    if committee:
        if not effective_policy(request).requires_committee:
            raise Conflict(
                f"RR-{request.pk}'s policy needs no committee sign-off.",
                code="invalid_state",
            )
        if request.signatures.filter(meaning=SignatureMeaning.COMMITTEE).exists():
            raise Conflict(
                f"RR-{request.pk} already has the committee's signature.",
                code="invalid_state",
            )
    missing = [item for item, ok, _ in approval_checklist(request) if not ok]
    if missing:
        raise Conflict(
            f"RR-{request.pk} cannot be approved yet: {'; '.join(missing)}.",
            code="policy_unsatisfied",
        )
    version = request.model_version
    if request.validated_at and version.content_digest != _validated_digest(request):
        raise Conflict("The version changed after validation.", code="changed")
    _check_password(actor, password)
    now = timezone.now()
    meaning = SignatureMeaning.COMMITTEE if committee else SignatureMeaning.APPROVED
    signature = _sign(
        actor=actor, request=request, meaning=meaning, comment=comment, now=now
    )
    _audit(
        actor,
        "governance.request.signed",
        request,
        meaning=meaning,
        signature=signature.binding_sha256,
    )
    approvals = request.signatures.filter(meaning=SignatureMeaning.APPROVED).count()
    has_committee = request.signatures.filter(
        meaning=SignatureMeaning.COMMITTEE
    ).exists()
    policy = effective_policy(request)
    if approvals >= policy.approvals_required and (
        has_committee or not policy.requires_committee
    ):
        request.state = RequestState.APPROVED
        request.decided_at = now
        request.approved_at = now
        request.expires_at = now + timedelta(days=policy.validity_days)
        request.approved_artifact_sha256 = version.artifact_sha256
        request.approved_content_digest = version.content_digest
        request.save(
            update_fields=[
                "state",
                "decided_at",
                "approved_at",
                "expires_at",
                "approved_artifact_sha256",
                "approved_content_digest",
            ]
        )
        _audit(
            actor,
            "governance.request.approved",
            request,
            expires_at=request.expires_at.isoformat(),
            artifact_sha256=version.artifact_sha256,
        )
        _in_force_changed(request, "governance.request.approved")
        notifications.schedule_request_notification(request.pk, "approved")
    return request


def _validated_digest(request: ReleaseRequest) -> str:
    sig = request.signatures.filter(meaning=SignatureMeaning.VALIDATED).first()
    return sig.content_digest if sig else request.model_version.content_digest


@records_refusals("governance.request.reject")
@transaction.atomic(durable=True)
def release_request_reject(
    *, actor: Any, request: ReleaseRequest, password: str, comment: str
) -> ReleaseRequest:
    """An approver rejects a validated request with an e-signature and a reason.

    Audited as ``governance.request.rejected``."""
    _require(actor, PERM_APPROVE, "Only a risk officer may reject a release.")
    request = _lock(request)
    _check_independent(actor, request, "reject")
    if request.validator_id == actor.pk:
        raise SeparationOfDutiesError(
            f"You may not reject RR-{request.pk}: you validated it."
        )
    if request.signatures.filter(signer=actor).exists():
        raise SeparationOfDutiesError(
            f"You have already signed RR-{request.pk}; a rejection must come from someone else."
        )
    _expect(request, RequestState.VALIDATED)
    if not comment.strip():
        raise ValidationError({"comment": ["A rejection needs its reason."]})
    _check_password(actor, password)
    now = timezone.now()
    signature = _sign(
        actor=actor,
        request=request,
        meaning=SignatureMeaning.REJECTED,
        comment=comment,
        now=now,
    )
    request.state = RequestState.REJECTED
    request.decided_at = now
    request.save(update_fields=["state", "decided_at"])
    _close_targets(request)
    _audit(
        actor,
        "governance.request.rejected",
        request,
        signature=signature.binding_sha256,
    )
    notifications.schedule_request_notification(request.pk, "rejected")
    return request


@records_refusals("governance.request.withdraw")
@transaction.atomic(durable=True)
def release_request_withdraw(*, actor: Any, request: ReleaseRequest) -> ReleaseRequest:
    """The requester (or the model's team) withdraws an undecided request."""
    from registry import services as registry_services

    request = _lock(request)
    if not registry_services.is_model_member(actor, request.model_version.model):
        raise PermissionDenied("Only the model's team may withdraw its request.")
    _expect(
        request,
        RequestState.DRAFT,
        RequestState.SUBMITTED,
        RequestState.IN_VALIDATION,
        RequestState.VALIDATED,
    )
    request.state = RequestState.WITHDRAWN
    request.decided_at = timezone.now()
    request.save(update_fields=["state", "decided_at"])
    _close_targets(request)
    _audit(actor, "governance.request.withdrawn", request)
    return request


def rollback_targets_for(
    request: ReleaseRequest, now: datetime
) -> dict[str, str | None]:
    """Per environment, the newest other version of the model that the gate would
    allow there now (approved, current, same digest, no blocking findings)."""
    from governance import gate as gate_rules
    from governance.services import gate as gate_service

    targets: dict[str, str | None] = {}
    for env in request.environments:
        candidates = (
            ReleaseRequest.objects.filter(
                model_version__model=request.model_version.model,
                state=RequestState.APPROVED,
                expires_at__gt=now,
            )
            .exclude(pk=request.pk)
            .exclude(model_version=request.model_version)
            .select_related("model_version")
            .order_by("-approved_at")
        )
        targets[env] = None
        for candidate in candidates:
            if env not in candidate.environments:
                continue
            facts = gate_service.gate_facts(
                version=candidate.model_version, environment=env, now=now
            )
            if gate_rules.decide(facts).allowed:
                targets[env] = candidate.model_version.version
                break
    return targets


@records_refusals("governance.request.revoke")
@transaction.atomic(durable=True)
def release_request_revoke(
    *, actor: Any, request: ReleaseRequest, reason: str
) -> ReleaseRequest:
    """Revoke an approval: the gate denies at once; the rollback target is named.

    Audited as ``governance.request.revoked`` with the rollback targets."""
    _require(actor, PERM_REVOKE, "Only a risk officer may revoke an approval.")
    request = _lock(request)
    _expect(request, RequestState.APPROVED)
    if not reason.strip():
        raise ValidationError({"reason": ["A revocation needs its reason."]})
    now = timezone.now()
    request.state = RequestState.REVOKED
    request.revoked_at = now
    request.revoked_by = actor
    request.revocation_reason = reason.strip()
    request.rollback_targets = rollback_targets_for(request, now)
    request.save(
        update_fields=[
            "state",
            "revoked_at",
            "revoked_by",
            "revocation_reason",
            "rollback_targets",
        ]
    )
    _close_targets(request)
    _audit(
        actor,
        "governance.request.revoked",
        request,
        reason=request.revocation_reason,
        rollback_targets=request.rollback_targets,
    )
    _in_force_changed(request, "governance.request.revoked")
    notifications.schedule_request_notification(request.pk, "revoked")
    return request


@transaction.atomic
def release_request_put_under_review(
    *,
    request: ReleaseRequest,
    reason: str,
    source: dict[str, Any],
    actor: Any = None,
) -> ReleaseRequest:
    """Mark an approval as under review after a monitoring breach (no person acts)
    or an amendment of its dossier (``actor``: who amended it; ADR 0026).

    The approval stays in force (the gate still allows) until a risk officer
    revokes it or the finding is closed. Idempotent: an approval already under
    review keeps its first reason. Audited as ``governance.request.under_review``
    (actor: system, or ``actor``) with ``source`` (the report and alert, or the
    amended document)."""
    request = _lock(request)
    if request.state != RequestState.APPROVED or request.under_review_at:
        return request
    request.under_review_at = timezone.now()
    request.review_reason = reason.strip()
    request.save(update_fields=["under_review_at", "review_reason"])
    _audit(actor, "governance.request.under_review", request, reason=reason, **source)
    return request


@transaction.atomic
def release_request_revoke_by_monitoring(
    *, request: ReleaseRequest, reason: str, source: dict[str, Any]
) -> ReleaseRequest:
    """Revoke an approval because its policy revokes on a monitoring breach.

    Same effect as :func:`release_request_revoke` (the gate denies at once, the
    rollback targets are named), with the system as the actor. Idempotent: an
    approval no longer approved is returned unchanged. Audited as
    ``governance.request.revoked`` with ``source`` and ``by: monitoring``."""
    request = _lock(request)
    if request.state != RequestState.APPROVED:
        return request
    now = timezone.now()
    request.state = RequestState.REVOKED
    request.revoked_at = now
    request.revoked_by = None
    request.revocation_reason = reason.strip()
    request.rollback_targets = rollback_targets_for(request, now)
    request.save(
        update_fields=[
            "state",
            "revoked_at",
            "revoked_by",
            "revocation_reason",
            "rollback_targets",
        ]
    )
    _close_targets(request)
    _audit(
        None,
        "governance.request.revoked",
        request,
        reason=request.revocation_reason,
        rollback_targets=request.rollback_targets,
        by="monitoring",
        **source,
    )
    _in_force_changed(request, "governance.request.revoked")
    notifications.schedule_request_notification(request.pk, "revoked")
    return request


@transaction.atomic(durable=True)
def release_requests_expire_due(*, now: datetime | None = None) -> list[int]:
    """Flip approved requests whose validity ended to expired; return their ids.

    Idempotent: an already expired request is not touched again. Audited as
    ``governance.request.expired`` (actor: system)."""
    now = now or timezone.now()
    due = list(
        ReleaseRequest.objects.select_for_update()
        .select_related("model_version__model")
        .filter(state=RequestState.APPROVED, expires_at__lte=now)
    )
    for request in due:
        request.state = RequestState.EXPIRED
        request.save(update_fields=["state"])
        _close_targets(request)
        _audit(None, "governance.request.expired", request, expired_at=now.isoformat())
        _in_force_changed(request, "governance.request.expired")
        notifications.schedule_request_notification(request.pk, "expired")
    return [r.pk for r in due]


@records_refusals("governance.finding.raise")
@transaction.atomic(durable=True)
def finding_raise(
    *,
    actor: Any,
    version: ModelVersion,
    severity: str,
    title: str,
    description: str,
    owner: Any = None,
    due_date: Any = None,
    sr_section: str = "",
    request: ReleaseRequest | None = None,
) -> Finding:
    """A validator raises a finding on a version. Audited as
    ``governance.finding.raised``."""
    _require(actor, PERM_FINDINGS, "Only a validator may raise findings.")
    if actor.pk in involved_people(version):
        raise SeparationOfDutiesError(
            "Findings are raised by someone independent of the model."
        )
    if severity not in FindingSeverity.values:
        raise ValidationError(
            {"severity": [f"One of: {', '.join(FindingSeverity.values)}."]}
        )
    finding = Finding(
        model_version=version,
        request=request,
        severity=severity,
        title=title.strip(),
        description=description.strip(),
        owner=owner,
        due_date=due_date,
        sr_section=sr_section,
        raised_by=actor,
    )
    finding.full_clean()
    finding.save()
    integrity.record_commit(finding)
    audit_services.audit_event_record(
        actor=actor,
        event_type="governance.finding.raised",
        obj=finding,
        payload={"version": str(version), "severity": severity, "title": finding.title},
    )
    return finding


@records_refusals("governance.finding.remediate")
@transaction.atomic(durable=True)
def finding_submit_remediation(
    *, actor: Any, finding: Finding, remediation: str
) -> Finding:
    """The owner (or the model's team) describes the remediation."""
    from registry import services as registry_services

    finding = (
        Finding.objects.select_for_update()
        .select_related("model_version__model")
        .get(pk=finding.pk)
    )
    model = finding.model_version.model
    if finding.owner_id != actor.pk and not registry_services.is_model_member(
        actor, model
    ):
        raise PermissionDenied(
            "Only the finding's owner or the model's team may remediate it."
        )
    if finding.status == FindingStatus.CLOSED:
        raise Conflict(f"F-{finding.pk} is closed.", code="invalid_state")
    if not remediation.strip():
        raise ValidationError({"remediation": ["Describe the remediation."]})
    finding.remediation = remediation.strip()
    finding.remediation_submitted_by = actor
    finding.status = FindingStatus.REMEDIATION_SUBMITTED
    finding.save(update_fields=["remediation", "remediation_submitted_by", "status"])
    integrity.record_commit(finding)
    audit_services.audit_event_record(
        actor=actor, event_type="governance.finding.remediation_submitted", obj=finding
    )
    return finding


@records_refusals("governance.finding.close")
@transaction.atomic(durable=True)
def finding_close(*, actor: Any, finding: Finding, evidence: str) -> Finding:
    """Close a finding: needs evidence and a second person (not its owner, not who
    submitted the remediation). Audited as ``governance.finding.closed``."""
    _require(actor, PERM_FINDINGS, "Only a validator may close findings.")
    finding = (
        Finding.objects.select_for_update()
        .select_related("model_version__model")
        .get(pk=finding.pk)
    )
    if finding.status == FindingStatus.CLOSED:
        raise Conflict(f"F-{finding.pk} is already closed.", code="invalid_state")
    if actor.pk in {finding.owner_id, finding.remediation_submitted_by_id}:
        raise SeparationOfDutiesError(
            "A finding is closed by a second person, not by its owner or remediator."
        )
    if actor.pk in involved_people(finding.model_version):
        raise SeparationOfDutiesError(
            "Findings are closed by someone independent of the model."
        )
    if not evidence.strip():
        raise ValidationError({"evidence": ["Closing a finding needs evidence."]})
    finding.closure_evidence = evidence.strip()
    finding.closed_by = actor
    finding.closed_at = timezone.now()
    finding.status = FindingStatus.CLOSED
    finding.save(update_fields=["closure_evidence", "closed_by", "closed_at", "status"])
    integrity.record_commit(finding)
    audit_services.audit_event_record(
        actor=actor,
        event_type="governance.finding.closed",
        obj=finding,
        payload={"evidence": finding.closure_evidence},
    )
    return finding


__all__ = [
    "OPEN_STATES",
    "SeparationOfDutiesError",
    "approval_checklist",
    "blocking_findings",
    "finding_close",
    "finding_raise",
    "finding_submit_remediation",
    "policy_for",
    "release_request_approve",
    "release_request_create",
    "release_request_record_validation",
    "release_request_reject",
    "release_request_revoke",
    "release_request_start_validation",
    "release_request_submit",
    "release_request_withdraw",
    "release_requests_expire_due",
    "rollback_targets_for",
    "signature_binding_is_intact",
]


@records_refusals("governance.policy.publish")
@transaction.atomic
def approval_policy_publish(
    *, actor: Any, risk_tier: int, data: dict[str, Any]
) -> ApprovalPolicy:
    """Publish a new version of a tier's policy; the previous one stops applying to
    new requests (requests keep the policy they were created under).

    Administrators only. Not durable: the admin saves inside its own transaction.
    Audited as ``governance.policy.published``.
    """
    _require(
        actor, "governance.add_approvalpolicy", "Only administrators publish policies."
    )
    if risk_tier not in (1, 2, 3):
        raise ValidationError({"risk_tier": ["Must be 1, 2 or 3."]})
    current = (
        ApprovalPolicy.objects.select_for_update()
        .filter(risk_tier=risk_tier, is_active=True)
        .first()
    )
    latest = (
        ApprovalPolicy.objects.filter(risk_tier=risk_tier).order_by("-version").first()
    )
    policy = ApprovalPolicy(
        risk_tier=risk_tier,
        version=(latest.version + 1) if latest else 1,
        is_active=True,
        created_by=actor,
        **{k: v for k, v in data.items() if k in _POLICY_FIELDS},
    )
    errors: dict[str, list[str]] = {}
    unknown_envs = [
        e for e in policy.environments if e not in settings.MODELGOV_ENVIRONMENTS
    ]
    if not policy.environments or unknown_envs:
        errors["environments"] = [
            f"Choose from: {', '.join(settings.MODELGOV_ENVIRONMENTS)}."
        ]
    if not set(policy.blocking_severities) <= set(FindingSeverity.values):
        errors["blocking_severities"] = [
            f"Choose from: {', '.join(FindingSeverity.values)}."
        ]
    if policy.validity_days < 1:
        errors["validity_days"] = ["Must be at least one day."]
    if errors:
        raise ValidationError(errors)
    if current is not None:
        current.is_active = False
        current.save(update_fields=["is_active"])
    policy.full_clean()
    policy.save()
    audit_services.audit_event_record(
        actor=actor,
        event_type="governance.policy.published",
        obj=policy,
        payload={
            "risk_tier": risk_tier,
            "version": policy.version,
            "replaces": current.version if current else None,
        },
    )
    return policy


_POLICY_FIELDS = (
    "name",
    "requires_validation",
    "approvals_required",
    "requires_committee",
    "required_documents",
    "blocking_severities",
    "validity_days",
    "environments",
    "allows_amendments",
)
