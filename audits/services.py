"""Services of the audits app."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction

from audits.models import AuditEvent, RefusalKind, RefusedAction
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


def _clean_text(value: str, limit: int) -> str:
    """Text from a hostile request as a refusal may store it: no NUL (PostgreSQL
    refuses it in text) and no lone surrogate (not encodable), within ``limit``."""
    text = value.replace("\x00", "\ufffd")
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text[:limit]


def refused_action_record(
    *,
    actor: Any,
    action: str,
    obj: models.Model | None = None,
    reason: str,
    kind: str = RefusalKind.PERMISSION,
    username: str = "",
    token: Any = None,
) -> RefusedAction:
    """Record a refusal in its own transaction (the refused change was rolled back).

    The row is insert-only and is appended to the ledger as a refusal leaf in the
    same transaction. Where the request came from (address, method, path) is read
    from the request context that :class:`governance.middleware.RequestIdMiddleware`
    sets; ``username`` is the account name that was tried when no one is signed in.
    """
    user = actor if getattr(actor, "is_authenticated", False) else None
    origin = context.origin.get()
    with transaction.atomic():
        refused = RefusedAction.objects.create(
            kind=kind,
            action=action[:100],
            actor=user,
            actor_display=actor_display_name(actor),
            username=_clean_text(
                username or (user.get_username() if user is not None else ""), 150
            ),
            object_type=obj._meta.label_lower if obj is not None else "",
            object_id=str(obj.pk) if obj is not None else "",
            reason=_clean_text(reason, 2000),
            request_id=context.request_id.get(),
            ip_address=origin.ip_address,
            method=_clean_text(origin.method, 10),
            path=_clean_text(origin.path, 300),
            token_id=getattr(token, "pk", None),
        )
        from audits.ledger.governance import refusal_append

        refusal_append(refused)
    return refused


def access_log_view_record(*, actor: Any, filters: dict[str, Any]) -> None:
    """Record that ``actor`` read the access log with ``filters``: reading who
    viewed what is itself an access, and shows in the log."""
    with transaction.atomic():
        audit_event_record(
            actor=actor,
            event_type=ACCESS_LOG_VIEWED,
            payload={k: v for k, v in filters.items() if v not in (None, "")},
        )
