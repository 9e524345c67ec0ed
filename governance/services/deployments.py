"""What deployment systems report they deployed, and what was live when.

``deployment_report`` records one insert-only :class:`~governance.models.Deployment`
row, bound to the approval that was in force for that version and environment at
the time of deployment; ``deployment_live_at`` answers "which version was live in
environment E at time T, and under which approval".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from audits import services as audit_services
from audits.integrity import commit as integrity
from audits.ledger import governance as ledger_governance
from governance.choices import RequestState
from governance.models import Deployment, GateDecision, ReleaseRequest
from registry.models import ModelVersion

DEPLOYED = "deployed"
UNDEPLOYED = "undeployed"
ACTIONS = (DEPLOYED, UNDEPLOYED)
NO_APPROVAL_WARNING = "deployed without an approval in force"

# Requests that ever carried an approval; whether one was in force at a given time
# follows from its approved, expiry and revocation times.
_APPROVAL_STATES = (RequestState.APPROVED, RequestState.EXPIRED, RequestState.REVOKED)


@dataclass(frozen=True)
class DeploymentReport:
    deployment: Deployment
    warnings: tuple[str, ...]


def approval_in_force(
    *, version: ModelVersion, environment: str, at: datetime
) -> ReleaseRequest | None:
    """The latest approval of ``version`` for ``environment`` valid at ``at``.

    Valid means approved at or before ``at``, not yet expired nor revoked then, and
    bound to the version's current artifact digest (an approval of other bytes does
    not count).
    """
    candidates = (
        ReleaseRequest.objects.filter(
            model_version=version,
            state__in=_APPROVAL_STATES,
            approved_at__lte=at,
            expires_at__gt=at,
            approved_artifact_sha256=version.artifact_sha256,
        )
        .select_related("model_version__model")
        .order_by("-approved_at", "-id")
    )
    for request in candidates:
        if environment not in request.environments:
            continue
        if request.revoked_at is not None and request.revoked_at <= at:
            continue
        return request
    return None


def _check_decision(
    decision: GateDecision, *, version: ModelVersion, environment: str
) -> None:
    if (
        decision.model_slug != version.model.slug
        or decision.version != version.version
        or decision.environment != environment
    ):
        raise ValidationError(
            {
                "decision_id": [
                    f"The gate decision {decision.decision_id} was about "
                    f"{decision.model_slug} {decision.version} in "
                    f"{decision.environment}, not {version.model.slug} "
                    f"{version.version} in {environment}."
                ]
            }
        )


@transaction.atomic(durable=True)
def deployment_report(
    *,
    actor: Any,
    version: ModelVersion,
    environment: str,
    action: str = DEPLOYED,
    deployed_at: datetime | None = None,
    target: str = "",
    external_id: str = "",
    gate_decision: GateDecision | None = None,
) -> DeploymentReport:
    """Record that ``version`` was deployed to (or removed from) ``environment``.

    The row is insert-only and binds the approval in force at ``deployed_at``.
    A deployment without one is still recorded (the report is a fact, not a
    request) and comes back with the warning ``NO_APPROVAL_WARNING``. Writes the
    audit event ``governance.deployment.reported`` in the same transaction.
    Raises PermissionDenied without ``governance.add_deployment`` and
    ValidationError for an unknown environment or action, or a gate decision about
    another version or environment.
    """
    if not getattr(actor, "is_authenticated", False) or not actor.has_perm(
        "governance.add_deployment"
    ):
        raise PermissionDenied("Reporting deployments needs governance.add_deployment.")
    if environment not in settings.MODELGOV_ENVIRONMENTS:
        known = ", ".join(settings.MODELGOV_ENVIRONMENTS)
        raise ValidationError(
            {"environment": [f"Unknown environment {environment!r}; known: {known}."]}
        )
    if action not in ACTIONS:
        raise ValidationError({"action": [f"Must be one of: {', '.join(ACTIONS)}."]})
    if gate_decision is not None:
        _check_decision(gate_decision, version=version, environment=environment)
    now = timezone.now()
    at = deployed_at or now
    approval = None
    warnings: tuple[str, ...] = ()
    if action == DEPLOYED:
        approval = approval_in_force(version=version, environment=environment, at=at)
        if approval is None:
            warnings = (NO_APPROVAL_WARNING,)
    deployment = Deployment(
        model_version=version,
        environment=environment,
        action=action,
        deployed_at=at,
        reported_at=now,
        reported_by=actor,
        approval=approval,
        gate_decision=gate_decision,
        target=target,
        external_id=external_id,
    )
    deployment.full_clean()
    deployment.save()
    integrity.record_commit(deployment)
    audit_services.audit_event_record(
        actor=actor,
        event_type="governance.deployment.reported",
        obj=deployment,
        payload={
            "model": version.model.slug,
            "version": version.version,
            "environment": environment,
            "action": action,
            "deployed_at": at.isoformat(),
            "approval": f"RR-{approval.pk}" if approval else None,
            "gate_decision": str(gate_decision.decision_id) if gate_decision else None,
            "target": target,
            "external_id": external_id,
            "warnings": list(warnings),
        },
    )
    deployment_state_refresh(
        model=version.model,
        environment=environment,
        reason="governance.deployment.reported",
    )
    if action == DEPLOYED:
        # Every deployed version is watched: a monitor with its tier's defaults.
        # (Imported here: audits.monitoring.services imports the workflow services.)
        from audits.monitoring import services as monitoring_services

        monitoring_services.monitor_ensure(version=version, environment=environment)
    return DeploymentReport(deployment=deployment, warnings=warnings)


def deployment_state_refresh(*, model: Any, environment: str, reason: str) -> None:
    """Compute what is in force now for ``model`` in ``environment`` (the live
    deployment and the approval in force for its version) and record it as a
    deployment state leaf if it changed. Services whose change can alter it call
    this in their transaction: a deployment report, an approval, a revocation, an
    expiry."""
    now = timezone.now()
    live = [
        d
        for d in deployment_live_at(environment=environment, at=now)
        if d.model_version.model_id == model.pk
    ]
    deployment = live[0] if live else None
    approval = (
        approval_in_force(
            version=deployment.model_version, environment=environment, at=now
        )
        if deployment is not None
        else None
    )
    ledger_governance.deployment_state_record(
        model=model,
        environment=environment,
        deployment=deployment,
        approval=approval,
        reason=reason,
        now=now,
    )


def deployment_live_at(*, environment: str, at: datetime) -> list[Deployment]:
    """The deployment rows live in ``environment`` at ``at``, one per model at most.

    For each model, the last "deployed" row at or before ``at`` counts unless an
    "undeployed" row of that same version follows it (by ``deployed_at``, then by
    report order). Sorted by model slug; approvals and their signatures are
    prefetched.
    """
    rows = (
        Deployment.objects.filter(environment=environment, deployed_at__lte=at)
        .select_related("model_version__model", "approval__model_version__model")
        .prefetch_related("approval__signatures")
        .order_by("deployed_at", "id")
    )
    live: dict[int, Deployment] = {}
    for row in rows:
        model_id = row.model_version.model_id
        if row.action == DEPLOYED:
            live[model_id] = row
        elif row.action == UNDEPLOYED:
            current = live.get(model_id)
            if current is not None and current.model_version_id == row.model_version_id:
                del live[model_id]
    return sorted(live.values(), key=lambda d: d.model_version.model.slug)
