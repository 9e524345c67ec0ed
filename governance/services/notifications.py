"""Notifications of the approval workflow: email, and an optional JSON webhook.

A request that needs someone's action (submitted: validators; validated: risk
officers) or that was decided, expired or revoked (the requester and the model's
developers) is announced by email; when ``MODELGOV_NOTIFY_WEBHOOK_URL`` is set the
same event is POSTed as JSON. Delivery runs in a Celery task scheduled only after
the workflow's transaction commits (:func:`schedule_request_notification`).
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from governance.choices import Role
from governance.models import ReleaseRequest

logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_SECONDS = 5

# Events that call for the next role's action, and the role that acts next.
ACTION_EVENTS: dict[str, str] = {
    "submitted": Role.VALIDATOR,
    "validated": Role.RISK_OFFICER,
}
# Events that end (or end the validity of) a request: the model's team hears.
OUTCOME_EVENTS = ("approved", "rejected", "expired", "revoked")
# A document the approval covers was amended (ADR 0026): its signers hear.
SIGNER_EVENTS = ("amended",)
EVENTS = (*ACTION_EVENTS, *OUTCOME_EVENTS, *SIGNER_EVENTS)

_SUBJECTS: dict[str, str] = {
    "submitted": "awaits validation",
    "validated": "awaits approval",
    "approved": "approved for {environments}",
    "rejected": "rejected",
    "expired": "approval expired",
    "revoked": "approval revoked",
    "amended": "dossier amended, approval under review",
}


def _emails(users: Iterable[Any]) -> list[str]:
    """Distinct, non-empty addresses of active users, in a stable order."""
    found = {u.email.strip() for u in users if u.is_active and u.email.strip()}
    return sorted(found)


def request_notification_recipients(
    *, request: ReleaseRequest, event: str
) -> list[str]:
    """The email addresses ``event`` of ``request`` goes to."""
    if event in ACTION_EVENTS:
        users = get_user_model().objects.filter(
            groups__name=ACTION_EVENTS[event], is_active=True
        )
        return _emails(users)
    if event in OUTCOME_EVENTS:
        model = request.model_version.model
        return _emails([request.requested_by, *model.developers.all()])
    if event in SIGNER_EVENTS:
        return _emails(s.signer for s in request.signatures.select_related("signer"))
    raise ValueError(f"Unknown request event {event!r}; one of: {', '.join(EVENTS)}.")


def request_notification_subject(*, request: ReleaseRequest, event: str) -> str:
    version = request.model_version
    phrase = _SUBJECTS[event].format(environments=", ".join(request.environments))
    return (
        f"[modelgov] RR-{request.pk} {version.model.slug} {version.version}: {phrase}"
    )


def request_webhook_payload(*, request: ReleaseRequest, event: str) -> dict[str, Any]:
    """The JSON body POSTed to the notification webhook."""
    version = request.model_version
    return {
        "event": event,
        "request": f"RR-{request.pk}",
        "model": version.model.slug,
        "version": version.version,
        "environments": list(request.environments),
        "state": request.state,
        "at": timezone.now().isoformat(),
    }


def _body(*, request: ReleaseRequest, event: str) -> str:
    version = request.model_version
    lines = [
        f"Release request RR-{request.pk}: {event}.",
        "",
        f"Model: {version.model.slug} ({version.model.name})",
        f"Version: {version.version}",
        f"Environments: {', '.join(request.environments)}",
        f"State: {request.state}",
    ]
    if request.expires_at and event == "approved":
        lines.append(f"Approved until: {request.expires_at:%Y-%m-%d %H:%M} UTC")
    if request.conditions:
        lines.append(f"Conditions: {request.conditions}")
    if event == "revoked":
        lines.append(f"Reason: {request.revocation_reason}")
        for env, target in sorted(request.rollback_targets.items()):
            lines.append(f"Roll back {env} to: {target or 'no approved version'}")
    if event == "amended":
        lines.append(f"Under review: {request.review_reason}")
    return "\n".join(lines) + "\n"


def _post_webhook(url: str, payload: dict[str, Any]) -> bool:
    """POST ``payload`` as JSON; log and swallow any failure. True when delivered."""
    data = json.dumps(payload).encode()
    req = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "modelgov"},
    )
    try:
        with urllib.request.urlopen(req, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            response.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        logger.warning(
            "notification webhook failed for %s %s: %s",
            payload.get("request"),
            payload.get("event"),
            exc,
        )
        return False
    return True


def webhook_post(url: str, payload: dict[str, Any]) -> bool:
    """POST ``payload`` as JSON to ``url``; failures are logged, never raised."""
    return _post_webhook(url, payload)


def notify_request_event(*, request: ReleaseRequest, event: str) -> None:
    """Email the people ``event`` concerns and POST it to the webhook, if set.

    Email errors propagate (the task may retry them); webhook failures are logged,
    never raised.
    """
    recipients = request_notification_recipients(request=request, event=event)
    if recipients:
        send_mail(
            subject=request_notification_subject(request=request, event=event),
            message=_body(request=request, event=event),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=recipients,
        )
    url = getattr(settings, "MODELGOV_NOTIFY_WEBHOOK_URL", "")
    if url:
        _post_webhook(url, request_webhook_payload(request=request, event=event))


def schedule_request_notification(request_id: int, event: str) -> None:
    """Queue the notification of ``event`` once the current transaction commits."""
    if event not in EVENTS:
        raise ValueError(
            f"Unknown request event {event!r}; one of: {', '.join(EVENTS)}."
        )
    transaction.on_commit(lambda: _enqueue(request_id, event))


def _enqueue(request_id: int, event: str) -> None:
    """Send the task; the action it reports has committed, so a failure here (broker
    down, or delivery failing when tasks run eagerly in the demo) is logged, never
    raised into the action's response."""
    from governance import notification_tasks

    try:
        notification_tasks.notify_request_event_task.delay(request_id, event)
    except Exception:
        logger.exception("notification of %s for RR-%s was not sent", event, request_id)
