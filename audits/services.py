"""Services of the audits app."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction

from audits.models import AuditEvent
from governance import context

ACCESS_LOG_VIEWED = "audits.access_log.viewed"


def actor_display_name(actor: Any) -> str:
    """The printed name of an actor as recorded in audit events and signatures."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return "system"
    full = actor.get_full_name().strip()
    return f"{full} ({actor.get_username()})" if full else actor.get_username()


def audit_event_record(
    *,
    actor: Any,
    event_type: str,
    obj: models.Model | None = None,
    payload: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event; call it inside the transaction of the change.

    The event is also queued as a governance leaf of the ledger, and an event that
    changes what is deployed or approved records the new deployment state.

    The event keeps the actor's display name and the request id of the current
    request, so events of one request can be grouped and survive user renames.
    """
    user = actor if getattr(actor, "is_authenticated", False) else None
    event = AuditEvent.objects.create(
        event_type=event_type,
        actor=user,
        actor_display=actor_display_name(actor),
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:300] if obj is not None else "",
        payload=payload or {},
        request_id=context.request_id.get(),
    )
    # The same event, as a leaf of the tamper-evident ledger (same transaction).
    from audits.ledger.governance import governance_event_append

    governance_event_append(event)
    return event


def refused_action_record(
    *, actor: Any, action: str, obj: models.Model | None, reason: str
) -> None:
    """Record a refusal in its own transaction (the refused change was rolled back)."""
    from audits.models import RefusedAction

    user = actor if getattr(actor, "is_authenticated", False) else None
    with transaction.atomic():
        RefusedAction.objects.create(
            action=action,
            actor=user,
            actor_display=actor_display_name(actor),
            object_type=obj._meta.label_lower if obj is not None else "",
            object_id=str(obj.pk) if obj is not None else "",
            reason=reason,
            request_id=context.request_id.get(),
        )


def access_log_view_record(*, actor: Any, filters: dict[str, Any]) -> None:
    """Record that ``actor`` read the access log with ``filters``: reading who
    viewed what is itself an access, and shows in the log."""
    with transaction.atomic():
        audit_event_record(
            actor=actor,
            event_type=ACCESS_LOG_VIEWED,
            payload={k: v for k, v in filters.items() if v not in (None, "")},
        )
