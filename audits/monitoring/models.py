"""Monitoring storage (issue 5): hourly rollups of the ledger, monitors and reports.

The rollups are derived data: counts per hour, kept up to date from the ledger by
:func:`audits.monitoring.rollup.rollup_advance` after each sequenced batch and
rebuildable from the ledger at any time (``manage.py monitoring_rollup --rebuild``).
A report reads only rollups, so its cost does not depend on how many predictions the
window holds. Monitors and reports are ordinary governed rows: every change goes
through :mod:`audits.monitoring.services` and is audited.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

__all__ = [
    "DecisionCell",
    "FeatureCell",
    "IntegrityCheck",
    "IntegrityFailure",
    "Monitor",
    "MonitoringReport",
    "OutcomeCell",
    "ReportKind",
    "ReportStatus",
    "RollupMark",
    "ScoreCell",
    "WindowKind",
    "BreachAction",
]


class ReportKind(models.TextChoices):
    FAIRNESS = "fairness", "Fairness and approval-rate drift"
    DRIFT = "drift", "Data drift"
    PERFORMANCE = "performance", "Performance on matured outcomes"


class ReportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class WindowKind(models.TextChoices):
    LAST_24_HOURS = "last_24_hours", "Last 24 hours"
    LAST_7_DAYS = "last_7_days", "Last 7 days"
    LAST_30_DAYS = "last_30_days", "Last 30 days"
    CALENDAR_MONTH = "calendar_month", "Previous calendar month"


class BreachAction(models.TextChoices):
    ALERT = "alert", "Alert only"
    REVIEW = "review", "Alert, open a finding, put the approval under review"
    REVOKE = "revoke", "Alert, open a finding, revoke the approval"


class _Cell(models.Model):
    """Common columns of the rollup cells: one version in one environment, one hour."""

    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="+"
    )
    environment = models.CharField(max_length=50)
    hour = models.DateTimeField()
    n = models.BigIntegerField(default=0)

    class Meta:
        abstract = True
        app_label = "audits"


class DecisionCell(_Cell):
    """Predictions per (hour, protected-attribute groups, decision label)."""

    # Canonical JSON of the prediction's protected attributes ("" when none).
    groups = models.TextField(default="", blank=True)
    decision = models.CharField(max_length=100, default="", blank=True)

    class Meta(_Cell.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "environment", "hour", "groups", "decision"],
                name="audits_decisioncell_key",
            )
        ]


class OutcomeCell(_Cell):
    """Matured predictions per (prediction hour, groups, decision, outcome label)."""

    groups = models.TextField(default="", blank=True)
    decision = models.CharField(max_length=100, default="", blank=True)
    outcome = models.CharField(max_length=100)

    class Meta(_Cell.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "model_version",
                    "environment",
                    "hour",
                    "groups",
                    "decision",
                    "outcome",
                ],
                name="audits_outcomecell_key",
            )
        ]


class ScoreCell(_Cell):
    """Matured predictions per (prediction hour, score rounded, outcome label).

    ``score`` is the score rounded to :data:`audits.monitoring.rollup.SCORE_DECIMALS`
    decimals; ``score_sum`` is the sum of the exact scores, so mean predicted values
    (calibration) stay exact.
    """

    score = models.FloatField()
    outcome = models.CharField(max_length=100)
    score_sum = models.FloatField(default=0.0)

    class Meta(_Cell.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "environment", "hour", "score", "outcome"],
                name="audits_scorecell_key",
            )
        ]


class FeatureCell(_Cell):
    """Predictions per (hour, feature, baseline bin); bin "" counts missing values."""

    feature = models.CharField(max_length=200)
    bin = models.CharField(max_length=200, default="", blank=True)

    class Meta(_Cell.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "environment", "hour", "feature", "bin"],
                name="audits_featurecell_key",
            )
        ]


class IntegrityCheck(models.TextChoices):
    PROTECTED_ATTRIBUTES = (
        "protected_attributes",
        "Protected attributes do not match the prediction's commitment",
    )
    PREDICTION_LEAF = "prediction_leaf", "Prediction leaf does not match its hash"
    OUTCOME_LEAF = (
        "outcome_leaf",
        "Outcome leaf does not match its hash or its prediction's leaf hash",
    )


class IntegrityFailure(models.Model):
    """A prediction the rollups left out because an input failed its check.

    Derived like the cells: written by the rollup that met it, dropped and found
    again by a rebuild. ``hour`` is the prediction's hour, so a report counts the
    failures of its window. One row per (check, prediction).
    """

    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="+"
    )
    environment = models.CharField(max_length=50)
    hour = models.DateTimeField()
    prediction_id = models.UUIDField()
    failed_check = models.CharField(max_length=30, choices=IntegrityCheck.choices)
    seq = models.BigIntegerField(help_text="Ledger seq of the entry that failed")
    detected_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "audits"
        ordering = ["hour", "seq"]
        constraints = [
            models.UniqueConstraint(
                fields=["failed_check", "prediction_id"],
                name="audits_integrityfailure_key",
            )
        ]
        indexes = [
            models.Index(
                fields=["model_version", "environment", "hour"],
                name="audits_integrityfail_window",
            )
        ]

    def __str__(self) -> str:
        return f"{self.failed_check} failed for {self.prediction_id}"


class RollupMark(models.Model):
    """Singleton (id=1): ledger entries below ``seq`` are counted in the rollups."""

    id = models.SmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "audits"

    def __str__(self) -> str:
        return f"rollups up to {self.seq}"


class Monitor(models.Model):
    """How one model version is watched in one environment.

    Defaults come from the risk-tier policy (``audits.monitoring.config``); risk
    officers edit them in the browser or the admin. The schedule is a
    django-celery-beat ``PeriodicTask`` kept in step by the services.
    """

    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="monitors"
    )
    environment = models.CharField(max_length=50)
    is_enabled = models.BooleanField(default=True)
    kinds = models.JSONField(default=list)
    schedule = models.CharField(
        max_length=100,
        help_text="Cron expression in UTC: minute hour day month weekday",
    )
    window = models.CharField(max_length=20, choices=WindowKind.choices)
    protected_attributes = models.JSONField(default=list, blank=True)
    reference_groups = models.JSONField(default=dict, blank=True)
    favourable_decisions = models.JSONField(default=list)
    favourable_outcomes = models.JSONField(default=list, blank=True)
    thresholds = models.JSONField(default=dict)
    min_samples = models.PositiveIntegerField(default=30)
    expected_predictions = models.PositiveIntegerField(
        default=1,
        help_text="Fewer predictions than this in a window raise a missing-data alert "
        "(0: never).",
    )
    action_on_breach = models.CharField(
        max_length=10, choices=BreachAction.choices, default=BreachAction.REVIEW
    )
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        app_label = "audits"
        ordering = ["model_version__model__name", "environment", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "environment"], name="audits_monitor_one"
            )
        ]
        permissions = [("change_monitoring", "Can edit monitors and run reports")]

    def __str__(self) -> str:
        return f"monitor of {self.model_version} in {self.environment}"


class MonitoringReport(models.Model):
    """One report over one window; a status row the browser and the API poll."""

    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="reports"
    )
    environment = models.CharField(max_length=50)
    monitor = models.ForeignKey(
        Monitor,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reports",
    )
    kind = models.CharField(max_length=20, choices=ReportKind.choices)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    trigger = models.CharField(max_length=20, default="schedule")
    status = models.CharField(
        max_length=10, choices=ReportStatus.choices, default=ReportStatus.QUEUED
    )
    error = models.TextField(blank=True)
    config = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict, blank=True)
    breaches = models.JSONField(default=list, blank=True)
    # SVG of each chart by name, drawn when the report finished (figures.py).
    charts = models.JSONField(default=dict, blank=True)
    predictions = models.BigIntegerField(null=True, blank=True)
    as_of_seq = models.BigIntegerField(null=True, blank=True)
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

    class Meta:
        app_label = "audits"
        ordering = ["-window_end", "-id"]
        indexes = [
            models.Index(fields=["model_version", "environment", "kind", "-window_end"])
        ]
        constraints = [
            # A scheduled window is reported once: a retried beat task finds it.
            models.UniqueConstraint(
                fields=["monitor", "kind", "window_start", "window_end"],
                condition=models.Q(trigger="schedule"),
                name="audits_report_scheduled_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} report {self.pk} of {self.model_version}"

    @property
    def is_finished(self) -> bool:
        return self.status in (ReportStatus.DONE, ReportStatus.FAILED)
