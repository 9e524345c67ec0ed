"""The monitoring pages through the Django test client: the overview, a report with
its charts, the reports of a version with the on-demand run form, and the monitor
editor, for every role.

Reports are created done, with metrics computed by the pure modules on small
synthetic counts (the shape ``services._compute`` stores), so the pages are tested
without the rollups or Celery.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from audits.ledger.models import Alert
from audits.models import AuditEvent
from audits.monitoring import drift, fairness, services
from audits.monitoring.models import Monitor, MonitoringReport
from tests.factories import BASELINE, PASSWORD

WINDOW_START = datetime(2026, 3, 1, tzinfo=UTC)
WINDOW_END = datetime(2026, 3, 4, tzinfo=UTC)
# (group, approved and repaid, approved and defaulted, declined and repaid,
#  declined and defaulted, decided but not matured)
AGE_GROUP_CELLS = [
    ("<25", 60, 20, 30, 50, 40),  # 200 predictions, 40 % approved (+ 20 % pending)
    ("25+", 250, 30, 40, 30, 50),  # 400 predictions
]


def _login(client: Client, user: Any) -> Client:
    assert client.login(username=user.username, password=PASSWORD)
    return client


def _cells() -> pd.DataFrame:
    rows = []
    for group, good_yes, bad_yes, good_no, bad_no, pending in AGE_GROUP_CELLS:
        rows += [
            {"age_group": group, "decision": 1, "outcome": 1.0, "n": good_yes},
            {"age_group": group, "decision": 1, "outcome": 0.0, "n": bad_yes},
            {"age_group": group, "decision": 0, "outcome": 1.0, "n": good_no},
            {"age_group": group, "decision": 0, "outcome": 0.0, "n": bad_no},
            {"age_group": group, "decision": 1, "outcome": math.nan, "n": pending},
        ]
    return pd.DataFrame(rows)


def fairness_metrics() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    cells = _cells()
    fair = fairness.fairness_report(cells, attributes=["age_group"])
    approval = fairness.approval_drift(
        cells,
        attributes=["age_group"],
        baseline=BASELINE["approval_rate"],
        previous=[
            {
                "window_start": "2026-02-26T00:00:00+00:00",
                "window_end": "2026-03-01T00:00:00+00:00",
                "overall": {"n": 580, "approved": 380},
                "by_group": {
                    "age_group": {
                        "<25": {"n": 190, "approved": 110},
                        "25+": {"n": 390, "approved": 270},
                    }
                },
            }
        ],
    )
    periods = [WINDOW_START + timedelta(days=i) for i in range(3)]
    metrics = {
        "undecided": 0,
        "attributes": ["age_group"],
        "fairness": fair,
        "approval_drift": approval,
        "series": {
            "period": "day",
            "periods": [p.isoformat() for p in periods],
            "approval_rate": {
                "age_group": {"<25": [0.55, 0.6, None], "25+": [0.8, 0.82, 0.83]}
            },
            "air": {"age_group": {"<25": [0.69, 0.73, None], "25+": [1.0, 1.0, 1.0]}},
        },
        "baseline_approval_rate": BASELINE["approval_rate"],
    }
    return metrics, [*fair["breaches"], *approval["breaches"]]


def drift_metrics() -> dict[str, Any]:
    return drift.feature_drift(
        BASELINE["features"],
        {
            "amount": {"0": 20, "1": 50, "2": 430},
            "purpose": {"car": 250, "furniture": 150, "business": 100},
        },
        baseline_n=BASELINE["n"],
    )


def performance_metrics() -> dict[str, Any]:
    cells = pd.DataFrame(
        [
            {"score": s / 10, "outcome": y, "n": n, "score_sum": s / 10 * n}
            for s in range(1, 10)
            for y, n in ((1, 10 * s), (0, 10 * (10 - s)))
        ]
    )
    return drift.performance(cells, baseline=BASELINE["performance"])


@pytest.fixture
def monitor(submitted_version: Any) -> Monitor:
    return services.monitor_ensure(version=submitted_version, environment="production")


def _report(monitor: Monitor, kind: str, **fields: Any) -> MonitoringReport:
    values: dict[str, Any] = {
        "model_version": monitor.model_version,
        "environment": monitor.environment,
        "monitor": monitor,
        "kind": kind,
        "window_start": WINDOW_START,
        "window_end": WINDOW_END,
        "status": "done",
        "config": services._report_config(monitor.model_version, monitor),
        "predictions": 600,
        "as_of_seq": 1234,
        "finished_at": WINDOW_END + timedelta(minutes=5),
        **fields,
    }
    return MonitoringReport.objects.create(**values)


@pytest.fixture
def fairness_report(monitor: Monitor) -> MonitoringReport:
    metrics, breaches = fairness_metrics()
    return _report(monitor, "fairness", metrics=metrics, breaches=breaches)


@pytest.fixture
def drift_report(monitor: Monitor) -> MonitoringReport:
    metrics = drift_metrics()
    return _report(monitor, "drift", metrics=metrics, breaches=metrics["breaches"])


@pytest.fixture
def performance_report(monitor: Monitor) -> MonitoringReport:
    metrics = performance_metrics()
    return _report(
        monitor, "performance", metrics=metrics, breaches=metrics["breaches"]
    )


# --- the overview -----------------------------------------------------------------


def test_overview_lists_the_monitor_with_its_latest_reports_and_alerts(
    client: Client,
    risk_officer: Any,
    monitor: Monitor,
    fairness_report: MonitoringReport,
    drift_report: MonitoringReport,
) -> None:
    # given an open alert on the version
    version = monitor.model_version
    Alert.objects.create(
        kind="monitoring.fairness",
        model=version.model,
        environment="production",
        model_version=version,
        message="Fairness breach for credit-risk 1.0.0 in production",
    )
    # when the risk officer opens the overview
    response = _login(client, risk_officer).get(reverse("audits:monitoring"))
    # then the monitor, its latest reports with their breaches, and the alert show
    assert response.status_code == 200
    body = response.content.decode()
    assert f'id="monitor-{monitor.pk}"' in body
    assert "Credit risk PD 1.0.0" in body
    assert monitor.schedule in body
    assert reverse("audits:report", args=[fairness_report.pk]) in body
    assert reverse("audits:report", args=[drift_report.pk]) in body
    assert f"{len(fairness_report.breaches)} breaches" in body
    assert "No approval" in body
    assert "Fairness breach for credit-risk 1.0.0 in production" in body
    assert reverse("audits:monitor_edit", args=[monitor.pk]) in body


def test_overview_shows_an_approval_under_review(
    client: Client, risk_officer: Any, monitor: Monitor, developer: Any
) -> None:
    # given an approval of the version for production, put under review
    from governance.models import ApprovalPolicy, ReleaseRequest

    ReleaseRequest.objects.create(
        model_version=monitor.model_version,
        policy=ApprovalPolicy.objects.filter(is_active=True).first(),
        environments=["production"],
        state="approved",
        requested_by=developer,
        approved_at=WINDOW_START,
        expires_at=WINDOW_END + timedelta(days=365),
        under_review_at=WINDOW_END,
    )
    # when the risk officer opens the overview
    response = _login(client, risk_officer).get(reverse("audits:monitoring"))
    # then the approval state says so
    assert "Approved, under review" in response.content.decode()


def test_overview_query_count_does_not_grow_with_monitors(
    client: Client, risk_officer: Any, fairness_report: MonitoringReport
) -> None:
    _login(client, risk_officer)
    url = reverse("audits:monitoring")
    version = fairness_report.model_version
    # (an open alert costs one query for the latest occurrences of all alerts)
    services.alert_raise(
        kind="monitoring.fairness",
        version=version,
        environment="production",
        message="Fairness breach",
        details={},
    )
    with CaptureQueriesContext(connection) as one_monitor:
        client.get(url)
    # given a second monitored environment with a report and an alert
    staging = services.monitor_ensure(version=version, environment="staging")
    _report(staging, "drift", metrics=drift_metrics())
    Alert.objects.create(
        kind="monitoring.drift",
        model=version.model,
        environment="staging",
        model_version=version,
        message="Data drift breach",
    )
    # when the overview lists both, then it takes no more queries than for one
    with CaptureQueriesContext(connection) as two_monitors:
        response = client.get(url)
    assert response.content.decode().count('id="monitor-') == 2
    # (the ledger check of the monitors and open alerts: record leaves, ledger
    # entries, queued leaves, whatever their number)
    assert len(two_monitors) == len(one_monitor) <= 14


def test_overview_links_the_newest_report_of_each_kind_and_environment(
    client: Client, risk_officer: Any, monitor: Monitor
) -> None:
    # given fairness reports over an older window, the newest window twice (the
    # later id, run on demand, wins the tie) and a drift report in another environment
    metrics, breaches = fairness_metrics()
    older = _report(
        monitor,
        "fairness",
        window_start=WINDOW_START - timedelta(days=3),
        window_end=WINDOW_START,
        metrics=metrics,
        breaches=breaches,
    )
    first = _report(monitor, "fairness", metrics=metrics, breaches=breaches)
    newest = _report(
        monitor, "fairness", trigger="browser", metrics=metrics, breaches=breaches
    )
    staging = services.monitor_ensure(
        version=monitor.model_version, environment="staging"
    )
    staging_drift = _report(staging, "drift", metrics=drift_metrics())
    # when the risk officer opens the overview (a window function, not DISTINCT ON,
    # so SQLite gives the same answer)
    response = _login(client, risk_officer).get(reverse("audits:monitoring"))
    # then each row links only the newest report of its environment and kind
    assert response.status_code == 200
    body = response.content.decode()
    assert f'href="{reverse("audits:report", args=[newest.pk])}"' in body
    assert f'href="{reverse("audits:report", args=[staging_drift.pk])}"' in body
    assert f'href="{reverse("audits:report", args=[first.pk])}"' not in body
    assert f'href="{reverse("audits:report", args=[older.pk])}"' not in body


# --- one report -------------------------------------------------------------------


def test_fairness_report_shows_breaches_first_then_charts_and_group_tables(
    client: Client, risk_officer: Any, fairness_report: MonitoringReport
) -> None:
    # when the risk officer opens a fairness report with an AIR flag
    response = _login(client, risk_officer).get(
        reverse("audits:report", args=[fairness_report.pk])
    )
    # then the breaches come first, in the red box
    assert response.status_code == 200
    body = response.content.decode()
    assert fairness_report.breaches
    assert 'class="breach-box"' in body
    assert "age_group = &lt;25: AIR" in body
    assert body.index("breach-box") < body.index("<svg")
    # and the approval-rate and AIR charts are inline SVG naming the groups
    assert body.count("<svg") == 2
    assert body.count("<figure") == 2
    assert body.count("<figcaption>") == 2
    assert "25+" in body
    assert "four-fifths (0.8)" in body
    # and the group table carries the flag and its note
    assert "Flag" in body
    assert "not a finding of discrimination" in body
    assert "Against the previous window" in body
    assert '<meta http-equiv="refresh"' not in body


def test_fairness_report_without_data_says_insufficient(
    client: Client, risk_officer: Any, monitor: Monitor
) -> None:
    # given a done fairness report of an empty window
    empty = _report(
        monitor,
        "fairness",
        predictions=0,
        metrics={
            "undecided": 0,
            "attributes": ["age_group"],
            "fairness": None,
            "approval_drift": None,
            "series": {"period": "day", "periods": [], "approval_rate": {}, "air": {}},
            "baseline_approval_rate": None,
        },
    )
    # when it is opened
    response = _login(client, risk_officer).get(
        reverse("audits:report", args=[empty.pk])
    )
    # then the page renders, with empty charts and the insufficient-data notes
    assert response.status_code == 200
    body = response.content.decode()
    assert "Insufficient data" in body
    assert body.count("<svg") == 2
    assert "breach-box" not in body


def test_drift_report_shows_the_psi_chart_and_the_bins(
    client: Client, risk_officer: Any, drift_report: MonitoringReport
) -> None:
    # when the risk officer opens a drift report where amount shifted
    response = _login(client, risk_officer).get(
        reverse("audits:report", args=[drift_report.pk])
    )
    # then the breach, the PSI chart and a <details> per feature show
    assert response.status_code == 200
    body = response.content.decode()
    assert "PSI of amount is" in body
    assert body.count("<svg") == 1
    assert "Population stability index" in body
    assert body.count('<details class="feature-bins">') == 2
    assert "1000 – 3000" in body


def test_performance_report_shows_metrics_and_calibration(
    client: Client, risk_officer: Any, performance_report: MonitoringReport
) -> None:
    response = _login(client, risk_officer).get(
        reverse("audits:report", args=[performance_report.pk])
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "AUC" in body and "Gini" in body and "KS" in body
    assert f"{performance_report.metrics['auc']:.3f}" in body
    assert body.count("<svg") == 1
    assert "perfect calibration" in body


def test_a_queued_report_refreshes_and_a_failed_one_shows_its_error(
    client: Client, risk_officer: Any, monitor: Monitor
) -> None:
    queued = _report(monitor, "drift", status="queued", finished_at=None)
    failed = _report(
        monitor, "performance", status="failed", error="ValueError: no rollups"
    )
    _login(client, risk_officer)
    queued_body = client.get(reverse("audits:report", args=[queued.pk])).content
    failed_body = client.get(reverse("audits:report", args=[failed.pk])).content
    assert b'<meta http-equiv="refresh" content="3">' in queued_body
    assert b"ValueError: no rollups" in failed_body
    assert b'<meta http-equiv="refresh"' not in failed_body


# --- permissions --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        (None, 302),
        ("outsider", 403),
        ("other_developer", 404),
        ("developer", 200),
        ("validator", 200),
        ("risk_officer", 200),
        ("auditor", 200),
    ],
)
def test_report_page_permissions(
    client: Client,
    request: pytest.FixtureRequest,
    fairness_report: MonitoringReport,
    persona: str | None,
    expected: int,
) -> None:
    if persona is not None:
        _login(client, request.getfixturevalue(persona))
    response = client.get(reverse("audits:report", args=[fairness_report.pk]))
    assert response.status_code == expected
    if expected == 302:
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("persona", "expected", "lists_monitor"),
    [
        (None, 302, False),
        ("outsider", 403, False),
        ("other_developer", 200, False),
        ("developer", 200, True),
        ("risk_officer", 200, True),
        ("auditor", 200, True),
    ],
)
def test_overview_permissions_and_scoping(
    client: Client,
    request: pytest.FixtureRequest,
    monitor: Monitor,
    persona: str | None,
    expected: int,
    lists_monitor: bool,
) -> None:
    if persona is not None:
        _login(client, request.getfixturevalue(persona))
    response = client.get(reverse("audits:monitoring"))
    assert response.status_code == expected
    assert (f'id="monitor-{monitor.pk}"' in response.content.decode()) is lists_monitor


@pytest.mark.parametrize(
    ("persona", "expected", "has_form"),
    [
        (None, 302, False),
        ("outsider", 403, False),
        ("other_developer", 404, False),
        ("developer", 200, False),
        ("auditor", 200, False),
        ("risk_officer", 200, True),
    ],
)
def test_version_reports_permissions(
    client: Client,
    request: pytest.FixtureRequest,
    fairness_report: MonitoringReport,
    persona: str | None,
    expected: int,
    has_form: bool,
) -> None:
    if persona is not None:
        _login(client, request.getfixturevalue(persona))
    url = reverse("audits:version_reports", args=[fairness_report.model_version_id])
    response = client.get(url)
    assert response.status_code == expected
    body = response.content.decode()
    assert ("Run the report" in body) is has_form
    if expected == 200:
        assert reverse("audits:report", args=[fairness_report.pk]) in body


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        (None, 302),
        ("outsider", 403),
        ("other_developer", 404),
        ("developer", 403),
        ("validator", 403),
        ("auditor", 403),
        ("risk_officer", 200),
    ],
)
def test_monitor_edit_permissions(
    client: Client,
    request: pytest.FixtureRequest,
    monitor: Monitor,
    persona: str | None,
    expected: int,
) -> None:
    if persona is not None:
        _login(client, request.getfixturevalue(persona))
    response = client.get(reverse("audits:monitor_edit", args=[monitor.pk]))
    assert response.status_code == expected


def test_auditor_sees_no_edit_links(
    client: Client, auditor: Any, monitor: Monitor, fairness_report: MonitoringReport
) -> None:
    _login(client, auditor)
    overview = client.get(reverse("audits:monitoring")).content.decode()
    report = client.get(
        reverse("audits:report", args=[fairness_report.pk])
    ).content.decode()
    edit_url = reverse("audits:monitor_edit", args=[monitor.pk])
    assert edit_url not in overview
    assert report.count('method="post"') == 1  # the header's log-out button


# --- editing a monitor --------------------------------------------------------------


def _monitor_form(monitor: Monitor, **overrides: Any) -> dict[str, Any]:
    thresholds = {**services.config.DEFAULT_THRESHOLDS, **monitor.thresholds}
    data: dict[str, Any] = {
        "is_enabled": "on" if monitor.is_enabled else "",
        "kinds": list(monitor.kinds),
        "schedule": monitor.schedule,
        "window": monitor.window,
        "protected_attributes": ", ".join(monitor.protected_attributes),
        "reference_groups": "",
        "favourable_decisions": ", ".join(monitor.favourable_decisions),
        "favourable_outcomes": ", ".join(monitor.favourable_outcomes),
        "min_samples": monitor.min_samples,
        "expected_predictions": monitor.expected_predictions,
        "action_on_breach": monitor.action_on_breach,
        **{f"threshold_{k}": v for k, v in thresholds.items()},
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v != ""}


def _crontab(monitor: Monitor) -> tuple[str, str, str, str, str]:
    task = PeriodicTask.objects.select_related("crontab").get(
        pk=monitor.periodic_task_id
    )
    c = task.crontab
    assert c is not None
    return (c.minute, c.hour, c.day_of_month, c.month_of_year, c.day_of_week)


def _changed_events(monitor: Monitor) -> int:
    return AuditEvent.objects.filter(
        event_type="audits.monitor.changed", object_id=str(monitor.pk)
    ).count()


def test_risk_officer_edits_a_monitor_and_the_schedule_follows(
    client: Client, risk_officer: Any, monitor: Monitor
) -> None:
    # given the monitor's form with a new schedule, groups and thresholds
    data = _monitor_form(
        monitor,
        schedule="15 4 * * *",
        kinds=["fairness", "drift"],
        reference_groups="age_group=25+",
        min_samples="50",
        threshold_air="0.75",
        action_on_breach="alert",
    )
    # when the risk officer saves it
    response = _login(client, risk_officer).post(
        reverse("audits:monitor_edit", args=[monitor.pk]), data
    )
    # then the monitor changed, its beat entry moved and the change is audited
    assert response.status_code == 302
    assert response["Location"] == reverse("audits:monitoring")
    monitor.refresh_from_db()
    assert monitor.schedule == "15 4 * * *"
    assert monitor.kinds == ["fairness", "drift"]
    assert monitor.reference_groups == {"age_group": "25+"}
    assert monitor.min_samples == 50
    assert monitor.thresholds["air"] == 0.75
    assert monitor.action_on_breach == "alert"
    assert monitor.updated_by == risk_officer
    assert _crontab(monitor) == ("15", "4", "*", "*", "*")
    event = AuditEvent.objects.get(
        event_type="audits.monitor.changed", object_id=str(monitor.pk)
    )
    assert event.payload["after"]["schedule"] == "15 4 * * *"
    assert "protected_attributes" not in event.payload["after"]


def test_disabling_a_monitor_disables_its_beat_entry(
    client: Client, risk_officer: Any, monitor: Monitor
) -> None:
    data = _monitor_form(monitor, is_enabled="")
    response = _login(client, risk_officer).post(
        reverse("audits:monitor_edit", args=[monitor.pk]), data
    )
    assert response.status_code == 302
    monitor.refresh_from_db()
    assert monitor.is_enabled is False
    assert PeriodicTask.objects.get(pk=monitor.periodic_task_id).enabled is False


def test_auditor_cannot_edit_a_monitor_and_nothing_changes(
    client: Client, auditor: Any, monitor: Monitor
) -> None:
    # given the monitor as it is, and its beat entry
    before = Monitor.objects.values().get(pk=monitor.pk)
    crontab_before = _crontab(monitor)
    # when an auditor posts a change
    response = _login(client, auditor).post(
        reverse("audits:monitor_edit", args=[monitor.pk]),
        _monitor_form(monitor, schedule="15 4 * * *", is_enabled=""),
    )
    # then it is refused, and neither the row, the schedule nor the trail changed
    assert response.status_code == 403
    assert Monitor.objects.values().get(pk=monitor.pk) == before
    assert _crontab(monitor) == crontab_before
    assert PeriodicTask.objects.get(pk=monitor.periodic_task_id).enabled is True
    assert _changed_events(monitor) == 0


def test_monitor_edit_shows_the_services_messages_next_to_the_fields(
    client: Client, risk_officer: Any, monitor: Monitor
) -> None:
    before = Monitor.objects.values().get(pk=monitor.pk)
    # when the risk officer enters a bad cron, no report kind and a zero threshold
    response = _login(client, risk_officer).post(
        reverse("audits:monitor_edit", args=[monitor.pk]),
        _monitor_form(
            monitor, schedule="every hour", kinds=[], threshold_air_watch="0"
        ),
    )
    # then each message sits by its field, and nothing is saved
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors["schedule"] == [
        "Five fields: minute hour day-of-month month day-of-week."
    ]
    assert form.errors["kinds"] == [
        "A non-empty list of: fairness, drift, performance."
    ]
    assert form.errors["threshold_air_watch"] == [
        "air_watch: must be a number above 0."
    ]
    assert "Five fields: minute hour day-of-month month day-of-week." in (
        response.content.decode()
    )
    assert Monitor.objects.values().get(pk=monitor.pk) == before
    assert _changed_events(monitor) == 0


def test_monitor_edit_rejects_a_malformed_reference_group_line(
    client: Client, risk_officer: Any, monitor: Monitor
) -> None:
    response = _login(client, risk_officer).post(
        reverse("audits:monitor_edit", args=[monitor.pk]),
        _monitor_form(monitor, reference_groups="age_group"),
    )
    assert response.status_code == 400
    assert response.context["form"].errors["reference_groups"] == [
        "Line 1: write attribute=group, e.g. sex=male."
    ]
    assert _changed_events(monitor) == 0


# --- running a report on demand -------------------------------------------------


def _run_form(**overrides: str) -> dict[str, str]:
    return {
        "kind": "fairness",
        "environment": "production",
        "window_start": "2026-03-01T00:00",
        "window_end": "2026-03-02T00:00",
        **overrides,
    }


def test_run_form_rejects_a_window_not_on_the_hour_and_queues_nothing(
    client: Client,
    risk_officer: Any,
    monitor: Monitor,
    django_capture_on_commit_callbacks: Any,
) -> None:
    url = reverse("audits:version_reports", args=[monitor.model_version_id])
    _login(client, risk_officer)
    # when the risk officer asks for a window starting at half past ten
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url, _run_form(window_start="2026-03-01T10:30"))
    # then the service's message is shown by the field and no report exists
    assert response.status_code == 400
    assert response.context["form"].errors["window_start"] == [
        "Must fall on the hour: reports cover whole UTC hours."
    ]
    assert "Must fall on the hour" in response.content.decode()
    assert MonitoringReport.objects.count() == 0
    assert callbacks == []


def test_run_form_queues_a_report_in_utc_and_opens_it(
    client: Client,
    risk_officer: Any,
    monitor: Monitor,
    django_capture_on_commit_callbacks: Any,
) -> None:
    url = reverse("audits:version_reports", args=[monitor.model_version_id])
    _login(client, risk_officer)
    # when the risk officer runs a drift report over one UTC day
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url, _run_form(kind="drift"))
    # then a queued report exists, its task is scheduled after commit, and the
    # browser goes to its page
    report = MonitoringReport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("audits:report", args=[report.pk])
    assert report.kind == "drift"
    assert report.status == "queued"
    assert report.trigger == "browser"
    assert report.requested_by == risk_officer
    assert report.monitor == monitor
    assert report.window_start == datetime(2026, 3, 1, tzinfo=UTC)
    assert report.window_end == datetime(2026, 3, 2, tzinfo=UTC)
    assert len(callbacks) == 1


def test_run_form_is_refused_to_an_auditor(
    client: Client,
    auditor: Any,
    monitor: Monitor,
    django_capture_on_commit_callbacks: Any,
) -> None:
    url = reverse("audits:version_reports", args=[monitor.model_version_id])
    _login(client, auditor)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url, _run_form())
    assert response.status_code == 403
    assert MonitoringReport.objects.count() == 0
    assert callbacks == []


def test_run_form_rejects_an_end_before_the_start(
    client: Client, risk_officer: Any, monitor: Monitor
) -> None:
    url = reverse("audits:version_reports", args=[monitor.model_version_id])
    response = _login(client, risk_officer).post(
        url, _run_form(window_end="2026-02-28T00:00")
    )
    assert response.status_code == 400
    assert response.context["form"].errors["window_end"] == [
        "Must be after window_start."
    ]
    assert MonitoringReport.objects.count() == 0


def test_nav_links_to_monitoring_for_roles_that_read_reports(
    client: Client, auditor: Any, outsider: Any
) -> None:
    _login(client, auditor)
    home = client.get(reverse("audits:home")).content.decode()
    assert home.count(f'href="{reverse("audits:monitoring")}"') == 2
    client.logout()
    _login(client, outsider)
    tokens = client.get(reverse("tokens")).content.decode()
    assert reverse("audits:monitoring") not in tokens
