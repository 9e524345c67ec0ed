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

import hashlib
import json
import uuid
from typing import Any

import orjson
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from audits.ledger import merkle, records
from audits.ledger.models import DeploymentState, EntryType, LedgerKey, LedgerQueue

GOVERNANCE_NAMESPACE = uuid.UUID("2b1f4f0e-8f6c-4d8e-a3a1-5c9d7e0b6a42")


def append_leaf(entry_id: uuid.UUID, entry_type: int, leaf: bytes) -> bytes:
    """Queue one leaf (inside the caller's transaction); return its leaf hash."""
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


def governance_event_leaf(event: Any) -> bytes:
    """The leaf of an AuditEvent: every field of the row (rebuilt to check it)."""
    try:
        payload = _plain(event.payload)
    except (ValueError, TypeError):
        payload = {"unserialisable": json.dumps(event.payload, cls=DjangoJSONEncoder)}
    return records.dumps(
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


def governance_event_append(event: Any) -> None:
    """Append an AuditEvent as a GOVERNANCE leaf (in the caller's transaction).

    A service whose change alters what is in force for a model in an environment
    records the new deployment state itself (:func:`deployment_state_record`).
    """
    append_leaf(
        event_entry_id(event.pk), EntryType.GOVERNANCE, governance_event_leaf(event)
    )


def refusal_entry_id(refusal_pk: int) -> uuid.UUID:
    return uuid.uuid5(GOVERNANCE_NAMESPACE, f"refused-action:{refusal_pk}")


def refusal_leaf(refused: Any) -> bytes:
    """The leaf of a RefusedAction: every field of the row (rebuilt to check it)."""
    return records.dumps(
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


def refusal_append(refused: Any) -> None:
    """Append a RefusedAction as a GOVERNANCE leaf of type ``refusal``."""
    append_leaf(
        refusal_entry_id(refused.pk), EntryType.GOVERNANCE, refusal_leaf(refused)
    )


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


def deployment_state_record(
    *,
    model: Any,
    environment: str,
    deployment: Any,
    approval: Any,
    reason: str,
    now: Any,
) -> DeploymentState | None:
    """Record the state in force now, as the caller computed it (the deployment
    live in ``environment`` and the approval in force for its version), if it
    differs from the last recorded one. Called by the governance services whose
    change alters it, in their transaction."""
    version = deployment.model_version if deployment is not None else None
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
    leaf_hash = append_leaf(entry_id, EntryType.DEPLOYMENT_STATE, leaf)
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
