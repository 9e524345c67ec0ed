"""The one alert upsert: an open alert counted once more, or a new one, and an
insert-only occurrence row either way.

Shared by the ingest (shadow predictions) and monitoring (breaches, missing data,
failed integrity checks), so that every occurrence keeps its own message and
details whatever raised it; the alert row itself only says what the latest was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from audits.integrity import commit as integrity
from audits.ledger.models import Alert, AlertOccurrence


@dataclass(frozen=True)
class Raised:
    alert: Alert
    occurrence: AlertOccurrence
    created: bool


def alert_occurrence_record(
    *,
    kind: str,
    model_id: int,
    environment: str,
    version_id: int | None,
    message: str,
    details: dict[str, Any],
    now: datetime,
    severity: str = "high",
    count: int = 1,
    report_id: int | None = None,
) -> Raised:
    """Record one occurrence of the open alert of (kind, model, environment,
    version), creating the alert when none is open.

    The open alert is locked, its counter moved by ``count`` and its message and
    details replaced by this occurrence's; the occurrence row is inserted in the
    same transaction (one INSERT per call, whatever ``count``). Deduplicated by the
    one-open-alert constraint: a concurrent creation is retried as an update.
    Must run inside the caller's transaction.
    """
    filters = {
        "kind": kind,
        "model_id": model_id,
        "environment": environment,
        "model_version_id": version_id,
        "is_open": True,
    }
    created = False
    alert = Alert.objects.select_for_update().filter(**filters).first()
    if alert is None:
        try:
            with transaction.atomic():
                alert = Alert.objects.create(
                    kind=kind,
                    severity=severity,
                    model_id=model_id,
                    environment=environment,
                    model_version_id=version_id,
                    message=message,
                    details=details,
                    occurrences=count,
                    first_seen_at=now,
                    last_seen_at=now,
                )
            created = True
        except IntegrityError:  # opened concurrently: count it on that one
            alert = Alert.objects.select_for_update().get(**filters)
    if not created:
        alert.occurrences += count
        alert.last_seen_at = max(alert.last_seen_at, now)
        alert.message = message
        alert.details = details
        alert.save(update_fields=["occurrences", "last_seen_at", "message", "details"])
    integrity.record_commit(alert)
    occurrence = AlertOccurrence.objects.create(
        alert=alert,
        occurred_at=now,
        count=count,
        message=message,
        details=details,
        report_id=report_id,
    )
    integrity.record_commit(occurrence)
    return Raised(alert=alert, occurrence=occurrence, created=created)
