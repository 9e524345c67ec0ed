"""Real headless Chromium through the monitoring pages: a risk officer opens the
monitoring overview from the navigation, clicks through to a done fairness report
and reads its charts, then opens a drift report and its PSI chart.

The reports are seeded as the report task would leave them: the monitor through
``monitor_ensure`` and done report rows whose metrics the pure modules computed
(here, in the test process) on synthetic counts, written with ``manage.py shell``
like the other e2e tests seed theirs.
"""

from __future__ import annotations

import base64
import json
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from audits.monitoring import drift, fairness

pytestmark = pytest.mark.e2e

MODEL = "mortgage-approval-hmda"
VERSION = "2.0.0"
ATTRIBUTE = "applicant_sex"
BASELINE_RATES = {
    "overall": 0.7,
    "by_group": {ATTRIBUTE: {"Female": 0.68, "Male": 0.72}},
}
FEATURES = {
    "loan_amount": {
        "type": "numeric",
        "edges": [100_000.0, 250_000.0, 500_000.0],
        "proportions": [0.2, 0.4, 0.3, 0.1],
    },
    "loan_purpose": {
        "type": "categorical",
        "proportions": {"purchase": 0.6, "refinance": 0.3, "improvement": 0.1},
    },
}

SEED = """
import base64, json
from datetime import datetime
from audits.monitoring import services
from audits.monitoring.models import MonitoringReport
from registry.models import ModelVersion
data = json.loads(base64.b64decode("PAYLOAD"))
mv = ModelVersion.objects.get(model__slug=data["model"], version=data["version"])
monitor = services.monitor_ensure(version=mv, environment="production")
ids = {}
for kind, spec in data["reports"].items():
    ids[kind] = MonitoringReport.objects.create(
        model_version=mv,
        environment="production",
        monitor=monitor,
        kind=kind,
        window_start=datetime.fromisoformat(data["window_start"]),
        window_end=datetime.fromisoformat(data["window_end"]),
        trigger="api",
        status="done",
        config=services._report_config(mv, monitor),
        metrics=spec["metrics"],
        breaches=spec["breaches"],
        predictions=spec["predictions"],
        as_of_seq=0,
        finished_at=datetime.fromisoformat(data["window_end"]),
    ).pk
print(json.dumps({"monitor": monitor.pk, "reports": ids}))
"""


def _fairness(periods: list[datetime]) -> dict[str, Any]:
    rows = []
    for group, approved_good, approved_bad, declined, pending in (
        ("Female", 120, 30, 130, 20),
        ("Male", 260, 30, 70, 40),
    ):
        rows += [
            {ATTRIBUTE: group, "decision": 1, "outcome": 1.0, "n": approved_good},
            {ATTRIBUTE: group, "decision": 1, "outcome": 0.0, "n": approved_bad},
            {ATTRIBUTE: group, "decision": 0, "outcome": 0.0, "n": declined},
            {ATTRIBUTE: group, "decision": 1, "outcome": math.nan, "n": pending},
        ]
    cells = pd.DataFrame(rows)
    fair = fairness.fairness_report(cells, attributes=[ATTRIBUTE])
    approval = fairness.approval_drift(
        cells, attributes=[ATTRIBUTE], baseline=BASELINE_RATES
    )
    metrics = {
        "undecided": 0,
        "attributes": [ATTRIBUTE],
        "fairness": fair,
        "approval_drift": approval,
        "series": {
            "period": "hour",
            "periods": [p.isoformat() for p in periods],
            "approval_rate": {
                ATTRIBUTE: {
                    "Female": [0.6, 0.55, 0.5, None, 0.52, 0.56],
                    "Male": [0.75, 0.8, 0.82, 0.79, 0.81, 0.8],
                }
            },
            "air": {
                ATTRIBUTE: {
                    "Female": [0.8, 0.69, 0.61, None, 0.64, 0.7],
                    "Male": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
                }
            },
        },
        "baseline_approval_rate": BASELINE_RATES,
    }
    return {
        "metrics": metrics,
        "breaches": [*fair["breaches"], *approval["breaches"]],
        "predictions": 700,
    }


