"""Appending a governance row's record leaf, in the transaction that writes the row.

Services call :func:`record_commit` right after they save a row of an
``INSERT_ONLY`` or ``CURRENT_STATE`` evidence class (audits.integrity.inventory):
the leaf holds the row's committed fields, so the ledger keeps every revision and a
later change to the row (by anyone, with any privileges) no longer matches it.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.db.models import Max
from django.utils import timezone

from audits.integrity import canonical, inventory
from audits.integrity.models import RecordCommitment
from audits.ledger import records
from audits.ledger.governance import GOVERNANCE_NAMESPACE, append_leaf
from audits.ledger.models import EntryType

__all__ = ["backfill", "record_commit", "record_entry_id", "record_leaf"]


def record_entry_id(table: str, pk: Any, rev: int) -> uuid.UUID:
    return uuid.uuid5(GOVERNANCE_NAMESPACE, f"record:{table}:{pk}:{rev}")


def record_leaf(
    *,
    table: str,
    pk: Any,
    rev: int,
    fields: dict[str, Any],
    at: str,
    backfilled: bool = False,
) -> bytes:
    leaf: dict[str, Any] = {
        "v": records.LEAF_VERSION,
        "type": "record",
        "table": table,
        "pk": str(pk),
        "rev": rev,
        "committed_at": at,
        "fields": fields,
    }
    if backfilled:
        # Committed when the deployment was upgraded, not when the row was
        # written: it vouches for the row from ``committed_at`` on only.
        leaf["backfilled"] = True
    return records.dumps(leaf)


def record_commit(obj: models.Model, *, backfilled: bool = False) -> RecordCommitment:
    """Append the next revision of ``obj`` as a record leaf (call inside the
    transaction that saved it, after the save). ``backfilled`` only for
    ``evidence_backfill``: rows written before issue 13."""
    evidence = inventory.record_class(obj)
    table = evidence.table
    pk = str(obj.pk)
    if evidence.kind == inventory.INSERT_ONLY:
        rev = 0  # written once: a second commit is refused by the unique key
    else:
        latest = RecordCommitment.objects.filter(table=table, object_pk=pk).aggregate(
            rev=Max("rev")
        )["rev"]
        rev = 0 if latest is None else latest + 1
    now = timezone.now()
    fields = canonical.committed_fields(obj, exclude=evidence.exclude)
    entry_id = record_entry_id(table, pk, rev)
    leaf = record_leaf(
        table=table,
        pk=pk,
        rev=rev,
        fields=fields,
        at=records.iso(now),
        backfilled=backfilled,
    )
    leaf_hash = append_leaf(entry_id, EntryType.RECORD, leaf)
    return RecordCommitment.objects.create(
        entry_id=entry_id,
        table=table,
        object_pk=pk,
        rev=rev,
        leaf_hash=leaf_hash,
        created_at=now,
    )


def backfill(*, chunk: int = 500) -> dict[str, int]:
    """Commit every row of a record class that no leaf commits to yet (rows
    written before issue 13), marked as backfilled; return the count per table.

    Idempotent. A row that has a leaf is never touched, even if it no longer
    matches it: that is for ``ledger_fsck`` to report, not for this to bless.
    """
    from django.db import transaction

    counts: dict[str, int] = {}
    for evidence in inventory.EVIDENCE:
        if evidence.kind not in inventory.RECORD_KINDS:
            continue
        model = evidence.model_class
        table = evidence.table
        done = set(
            RecordCommitment.objects.filter(table=table).values_list(
                "object_pk", flat=True
            )
        )
        pending = [
            pk
            for pk in model._default_manager.order_by("pk").values_list("pk", flat=True)
            if str(pk) not in done
        ]
        for start in range(0, len(pending), chunk):
            with transaction.atomic():
                for obj in model._default_manager.filter(
                    pk__in=pending[start : start + chunk]
                ).order_by("pk"):
                    record_commit(obj, backfilled=True)
        counts[table] = len(pending)
    return counts
