"""Monitoring: monitors, reports, and what a breach does.

A report reads the hourly rollups (never the predictions), feeds the counts to the
pure metric modules (:mod:`~audits.monitoring.fairness`, :mod:`~audits.monitoring.drift`)
and stores the result on its row, whose status the browser and the API poll. A
breach raises one deduplicated alert, notifies by email and webhook, and, as the
monitor's action says, opens a finding and puts the approval under review or
revokes it (which makes the gate deny and names the rollback target).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from audits import services as audit_services
from audits.integrity import commit as integrity
from audits.ledger import alerts
from audits.ledger.models import Alert
from audits.monitoring import config, drift, fairness, figures, rollup, selectors
from audits.monitoring.models import (
    Monitor,
    MonitoringReport,
    ReportKind,
    ReportStatus,
    RollupMark,
)
from governance.choices import RequestState, Role
from governance.models import ApprovalPolicy, Finding, ReleaseRequest
from governance.services import notifications
from governance.services import workflow as workflow_services
from registry.models import ModelVersion

logger = logging.getLogger(__name__)

PERM_CHANGE = "audits.change_monitoring"
MAX_WINDOW = timedelta(days=366)
MONITOR_TASK = "audits.monitor_run"
INTEGRITY_ALERT = "monitoring.integrity"
EDITABLE = (
    "is_enabled",
    "kinds",
    "schedule",
    "window",
    "protected_attributes",
    "reference_groups",
    "favourable_decisions",
    "favourable_outcomes",
    "thresholds",
    "min_samples",
    "expected_predictions",
    "action_on_breach",
)


# --- monitors -----------------------------------------------------------------------


def _policy_overrides(version: ModelVersion) -> dict[str, Any]:
    policy = ApprovalPolicy.objects.filter(
        risk_tier=version.model.risk_tier, is_active=True
    ).first()
    return dict(policy.monitoring) if policy and policy.monitoring else {}


def _check(monitor: Monitor) -> None:
    errors: dict[str, list[str]] = {}
    kinds = monitor.kinds
    if (
        not isinstance(kinds, list)
        or not kinds
        or any(k not in config.KINDS for k in kinds)
    ):
        errors["kinds"] = [f"A non-empty list of: {', '.join(config.KINDS)}."]
    if cron := config.cron_errors(monitor.schedule or ""):
        errors["schedule"] = cron
    if monitor.window not in config.WINDOWS:
        errors["window"] = [f"One of: {', '.join(config.WINDOWS)}."]
    if monitor.action_on_breach not in config.ACTIONS:
        errors["action_on_breach"] = [f"One of: {', '.join(config.ACTIONS)}."]
    for name in ("protected_attributes", "favourable_decisions", "favourable_outcomes"):
        value = getattr(monitor, name)
        if not isinstance(value, list) or not all(
            isinstance(v, str) and v for v in value
        ):
            errors[name] = ["A list of non-empty strings."]
    if not monitor.favourable_decisions:
        errors.setdefault("favourable_decisions", ["At least one decision label."])
    refs = monitor.reference_groups
    if not isinstance(refs, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in refs.items()
    ):
        errors["reference_groups"] = ["An object of attribute -> group label."]
    elif unknown := set(refs) - set(monitor.protected_attributes or []):
        errors["reference_groups"] = [
            f"Not a monitored attribute: {', '.join(sorted(unknown))}."
        ]
    if th := config.threshold_errors(monitor.thresholds):
        errors["thresholds"] = th
    if monitor.min_samples < 1:
        errors["min_samples"] = ["At least 1."]
    if errors:
        raise ValidationError(errors)


def _crontab(expression: str) -> CrontabSchedule:
    minute, hour, day, month, weekday = expression.split()
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day,
        month_of_year=month,
        day_of_week=weekday,
        timezone="UTC",
    )
    return schedule


def _sync_schedule(monitor: Monitor) -> None:
    """Keep the monitor's beat entry (django-celery-beat) in step with the row."""
    crontab = _crontab(monitor.schedule)
    task = monitor.periodic_task
    if task is None:
        task = PeriodicTask.objects.create(
            name=f"monitor {monitor.pk}: {monitor.model_version} in {monitor.environment}",
            task=MONITOR_TASK,
            crontab=crontab,
            args=json.dumps([monitor.pk]),
            enabled=monitor.is_enabled,
        )
        monitor.periodic_task = task
        monitor.save(update_fields=["periodic_task"])
        return
    if task.crontab_id != crontab.pk:
        # Beat counts a never-run task from date_changed: without this, a changed
        # schedule could fire at once.
        task.last_run_at = None
    task.crontab = crontab
    task.enabled = monitor.is_enabled
    task.save(update_fields=["crontab", "enabled", "last_run_at", "date_changed"])


