"""The charts of a monitoring report, drawn once, when the report finishes.

:func:`draw` turns a finished report's metrics and settings into its charts (SVG
from :mod:`audits.monitoring.charts`), by name:

- a fairness report: ``approval_rate:<attribute>`` and ``air:<attribute>`` for
  each protected attribute;
- a drift report: ``psi``;
- a performance report: ``calibration``.

``report_run`` stores them on the report (``MonitoringReport.charts``), so the
report page and the evidence packs show the charts as they were drawn when the
report ran, and a pack of a quarter's reports does not redraw hundreds of charts
(about 75 ms each). :func:`report_charts` gives the stored charts, or draws them
for a report that finished before charts were stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from audits.monitoring import charts, config
from audits.monitoring.models import MonitoringReport, ReportKind

PSI_TITLE = "Population stability index per feature"
CALIBRATION_TITLE = "Calibration: observed against predicted, per score decile"


def thresholds_of(report: MonitoringReport) -> dict[str, float]:
    """The report's thresholds: its configured ones over the defaults."""
    configured = (report.config or {}).get("thresholds") or {}
    return {**config.DEFAULT_THRESHOLDS, **configured}


def fairness_attributes(metrics: Mapping[str, Any]) -> list[str]:
    """The protected attributes a fairness report has charts for, in order."""
    series = metrics.get("series") or {}
    return list(metrics.get("attributes") or series.get("approval_rate") or {})


def _fairness(report: MonitoringReport) -> dict[str, str]:
    metrics = report.metrics or {}
    thresholds = thresholds_of(report)
    min_samples = (report.config or {}).get("min_samples", 30)
    series = metrics.get("series") or {}
    periods = [datetime.fromisoformat(p) for p in series.get("periods") or []]
    per = "hour" if series.get("period") == "hour" else "day"
    step = timedelta(hours=1) if per == "hour" else timedelta(days=1)
    rates_by_attribute = series.get("approval_rate") or {}
    air_by_attribute = series.get("air") or {}
    baseline = (metrics.get("baseline_approval_rate") or {}).get("by_group") or {}
    drawn: dict[str, str] = {}
    for attribute in fairness_attributes(metrics):
        rates = rates_by_attribute.get(attribute) or {}
        airs = air_by_attribute.get(attribute) or {}
        title = f"Approval rate by {attribute}, per {per}"
        if rates and periods:
            drawn[f"approval_rate:{attribute}"] = charts.approval_rate_chart(
                {g: list(zip(periods, v, strict=False)) for g, v in rates.items()},
                baseline={
                    str(g): float(r) for g, r in baseline.get(attribute, {}).items()
                }
                or None,
                band=float(thresholds["approval_relative_change"]),
                title=title,
                step=step,
            )
        else:
            drawn[f"approval_rate:{attribute}"] = charts.empty_chart(
                f"No predictions with a value of {attribute} in this window.",
                title=title,
            )
        air_title = f"Adverse impact ratio by {attribute}, per {per}"
        if airs and periods and any(v is not None for vs in airs.values() for v in vs):
            drawn[f"air:{attribute}"] = charts.air_chart(
                {g: list(zip(periods, v, strict=False)) for g, v in airs.items()},
                threshold=float(thresholds["air"]),
                title=air_title,
                step=step,
            )
        else:
            drawn[f"air:{attribute}"] = charts.empty_chart(
                "Not enough predictions per period to compute an AIR "
                f"(at least {min_samples} per group "
                "and the reference group approving some).",
                title=air_title,
            )
    return drawn


def _drift(report: MonitoringReport) -> dict[str, str]:
    metrics = report.metrics or {}
    thresholds = thresholds_of(report)
    stored = metrics.get("settings") or {}
    features = list(metrics.get("features") or [])
    if not features:
        return {
            "psi": charts.empty_chart(
                "The version has no baseline feature distributions to compare with.",
                title=PSI_TITLE,
            )
        }
    return {
        "psi": charts.psi_chart(
            {f["feature"]: f.get("psi") for f in features},
            watch=float(stored.get("watch", thresholds["psi_watch"])),
            breach=float(stored.get("breach", thresholds["psi_breach"])),
            title=PSI_TITLE,
        )
    }


def _performance(report: MonitoringReport) -> dict[str, str]:
    calibration = list((report.metrics or {}).get("calibration") or [])
    if not calibration:
        return {
            "calibration": charts.empty_chart(
                "No matured predictions in this window: calibration needs outcomes.",
                title=CALIBRATION_TITLE,
            )
        }
    return {
        "calibration": charts.calibration_chart(calibration, title=CALIBRATION_TITLE)
    }


DRAW = {
    ReportKind.FAIRNESS: _fairness,
    ReportKind.DRIFT: _drift,
    ReportKind.PERFORMANCE: _performance,
}


def draw(report: MonitoringReport) -> dict[str, str]:
    """The charts of ``report`` (its metrics computed), by name."""
    return DRAW[ReportKind(report.kind)](report)


def report_charts(report: MonitoringReport) -> dict[str, str]:
    """The charts stored with ``report`` when it finished, or, for a report that
    finished before charts were stored, the charts drawn now."""
    return dict(report.charts) if report.charts else draw(report)
