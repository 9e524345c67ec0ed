"""Evidence packs (issue 6): the status row of one pack and where its files are.

A pack is built by a Celery task (:func:`audits.evidence.services.evidence_pack_build`)
from what the row fixes: the version (a model-version pack) or the model (a period
pack), the period and ``as_of``, the moment of the request. Rebuilding the same row therefore gives the same bytes. The row records
the SHA-256 of the PDF, the ZIP and the manifest; the same digests are in the
``audits.evidence_pack.built`` audit event, and so in the ledger.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

__all__ = ["EvidencePack", "PackKind", "PackStatus"]


class PackKind(models.TextChoices):
    MODEL_VERSION = "model-version", "Model version"
    PERIOD = "period", "Period"


class PackStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class EvidencePack(models.Model):
    """One evidence pack: a status row the browser polls, and the built files."""

    kind = models.CharField(
        max_length=20, choices=PackKind.choices, default=PackKind.MODEL_VERSION
    )
    # A model-version pack has a version (and its model); a period pack a model.
    model = models.ForeignKey(
        "registry.Model",
        on_delete=models.PROTECT,
        related_name="evidence_packs",
        null=True,
        blank=True,
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion",
        on_delete=models.PROTECT,
        related_name="evidence_packs",
        null=True,
        blank=True,
    )
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    as_of = models.DateTimeField()
    status = models.CharField(
        max_length=10, choices=PackStatus.choices, default=PackStatus.QUEUED
    )
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    pdf = models.FileField(upload_to="evidence/", max_length=300, blank=True)
    zip = models.FileField(upload_to="evidence/", max_length=300, blank=True)
    signature = models.TextField(blank=True, help_text="The detached signature (JSON).")
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    zip_sha256 = models.CharField(max_length=64, blank=True)
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    pages = models.PositiveIntegerField(null=True, blank=True)
    bytes = models.BigIntegerField(null=True, blank=True)

    class Meta:
        app_label = "audits"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["model_version", "-created_at"]),
            models.Index(fields=["model", "-created_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="model-version", model_version__isnull=False)
                | models.Q(kind="period", model__isnull=False),
                name="audits_evidencepack_subject",
            ),
            models.CheckConstraint(
                condition=models.Q(period_start__lt=models.F("period_end")),
                name="audits_evidencepack_period",
            ),
        ]
        permissions = [("request_evidencepack", "Can request evidence packs")]

    def __str__(self) -> str:
        return f"evidence pack {self.pk} of {self.subject}"

    @property
    def subject(self) -> str:
        """What the pack covers: ``credit-risk 1.4.0`` or ``credit-risk``."""
        if self.model_version is not None:
            return str(self.model_version)
        return self.model.slug if self.model is not None else ""

    @property
    def is_finished(self) -> bool:
        return self.status in (PackStatus.DONE, PackStatus.FAILED)

    @property
    def file_stem(self) -> str:
        """The download name without extension, e.g. ``credit-risk-1.4.0-pack-7``."""
        version = self.model_version
        if version is None:
            slug = self.model.slug if self.model is not None else "model"
            start = self.period_start.strftime("%Y%m%d")
            end = self.period_end.strftime("%Y%m%d")
            return f"{slug}-{start}-{end}-pack-{self.pk}"
        return f"{version.model.slug}-{version.version}-pack-{self.pk}"