def monitor_settings_for(version: ModelVersion) -> dict[str, Any]:
    """The defaults a new monitor of ``version`` gets (tier, then policy overrides)."""
    return config.monitor_defaults(
        risk_tier=version.model.risk_tier,
        protected_attributes=list(version.protected_attributes or []),
        overrides=_policy_overrides(version),
    )


@transaction.atomic
def monitor_ensure(
    *, version: ModelVersion, environment: str, actor: Any = None
) -> Monitor:
    """The monitor of ``version`` in ``environment``, created with the tier's
    defaults and a beat schedule if there is none. Audited as
    ``audits.monitor.created`` when it creates one."""
    existing = Monitor.objects.filter(
        model_version=version, environment=environment
    ).first()
    if existing is not None:
        return existing
    monitor = Monitor(
        model_version=version,
        environment=environment,
        updated_by=actor,
        **monitor_settings_for(version),
    )
    _check(monitor)
    monitor.save()
    integrity.record_commit(monitor)
    _sync_schedule(monitor)
    audit_services.audit_event_record(
        actor=actor,
        event_type="audits.monitor.created",
        obj=monitor,
        payload={
            "model": version.model.slug,
            "version": version.version,
            "environment": environment,
            "schedule": monitor.schedule,
        },
    )
    return monitor


@transaction.atomic(durable=True)
def monitor_update(
    *, actor: Any, monitor: Monitor, changes: Mapping[str, Any]
) -> Monitor:
    """A risk officer edits a monitor; the beat schedule follows.

    Raises PermissionDenied without ``audits.change_monitoring`` and
    ValidationError naming each bad field (nothing is saved then). Audited as
    ``audits.monitor.changed`` with the old and new values."""
    if not actor.has_perm(PERM_CHANGE):
        raise PermissionDenied("Only a risk officer may change a monitor.")
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValidationError({k: ["Not an editable field."] for k in sorted(unknown)})
    monitor = Monitor.objects.select_for_update().get(pk=monitor.pk)
    before = {k: getattr(monitor, k) for k in changes}
    for key, value in changes.items():
        if key == "thresholds" and isinstance(value, Mapping):
            value = {**config.DEFAULT_THRESHOLDS, **monitor.thresholds, **value}
        setattr(monitor, key, value)
    _check(monitor)
    monitor.updated_at = timezone.now()
    monitor.updated_by = actor
    monitor.save()
    integrity.record_commit(monitor)
    _sync_schedule(monitor)
    audit_services.audit_event_record(
        actor=actor,
        event_type="audits.monitor.changed",
        obj=monitor,
        payload={
            "before": before,
            "after": {k: getattr(monitor, k) for k in changes},
        },
    )
    return monitor


# --- reports ------------------------------------------------------------------------


def _aligned(moment: datetime) -> bool:
    return moment.minute == 0 and moment.second == 0 and moment.microsecond == 0


def _window_errors(start: Any, end: Any, now: datetime) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for name, value in (("window_start", start), ("window_end", end)):
        if not isinstance(value, datetime) or value.tzinfo is None:
            errors[name] = ["A date-time with a time zone, on the hour."]
        elif not _aligned(value):
            errors[name] = ["Must fall on the hour: reports cover whole UTC hours."]
    if errors:
        return errors
    if end <= start:
        errors["window_end"] = ["Must be after window_start."]
    elif end - start > MAX_WINDOW:
        errors["window_end"] = ["A window covers at most 366 days."]
    elif end > config.hour_floor(now) + timedelta(hours=1):
        errors["window_end"] = ["Must not be after the end of the current hour."]
    return errors


def _report_config(version: ModelVersion, monitor: Monitor | None) -> dict[str, Any]:
    if monitor is not None:
        return {k: getattr(monitor, k) for k in EDITABLE if k != "is_enabled"}
    return monitor_settings_for(version)


