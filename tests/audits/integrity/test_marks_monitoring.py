"""The report page and the open alerts of the monitoring page carry the mark of
their ledger leaf, appended by the monitoring services (issue 13, item 5)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.monitoring import services as monitoring
from governance.models import ReleaseRequest
from tests.audits.integrity.marks_helpers import (
    drop_commitments,
    element,
    marks,
    sequence,
    tamper,
)

pytestmark = pytest.mark.usefixtures("ledger_key")


def _report(rr: ReleaseRequest, risk_officer: Any) -> Any:
    end = timezone.now().replace(minute=0, second=0, microsecond=0)
    report = monitoring.report_request(
        actor=risk_officer,
        version=rr.model_version,
        environment="production",
        kind="drift",
        window_start=end - timedelta(days=1),
        window_end=end,
    )
    return report


def _alert(rr: ReleaseRequest, kind: str) -> Any:
    alert, created = monitoring.alert_raise(
        kind=kind,
        version=rr.model_version,
        environment="production",
        message=f"{kind} breached",
        details={"breaches": []},
    )
    assert created
    return alert


def _get(user: Any, url: str) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_report_page_verified_then_altered(
    approved: ReleaseRequest, risk_officer: Any
) -> None:
    report = _report(approved, risk_officer)
    sequence()
    url = reverse("audits:report", args=[report.pk])

    clean = _get(risk_officer, url)
    tamper(
        "audits_monitoringreport",
        "window_start = window_start - interval '7 days'",
        report.pk,
    )
    altered = _get(risk_officer, url)

    assert marks(element(clean, "report-integrity")) == ["verified"]
    mark = element(altered, "report-integrity")
    assert marks(mark) == ["altered"]
    assert "window_start" in mark


def test_report_without_a_leaf_is_not_verified(
    approved: ReleaseRequest, risk_officer: Any
) -> None:
    report = _report(approved, risk_officer)
    drop_commitments("audits_monitoringreport", report.pk)

    html = _get(risk_officer, reverse("audits:report", args=[report.pk]))

    assert marks(element(html, "report-integrity")) == ["not_verified"]


def test_open_alerts_marked_each(approved: ReleaseRequest, risk_officer: Any) -> None:
    forged = _alert(approved, "drift")
    untouched = _alert(approved, "fairness")
    sequence()
    tamper("audits_alert", "message = %s, severity = 'low'", forged.pk, ("all quiet",))

    html = _get(risk_officer, reverse("audits:monitoring"))

    row = element(html, f"alert-{forged.pk}")
    assert "all quiet" in row
    assert marks(row) == ["altered"]
    assert marks(element(html, f"alert-{untouched.pk}")) == ["verified"]


def test_a_monitor_whose_settings_were_edited_behind_the_app_is_altered(
    approved: ReleaseRequest, risk_officer: Any
) -> None:
    version = approved.model_version
    forged = monitoring.monitor_ensure(version=version, environment="production")
    untouched = monitoring.monitor_ensure(version=version, environment="staging")
    sequence()
    tamper("audits_monitor", "is_enabled = false", forged.pk)

    html = _get(risk_officer, reverse("audits:monitoring"))

    row = element(html, f"monitor-{forged.pk}")
    assert "Disabled" in row
    assert marks(row) == ["altered"]
    assert "is_enabled" in row
    assert marks(element(html, f"monitor-{untouched.pk}")) == ["verified"]
