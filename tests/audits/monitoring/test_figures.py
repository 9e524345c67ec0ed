"""A report's charts are drawn once, when it finishes, and stored with it
(audits.monitoring.figures): the report page and the evidence packs show the
stored charts, and a report that finished before charts were stored has them
drawn on demand, identical."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from audits.evidence import collect
from audits.monitoring import config, figures
from audits.monitoring.models import MonitoringReport
from governance.models import ReleaseRequest
from tests.audits.ledger.test_ingest_api import (
    ingest_key,  # noqa: F401  (fixture)
    scorer,  # noqa: F401  (fixture)
)
from tests.audits.monitoring.test_monitoring_flow import (
    batch,
    deployed,  # noqa: F401  (fixture)
    ingest,
    run,
)
from tests.factories import PASSWORD
from tests.governance.test_gate_api import approval  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("ledger_key")


@pytest.fixture
def reports(
    deployed: ReleaseRequest,  # noqa: F811
    scorer: Any,  # noqa: F811
    risk_officer: Any,
) -> dict[str, MonitoringReport]:
    end = config.hour_floor(timezone.now())
    window: tuple[datetime, datetime] = (end - timedelta(hours=2), end)
    ingest(
        scorer,
        batch(window[0], group="25+", n=200, approved=140)
        + batch(window[0] + timedelta(minutes=30), group="<25", n=200, approved=110),
    )
    version = deployed.model_version
    return {
        kind: run(risk_officer, version, window, kind)
        for kind in ("fairness", "drift", "performance")
    }


def test_a_finished_report_stores_its_charts_by_name(
    reports: dict[str, MonitoringReport],
) -> None:
    fairness, drift, performance = (
        reports[k] for k in ("fairness", "drift", "performance")
    )
    attributes = figures.fairness_attributes(fairness.metrics)
    assert attributes == ["age_group"]
    assert sorted(fairness.charts) == ["air:age_group", "approval_rate:age_group"]
    assert list(drift.charts) == ["psi"]
    assert list(performance.charts) == ["calibration"]
    for report in reports.values():
        stored = MonitoringReport.objects.get(pk=report.pk).charts
        assert stored == report.charts
        # the stored charts are what drawing the report now gives, byte for byte
        assert figures.draw(report) == stored
        for svg in stored.values():
            assert svg.startswith("<svg ") and svg.rstrip().endswith("</svg>")
    assert (
        "Approval rate by age_group, per hour"
        in fairness.charts["approval_rate:age_group"]
    )


def test_pages_and_packs_show_the_stored_charts_not_a_redrawing(
    reports: dict[str, MonitoringReport], auditor: Any
) -> None:
    # given a drift report whose stored chart is not what drawing would give
    report = reports["drift"]
    marker = '<svg class="modelgov-chart" role="img"><title>stored</title></svg>'
    MonitoringReport.objects.filter(pk=report.pk).update(charts={"psi": marker})
    report.refresh_from_db()
    # then the report page and the pack's figures carry the stored one
    client = Client()
    assert client.login(username=auditor.username, password=PASSWORD)
    page = client.get(f"/audits/reports/{report.pk}").content.decode()
    assert marker in page
    assert figures.report_charts(report) == {"psi": marker}
    (figure,) = collect._figures(report)
    assert (
        figure["src"]
        == "data:image/svg+xml;base64," + base64.b64encode(marker.encode()).decode()
    )
    assert figure["alt"] == "stored"


def test_a_report_without_stored_charts_has_them_drawn_identically(
    reports: dict[str, MonitoringReport],
) -> None:
    for report in reports.values():
        stored = dict(report.charts)
        MonitoringReport.objects.filter(pk=report.pk).update(charts={})
        report.refresh_from_db()
        assert report.charts == {}
        assert figures.report_charts(report) == stored