def _drift() -> dict[str, Any]:
    metrics = drift.feature_drift(
        FEATURES,
        {
            "loan_amount": {"0": 40, "1": 120, "2": 240, "3": 200},
            "loan_purpose": {"purchase": 350, "refinance": 190, "improvement": 60},
        },
        baseline_n=5000,
    )
    return {"metrics": metrics, "breaches": metrics["breaches"], "predictions": 600}


@pytest.fixture(scope="module")
def seeded(live_app: Any) -> dict[str, Any]:
    """A monitor of the mortgage model in production with a done fairness and a
    done drift report over the last complete six hours."""
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=6)
    payload = {
        "model": MODEL,
        "version": VERSION,
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "reports": {
            "fairness": _fairness([start + timedelta(hours=h) for h in range(6)]),
            "drift": _drift(),
        },
    }
    encoded = base64.b64encode(json.dumps(payload).encode()).decode()
    out = live_app.manage("shell", "-c", SEED.replace("PAYLOAD", encoded)).stdout
    # The last line: Django's shell may first announce its automatic imports.
    return dict(json.loads(out.strip().splitlines()[-1]))


def _login(page: Any, live_app: Any, username: str) -> None:
    page.goto(f"{live_app.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(live_app.password)
    page.get_by_role("button", name=re.compile("log in|sign in", re.I)).click()
    page.wait_for_url(re.compile(r"/(audits|registry)/$"))


def _open_from_overview(page: Any, seeded: dict[str, Any], kind: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Monitoring"
    ).click()
    page.wait_for_url(re.compile(r"/audits/monitoring/$"))
    row = page.locator(f"#monitor-{seeded['monitor']}")
    row.locator(f'a[href="/audits/reports/{seeded["reports"][kind]}"]').click()
    page.wait_for_url(re.compile(rf"/audits/reports/{seeded['reports'][kind]}$"))


def test_risk_officer_reads_the_charts_of_fairness_and_drift_reports(
    live_app: Any, page: Any, seeded: dict[str, Any], tmp_path: Path
) -> None:
    # given the risk officer signed in
    _login(page, live_app, "risk")
    # when they open the overview and the latest fairness report of the mortgage model
    _open_from_overview(page, seeded, "fairness")
    # then the breach box comes first, naming the flagged group
    breaches = page.get_by_role("alert").filter(has_text="breach")
    assert breaches.first.is_visible()
    assert "applicant_sex = Female: AIR" in breaches.first.inner_text()
    # and both charts are drawn, visible, with their captions
    figures = page.locator("figure.chart")
    assert figures.count() == 2
    for index in range(2):
        svg = figures.nth(index).locator("svg")
        assert svg.is_visible()
        box = svg.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100
    captions = page.locator("figure.chart figcaption")
    assert "Share of favourable decisions per hour" in captions.nth(0).inner_text()
    assert "four-fifths screening threshold" in captions.nth(1).inner_text()
    # and the groups are named in the charts and in the table
    assert "Female" in figures.nth(0).locator("svg").inner_html()
    table = page.get_by_role("table", name="Groups of applicant_sex")
    assert table.get_by_role("rowheader", name="Female").is_visible()
    assert table.get_by_text("Flag", exact=True).is_visible()
    page.screenshot(path=str(tmp_path / "fairness-report.png"), full_page=True)

    # when they go back to the overview and open the drift report
    _open_from_overview(page, seeded, "drift")
    # then the PSI chart is drawn with its caption, and a feature's bins expand
    chart = page.locator("figure.chart svg")
    assert chart.count() == 1
    assert chart.is_visible()
    assert "loan_amount" in chart.inner_html()
    caption = page.locator("figure.chart figcaption").inner_text()
    assert "PSI of each feature" in caption
    bins = page.locator("details.feature-bins").filter(has_text="loan_amount")
    bins.locator("summary").click()
    assert bins.get_by_role("rowheader", name="100000 – 250000").is_visible()
    page.screenshot(path=str(tmp_path / "drift-report.png"), full_page=True)
