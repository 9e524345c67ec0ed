"""Governance events and deployment states as ledger leaves.

Every audit event (version registered, approval signed, deployment reported, gate
decision, trail viewed, …) is appended to the ledger in the transaction that
records it, so the log holds the governance history next to the predictions. When
an event can change what is in force for a model in an environment (a deployment
report, an approval, a revocation, an expiry), a new :class:`DeploymentState` is
recorded as its own leaf; prediction leaves reference the state in force by entry
id and leaf hash.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import orjson
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from audits.ledger import merkle, records
from audits.ledger.models import DeploymentState, EntryType, LedgerKey, LedgerQueue

GOVERNANCE_NAMESPACE = uuid.UUID("2b1f4f0e-8f6c-4d8e-a3a1-5c9d7e0b6a42")
# Events after which the state in force for (model, environment) is recomputed.
STATE_EVENTS = frozenset(
    {
        "governance.deployment.reported",
        "governance.request.approved",
        "governance.request.revoked",
        "governance.request.expired",
    }
)


def _append(entry_id: uuid.UUID, entry_type: int, leaf: bytes) -> bytes:
    """Queue one leaf (inside the caller's transaction); return its leaf hash."""
    import hashlib

    now = timezone.now()
    leaf_hash = merkle.leaf_hash(leaf)
    LedgerKey.objects.create(
        entry_id=entry_id,
        entry_type=entry_type,
        payload_sha256=hashlib.sha256(leaf).digest(),
        leaf_hash=leaf_hash,
        received_at=now,
    )
    LedgerQueue.objects.create(
        entry_id=entry_id,
        entry_type=entry_type,
        leaf=leaf,
        leaf_hash=leaf_hash,
        received_at=now,
    )
    return leaf_hash


def event_entry_id(event_pk: int) -> uuid.UUID:
    return uuid.uuid5(GOVERNANCE_NAMESPACE, f"audit-event:{event_pk}")


def _plain(payload: Any) -> Any:
    """The payload as JSON values (dates, decimals and UUIDs as Django writes them)."""
    text = json.dumps(payload, cls=DjangoJSONEncoder, allow_nan=False)
    return orjson.loads(text)


def governance_event_append(event: Any) -> None:
    """Append an AuditEvent as a GOVERNANCE leaf; refresh deployment states."""
    try:
        payload = _plain(event.payload)
    except (ValueError, TypeError):
        payload = {"unserialisable": json.dumps(event.payload, cls=DjangoJSONEncoder)}
    leaf = records.dumps(
        {
            "v": records.LEAF_VERSION,
            "type": "governance",
            "event_id": event.pk,
            "event_type": event.event_type,
            "occurred_at": records.iso(event.occurred_at),
            "actor": event.actor_display,
            "actor_id": event.actor_id,
            "object": {
                "type": event.object_type,
                "id": event.object_id,
                "repr": event.object_repr,
            },
            "payload": payload,
            "request_id": event.request_id,
        }
    )
    _append(event_entry_id(event.pk), EntryType.GOVERNANCE, leaf)
    if event.event_type in STATE_EVENTS:
        for model, environment in _scopes(event):
            deployment_state_refresh(
                model=model, environment=environment, reason=event.event_type
            )


def refusal_entry_id(refusal_pk: int) -> uuid.UUID:
    return uuid.uuid5(GOVERNANCE_NAMESPACE, f"refused-action:{refusal_pk}")


def refusal_append(refused: Any) -> None:
    """Append a RefusedAction as a GOVERNANCE leaf of type ``refusal``."""
    leaf = records.dumps(
        {
            "v": records.LEAF_VERSION,
            "type": "refusal",
            "refusal_id": refused.pk,
            "kind": refused.kind,
            "action": refused.action,
            "occurred_at": records.iso(refused.occurred_at),
            "actor": refused.actor_display,
            "actor_id": refused.actor_id,
            "username": refused.username,
            "object": {"type": refused.object_type, "id": refused.object_id},
            "reason": refused.reason,
            "ip_address": refused.ip_address,
            "method": refused.method,
            "path": refused.path,
            "token_id": refused.token_id,
            "request_id": refused.request_id,
        }
    )
    _append(refusal_entry_id(refused.pk), EntryType.GOVERNANCE, leaf)


def _scopes(event: Any) -> list[tuple[Any, str]]:
    from governance.models import Deployment, ReleaseRequest

    if event.object_type == "governance.deployment":
        row = Deployment.objects.select_related("model_version__model").get(
            pk=int(event.object_id)
        )
        return [(row.model_version.model, row.environment)]
    if event.object_type == "governance.releaserequest":
        request = ReleaseRequest.objects.select_related("model_version__model").get(
            pk=int(event.object_id)
        )
        return [(request.model_version.model, env) for env in request.environments]
    return []


def _approval_ref(approval: Any) -> dict[str, Any] | None:
    if approval is None:
        return None
    return {
        "id": f"RR-{approval.pk}",
        "approved_at": records.iso(approval.approved_at),
        "expires_at": records.iso(approval.expires_at),
        "approved_artifact_sha256": approval.approved_artifact_sha256,
        "signatures": sorted(s.binding_sha256 for s in approval.signatures.all()),
    }


def deployment_state_refresh(
    *, model: Any, environment: str, reason: str
) -> DeploymentState | None:
    """Record the state in force now if it differs from the last recorded one."""
    from governance.services.deployments import approval_in_force, deployment_live_at

    now = timezone.now()
    live = [
        d
        for d in deployment_live_at(environment=environment, at=now)
        if d.model_version.model_id == model.pk
    ]
    deployment = live[0] if live else None
    version = deployment.model_version if deployment is not None else None
    approval = (
        approval_in_force(version=version, environment=environment, at=now)
        if version is not None
        else None
    )
    previous = (
        DeploymentState.objects.filter(model=model, environment=environment)
        .order_by("-id")
        .first()
    )
    same = previous is not None and (
        previous.model_version_id,
        previous.deployment_id,
        previous.approval_id,
    ) == (
        version.pk if version else None,
        deployment.pk if deployment else None,
        approval.pk if approval else None,
    )
    if same or (previous is None and deployment is None):
        return None
    entry_id = uuid.uuid4()
    leaf = records.dumps(
        {
            "v": records.LEAF_VERSION,
            "type": "deployment_state",
            "model": model.slug,
            "environment": environment,
            "at": records.iso(now),
            "reason": reason,
            "model_version": (
                {"version": version.version, "artifact_sha256": version.artifact_sha256}
                if version is not None
                else None
            ),
            "deployment": (
                {
                    "id": deployment.pk,
                    "deployed_at": records.iso(deployment.deployed_at),
                    "target": deployment.target,
                }
                if deployment is not None
                else None
            ),
            "approval": _approval_ref(approval),
            "previous": (
                {
                    "entry_id": str(previous.entry_id),
                    "leaf_hash": bytes(previous.leaf_hash).hex(),
                }
                if previous is not None
                else None
            ),
        }
    )
    leaf_hash = _append(entry_id, EntryType.DEPLOYMENT_STATE, leaf)
    return DeploymentState.objects.create(
        model=model,
        environment=environment,
        model_version=version,
        deployment=deployment,
        approval=approval,
        approval_expires_at=approval.expires_at if approval is not None else None,
        reason=reason,
        entry_id=entry_id,
        leaf_hash=leaf_hash,
        created_at=now,
    )
