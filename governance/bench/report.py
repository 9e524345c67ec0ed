"""``bench report``: a fairness plus a drift report over --rows ledger predictions,
against fairlearn on the same rows in pandas, in the same run.

1. Load: when the ledger holds fewer than ``--rows`` predictions, the trail bench's
   bulk loader adds them (:func:`governance.bench.trail.bulk_load`), predicted in
   ledger order over the 30 days before the current hour (a
   :class:`~governance.bench.trail.Timeline`). The bench version carries
   protected attributes (sex, age_group) and a baseline built with
   ``registry.baseline_stats`` from a sample of the same generator.
2. Rollup: ``rollup.rollup_catch_up()`` counts the loaded entries into the hourly
   cells, timed (``rollup_seconds``). In production the sequencer does this after
   each batch, so it is not part of a report's time.
3. Reports: ``report_request`` + ``report_run`` for kind fairness, then drift,
   over the window of every loaded hour (``seconds``, ``peak_mb``), and over the
   latest hours holding about a tenth of the rows (``seconds_tenth``,
   ``peak_mb_tenth``): the same figures for a tenth of the rows show whether the
   cost grows with them.
4. Baseline: the naive way, in pandas: the rows of the latest hours holding about
   ``--baseline-rows`` (a binary search for the window's run of entries, one COPY of
   leaves and protected attributes, each leaf parsed), fairlearn's ``MetricFrame``
   (selection_rate, count) by the same sensitive features, PSI with numpy on the raw
   feature values. Row-level fairlearn is minutes at 10 M rows, so it runs on a
   part and is extrapolated linearly (``baseline_seconds_extrapolated``). A report
   over exactly that window is compared with it (``metrics_equal``).

Every measured phase runs in a fresh spawned process after an untimed warm-up (the
same work over one hour), so its peak memory is its own: ``peak_mb`` is the peak
resident set size during the phase minus the resident size just before it (see
:data:`MEMORY_METHOD`). Celery tasks sent by the reports run in the process (as
under ``make demo``); no email or webhook leaves it.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import random
import resource
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import django
import numpy as np
import orjson
import pandas as pd
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import Sum
from django.test.utils import override_settings
from django.utils import timezone
from fairlearn.metrics import MetricFrame, count, selection_rate
from psycopg import sql

from audits.ledger import records
from audits.ledger import services as ledger_services
from audits.ledger.models import EntryType, LedgerHead, LedgerKey
from audits.monitoring import config as monitoring_config
from audits.monitoring import fairness, rollup
from audits.monitoring import services as monitoring_services
from audits.monitoring.models import (
    DecisionCell,
    MonitoringReport,
    ReportKind,
    ReportStatus,
)
from governance import celery as governance_celery
from governance import services as governance_services
from governance.bench import common, trail
from governance.choices import Role
from registry import baseline as registry_baseline
from registry import baseline_stats
from registry.models import ModelVersion

# Issue 5: a fairness plus a drift report over 10 M predictions within 30 s.
BUDGET_SECONDS = 30.0
# "Memory that does not grow with rows": the peaks over all and a tenth of the rows
# may differ by this share of the larger one, or by this many MB.
MEMORY_TOLERANCE_SHARE = 0.10
MEMORY_TOLERANCE_MB = 5.0
SPAN = timedelta(days=30)
ATTRIBUTES = ("sex", "age_group")
NUMERIC = ("duration", "amount", "installment_rate")
CATEGORICAL = ("purpose", "housing", "savings")
BASELINE_SAMPLE = 50_000
BASELINE_SEED = 5
RISK_OFFICER = "bench-risk-officer"
KINDS = (ReportKind.FAIRNESS, ReportKind.DRIFT)
# Metrics are equal when no rate or PSI differs by more than this (float rounding).
EQUAL_WITHIN = 1e-9
# drift.feature_drift's default floor of empty shares, used by the reports.
PSI_EPSILON = 1e-6
MEMORY_METHOD = (
    "peak RSS growth of a fresh spawned process: VmHWM (reset through "
    "/proc/self/clear_refs after Django setup, imports and an untimed one-hour "
    "warm-up) minus VmRSS just before the phase"
)
MEMORY_METHOD_FALLBACK = (
    "peak RSS growth of a fresh spawned process: ru_maxrss after the phase minus "
    "VmRSS just before it (the high-water mark could not be reset, so a peak below "
    "the process's earlier one reads as 0)"
)

Window = tuple[datetime, datetime]


# --- setup --------------------------------------------------------------------------


def bench_baseline(sample: int = BASELINE_SAMPLE) -> dict[str, Any]:
    """The bench version's baseline: ``registry.baseline_stats`` over ``sample``
    records of the generator that makes the loaded predictions (fixed seed)."""
    rng = random.Random(BASELINE_SEED)
    records = [
        common.sample_record(
            rng,
            slug=common.BENCH_MODEL,
            version=common.BENCH_VERSION,
            predicted_at="",
        )
        for _ in range(sample)
    ]
    frame = pd.DataFrame([r["features"] for r in records])
    favourable = set(monitoring_config.DEFAULT_FAVOURABLE_DECISIONS)
    decisions = [1 if r["decision"] in favourable else 0 for r in records]
    groups = {a: [r["protected_attributes"][a] for r in records] for a in ATTRIBUTES}
    baseline = baseline_stats.build_baseline(
        frame, NUMERIC, CATEGORICAL, decision=decisions, groups=groups
    )
    errors = registry_baseline.validate_baseline(
        baseline, set(common.INPUT_SCHEMA["properties"])
    )
    if errors:
        raise RuntimeError(f"the bench baseline is malformed: {errors}")
    return baseline


def risk_officer() -> Any:
    """The bench risk officer, who may run reports."""
    user: Any = get_user_model().objects.filter(username=RISK_OFFICER).first()
    if user is None:
        user = governance_services.account_create(
            actor=None, username=RISK_OFFICER, role=Role.RISK_OFFICER
        )
    if not user.has_perm(monitoring_services.PERM_CHANGE):
        raise RuntimeError(f"{RISK_OFFICER} may not run reports")
    return user


def _predictions() -> int:
    return LedgerKey.objects.filter(entry_type=EntryType.PREDICTION).count()


def _hourly(version_id: int, environment: str) -> list[tuple[datetime, int]]:
    rows = (
        DecisionCell.objects.filter(
            model_version_id=version_id, environment=environment
        )
        .values("hour")
        .annotate(total=Sum("n"))
        .order_by("hour")
    )
    return [(r["hour"], int(r["total"])) for r in rows]


def latest_hours(hours: Sequence[tuple[datetime, int]], rows: int) -> Window:
    """The window of the latest whole hours holding at least ``rows`` predictions
    (all of them if fewer)."""
    end = hours[-1][0] + timedelta(hours=1)
    held = 0
    start = end
    for hour, n in reversed(hours):
        start = hour
        held += n
        if held >= rows:
            break
    return start, end


# --- measuring in a fresh process ---------------------------------------------------


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _peak_reset() -> bool:
    """Reset this process's peak RSS to its current RSS (Linux 4.0+)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


