"""Storage of the tamper-evident prediction ledger (issue 4).

Only :class:`LedgerQueue` deletes (the sequencer consumes it). Entries, nodes and
checkpoints are insert-only in the database itself (migration 0006); the head is
updated only by the sequencer, with compare-and-set on its size.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

__all__ = [
    "LedgerCheckpoint",
    "LedgerEntry",
    "LedgerHead",
    "LedgerNode",
    "LedgerQueue",
]


class LedgerQueue(models.Model):
    """The durable ingest queue: entries accepted but not yet sequenced."""

    queue_id = models.BigAutoField(primary_key=True)
    entry_id = models.UUIDField(unique=True)
    entry_type = models.SmallIntegerField()
    leaf = models.BinaryField()
    leaf_hash = models.BinaryField(max_length=32)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "audits"
        ordering = ["queue_id"]

    def __str__(self) -> str:
        return f"queued {self.entry_id}"


class LedgerEntry(models.Model):
    """A sequenced leaf: ``seq`` is its index in the Merkle tree (0, 1, 2, … no gaps)."""

    seq = models.BigIntegerField(primary_key=True)
    entry_id = models.UUIDField(unique=True)
    entry_type = models.SmallIntegerField()
    leaf = models.BinaryField()
    leaf_hash = models.BinaryField(max_length=32)
    received_at = models.DateTimeField()
    sequenced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "audits"
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"entry {self.seq}"


class LedgerNode(models.Model):
    """A complete subtree hash: level L, index i covers leaves [i*2^L, (i+1)*2^L)."""

    level = models.SmallIntegerField()
    index = models.BigIntegerField()
    hash = models.BinaryField(max_length=32)

    class Meta:
        app_label = "audits"
        constraints = [
            models.UniqueConstraint(
                fields=["level", "index"], name="audits_ledgernode_level_index"
            )
        ]

    def __str__(self) -> str:
        return f"node {self.level}/{self.index}"


class LedgerCheckpoint(models.Model):
    """A signed checkpoint (C2SP signed note) of the tree at ``size``."""

    size = models.BigIntegerField(primary_key=True)
    root = models.BinaryField(max_length=32)
    note = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "audits"
        ordering = ["size"]

    def __str__(self) -> str:
        return f"checkpoint {self.size}"


class LedgerHead(models.Model):
    """The singleton tree head (id=1); only the sequencer moves it, by CAS on size."""

    id = models.SmallIntegerField(primary_key=True, default=1)
    size = models.BigIntegerField(default=0)

    class Meta:
        app_label = "audits"

    def __str__(self) -> str:
        return f"head {self.size}"
