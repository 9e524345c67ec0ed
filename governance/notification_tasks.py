"""The Celery task that delivers workflow notifications.

Celery's autodiscovery loads only ``tasks.py``: ``governance/tasks.py`` imports this
module so the worker registers the task.
"""

from __future__ import annotations

import logging

from celery import shared_task

from governance.models import ReleaseRequest
from governance.services import notifications

logger = logging.getLogger(__name__)


@shared_task(
    name="governance.notify_request_event",
    soft_time_limit=30,
    time_limit=45,
    # Only delivery (network) errors are worth retrying; webhook errors never raise.
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=3,
)
def notify_request_event_task(request_id: int, event: str) -> None:
    """Load the request and notify ``event``; bad data is logged, not retried."""
    if event not in notifications.EVENTS:
        logger.error("unknown notification event %r for RR-%s", event, request_id)
        return
    request = (
        ReleaseRequest.objects.select_related("model_version__model", "requested_by")
        .filter(pk=request_id)
        .first()
    )
    if request is None:
        logger.error("notification %r: RR-%s does not exist", event, request_id)
        return
    notifications.notify_request_event(request=request, event=event)