def _measured(phase: str, options: dict[str, Any]) -> dict[str, Any]:
    """Warm up, then time ``phase`` and measure its peak memory (in the child)."""
    run = PHASES[phase]
    connection.ensure_connection()
    end = options["window"][1]
    run(**{**options, "window": (end - timedelta(hours=1), end)})
    gc.collect()
    reset = _peak_reset()
    before_kb = _status_kb("VmRSS")
    started = time.perf_counter()
    result = run(**options)
    seconds = time.perf_counter() - started
    if reset:
        peak_kb = _status_kb("VmHWM")
    else:
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    connection.close()
    return {
        **result,
        "seconds": seconds,
        "peak_mb": max(0, peak_kb - before_kb) / 1024,
        "peak_rss_mb": peak_kb / 1024,
        "rss_before_mb": before_kb / 1024,
        "memory_method": MEMORY_METHOD if reset else MEMORY_METHOD_FALLBACK,
    }


def in_fresh_process(phase: str, **options: Any) -> dict[str, Any]:
    """Run :func:`_measured` in a spawned process (Django set up before the phase
    function is unpickled) and return its result."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn, initializer=django.setup) as pool:
        return pool.submit(_measured, phase, options).result()


# --- the reports --------------------------------------------------------------------


@contextmanager
def tasks_in_process() -> Iterator[None]:
    """Celery tasks sent meanwhile run in this process, as under ``make demo``; no
    broker message, email or webhook leaves it (a bench database's report ids
    mean nothing to a real worker)."""
    app = governance_celery.app
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        with override_settings(
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
            MODELGOV_NOTIFY_WEBHOOK_URL="",
        ):
            yield
    finally:
        app.conf.task_always_eager = eager


def reports(
    *, version_id: int, environment: str, window: Window
) -> list[MonitoringReport]:
    """A fairness and a drift report over ``window``, requested and run as the
    API and its task do; raises RuntimeError unless both are done."""
    actor = risk_officer()
    version = ModelVersion.objects.select_related("model").get(pk=version_id)
    done = []
    with tasks_in_process():
        for kind in KINDS:
            report = monitoring_services.report_request(
                actor=actor,
                version=version,
                environment=environment,
                kind=kind,
                window_start=window[0],
                window_end=window[1],
                trigger="bench",
            )
            report = monitoring_services.report_run(report_id=report.pk)
            if report.status != ReportStatus.DONE:
                raise RuntimeError(
                    f"{kind} report {report.pk} is {report.status}: {report.error}"
                )
            done.append(report)
    return done


def _report_phase(
    *, version_id: int, environment: str, window: Window
) -> dict[str, Any]:
    done = reports(version_id=version_id, environment=environment, window=window)
    return {
        "rows": done[0].predictions,
        "report_ids": [r.pk for r in done],
        "breaches": sum(len(r.breaches or []) for r in done),
    }


def report_metrics(done: Sequence[MonitoringReport]) -> dict[str, Any]:
    """What the baseline computes too, read from a fairness and a drift report:
    ``{"groups": {key: {group: [n, selection rate]}}, "psi": {feature: psi}}``."""
    by_kind = {r.kind: r.metrics for r in done}
    fair = by_kind[ReportKind.FAIRNESS].get("fairness") or {}
    groups = {
        key: {g["group"]: [g["n"], g["selection_rate"]] for g in entry["groups"]}
        for key, entry in (fair.get("by_attribute") or {}).items()
    }
    psi = {f["feature"]: f["psi"] for f in by_kind[ReportKind.DRIFT]["features"]}
    return {"groups": groups, "psi": psi}


# --- the baseline: fairlearn on the raw rows ----------------------------------------


def _first_seq_at(moment: str, head: int) -> int:
    """The first seq from which every prediction is predicted at ``moment`` or later
    (binary search: the load writes predictions in the order of their times)."""
    low, high = 0, head
    with connection.cursor() as cursor:
        while low < high:
            middle = (low + high) // 2
            cursor.execute(
                "SELECT seq, leaf FROM audits_ledgerentry WHERE seq >= %s "
                "AND entry_type = %s ORDER BY seq LIMIT 1",
                [middle, int(EntryType.PREDICTION)],
            )
            row = cursor.fetchone()
            if row is None or orjson.loads(bytes(row[1]))["predicted_at"] >= moment:
                high = middle
            else:
                low = int(row[0]) + 1
    return low


FRAME_COLUMNS = ("decision", *ATTRIBUTES, *NUMERIC, *CATEGORICAL)


def window_frame(
    *, slug: str, version: str, environment: str, window: Window
) -> pd.DataFrame:
    """The window's predictions as a pandas frame, one row per prediction: one
    COPY of the leaves and protected attributes of its run of entries, each leaf
    parsed and checked against the window, the version and the environment."""
    start, end = (records.iso(moment) for moment in window)
    head = LedgerHead.objects.get(id=1).size
    low, high = _first_seq_at(start, head), _first_seq_at(end, head)
    columns: dict[str, list[Any]] = {name: [] for name in FRAME_COLUMNS}
    query = sql.SQL(
        "COPY (SELECT e.leaf, p.attributes::text FROM audits_ledgerentry e "
        "LEFT JOIN audits_protectedattributes p ON p.prediction_id = e.entry_id "
        "WHERE e.seq >= {} AND e.seq < {} AND e.entry_type = {}) "
        "TO STDOUT (FORMAT BINARY)"
    ).format(
        sql.Literal(low), sql.Literal(high), sql.Literal(int(EntryType.PREDICTION))
    )
    features = (*NUMERIC, *CATEGORICAL)
    with connection.cursor() as cursor:
        with cursor.cursor.copy(query) as copy:
            copy.set_types(["bytea", "text"])
            for leaf, attributes in copy.rows():
                parsed = orjson.loads(leaf)
                if (
                    not start <= parsed["predicted_at"] < end
                    or parsed["model_version"]["version"] != version
                    or parsed["deployment"]["model"] != slug
                    or parsed["deployment"]["environment"] != environment
                ):
                    continue
                groups = orjson.loads(attributes) if attributes else {}
                values = parsed.get("features") or {}
                columns["decision"].append(parsed.get("decision"))
                for name in ATTRIBUTES:
                    columns[name].append(groups.get(name))
                for name in features:
                    columns[name].append(values.get(name))
    return pd.DataFrame(columns)


def fairlearn_groups(frame: pd.DataFrame) -> dict[str, dict[str, list[Any]]]:
    """Selection rate and count per group of each attribute and of their
    intersection, by fairlearn's ``MetricFrame`` on the raw rows."""
    favourable = monitoring_config.DEFAULT_FAVOURABLE_DECISIONS
    decided = frame.loc[frame["decision"].notna()]
    approved = decided["decision"].isin(favourable).to_numpy(dtype=np.int64)
    keys: list[tuple[str, ...]] = [(a,) for a in ATTRIBUTES] + [ATTRIBUTES]
    out: dict[str, dict[str, list[Any]]] = {}
    for key in keys:
        metric_frame = MetricFrame(
            metrics={"selection_rate": selection_rate, "count": count},
            y_true=approved,
            y_pred=approved,
            sensitive_features=decided[list(key)],
        )
        groups: dict[str, list[Any]] = {}
        for label, row in metric_frame.by_group.iterrows():
            if pd.isna(row["count"]):  # a combination of groups with no row
                continue
            parts = label if isinstance(label, tuple) else (label,)
            group = fairness.GROUP_JOINER.join(str(p) for p in parts)
            groups[group] = [int(row["count"]), float(row["selection_rate"])]
        out[fairness.ATTRIBUTE_JOINER.join(key)] = groups
    return out