@transaction.atomic
def report_request(
    *,
    actor: Any,
    version: ModelVersion,
    environment: str,
    kind: str,
    window_start: Any,
    window_end: Any,
    trigger: str = "api",
) -> MonitoringReport:
    """Queue one report over ``[window_start, window_end)``; the task runs it.

    Raises PermissionDenied without ``audits.change_monitoring`` and
    ValidationError naming the bad field. Audited as ``audits.report.requested``;
    the task is sent after commit."""
    if not actor.has_perm(PERM_CHANGE):
        raise PermissionDenied("Only a risk officer may run a report.")
    errors: dict[str, list[str]] = {}
    if kind not in ReportKind.values:
        errors["kind"] = [f"One of: {', '.join(ReportKind.values)}."]
    if environment not in settings.MODELGOV_ENVIRONMENTS:
        errors["environment"] = [
            f"One of: {', '.join(settings.MODELGOV_ENVIRONMENTS)}."
        ]
    errors.update(_window_errors(window_start, window_end, timezone.now()))
    if errors:
        raise ValidationError(errors)
    monitor = Monitor.objects.filter(
        model_version=version, environment=environment
    ).first()
    report = MonitoringReport.objects.create(
        model_version=version,
        environment=environment,
        monitor=monitor,
        kind=kind,
        window_start=window_start,
        window_end=window_end,
        trigger=trigger,
        config=_report_config(version, monitor),
        requested_by=actor,
    )
    integrity.record_commit(report)
    audit_services.audit_event_record(
        actor=actor,
        event_type="audits.report.requested",
        obj=report,
        payload={
            "model": version.model.slug,
            "version": version.version,
            "environment": environment,
            "kind": kind,
            "window_start": window_start.isoformat(),
            "window_end": window_end.isoformat(),
        },
    )
    transaction.on_commit(lambda: _enqueue_report(report.pk))
    return report


def _enqueue_report(report_id: int) -> None:
    from audits import tasks

    try:
        tasks.report_run_task.delay(report_id)
    except Exception:  # the row stays queued; monitor_run or a retry picks it up
        logger.exception("report %s was not queued", report_id)


def monitor_run(
    *, monitor_id: int, now: datetime | None = None
) -> list[MonitoringReport]:
    """Run a monitor's reports for its last complete window (the beat task).

    Idempotent: a window already reported (the same monitor, kind and bounds) is
    not computed again, so a retried or duplicated beat message changes nothing.
    """
    monitor = Monitor.objects.select_related("model_version__model").get(pk=monitor_id)
    if not monitor.is_enabled:
        return []
    start, end = config.window_bounds(monitor.window, now or timezone.now())
    reports = []
    for kind in monitor.kinds:
        try:
            with transaction.atomic():
                report, created = MonitoringReport.objects.get_or_create(
                    monitor=monitor,
                    kind=kind,
                    window_start=start,
                    window_end=end,
                    trigger="schedule",
                    defaults={
                        "model_version": monitor.model_version,
                        "environment": monitor.environment,
                        "config": _report_config(monitor.model_version, monitor),
                    },
                )
                if created:
                    integrity.record_commit(report)
        except IntegrityError:  # a concurrent run created it
            report = MonitoringReport.objects.get(
                monitor=monitor,
                kind=kind,
                window_start=start,
                window_end=end,
                trigger="schedule",
            )
        reports.append(report_run(report_id=report.pk))
    return reports


def report_run(*, report_id: int) -> MonitoringReport:
    """Compute a queued report and act on its breaches.

    Idempotent: a finished report is returned as it is. The rollups are brought up
    to the ledger head first, so the report covers every sequenced prediction; the
    mark it read is stored as ``as_of_seq``. A failure is stored on the row
    (status failed, the error text) and re-raised.
    """
    with transaction.atomic():
        report = MonitoringReport.objects.select_for_update().get(pk=report_id)
        if report.is_finished or report.status == ReportStatus.RUNNING:
            return report
        report.status = ReportStatus.RUNNING
        report.started_at = timezone.now()
        report.save(update_fields=["status", "started_at"])
        integrity.record_commit(report)
    try:
        rollup.rollup_catch_up()
        with transaction.atomic():
            report = MonitoringReport.objects.select_for_update().get(pk=report_id)
            _compute(report)
            report.charts = figures.draw(report)
            report.status = ReportStatus.DONE
            report.finished_at = timezone.now()
            report.save(
                update_fields=[
                    "status",
                    "finished_at",
                    "metrics",
                    "breaches",
                    "charts",
                    "predictions",
                    "as_of_seq",
                ]
            )
            integrity.record_commit(report)
            _act(report)
    except Exception as exc:
        with transaction.atomic():
            MonitoringReport.objects.filter(pk=report_id).update(
                status=ReportStatus.FAILED,
                error=f"{type(exc).__name__}: {exc}"[:2000],
                finished_at=timezone.now(),
            )
            integrity.record_commit(MonitoringReport.objects.get(pk=report_id))
        raise
    return report


