"""Celery tasks of the audits app (interfaces only: call a service)."""

from __future__ import annotations

import time

from celery import shared_task

from audits.ledger import services
from governance import exceptions


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
    return size