def _shares_psi(expected: np.ndarray, counts: np.ndarray) -> float:
    actual = counts / counts.sum()
    expected = np.maximum(expected, PSI_EPSILON)
    actual = np.maximum(actual, PSI_EPSILON)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def numpy_psi(
    frame: pd.DataFrame, features: Mapping[str, Mapping[str, Any]]
) -> dict[str, float | None]:
    """PSI of every baselined feature with numpy on the raw values (the
    baseline's binning; missing values left out; unseen categories expected 0)."""
    out: dict[str, float | None] = {}
    for name, spec in features.items():
        if spec["type"] == "numeric":
            values = pd.to_numeric(frame[name], errors="coerce").to_numpy(float)
            values = values[np.isfinite(values)]
            edges = np.asarray(spec["edges"], dtype=float)
            counts = np.bincount(
                np.searchsorted(edges, values, side="right"), minlength=edges.size + 1
            ).astype(float)
            expected = np.asarray(spec["proportions"], dtype=float)
        else:
            seen = frame[name].dropna().map(baseline_stats.category_label)
            tally = seen.value_counts()
            labels = list(spec["proportions"])
            labels += [v for v in tally.index if v not in spec["proportions"]]
            counts = np.asarray([tally.get(v, 0) for v in labels], dtype=float)
            expected = np.asarray(
                [spec["proportions"].get(v, 0.0) for v in labels], dtype=float
            )
        out[name] = _shares_psi(expected, counts) if counts.sum() else None
    return out