# --- computing ----------------------------------------------------------------------


def fairness_cells(
    decisions: Sequence[tuple[str, str, int]],
    outcomes: Sequence[tuple[str, str, str, int]],
    *,
    attributes: Sequence[str],
    favourable_decisions: Sequence[str],
    favourable_outcomes: Sequence[str],
) -> tuple[pd.DataFrame, int]:
    """Rollup cells as fairness.py's input frame, and the count of predictions
    without a decision (left out)."""
    good_decisions = set(favourable_decisions)
    good_outcomes = set(favourable_outcomes)
    matured: dict[tuple[str, str], dict[float, int]] = {}
    for groups, decision, outcome, n in outcomes:
        y = 1.0 if outcome in good_outcomes else 0.0
        cell = matured.setdefault((groups, decision), {})
        cell[y] = cell.get(y, 0) + n
    rows: list[dict[str, Any]] = []
    undecided = 0
    for groups, decision, n in decisions:
        if decision == "":
            undecided += n
            continue
        values = rollup.groups_values(groups)
        base = {a: values.get(a) for a in attributes}
        d = 1 if decision in good_decisions else 0
        left = n
        for y, count in sorted(matured.get((groups, decision), {}).items()):
            count = min(count, left)
            if count:
                rows.append({**base, "decision": d, "outcome": y, "n": count})
                left -= count
        if left:
            rows.append({**base, "decision": d, "outcome": math.nan, "n": left})
    frame = pd.DataFrame(rows, columns=[*attributes, "decision", "outcome", "n"])
    return frame, undecided


def _counts(frame: pd.DataFrame, attributes: Sequence[str]) -> dict[str, Any]:
    """{"overall": {n, approved}, "by_group": {attr: {group: {n, approved}}},
    "missing": {attr: {n, approved}}}: the same groups as fairness.approval_drift's
    current window (a missing value is never a group of its own)."""
    out: dict[str, Any] = {
        "overall": {
            "n": int(frame["n"].sum()),
            "approved": int((frame["n"] * frame["decision"]).sum()),
        },
        "by_group": {},
        "missing": {},
    }
    for attr in attributes:
        groups: dict[str, dict[str, int]] = {}
        for value, part in frame.groupby(attr, dropna=True):
            groups[str(value)] = {
                "n": int(part["n"].sum()),
                "approved": int((part["n"] * part["decision"]).sum()),
            }
        out["by_group"][attr] = groups
        absent = frame[frame[attr].isna()]
        out["missing"][attr] = {
            "n": int(absent["n"].sum()),
            "approved": int((absent["n"] * absent["decision"]).sum()),
        }
    return out


def _series(
    report: MonitoringReport,
    cfg: Mapping[str, Any],
    references: Mapping[str, str | None],
) -> dict[str, Any]:
    """Approval rate and AIR per group per hour (windows up to 2 days) or day."""
    by_hour = report.window_end - report.window_start <= timedelta(hours=48)
    rows = selectors.decision_series(
        version_id=report.model_version_id,
        environment=report.environment,
        start=report.window_start,
        end=report.window_end,
        by_hour=by_hour,
    )
    good = set(cfg["favourable_decisions"])
    min_samples = int(cfg["min_samples"])
    periods: list[datetime] = sorted({r[0] for r in rows})
    index = {p: i for i, p in enumerate(periods)}
    counts: dict[str, dict[str, list[list[int]]]] = {}
    for period, groups, decision, n in rows:
        if decision == "":
            continue
        values = rollup.groups_values(groups)
        for attr in cfg["protected_attributes"]:
            group = values.get(attr)
            if group is None:
                continue
            slots = counts.setdefault(attr, {}).setdefault(
                group, [[0, 0] for _ in periods]
            )
            slots[index[period]][0] += n
            if decision in good:
                slots[index[period]][1] += n
    rates: dict[str, dict[str, list[float | None]]] = {}
    air: dict[str, dict[str, list[float | None]]] = {}
    for attr, by_group in counts.items():
        rates[attr] = {
            g: [a / n if n else None for n, a in slots] for g, slots in by_group.items()
        }
        ref = references.get(attr)
        ref_slots = by_group.get(ref) if ref else None
        air[attr] = {}
        for g, slots in by_group.items():
            values_air: list[float | None] = []
            for i, (n, a) in enumerate(slots):
                rn, ra = ref_slots[i] if ref_slots else (0, 0)
                if n < min_samples or rn < min_samples or ra == 0:
                    values_air.append(None)
                else:
                    values_air.append((a / n) / (ra / rn))
            air[attr][g] = values_air
    return {
        "period": "hour" if by_hour else "day",
        "periods": [p.isoformat() for p in periods],
        "approval_rate": rates,
        "air": air,
    }


