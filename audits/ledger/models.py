"""Storage of the tamper-evident prediction ledger (issue 4).

Only :class:`LedgerQueue` deletes (the sequencer consumes it). Entries, nodes and
checkpoints are insert-only in the database itself (migration 0006); the head is
updated only by the sequencer, with compare-and-set on its size.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

__all__ = [
    "Alert",
    "AlertOccurrence",
    "DeploymentState",
    "EntryType",
    "LedgerCheckpoint",
    "LedgerEntry",
    "LedgerHead",
    "LedgerKey",
    "LedgerNode",
    "LedgerQueue",
    "ProtectedAttributes",
]


class EntryType(models.IntegerChoices):
    PREDICTION = 1, "prediction"
    OUTCOME = 2, "outcome"
    GOVERNANCE = 3, "governance event"
    DEPLOYMENT_STATE = 4, "deployment state"
    RECORD = 5, "governance record"


class LedgerQueue(models.Model):
    """The durable ingest queue: entries accepted but not yet sequenced."""

    queue_id = models.BigAutoField(primary_key=True)
    entry_id = models.UUIDField()
    entry_type = models.SmallIntegerField()
    leaf = models.BinaryField()
    leaf_hash = models.BinaryField(max_length=32)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "audits"
        ordering = ["queue_id"]

    def __str__(self) -> str:
        return f"queued {self.entry_id}"


class LedgerKey(models.Model):
    """The global, insert-only idempotency index: one row per entry id ever accepted.

    Written in the same transaction as the queue row, so an id is either unknown or
    durably accepted. ``payload_sha256`` is the hash of what the client sent (the
    leaf also holds server-side fields), which is what a retry is compared on.
    ``binding`` is the ingest key's deployment, "model-id/environment", so that an
    outcome can only be attached by the deployment that made the prediction.
    """

    entry_id = models.UUIDField(primary_key=True)
    entry_type = models.SmallIntegerField(choices=EntryType.choices)
    payload_sha256 = models.BinaryField(max_length=32)
    leaf_hash = models.BinaryField(max_length=32)
    binding = models.CharField(max_length=80, blank=True)
    received_at = models.DateTimeField()

    class Meta:
        app_label = "audits"

    def __str__(self) -> str:
        return f"key {self.entry_id}"


class LedgerEntry(models.Model):
    """A sequenced leaf: ``seq`` is its index in the Merkle tree (0, 1, 2, … no gaps).

    On PostgreSQL the table is partitioned by range of ``seq`` (migration 0007);
    ``entry_id`` is unique through :class:`LedgerKey`, indexed here per partition.
    """

    seq = models.BigIntegerField(primary_key=True)
    entry_id = models.UUIDField(db_index=True)
    entry_type = models.SmallIntegerField()
    leaf = models.BinaryField()
    leaf_hash = models.BinaryField(max_length=32)
    received_at = models.DateTimeField()
    sequenced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "audits"
        ordering = ["seq"]
        permissions = [
            ("view_prediction_trail", "Can view the audit trail of a prediction")
        ]

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


class ProtectedAttributes(models.Model):
    """Protected attributes of a prediction, kept apart from the ledger.

    The ledger leaf holds only ``SHA-256(salt || canonical JSON)``; the plaintext
    and the salt live here, readable only with ``audits.view_protectedattributes``.
    Deleting a row (erasure) leaves the leaf verifiable but no longer linkable.
    """

    prediction_id = models.UUIDField(primary_key=True)
    attributes = models.JSONField()
    salt = models.BinaryField(max_length=16)
    received_at = models.DateTimeField()

    class Meta:
        app_label = "audits"
        verbose_name_plural = "protected attributes"

    def __str__(self) -> str:
        return f"protected attributes of {self.prediction_id}"


class DeploymentState(models.Model):
    """What was in force for a model in an environment from ``created_at`` on.

    Insert-only; each row is also a DEPLOYMENT_STATE ledger leaf (``entry_id``), and
    every prediction leaf references the state in force by entry id and leaf hash.
    """

    model = models.ForeignKey(
        "registry.Model", on_delete=models.PROTECT, related_name="+"
    )
    environment = models.CharField(max_length=50)
    model_version = models.ForeignKey(
        "registry.ModelVersion",
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    deployment = models.ForeignKey(
        "governance.Deployment",
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    approval = models.ForeignKey(
        "governance.ReleaseRequest",
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    approval_expires_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=100)
    entry_id = models.UUIDField(unique=True)
    leaf_hash = models.BinaryField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "audits"
        ordering = ["-id"]
        indexes = [models.Index(fields=["model", "environment", "-id"])]

    def __str__(self) -> str:
        return f"state {self.id} of {self.model_id} in {self.environment}"


class Alert(models.Model):
    """An operational alert (e.g. a shadow model's predictions); one open alert per
    (kind, model, environment, version) counts its occurrences.

    ``message``, ``details``, ``occurrences`` and ``last_seen_at`` describe the
    latest occurrence and are updated in place; every occurrence is also an
    insert-only :class:`AlertOccurrence` row with its own message and details.
    """

    kind = models.CharField(max_length=50)
    severity = models.CharField(max_length=20, default="high")
    model = models.ForeignKey(
        "registry.Model", on_delete=models.PROTECT, related_name="+"
    )
    environment = models.CharField(max_length=50)
    model_version = models.ForeignKey(
        "registry.ModelVersion",
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    message = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    occurrences = models.PositiveIntegerField(default=1)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    is_open = models.BooleanField(default=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "audits"
        ordering = ["-last_seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "model", "environment", "model_version"],
                condition=models.Q(is_open=True),
                name="audits_alert_one_open",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message[:80]}"


class AlertOccurrence(models.Model):
    """One occurrence of an alert: what was seen, when, and the report that saw it.

    Insert-only in the database (migration 0013): a second report of the same kind
    adds a row instead of overwriting the first one's breaches. ``count`` is how
    many events the occurrence stands for (the shadow predictions of one ingest
    batch; 1 for a report).
    """

    alert = models.ForeignKey(
        Alert, on_delete=models.PROTECT, related_name="occurrence_records"
    )
    occurred_at = models.DateTimeField(default=timezone.now)
    count = models.PositiveIntegerField(default=1)
    message = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    report = models.ForeignKey(
        "audits.MonitoringReport",
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )

    class Meta:
        app_label = "audits"
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(
                fields=["alert", "-occurred_at"], name="audits_alertocc_alert_at"
            )
        ]

    def __str__(self) -> str:
        return f"occurrence {self.pk} of alert {self.alert_id}"
