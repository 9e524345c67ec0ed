"""Monitoring pages, under /audits/: the overview of monitored versions, one report,
the reports of a version (with the on-demand run form) and the monitor editor.

The pages only read through the selectors (objects out of scope are 404) and write
through the services, which decide: a refused run or edit is a 403, a rejected value
is shown next to its field. The metrics are rendered as stored on the report; the
charts are inline SVG from :mod:`audits.monitoring.charts`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, F, Prefetch, QuerySet, Window
from django.db.models.functions import RowNumber
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_http_methods

from audits.integrity import verify as integrity
from audits.ledger.models import Alert, AlertOccurrence
from audits.monitoring import config, fairness, figures, selectors, services
from audits.monitoring.models import (
    BreachAction,
    IntegrityCheck,
    Monitor,
    MonitoringReport,
    ReportKind,
    ReportStatus,
    WindowKind,
)
from governance.choices import RequestState
from governance.models import ReleaseRequest
from governance.views import page
from registry.models import ModelVersion

PERM_VIEW = "audits.view_monitoringreport"
PERM_ALERTS = "audits.view_alert"
PERM_CHANGE = services.PERM_CHANGE
OPEN_ALERTS_SHOWN = 50
OCCURRENCES_SHOWN = 5
ALERT_OCCURRENCES_SHOWN = 500
REPORTS_SHOWN = 100
PAGE_CACHE_VERSION = 2
PAGE_CACHE_SECONDS = 24 * 3600
DASH = "—"


# --- Formatting -------------------------------------------------------------------


def _pct(value: Any, digits: int = 1) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return DASH
    return f"{value * 100:.{digits}f} %"


def _num(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return DASH
    return f"{value:.{digits}f}"


def _p_value(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return DASH
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _signed_pct(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return DASH
    return f"{value * 100:+.1f} %"


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _svg(markup: str) -> SafeString:
    # Matplotlib's SVG backend escapes every text it writes (group and feature
    # names included), and the chart module escapes the title it adds.
    return mark_safe(markup)


# --- Access -----------------------------------------------------------------------


def _require_view(user: Any) -> None:
    if not user.has_perm(PERM_VIEW):
        raise PermissionDenied("Your role may not see monitoring reports.")


def _version_get(user: Any, version_id: int) -> ModelVersion:
    version = (
        selectors.visible_versions(user=user)
        .select_related("model")
        .filter(pk=version_id)
        .first()
    )
    if version is None:
        raise Http404
    return version


def _report_get(user: Any, pk: int) -> MonitoringReport:
    try:
        return selectors.report_get_for_user(user=user, pk=pk)
    except MonitoringReport.DoesNotExist:
        raise Http404 from None


def _monitor_get(user: Any, pk: int) -> Monitor:
    monitor = selectors.monitor_list_for_user(user=user).filter(pk=pk).first()
    if monitor is None:
        raise Http404
    return monitor


def _errors_to_form(
    form: forms.Form, exc: ValidationError, fields: Mapping[str, str | None]
) -> None:
    """Put a service's ValidationError messages next to the fields they name."""
    if not hasattr(exc, "error_dict"):
        for message in exc.messages:
            form.add_error(None, message)
        return
    for key, errors in exc.message_dict.items():
        for message in errors:
            form.add_error(fields.get(key), message)


# --- Overview ---------------------------------------------------------------------


@dataclass(frozen=True)
class Approval:
    state: str
    label: str
    request: ReleaseRequest | None


@dataclass(frozen=True)
class MonitorRow:
    monitor: Monitor
    latest: list[tuple[str, MonitoringReport | None]]
    open_alerts: int
    approval: Approval


def _approval(requests: Sequence[ReleaseRequest], environment: str) -> Approval:
    """The latest approval decision that covers ``environment``."""
    for rr in requests:
        if environment not in rr.environments:
            continue
        if rr.state == RequestState.APPROVED and rr.under_review_at:
            return Approval("under_review", "Approved, under review", rr)
        if rr.state == RequestState.APPROVED:
            return Approval("approved", "Approved", rr)
        labels = dict(RequestState.choices)
        return Approval(rr.state, labels.get(rr.state, rr.state), rr)
    return Approval("none", "No approval", None)