def _compute(report: MonitoringReport) -> None:
    version = report.model_version
    cfg = report.config
    thresholds = {**config.DEFAULT_THRESHOLDS, **(cfg.get("thresholds") or {})}
    window: dict[str, Any] = {
        "version_id": report.model_version_id,
        "environment": report.environment,
        "start": report.window_start,
        "end": report.window_end,
    }
    baseline = version.baseline or {}
    report.as_of_seq = RollupMark.objects.values_list("seq", flat=True).first() or 0
    report.predictions = selectors.predictions_in_window(**window)
    min_samples = int(cfg.get("min_samples", 30))
    attributes = list(cfg.get("protected_attributes") or [])
    breaches: list[dict[str, Any]] = []
    if report.kind == ReportKind.FAIRNESS:
        frame, undecided = fairness_cells(
            selectors.decision_cells(**window),
            selectors.outcome_cells(**window),
            attributes=attributes,
            favourable_decisions=cfg["favourable_decisions"],
            favourable_outcomes=cfg.get("favourable_outcomes") or [],
        )
        prev_start, prev_end = config.previous_window(
            report.window_start, report.window_end
        )
        prev_frame, _ = fairness_cells(
            selectors.decision_cells(
                **{**window, "start": prev_start, "end": prev_end}
            ),
            [],
            attributes=attributes,
            favourable_decisions=cfg["favourable_decisions"],
            favourable_outcomes=[],
        )
        previous = []
        if len(prev_frame):
            previous.append(
                {
                    "window_start": prev_start.isoformat(),
                    "window_end": prev_end.isoformat(),
                    **_counts(prev_frame, attributes),
                }
            )
        result: dict[str, Any] = {"undecided": undecided, "attributes": attributes}
        if len(frame) and attributes:
            fair = fairness.fairness_report(
                frame,
                attributes=attributes,
                reference=cfg.get("reference_groups") or None,
                min_samples=min_samples,
                air_threshold=thresholds["air"],
                air_watch=thresholds["air_watch"],
                alpha=thresholds["alpha"],
            )
            result["fairness"] = fair
            breaches += fair["breaches"]
            references = {
                attr: entry.get("reference")
                for attr, entry in fair["by_attribute"].items()
            }
        else:
            result["fairness"] = None
            references = {}
        if len(frame):
            approval = fairness.approval_drift(
                frame,
                attributes=attributes,
                baseline=baseline.get("approval_rate"),
                previous=previous,
                relative_threshold=thresholds["approval_relative_change"],
                min_samples=min_samples,
                alpha=thresholds["alpha"],
            )
            result["approval_drift"] = approval
            breaches += [
                {**b, "metric": b.get("metric", "approval_rate")}
                for b in approval["breaches"]
            ]
        else:
            result["approval_drift"] = None
        result["series"] = _series(
            report, {**cfg, "min_samples": min_samples}, references
        )
        result["baseline_approval_rate"] = baseline.get("approval_rate")
        report.metrics = result
    elif report.kind == ReportKind.DRIFT:
        features = baseline.get("features") or {}
        result = drift.feature_drift(
            features,
            selectors.feature_counts(**window),
            watch=thresholds["psi_watch"],
            breach=thresholds["psi_breach"],
            baseline_n=baseline.get("n"),
        )
        report.metrics = result
        breaches += result["breaches"]
    else:
        favourable = set(cfg.get("favourable_outcomes") or [])
        rows = selectors.score_cells(**window)
        cells = pd.DataFrame(
            [
                {
                    "score": score,
                    "outcome": 1 if outcome in favourable else 0,
                    "n": n,
                    "score_sum": total,
                }
                for score, outcome, n, total in rows
            ],
            columns=["score", "outcome", "n", "score_sum"],
        )
        if len(cells):
            cells = cells.groupby(["score", "outcome"], as_index=False).sum()
        result = drift.performance(
            cells,
            baseline=baseline.get("performance"),
            gini_drop_abs=thresholds["gini_drop_abs"],
            gini_drop_rel=thresholds["gini_drop_rel"],
            ks_drop_rel=thresholds["ks_drop_rel"],
            min_samples=max(min_samples, 1),
        )
        report.metrics = result
        breaches += result["breaches"]
    report.breaches = breaches
    report.metrics = {
        **(report.metrics or {}),
        "integrity": selectors.integrity_failures(**window),
    }