def _baseline_phase(
    *, version_id: int, environment: str, window: Window
) -> dict[str, Any]:
    version = ModelVersion.objects.select_related("model").get(pk=version_id)
    started = time.perf_counter()
    frame = window_frame(
        slug=version.model.slug,
        version=version.version,
        environment=environment,
        window=window,
    )
    loaded = time.perf_counter()
    groups = fairlearn_groups(frame)
    grouped = time.perf_counter()
    psi = numpy_psi(frame, (version.baseline or {}).get("features") or {})
    done = time.perf_counter()
    return {
        "rows": len(frame),
        "metrics": {"groups": groups, "psi": psi},
        "breakdown_s": {
            "select_copy_parse": round(loaded - started, 3),
            "fairlearn": round(grouped - loaded, 3),
            "psi": round(done - grouped, 3),
        },
    }


PHASES: dict[str, Callable[..., dict[str, Any]]] = {
    "reports": _report_phase,
    "baseline": _baseline_phase,
}


def compare(
    report: Mapping[str, Any], baseline: Mapping[str, Any]
) -> tuple[bool, float | None, float | None]:
    """(equal, largest selection-rate difference, largest PSI difference):
    equal when both have the same groups with the same counts, and no rate or PSI
    differs by more than :data:`EQUAL_WITHIN`."""
    equal = report["groups"].keys() == baseline["groups"].keys()
    rate_diffs: list[float] = []
    for key, groups in report["groups"].items():
        theirs = baseline["groups"].get(key, {})
        equal = equal and groups.keys() == theirs.keys()
        for group, (n, rate) in groups.items():
            if group not in theirs or rate is None:
                equal = False
                continue
            equal = equal and n == theirs[group][0]
            rate_diffs.append(abs(rate - theirs[group][1]))
    psi_diffs: list[float] = []
    equal = equal and report["psi"].keys() == baseline["psi"].keys()
    for feature, value in report["psi"].items():
        other = baseline["psi"].get(feature)
        if value is None or other is None:
            equal = equal and value is None and other is None
            continue
        psi_diffs.append(abs(value - other))
    rate_max = max(rate_diffs, default=None)
    psi_max = max(psi_diffs, default=None)
    equal = equal and all(d <= EQUAL_WITHIN for d in rate_diffs + psi_diffs)
    return bool(equal and rate_diffs), rate_max, psi_max