def _latest_reports(
    user: Any, version_ids: Sequence[int]
) -> dict[tuple[int, str, str], MonitoringReport]:
    """The newest report of each (version, environment, kind).

    A window function rather than PostgreSQL's ``DISTINCT ON``, so the demo's SQLite
    database gives the same answer (ADR 0020).
    """
    latest = (
        selectors.report_list_for_user(user=user)
        .filter(model_version_id__in=version_ids)
        .annotate(
            newest=Window(
                RowNumber(),
                partition_by=[F("model_version_id"), F("environment"), F("kind")],
                order_by=[F("window_end").desc(), F("id").desc()],
            )
        )
        .filter(newest=1)
    )
    return {(r.model_version_id, r.environment, r.kind): r for r in latest}


def _open_alerts(user: Any) -> QuerySet[Alert]:
    return selectors.alert_list_for_user(user=user).filter(is_open=True)


def _monitor_rows(user: Any, monitors: Sequence[Monitor]) -> list[MonitorRow]:
    version_ids = sorted({m.model_version_id for m in monitors})
    latest = _latest_reports(user, version_ids)
    alert_counts: dict[tuple[int | None, str], int] = {}
    if user.has_perm(PERM_ALERTS):
        counted = (
            _open_alerts(user)
            .filter(model_version_id__in=version_ids)
            .values("model_version_id", "environment")
            .annotate(total=Count("id"))
        )
        alert_counts = {
            (c["model_version_id"], c["environment"]): c["total"] for c in counted
        }
    requests: dict[int, list[ReleaseRequest]] = {}
    decided = ReleaseRequest.objects.filter(
        model_version_id__in=version_ids,
        state__in=[RequestState.APPROVED, RequestState.REVOKED, RequestState.EXPIRED],
    ).order_by("-approved_at", "-id")
    for rr in decided:
        requests.setdefault(rr.model_version_id, []).append(rr)
    return [
        MonitorRow(
            monitor=m,
            latest=[
                (kind, latest.get((m.model_version_id, m.environment, kind)))
                for kind in config.KINDS
            ],
            open_alerts=alert_counts.get((m.model_version_id, m.environment), 0),
            approval=_approval(requests.get(m.model_version_id, []), m.environment),
        )
        for m in monitors
    ]