# --- breaches -----------------------------------------------------------------------


def _approval_in_force(
    version: ModelVersion, environment: str
) -> ReleaseRequest | None:
    now = timezone.now()
    for request in ReleaseRequest.objects.filter(
        model_version=version, state=RequestState.APPROVED, expires_at__gt=now
    ).order_by("-approved_at"):
        if environment in request.environments:
            return request
    return None


def alert_raise(
    *,
    kind: str,
    version: ModelVersion,
    environment: str,
    message: str,
    details: dict[str, Any],
    severity: str = "high",
    report: MonitoringReport | None = None,
) -> tuple[Alert, bool]:
    """The open alert of ``kind`` for the version, counted once more, or a new one.

    Returns (alert, created). Deduplicated by the one-open-alert constraint, so a
    breach that persists over many windows is one alert with many occurrences;
    each occurrence is an insert-only row with this ``message`` and ``details``
    and the ``report`` that saw it (the alert row shows the latest)."""
    raised = alerts.alert_occurrence_record(
        kind=kind,
        model_id=version.model_id,
        environment=environment,
        version_id=version.pk,
        message=message,
        details=details,
        severity=severity,
        now=timezone.now(),
        report_id=report.pk if report is not None else None,
    )
    return raised.alert, raised.created


def _summary(breaches: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for b in breaches[:5]:
        where = b.get("group") or b.get("feature") or b.get("attribute") or "overall"
        value = b.get("value", b.get("relative_change"))
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        parts.append(f"{b.get('metric')} {where}: {shown}")
    more = f" (+{len(breaches) - 5} more)" if len(breaches) > 5 else ""
    return "; ".join(parts) + more


def _integrity_alert(report: MonitoringReport, source: Mapping[str, Any]) -> None:
    """An alert when the report's window holds predictions left out for failing an
    integrity check (their protected attributes, their leaf or their outcome)."""
    integrity = (report.metrics or {}).get("integrity") or {}
    failed = int(integrity.get("failed") or 0)
    if not failed:
        return
    version = report.model_version
    ids = list(integrity.get("prediction_ids") or [])
    shown = ", ".join(ids[:5]) + (" …" if failed > 5 else "")
    alert, created = alert_raise(
        kind=INTEGRITY_ALERT,
        version=version,
        environment=report.environment,
        message=(
            f"{failed} prediction{'' if failed == 1 else 's'} of {version} in "
            f"{report.environment} between {report.window_start:%Y-%m-%d %H:%M} and "
            f"{report.window_end:%Y-%m-%d %H:%M} UTC failed an integrity check and "
            f"{'was' if failed == 1 else 'were'} left out of the "
            f"{report.get_kind_display().lower()} report: {shown}"
        ),
        details={**source, **integrity},
        report=report,
    )
    if created:
        transaction.on_commit(lambda: _enqueue_alert(alert.pk))
        audit_services.audit_event_record(
            actor=None,
            event_type="audits.monitoring.integrity_failed",
            obj=alert,
            payload={**source, "kind": report.kind, "failed": failed},
        )


def _act(report: MonitoringReport) -> None:
    """Alerts, notifications, finding and approval action for a finished report."""
    version = report.model_version
    monitor = report.monitor
    source = {
        "report": report.pk,
        "window_start": report.window_start.isoformat(),
        "window_end": report.window_end.isoformat(),
    }
    expected = monitor.expected_predictions if monitor else 0
    if monitor is not None and expected and (report.predictions or 0) < expected:
        alert, created = alert_raise(
            kind="monitoring.missing_data",
            version=version,
            environment=report.environment,
            message=(
                f"{report.predictions or 0} predictions of {version} in "
                f"{report.environment} between {report.window_start:%Y-%m-%d %H:%M} "
                f"and {report.window_end:%Y-%m-%d %H:%M} UTC; at least {expected} "
                "were expected."
            ),
            details=source,
            severity="medium",
            report=report,
        )
        if created:
            transaction.on_commit(lambda: _enqueue_alert(alert.pk))
    _integrity_alert(report, source)
    if not report.breaches:
        return
    action = monitor.action_on_breach if monitor else "alert"
    message = (
        f"{report.get_kind_display()} breach for {version} in {report.environment} "
        f"({report.window_start:%Y-%m-%d %H:%M} to {report.window_end:%Y-%m-%d %H:%M} "
        f"UTC): {_summary(report.breaches)}"
    )
    alert, created = alert_raise(
        kind=f"monitoring.{report.kind}",
        version=version,
        environment=report.environment,
        message=message,
        details={**source, "breaches": report.breaches[:20], "action": action},
        report=report,
    )
    if not created:
        return
    transaction.on_commit(lambda: _enqueue_alert(alert.pk))
    audit_services.audit_event_record(
        actor=None,
        event_type="audits.monitoring.breach",
        obj=alert,
        payload={
            **source,
            "kind": report.kind,
            "action": action,
            "breaches": len(report.breaches),
        },
    )
    if action == "alert":
        return
    finding = Finding.objects.create(
        model_version=version,
        severity=config.FINDING_SEVERITY[action],
        title=f"Monitoring breach: {report.get_kind_display()} ({report.environment})"[
            :300
        ],
        description=(
            f"{message}\n\nRaised by monitoring from report {report.pk} "
            f"(alert {alert.pk})."
        ),
        sr_section="SR 11-7 ongoing monitoring",
        raised_by=None,
    )
    integrity.record_commit(finding)
    audit_services.audit_event_record(
        actor=None,
        event_type="governance.finding.raised",
        obj=finding,
        payload={
            "version": str(version),
            "severity": finding.severity,
            "title": finding.title,
            "by": "monitoring",
            **source,
        },
    )
    approval = _approval_in_force(version, report.environment)
    if approval is None:
        return
    reason = (
        f"Monitoring breach (report {report.pk}, finding F-{finding.pk}): {message}"
    )
    if action == "revoke":
        workflow_services.release_request_revoke_by_monitoring(
            request=approval, reason=reason, source=source
        )
    else:
        workflow_services.release_request_put_under_review(
            request=approval, reason=reason, source=source
        )


def _enqueue_alert(alert_id: int) -> None:
    from audits import tasks

    try:
        tasks.alert_notify_task.delay(alert_id)
    except Exception:
        logger.exception("notification of alert %s was not sent", alert_id)


def alert_notify(*, alert_id: int) -> None:
    """Email the risk officers (and the model's owner) and POST the webhook.

    Email errors propagate so the task can retry; webhook failures are logged."""
    alert = Alert.objects.select_related("model__owner", "model_version").get(
        pk=alert_id
    )
    users = get_user_model().objects.filter(groups__name=Role.RISK_OFFICER)
    recipients = {u.email.strip() for u in users if u.is_active and u.email.strip()}
    owner = alert.model.owner
    if owner is not None and owner.is_active and owner.email.strip():
        recipients.add(owner.email.strip())
    subject = f"[modelgov] {alert.severity} alert: {alert.kind} on {alert.model_version or alert.model}"
    if recipients:
        send_mail(
            subject=subject[:200],
            message=alert.message + "\n",
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=sorted(recipients),
        )
    url = getattr(settings, "MODELGOV_NOTIFY_WEBHOOK_URL", "")
    if url:
        notifications._post_webhook(
            url,
            {
                "event": "alert",
                "alert": alert.pk,
                "kind": alert.kind,
                "severity": alert.severity,
                "model": alert.model.slug,
                "version": alert.model_version.version if alert.model_version else None,
                "environment": alert.environment,
                "message": alert.message,
                "details": alert.details,
            },
        )
