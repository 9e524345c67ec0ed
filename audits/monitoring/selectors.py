"""Reads of the monitoring rollups and reports.

Every function sums hourly cells of one version in one environment over
``[start, end)``; the result has one row per cell key, never one per prediction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncHour

from audits.ledger.models import Alert
from audits.monitoring.models import (
    DecisionCell,
    FeatureCell,
    IntegrityFailure,
    Monitor,
    MonitoringReport,
    OutcomeCell,
    ScoreCell,
)
from registry import selectors as registry_selectors
from registry.models import ModelVersion


def _window(
    model: Any, version_id: int, environment: str, start: datetime, end: datetime
) -> QuerySet[Any]:
    found: QuerySet[Any] = model.objects.filter(
        model_version_id=version_id,
        environment=environment,
        hour__gte=start,
        hour__lt=end,
    )
    return found


def decision_cells(
    *, version_id: int, environment: str, start: datetime, end: datetime
) -> list[tuple[str, str, int]]:
    """(groups, decision, n) of the window."""
    rows = (
        _window(DecisionCell, version_id, environment, start, end)
        .values("groups", "decision")
        .annotate(total=Sum("n"))
        .order_by("groups", "decision")
    )
    return [(r["groups"], r["decision"], int(r["total"])) for r in rows]


def outcome_cells(
    *, version_id: int, environment: str, start: datetime, end: datetime
) -> list[tuple[str, str, str, int]]:
    """(groups, decision, outcome, n) of the matured predictions of the window."""
    rows = (
        _window(OutcomeCell, version_id, environment, start, end)
        .values("groups", "decision", "outcome")
        .annotate(total=Sum("n"))
        .order_by("groups", "decision", "outcome")
    )
    return [(r["groups"], r["decision"], r["outcome"], int(r["total"])) for r in rows]


def score_cells(
    *, version_id: int, environment: str, start: datetime, end: datetime
) -> list[tuple[float, str, int, float]]:
    """(rounded score, outcome, n, sum of exact scores) of the matured predictions."""
    rows = (
        _window(ScoreCell, version_id, environment, start, end)
        .values("score", "outcome")
        .annotate(total=Sum("n"), total_sum=Sum("score_sum"))
        .order_by("score", "outcome")
    )
    return [
        (float(r["score"]), r["outcome"], int(r["total"]), float(r["total_sum"]))
        for r in rows
    ]


def feature_counts(
    *, version_id: int, environment: str, start: datetime, end: datetime
) -> dict[str, dict[str, int]]:
    """feature -> bin -> n of the window ("" is the missing values' bin)."""
    rows = (
        _window(FeatureCell, version_id, environment, start, end)
        .values("feature", "bin")
        .annotate(total=Sum("n"))
        .order_by("feature", "bin")
    )
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r["feature"], {})[r["bin"]] = int(r["total"])
    return out


def decision_series(
    *,
    version_id: int,
    environment: str,
    start: datetime,
    end: datetime,
    by_hour: bool,
) -> list[tuple[datetime, str, str, int]]:
    """(period start, groups, decision, n) per hour or per day of the window."""
    trunc = TruncHour("hour") if by_hour else TruncDay("hour")
    rows = (
        _window(DecisionCell, version_id, environment, start, end)
        .annotate(period=trunc)
        .values("period", "groups", "decision")
        .annotate(total=Sum("n"))
        .order_by("period", "groups", "decision")
    )
    return [(r["period"], r["groups"], r["decision"], int(r["total"])) for r in rows]


def predictions_in_window(
    *, version_id: int, environment: str, start: datetime, end: datetime
) -> int:
    total = _window(DecisionCell, version_id, environment, start, end).aggregate(
        total=Sum("n")
    )["total"]
    return int(total or 0)


INTEGRITY_IDS_SHOWN = 10


def integrity_failures(
    *, version_id: int, environment: str, start: datetime, end: datetime
) -> dict[str, Any]:
    """The predictions of the window the rollups left out for failing an
    integrity check: how many (each prediction once), per check, and the ids of
    the first :data:`INTEGRITY_IDS_SHOWN` in ledger order."""
    rows = _window(IntegrityFailure, version_id, environment, start, end)
    by_check = {
        r["failed_check"]: int(r["total"])
        for r in rows.values("failed_check")
        .annotate(total=Count("id"))
        .order_by("failed_check")
    }
    failed = rows.values("prediction_id").distinct().count() if by_check else 0
    first: list[str] = []
    # A prediction fails at most one check of each kind: 3 rows per id at most.
    ordered = rows.order_by("seq", "id").values_list("prediction_id", flat=True)
    for pid in ordered[: 3 * INTEGRITY_IDS_SHOWN]:
        if str(pid) not in first:
            first.append(str(pid))
        if len(first) == INTEGRITY_IDS_SHOWN:
            break
    return {"failed": failed, "by_check": by_check, "prediction_ids": first}


def visible_versions(*, user: Any) -> QuerySet[ModelVersion]:
    """Versions of the models ``user`` may see (the registry's scoping)."""
    models = registry_selectors.model_list_for_user(user=user)
    return ModelVersion.objects.filter(model__in=models)


def report_list_for_user(
    *, user: Any, version: ModelVersion | None = None, kinds: Sequence[str] = ()
) -> QuerySet[MonitoringReport]:
    """Reports of the versions ``user`` may see, newest window first."""
    reports = MonitoringReport.objects.filter(
        model_version__in=visible_versions(user=user)
    ).select_related("model_version__model", "monitor")
    if version is not None:
        reports = reports.filter(model_version=version)
    if kinds:
        reports = reports.filter(kind__in=kinds)
    return reports


def report_get_for_user(*, user: Any, pk: int) -> MonitoringReport:
    """One report; DoesNotExist (a 404) when missing or not visible."""
    return report_list_for_user(user=user).get(pk=pk)


def monitor_list_for_user(*, user: Any) -> QuerySet[Monitor]:
    return Monitor.objects.filter(
        model_version__in=visible_versions(user=user)
    ).select_related("model_version__model")


def alert_list_for_user(*, user: Any) -> QuerySet[Alert]:
    """Alerts of the models ``user`` may see (the registry's scoping)."""
    return Alert.objects.filter(
        model__in=registry_selectors.model_list_for_user(user=user)
    )


def alert_get_for_user(*, user: Any, pk: int) -> Alert:
    """One alert with its model and version; DoesNotExist (a 404) when missing or
    not visible."""
    return (
        alert_list_for_user(user=user)
        .select_related("model", "model_version")
        .get(pk=pk)
    )