@page
@require_GET
def monitoring(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    _require_view(user)
    monitors = list(selectors.monitor_list_for_user(user=user))
    can_see_alerts = user.has_perm(PERM_ALERTS)
    alerts = (
        list(
            _open_alerts(user)
            .select_related("model", "model_version")
            .prefetch_related(
                Prefetch(
                    "occurrence_records",
                    queryset=AlertOccurrence.objects.order_by("-occurred_at", "-id")[
                        :OCCURRENCES_SHOWN
                    ],
                    to_attr="latest_occurrences",
                )
            )
            .order_by("-last_seen_at", "-id")[:OPEN_ALERTS_SHOWN]
        )
        if can_see_alerts
        else []
    )
    # Monitors (their settings) and open alerts against their record leaves.
    verdicts = integrity.verdicts([*monitors, *alerts])
    return render(
        request,
        "audits/monitoring.html",
        {
            "rows": _monitor_rows(user, monitors),
            "kinds": [(k, ReportKind(k).label) for k in config.KINDS],
            "windows": dict(WindowKind.choices),
            "actions": dict(BreachAction.choices),
            "can_see_alerts": can_see_alerts,
            "can_change": user.has_perm(PERM_CHANGE),
            "alerts": alerts,
            "verdicts": verdicts,
            "alerts_shown": OPEN_ALERTS_SHOWN,
        },
    )


# --- One alert --------------------------------------------------------------------


def _occurrence_breaches(details: Any) -> list[str]:
    breaches = details.get("breaches") if isinstance(details, Mapping) else None
    return [_breach_message(b) for b in breaches or []]


@page
@require_GET
def alert(request: HttpRequest, pk: int) -> HttpResponse:
    """One alert and every occurrence of it, each with its own message and
    breaches (the alert row shows only the latest)."""
    user: Any = request.user
    _require_view(user)
    if not user.has_perm(PERM_ALERTS):
        raise PermissionDenied("Your role may not see alerts.")
    try:
        found = selectors.alert_get_for_user(user=user, pk=pk)
    except Alert.DoesNotExist:
        raise Http404 from None
    occurrences = list(
        found.occurrence_records.select_related("report").order_by(
            "-occurred_at", "-id"
        )[:ALERT_OCCURRENCES_SHOWN]
    )
    return render(
        request,
        "audits/alert.html",
        {
            "alert": found,
            "occurrences": [
                {
                    "occurrence": o,
                    "breaches": _occurrence_breaches(o.details),
                }
                for o in occurrences
            ],
            "recorded": found.occurrence_records.count(),
            "shown": ALERT_OCCURRENCES_SHOWN,
        },
    )


# --- One report -------------------------------------------------------------------


def _thresholds(report: MonitoringReport) -> dict[str, float]:
    return figures.thresholds_of(report)


def _group_row(group: Mapping[str, Any]) -> dict[str, Any]:
    ci = DASH
    if group.get("ci_low") is not None and group.get("ci_high") is not None:
        ci = f"{_pct(group['ci_low'])} – {_pct(group['ci_high'])}"
    return {
        "group": group.get("group", ""),
        "n": group.get("n"),
        "approved": group.get("approved"),
        "selection_rate": _pct(group.get("selection_rate")),
        "ci": ci,
        "tpr": _pct(group.get("tpr")),
        "fpr": _pct(group.get("fpr")),
        "precision": _pct(group.get("precision")),
        "air": _num(group.get("air")),
        "p_value": _p_value(group.get("air_p_value")),
        "status": group.get("status", ""),
        "note": group.get("note", ""),
    }


def _missing_row(entry: Mapping[str, Any]) -> dict[str, Any] | None:
    """The (missing) group's row: counts only. Reports computed before the row
    existed give their ``missing_n``."""
    missing = entry.get("missing")
    n = (missing or {}).get("n", entry.get("missing_n") or 0)
    if not n:
        return None
    return {
        "group": fairness.MISSING,
        "n": n,
        "approved": (missing or {}).get("approved", DASH),
        "selection_rate": _pct((missing or {}).get("selection_rate")),
        "status": "not_assessed",
        "note": (missing or {}).get("note")
        or "Predictions without a value of this attribute: shown, never assessed.",
    }


def _attribute_table(
    key: str, entry: Mapping[str, Any], min_samples: int
) -> dict[str, Any]:
    return {
        "key": key,
        "reference": entry.get("reference"),
        "reference_source": entry.get("reference_source"),
        "note": entry.get("note"),
        "missing": _missing_row(entry),
        "dpd": _num(entry.get("demographic_parity_difference")),
        "dpr": _num(entry.get("demographic_parity_ratio")),
        "eod": _num(entry.get("equalized_odds_difference")),
        "groups": [_group_row(g) for g in entry.get("groups") or []],
        "min_samples": min_samples,
        "dpd_left_out": list(entry.get("insufficient_groups") or []),
        "eod_left_out": entry.get("eod_left_out_groups"),
    }


def _integrity(report: MonitoringReport) -> dict[str, Any] | None:
    """What the report says of its inputs' integrity checks; None for a report
    computed before the rollups checked their inputs."""
    found = (report.metrics or {}).get("integrity")
    if not isinstance(found, Mapping):
        return None
    labels = dict(IntegrityCheck.choices)
    return {
        "failed": int(found.get("failed") or 0),
        "by_check": [
            (labels.get(check, check), n)
            for check, n in sorted((found.get("by_check") or {}).items())
        ],
        "prediction_ids": list(found.get("prediction_ids") or []),
    }


def _drift_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "scope": "Overall" if row.get("group") is None else row.get("scope"),
            "group": row.get("group") or "",
            "n": row.get("n"),
            "rate": _pct(row.get("rate")),
            "reference_rate": _pct(row.get("reference_rate")),
            "reference_n": row.get("reference_n"),
            "absolute_change": _signed_pct(row.get("absolute_change")),
            "relative_change": _signed_pct(row.get("relative_change")),
            "p_value": _p_value(row.get("p_value")),
            "status": row.get("status", ""),
            "status_label": str(row.get("status", "")).replace("_", " ").capitalize(),
            "message": row.get("message", ""),
        }
        for row in rows
    ]


