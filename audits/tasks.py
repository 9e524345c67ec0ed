"""Celery tasks of the audits app (interfaces only: call a service)."""

from __future__ import annotations

import logging
import time

from celery import shared_task

from audits import services as audit_services
from audits.evidence import services as evidence_services
from audits.ledger import services
from audits.models import AuditEvent
from audits.monitoring import rollup
from audits.monitoring import services as monitoring_services
from governance import exceptions

logger = logging.getLogger(__name__)


@shared_task(name="audits.ledger_sequence", soft_time_limit=50, time_limit=60)
def ledger_sequence_task(max_seconds: float = 20.0, batch_size: int = 20000) -> int:
    """Drain the ledger queue for up to ``max_seconds``; return the tree size.

    Run by Celery beat every few seconds as an alternative to the
    ``ledger_sequencer`` process. Each batch takes the sequencer's advisory lock, so
    a second copy of this task (or the command) running at the same time finds
    the lock taken and returns at once: there is only ever one sequencer at work.
    """
    signer = services.ledger_signer()
    deadline = time.monotonic() + max_seconds
    size = signer.last.size if signer.last is not None else 0
    while time.monotonic() < deadline:
        try:
            made = services.ledger_sequence(signer=signer, batch_size=batch_size)
        except exceptions.Conflict as exc:
            if exc.code == "ledger_sequencer_busy":
                break
            raise
        if made is None:
            break
        size = made.size
    try:
        rollup.rollup_catch_up(max_entries=batch_size * 4)
    except Exception:  # monitoring never stops the ledger; the next run retries
        logger.exception("monitoring rollup failed")
    return size


# --- monitoring ---------------------------------------------------------------------


@shared_task(name="audits.monitor_run", soft_time_limit=600, time_limit=660)
def monitor_run_task(monitor_id: int) -> list[int]:
    """Run a monitor for its last complete window (sent by its beat entry)."""
    return [r.pk for r in monitoring_services.monitor_run(monitor_id=monitor_id)]


@shared_task(name="audits.report_run", soft_time_limit=600, time_limit=660)
def report_run_task(report_id: int) -> str:
    """Compute one queued report; its row records the status and any error."""
    return monitoring_services.report_run(report_id=report_id).status


@shared_task(
    name="audits.alert_notify",
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
    soft_time_limit=60,
    time_limit=90,
)
def alert_notify_task(alert_id: int) -> None:
    """Email and webhook for a new alert (mail-server errors are retried)."""
    monitoring_services.alert_notify(alert_id=alert_id)


@shared_task(name="audits.monitoring_rollup", soft_time_limit=50, time_limit=60)
def monitoring_rollup_task(max_entries: int = 200_000) -> int:
    """Count newly sequenced entries into the monitoring rollups."""
    return rollup.rollup_catch_up(max_entries=max_entries)


# --- evidence packs -----------------------------------------------------------------


@shared_task(name="audits.evidence_pack_build", soft_time_limit=900, time_limit=960)
def evidence_pack_build_task(pack_id: int) -> str:
    """Build one queued evidence pack; its row records the status and any error."""
    return evidence_services.evidence_pack_build(pack_id=pack_id).status


@shared_task(
    name="audits.refusal_alert_notify",
    soft_time_limit=30,
    time_limit=45,
    # Only delivery (network) errors are worth retrying; webhook errors never raise.
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=3,
)
def refusal_alert_notify_task(event_id: int) -> None:
    """Notify the administrators of a refusal alert; an unknown id is logged."""
    event = (
        AuditEvent.objects.filter(
            pk=event_id, event_type=audit_services.REFUSAL_ALERT_RAISED
        )
        .select_related("actor")
        .first()
    )
    if event is None:
        logger.error("refusal alert %s does not exist", event_id)
        return
    audit_services.refusal_alert_notify(event=event)
