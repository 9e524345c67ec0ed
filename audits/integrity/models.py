"""The index of record leaves: which ledger entry commits to which revision of a row."""

from __future__ import annotations

from django.db import models

__all__ = ["RecordCommitment"]


class RecordCommitment(models.Model):
    """One record leaf of the ledger: revision ``rev`` of row ``object_pk`` of
    ``table``. Insert-only (trigger); written in the transaction of the change.

    Only an index: what vouches for a row is the ledger leaf (``entry_id``), whose
    place in the signed log is proved by inclusion proofs and ``ledger_fsck``. fsck
    checks that this table and the record leaves of the ledger are a bijection.
    """

    entry_id = models.UUIDField(primary_key=True)
    table = models.CharField(max_length=100)
    object_pk = models.CharField(max_length=64)
    rev = models.PositiveIntegerField()
    leaf_hash = models.BinaryField(max_length=32)
    created_at = models.DateTimeField()

    class Meta:
        app_label = "audits"
        constraints = [
            models.UniqueConstraint(
                fields=["table", "object_pk", "rev"],
                name="audits_recordcommitment_table_pk_rev",
            )
        ]

    def __str__(self) -> str:
        return f"{self.table}:{self.object_pk} rev {self.rev}"