def _fairness_charts(
    report: MonitoringReport,
    metrics: Mapping[str, Any],
    thresholds: Mapping[str, float],
) -> list[dict[str, Any]]:
    """One approval-rate chart and one AIR chart per protected attribute, as drawn
    when the report ran (:mod:`audits.monitoring.figures`), with their captions."""
    drawn = figures.report_charts(report)
    series = metrics.get("series") or {}
    per = "hour" if series.get("period") == "hour" else "day"
    baseline = (metrics.get("baseline_approval_rate") or {}).get("by_group") or {}
    band = float(thresholds["approval_relative_change"])
    air_line = float(thresholds["air"])
    out = []
    for attribute in figures.fairness_attributes(metrics):
        out.append(
            {
                "attribute": attribute,
                "rate_chart": _svg(drawn[f"approval_rate:{attribute}"]),
                "rate_caption": (
                    f"Share of favourable decisions per {per} for each {attribute} "
                    "group; the shaded band is the baseline rate "
                    f"± {band:.0%} (relative)."
                    if baseline.get(attribute)
                    else f"Share of favourable decisions per {per} for each "
                    f"{attribute} group; no baseline rate is recorded."
                ),
                "air_chart": _svg(drawn[f"air:{attribute}"]),
                "air_caption": (
                    f"Each group's selection rate over the reference group's, per "
                    f"{per}; the line at {air_line:g} is the four-fifths screening "
                    "threshold (a flag, not a finding of discrimination)."
                ),
            }
        )
    return out


def _fairness_context(report: MonitoringReport) -> dict[str, Any]:
    metrics = report.metrics or {}
    thresholds = _thresholds(report)
    fair = metrics.get("fairness")
    approval = metrics.get("approval_drift")
    overall = (fair or {}).get("overall") or {}
    previous = (approval or {}).get("previous_window") or {}
    min_samples = int(
        ((fair or {}).get("parameters") or {}).get("min_samples")
        or (report.config or {}).get("min_samples")
        or 30
    )
    return {
        "undecided": metrics.get("undecided") or 0,
        "attributes": list(metrics.get("attributes") or []),
        "figures": _fairness_charts(report, metrics, thresholds),
        "fairness": fair,
        "overall": {
            "n": overall.get("n"),
            "approved": overall.get("approved"),
            "selection_rate": _pct(overall.get("selection_rate")),
            "matured_n": overall.get("matured_n"),
            "tpr": _pct(overall.get("tpr")),
            "fpr": _pct(overall.get("fpr")),
            "precision": _pct(overall.get("precision")),
        },
        "tables": [
            _attribute_table(key, entry, min_samples)
            for key, entry in ((fair or {}).get("by_attribute") or {}).items()
        ],
        "min_samples": min_samples,
        "approval": approval,
        "drift_tables": [
            {
                "title": "Against the baseline",
                "rows": _drift_rows((approval or {}).get("vs_baseline") or []),
                "empty": "The version records no baseline approval rates.",
            },
            {
                "title": "Against the previous window",
                "rows": _drift_rows((approval or {}).get("vs_previous") or []),
                "start": _when(previous.get("window_start")),
                "end": _when(previous.get("window_end")),
                "empty": "No predictions in the previous window.",
            },
        ],
        "air_threshold": f"{thresholds['air']:g}",
        "air_watch": f"{thresholds['air_watch']:g}",
        "alpha": f"{thresholds['alpha']:g}",
        "relative_threshold": _pct(thresholds["approval_relative_change"], 0),
    }


def _drift_context(report: MonitoringReport) -> dict[str, Any]:
    metrics = report.metrics or {}
    thresholds = _thresholds(report)
    stored = metrics.get("settings") or {}
    watch = float(stored.get("watch", thresholds["psi_watch"]))
    breach = float(stored.get("breach", thresholds["psi_breach"]))
    features = list(metrics.get("features") or [])
    return {
        "chart": _svg(figures.report_charts(report)["psi"]),
        "watch": f"{watch:g}",
        "breach": f"{breach:g}",
        "min_samples": stored.get("min_samples"),
        "features": [
            {
                "feature": f.get("feature", ""),
                "type": f.get("type") or "",
                "n": f.get("n"),
                "missing_n": f.get("missing_n"),
                "psi": _num(f.get("psi")),
                "js_distance": _num(f.get("js_distance")),
                "p_value": _p_value(f.get("psi_p_value")),
                "status": f.get("status", ""),
                "bins": [
                    {
                        "label": b.get("range") or b.get("label", ""),
                        "expected": _pct(b.get("expected")),
                        "actual": _pct(b.get("actual")),
                        "count": b.get("count"),
                        "in_baseline": b.get("in_baseline", True),
                    }
                    for b in f.get("bins") or []
                ],
            }
            for f in features
        ],
    }


