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

__all__ = ["record_commit", "record_entry_id", "record_leaf"]


def record_entry_id(table: str, pk: Any, rev: int) -> uuid.UUID:
    return uuid.uuid5(GOVERNANCE_NAMESPACE, f"record:{table}:{pk}:{rev}")


def record_leaf(
    *, table: str, pk: Any, rev: int, fields: dict[str, Any], at: str
) -> bytes:
    return records.dumps(
        {
            "v": records.LEAF_VERSION,
            "type": "record",
            "table": table,
            "pk": str(pk),
            "rev": rev,
            "committed_at": at,
            "fields": fields,
        }
    )


def record_commit(obj: models.Model) -> RecordCommitment:
    """Append the next revision of ``obj`` as a record leaf (call inside the
    transaction that saved it, after the save)."""
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
    leaf = record_leaf(table=table, pk=pk, rev=rev, fields=fields, at=records.iso(now))
    leaf_hash = append_leaf(entry_id, EntryType.RECORD, leaf)
    return RecordCommitment.objects.create(
        entry_id=entry_id,
        table=table,
        object_pk=pk,
        rev=rev,
        leaf_hash=leaf_hash,
        created_at=now,
    )