# --- the run ------------------------------------------------------------------------


def _window_json(window: Window, rows: int) -> dict[str, Any]:
    return {
        "start": window[0].isoformat(),
        "end": window[1].isoformat(),
        "hours": int((window[1] - window[0]) / timedelta(hours=1)),
        "rows": rows,
    }


def _memory_flat(peak_mb: float, peak_mb_tenth: float) -> bool:
    larger = max(peak_mb, peak_mb_tenth)
    allowed = max(MEMORY_TOLERANCE_SHARE * larger, MEMORY_TOLERANCE_MB)
    return abs(peak_mb - peak_mb_tenth) <= allowed


def _load(
    deployment: common.BenchDeployment,
    *,
    rows: int,
    load_batch: int,
    loaders: int,
    log: Callable[[str], None],
) -> trail.LoadTimes | None:
    held = _predictions()
    if held >= rows:
        return None
    wanted = rows - held
    end = monitoring_config.hour_floor(timezone.now())
    log(f"bulk-loading {wanted:,} predictions over {SPAN.days} days onto {held:,}")
    return trail.bulk_load(
        trail.LeafContext(
            binding=deployment.binding,
            version=deployment.version_info,
            state_ref=deployment.state_ref,
        ),
        rows=wanted,
        batch=load_batch,
        loaders=loaders,
        via_sequencer=False,
        log=log,
        timeline=trail.Timeline(start=end - SPAN, span=SPAN, total=wanted),
    )