def _performance_context(report: MonitoringReport) -> dict[str, Any]:
    metrics = report.metrics or {}
    calibration = list(metrics.get("calibration") or [])
    chart = figures.report_charts(report)["calibration"]
    baseline = metrics.get("baseline") or {}
    changes = metrics.get("changes") or {}
    return {
        "n": metrics.get("n"),
        "positives": metrics.get("positives"),
        "status": metrics.get("status", ""),
        "chart": _svg(chart),
        "metrics": [
            {
                "name": name,
                "current": _num(metrics.get(key)),
                "baseline": _num(baseline.get(key)),
                "change": _num((changes.get(key) or {}).get("change")),
                "relative_change": _signed_pct(
                    (changes.get(key) or {}).get("relative_change")
                ),
            }
            for key, name in (("auc", "AUC"), ("gini", "Gini"), ("ks", "KS"))
        ],
        "deciles": [
            {
                "decile": row.get("decile"),
                "n": row.get("n"),
                "positives": row.get("positives"),
                "mean_predicted": _num(row.get("mean_predicted")),
                "observed_rate": _pct(row.get("observed_rate")),
                "score_range": f"{_num(row.get('score_min'))} – "
                f"{_num(row.get('score_max'))}",
            }
            for row in calibration
        ],
    }


def _breach_message(breach: Any) -> str:
    if isinstance(breach, Mapping) and breach.get("message"):
        return str(breach["message"])
    return str(breach)


KIND_CONTEXT = {
    ReportKind.FAIRNESS: _fairness_context,
    ReportKind.DRIFT: _drift_context,
    ReportKind.PERFORMANCE: _performance_context,
}


def _kind_context(found: MonitoringReport) -> dict[str, Any]:
    """The kind's tables and charts; cached, as a done report never changes and
    drawing its charts takes about half a second each."""
    finished = found.finished_at.isoformat() if found.finished_at else ""
    key = f"audits.monitoring.report-page:{PAGE_CACHE_VERSION}:{found.pk}:{finished}"
    data: dict[str, Any] | None = cache.get(key)
    if data is None:
        data = KIND_CONTEXT[ReportKind(found.kind)](found)
        cache.set(key, data, PAGE_CACHE_SECONDS)
    return data


@page
@require_GET
def report(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    _require_view(user)
    found = _report_get(user, pk)
    context: dict[str, Any] = {
        "report": found,
        "version": found.model_version,
        "model": found.model_version.model,
        "breaches": [_breach_message(b) for b in found.breaches or []],
        "integrity": _integrity(found),
        "report_verdict": integrity.verdict(found),
    }
    if found.status == ReportStatus.DONE:
        context["data"] = _kind_context(found)
    return render(request, "audits/report.html", context)


# --- Reports of a version, and running one --------------------------------------


class UtcDateTimeField(forms.DateTimeField):
    """A ``datetime-local`` value read as UTC, whatever the active time zone."""

    input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "widget",
            forms.DateTimeInput(
                attrs={"type": "datetime-local", "step": 3600},
                format="%Y-%m-%dT%H:%M",
            ),
        )
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> datetime | None:
        with timezone.override(UTC):
            return super().to_python(value)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, datetime) and timezone.is_aware(value):
            return value.astimezone(UTC)
        return value


