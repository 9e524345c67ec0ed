"""Services of the audits app."""

from __future__ import annotations

import functools
import hashlib
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import connection, models, transaction
from django.db.models import Q

from audits.models import AuditEvent, RefusalKind, RefusedAction
from governance import context
from governance.choices import Role

logger = logging.getLogger(__name__)

ACCESS_LOG_VIEWED = "audits.access_log.viewed"
REFUSALS_VIEWED = "audits.refusals.viewed"
REFUSAL_ALERT_RAISED = "audits.refusals.alert_raised"
# What repeated refusals are counted by: the account (the actor's user name, or
# the one tried) and the client address.
ALERT_KEYS = ("account", "address")


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
    # The refusal is on record whatever happens to its alert.
    try:
        refusal_alert_check(refused=refused)
    except Exception:
        logger.exception("the alert check of refusal %s failed", refused.pk)
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


def refusals_view_record(*, actor: Any, filters: dict[str, Any]) -> None:
    """Record that ``actor`` read the refused actions with ``filters``; it shows in
    the access log like a reading of the log itself."""
    with transaction.atomic():
        audit_event_record(
            actor=actor,
            event_type=REFUSALS_VIEWED,
            payload={k: v for k, v in filters.items() if v not in (None, "")},
        )


# --- Alerts on repeated refusals ------------------------------------------------------


def refusal_alert_settings() -> tuple[int, timedelta]:
    """The alert threshold (0: no alerts) and window, from the settings."""
    threshold = int(getattr(settings, "MODELGOV_REFUSAL_ALERT_THRESHOLD", 5))
    minutes = int(getattr(settings, "MODELGOV_REFUSAL_ALERT_WINDOW_MINUTES", 15))
    return max(threshold, 0), timedelta(minutes=max(minutes, 1))


def _alert_keys(refused: RefusedAction) -> list[tuple[str, str, Q]]:
    keys = []
    if refused.username:
        keys.append(("account", refused.username, Q(username=refused.username)))
    if refused.ip_address:
        keys.append(("address", refused.ip_address, Q(ip_address=refused.ip_address)))
    return keys


def _alert_lock(key: str, value: str) -> None:
    """Serialise the alert checks of one account or address (PostgreSQL; SQLite
    writes are serial already), so two refusals at once raise one alert."""
    if connection.vendor != "postgresql":
        return
    digest = hashlib.sha256(f"refusal-alert:{key}:{value}".encode()).digest()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s)",
            [int.from_bytes(digest[:8], "big", signed=True)],
        )


def refusal_alert_check(*, refused: RefusedAction) -> list[AuditEvent]:
    """Raise an alert when ``refused`` brings its account or its address to the
    threshold of refusals within the window (``MODELGOV_REFUSAL_ALERT_THRESHOLD``,
    ``MODELGOV_REFUSAL_ALERT_WINDOW_MINUTES``).

    An alert is an ``audits.refusals.alert_raised`` audit event (and ledger leaf)
    on the refusal that reached the threshold, raised once per account or address
    per window: not again while an alert for the same key is younger than the
    window. Administrators are notified (email, and the webhook if set) by a task
    scheduled once the transaction commits. Each key is checked under its own
    lock and savepoint. Returns the alerts raised.
    """
    threshold, window = refusal_alert_settings()
    if threshold == 0:
        return []
    since = refused.occurred_at - window
    raised = []
    for key, value, match in _alert_keys(refused):
        with transaction.atomic():
            _alert_lock(key, value)
            count = RefusedAction.objects.filter(
                match, occurred_at__gt=since, occurred_at__lte=refused.occurred_at
            ).count()
            if count < threshold:
                continue
            if AuditEvent.objects.filter(
                event_type=REFUSAL_ALERT_RAISED,
                payload__key=key,
                payload__value=value,
                occurred_at__gt=since,
            ).exists():
                continue
            event = audit_event_record(
                actor=None,
                event_type=REFUSAL_ALERT_RAISED,
                obj=refused,
                payload={
                    "key": key,
                    "value": value,
                    "refusals": count,
                    "threshold": threshold,
                    "window_minutes": int(window.total_seconds() // 60),
                },
            )
            transaction.on_commit(functools.partial(_enqueue_alert, event.pk))
            raised.append(event)
    return raised


def _enqueue_alert(event_id: int) -> None:
    """Send the notification task; a failure is logged, never raised into the
    request whose refusal raised the alert."""
    from audits import tasks

    try:
        tasks.refusal_alert_notify_task.delay(event_id)
    except Exception:
        logger.exception("the notification of refusal alert %s was not sent", event_id)


def refusal_alert_recipients() -> list[str]:
    """The addresses of the active administrators (role or superuser)."""
    users = get_user_model().objects.filter(
        Q(groups__name=Role.ADMINISTRATOR) | Q(is_superuser=True), is_active=True
    )
    return sorted({u.email.strip() for u in users if u.email.strip()})


def refusal_alert_notify(*, event: AuditEvent) -> None:
    """Email the administrators about the alert ``event`` and POST it to the
    webhook, if set. Email errors propagate (the task retries them); webhook
    failures are logged, never raised."""
    from governance.services import notifications  # governance imports this module

    payload = event.payload or {}
    key, value = payload.get("key", ""), payload.get("value", "")
    _, window = refusal_alert_settings()
    refused = RefusedAction.objects.filter(pk=int(event.object_id or 0)).first()
    since = (refused.occurred_at if refused else event.occurred_at) - window
    match = Q(username=value) if key == "account" else Q(ip_address=value)
    recent = list(
        RefusedAction.objects.filter(
            match, occurred_at__gt=since, occurred_at__lte=event.occurred_at
        ).order_by("occurred_at", "id")
    )
    subject = (
        f"[modelgov] {payload.get('refusals')} refused attempts by {key} {value} "
        f"within {payload.get('window_minutes')} minutes"
    )
    lines = [
        f"{payload.get('refusals')} attempts by {key} {value} were refused within "
        f"{payload.get('window_minutes')} minutes (alert threshold "
        f"{payload.get('threshold')}).",
        "",
    ]
    for row in recent:
        lines.append(
            f"{row.occurred_at:%Y-%m-%d %H:%M:%S} UTC  {row.kind}  "
            f"{row.username or row.actor_display}  {row.ip_address or '-'}  "
            f"{row.action}: {row.reason}"
        )
    lines += ["", "See Audit trails > Refused actions (/audits/refusals)."]
    recipients = refusal_alert_recipients()
    if recipients:
        send_mail(
            subject=subject,
            message="\n".join(lines) + "\n",
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=recipients,
        )
    url = getattr(settings, "MODELGOV_NOTIFY_WEBHOOK_URL", "")
    if url:
        notifications.webhook_post(
            url,
            {
                "event": "refusals.alert_raised",
                "key": key,
                "value": value,
                "refusals": payload.get("refusals"),
                "threshold": payload.get("threshold"),
                "window_minutes": payload.get("window_minutes"),
                "at": event.occurred_at.isoformat(),
            },
        )