def run(
    *,
    rows: int,
    baseline_rows: int,
    load_batch: int,
    loaders: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Load (if needed), roll up, time the reports and the fairlearn baseline."""
    load_average = os.getloadavg()  # other work on the machine skews every figure
    deployment = common.deployment_setup(
        baseline=bench_baseline(), protected_attributes=list(ATTRIBUTES)
    )
    version = deployment.version
    if not (version.baseline or {}).get("features") or not (
        version.protected_attributes
    ):
        raise CommandError(
            f"the bench version {version} of this database has no baseline or no "
            "protected attributes (made by another bench?): run bench report with "
            "--scratch"
        )
    risk_officer()  # before the load: creating the account queues a governance leaf
    trail.sequence_all(ledger_services.ledger_signer(), batch_size=load_batch)
    load = _load(deployment, rows=rows, load_batch=load_batch, loaders=loaders, log=log)

    log("counting the ledger into the rollups")
    started = time.perf_counter()
    counted = rollup.rollup_catch_up()
    rollup_s = time.perf_counter() - started

    environment = common.ENVIRONMENT
    hours = _hourly(version.pk, environment)
    if not hours:
        raise CommandError("the rollups hold no prediction of the bench version")
    total = sum(n for _, n in hours)
    full = (hours[0][0], hours[-1][0] + timedelta(hours=1))
    tenth = latest_hours(hours, max(1, total // 10))
    compared = latest_hours(hours, baseline_rows)
    where: dict[str, Any] = {"version_id": version.pk, "environment": environment}

    before_reports = os.getloadavg()
    log(f"timing the reports over {total:,} rows, then a tenth of them")
    measured = in_fresh_process("reports", **where, window=full)
    measured_tenth = in_fresh_process("reports", **where, window=tenth)
    log("timing fairlearn on the raw rows of the baseline window")
    base = in_fresh_process("baseline", **where, window=compared)
    mine = report_metrics(reports(**where, window=compared))
    equal, rate_diff, psi_diff = compare(mine, base["metrics"])

    seconds = measured["seconds"]
    per_row = base["seconds"] / base["rows"] if base["rows"] else None
    extrapolated = per_row * measured["rows"] if per_row is not None else None
    memory_flat = _memory_flat(measured["peak_mb"], measured_tenth["peak_mb"])
    return {
        "rows": measured["rows"],
        "seconds": round(seconds, 3),
        "peak_mb": round(measured["peak_mb"], 1),
        "rows_tenth": measured_tenth["rows"],
        "seconds_tenth": round(measured_tenth["seconds"], 3),
        "peak_mb_tenth": round(measured_tenth["peak_mb"], 1),
        "peak_rss_mb": round(measured["peak_rss_mb"], 1),
        "peak_rss_mb_tenth": round(measured_tenth["peak_rss_mb"], 1),
        "report_kinds": [str(k) for k in KINDS],
        "report_breaches": measured["breaches"],
        "baseline_rows": base["rows"],
        "baseline_seconds": round(base["seconds"], 3),
        "baseline_peak_mb": round(base["peak_mb"], 1),
        "baseline_peak_rss_mb": round(base["peak_rss_mb"], 1),
        "baseline_breakdown_s": base["breakdown_s"],
        "baseline_seconds_per_million": round(per_row * 1e6, 3)
        if per_row is not None
        else None,
        "baseline_seconds_extrapolated": round(extrapolated, 1)
        if extrapolated is not None
        else None,
        "baseline_method": (
            "rows of the window found by a binary search on seq, one COPY of "
            "leaves and protected attributes, leaves parsed with orjson into "
            "pandas; fairlearn MetricFrame(selection_rate, count) by sex, age_group "
            "and both; PSI with numpy; extrapolated linearly to rows"
        ),
        "ratio": round(extrapolated / seconds, 1)
        if extrapolated is not None and seconds > 0
        else None,
        "metrics_equal": equal,
        "max_abs_diff": rate_diff,
        "psi_max_abs_diff": psi_diff,
        "windows": {
            "full": _window_json(full, measured["rows"]),
            "tenth": _window_json(tenth, measured_tenth["rows"]),
            "baseline": _window_json(compared, base["rows"]),
        },
        "rollup_entries": counted,
        "rollup_seconds": round(rollup_s, 3),
        "rollup_rows_per_s": round(counted / rollup_s) if rollup_s > 0 else None,
        "loaded_rows": load.rows if load else 0,
        "load_seconds": round(load.wall_s, 1) if load else None,
        "load_rows_per_s": round(load.rows / load.wall_s)
        if load and load.wall_s
        else None,
        "memory_method": measured["memory_method"],
        "budget": {
            "seconds": BUDGET_SECONDS,
            "memory_flat": f"|peak_mb - peak_mb_tenth| <= max("
            f"{MEMORY_TOLERANCE_SHARE:.0%} of the larger, {MEMORY_TOLERANCE_MB} MB)",
        },
        "memory_flat": memory_flat,
        "within_budget": bool(seconds <= BUDGET_SECONDS and memory_flat),
        "database": connection.settings_dict["NAME"],
        "postgres_settings": common.postgres_settings(),
        "load_average": {
            "start": [round(x, 2) for x in load_average],
            "before_reports": [round(x, 2) for x in before_reports],
        },
    }