class ReportRunForm(forms.Form):
    label_suffix = ""

    kind = forms.ChoiceField(choices=ReportKind.choices)
    environment = forms.ChoiceField()
    window_start = UtcDateTimeField(
        label="Window start (UTC)", help_text="On the hour, e.g. 2026-03-01 00:00."
    )
    window_end = UtcDateTimeField(
        label="Window end (UTC)",
        help_text="On the hour; the report covers [start, end).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        environments = list(settings.MODELGOV_ENVIRONMENTS)
        field = self.fields["environment"]
        field.choices = [(e, e) for e in environments]  # type: ignore[attr-defined]
        if "production" in environments:
            field.initial = "production"
        end = config.hour_floor(timezone.now())
        self.fields["window_end"].initial = end
        self.fields["window_start"].initial = end - timedelta(hours=24)


@page
@require_http_methods(["GET", "POST"])
def version_reports(request: HttpRequest, version_id: int) -> HttpResponse:
    user: Any = request.user
    _require_view(user)
    version = _version_get(user, version_id)
    can_run = user.has_perm(PERM_CHANGE)
    form = ReportRunForm(request.POST or None) if can_run else None
    status = 200
    if request.method == "POST":
        if form is None:
            raise PermissionDenied("Only a risk officer may run a report.")
        if form.is_valid():
            data = form.cleaned_data
            try:
                queued = services.report_request(
                    actor=user,
                    version=version,
                    environment=data["environment"],
                    kind=data["kind"],
                    window_start=data["window_start"],
                    window_end=data["window_end"],
                    trigger="browser",
                )
            except ValidationError as exc:
                _errors_to_form(form, exc, {name: name for name in form.fields})
                status = 400
            else:
                messages.success(
                    request,
                    f"Report {queued.pk} is queued; this page shows it when done.",
                )
                return redirect("audits:report", pk=queued.pk)
        else:
            status = 400
    reports = selectors.report_list_for_user(user=user, version=version).order_by(
        "-created_at", "-id"
    )
    return render(
        request,
        "audits/version_reports.html",
        {
            "version": version,
            "model": version.model,
            "form": form,
            "reports": list(reports[:REPORTS_SHOWN]),
            "total": reports.count(),
            "shown": REPORTS_SHOWN,
            "monitors": list(
                selectors.monitor_list_for_user(user=user).filter(model_version=version)
            ),
            "can_change": can_run,
        },
        status=status,
    )


# --- Editing a monitor ------------------------------------------------------------

THRESHOLD_LABELS = {
    "air": "AIR flag threshold (four-fifths)",
    "air_watch": "AIR watch threshold",
    "alpha": "Significance level (alpha)",
    "approval_relative_change": "Approval-rate change (relative)",
    "psi_watch": "PSI watch threshold",
    "psi_breach": "PSI breach threshold",
    "gini_drop_abs": "Gini drop (absolute)",
    "gini_drop_rel": "Gini drop (relative)",
    "ks_drop_rel": "KS drop (relative)",
}
LIST_FIELDS = ("protected_attributes", "favourable_decisions", "favourable_outcomes")


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


class MonitorForm(forms.Form):
    """Parses the editor's text inputs; the service validates the values."""

    label_suffix = ""

    is_enabled = forms.BooleanField(
        label="Enabled", required=False, help_text="Run the reports on the schedule."
    )
    kinds = forms.MultipleChoiceField(
        label="Reports",
        choices=ReportKind.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    schedule = forms.CharField(
        max_length=100,
        help_text="Cron expression in UTC: minute hour day-of-month month day-of-week.",
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
    )
    window = forms.ChoiceField(choices=WindowKind.choices)
    protected_attributes = forms.CharField(
        required=False, help_text="Comma-separated, e.g. sex, age_group."
    )
    reference_groups = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text="One attribute=group per line; an attribute not listed is compared "
        "with its most favoured group.",
    )
    favourable_decisions = forms.CharField(
        required=False, help_text="Comma-separated decision labels, e.g. approve."
    )
    favourable_outcomes = forms.CharField(
        required=False, help_text="Comma-separated outcome labels, e.g. repaid."
    )
    min_samples = forms.IntegerField(
        label="Minimum group size",
        min_value=0,
        help_text="Groups with fewer predictions are reported as insufficient.",
    )
    expected_predictions = forms.IntegerField(
        min_value=0,
        help_text="Fewer predictions in a window raise a missing-data alert (0: never).",
    )
    action_on_breach = forms.ChoiceField(choices=BreachAction.choices)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for key, default in config.DEFAULT_THRESHOLDS.items():
            self.fields[f"threshold_{key}"] = forms.FloatField(
                label=THRESHOLD_LABELS.get(key, key),
                help_text=f"{key}; default {default:g}.",
                widget=forms.NumberInput(attrs={"step": "any"}),
            )

    @classmethod
    def initial_for(cls, monitor: Monitor) -> dict[str, Any]:
        thresholds = {**config.DEFAULT_THRESHOLDS, **(monitor.thresholds or {})}
        return {
            "is_enabled": monitor.is_enabled,
            "kinds": list(monitor.kinds or []),
            "schedule": monitor.schedule,
            "window": monitor.window,
            "protected_attributes": ", ".join(monitor.protected_attributes or []),
            "reference_groups": "\n".join(
                f"{k}={v}" for k, v in (monitor.reference_groups or {}).items()
            ),
            "favourable_decisions": ", ".join(monitor.favourable_decisions or []),
            "favourable_outcomes": ", ".join(monitor.favourable_outcomes or []),
            "min_samples": monitor.min_samples,
            "expected_predictions": monitor.expected_predictions,
            "action_on_breach": monitor.action_on_breach,
            **{f"threshold_{k}": v for k, v in thresholds.items()},
        }

    def clean_reference_groups(self) -> dict[str, str]:
        groups: dict[str, str] = {}
        lines = self.cleaned_data["reference_groups"].splitlines()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            attribute, sep, group = (part.strip() for part in line.partition("="))
            if not sep or not attribute or not group:
                raise ValidationError(
                    f"Line {number}: write attribute=group, e.g. sex=male."
                )
            groups[attribute] = group
        return groups

    def main_fields(self) -> list[forms.BoundField]:
        return [f for f in self if not f.name.startswith("threshold_")]

    def threshold_fields(self) -> list[forms.BoundField]:
        return [f for f in self if f.name.startswith("threshold_")]

    def values(self) -> dict[str, Any]:
        """The monitor's fields as the service takes them."""
        data = self.cleaned_data
        return {
            "is_enabled": data["is_enabled"],
            "kinds": list(data["kinds"]),
            "schedule": " ".join(data["schedule"].split()),
            "window": data["window"],
            "reference_groups": data["reference_groups"],
            "min_samples": data["min_samples"],
            "expected_predictions": data["expected_predictions"],
            "action_on_breach": data["action_on_breach"],
            "thresholds": {
                key: data[f"threshold_{key}"] for key in config.DEFAULT_THRESHOLDS
            },
            **{name: _split(data[name]) for name in LIST_FIELDS},
        }


def _changes(monitor: Monitor, values: Mapping[str, Any]) -> dict[str, Any]:
    """Only what differs, so the audit event records the actual edit."""
    current = {
        name: getattr(monitor, name) for name in services.EDITABLE if name in values
    }
    current["thresholds"] = {**config.DEFAULT_THRESHOLDS, **(monitor.thresholds or {})}
    return {k: v for k, v in values.items() if current.get(k) != v}


def _monitor_error_fields(form: MonitorForm, exc: ValidationError) -> None:
    if not hasattr(exc, "error_dict"):
        _errors_to_form(form, exc, {})
        return
    for key, errors in exc.message_dict.items():
        for message in errors:
            field: str | None = key if key in form.fields else None
            if key == "thresholds":
                name = message.split(":", 1)[0]
                field = (
                    f"threshold_{name}" if f"threshold_{name}" in form.fields else None
                )
            form.add_error(field, message)


@page
@require_http_methods(["GET", "POST"])
def monitor_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    _require_view(user)
    monitor = _monitor_get(user, pk)
    if not user.has_perm(PERM_CHANGE):
        raise PermissionDenied("Only a risk officer may change a monitor.")
    status = 200
    if request.method == "POST":
        form = MonitorForm(request.POST)
        if form.is_valid():
            changes = _changes(monitor, form.values())
            if not changes:
                messages.info(request, f"Nothing changed in the {monitor}.")
                return redirect("audits:monitoring")
            try:
                services.monitor_update(actor=user, monitor=monitor, changes=changes)
            except ValidationError as exc:
                _monitor_error_fields(form, exc)
                status = 400
            else:
                messages.success(
                    request,
                    f"The {monitor} is saved: {', '.join(sorted(changes))} changed.",
                )
                return redirect("audits:monitoring")
        else:
            status = 400
    else:
        form = MonitorForm(initial=MonitorForm.initial_for(monitor))
    return render(
        request,
        "audits/monitor_edit.html",
        {
            "monitor": monitor,
            "version": monitor.model_version,
            "model": monitor.model_version.model,
            "form": form,
        },
        status=status,
    )
