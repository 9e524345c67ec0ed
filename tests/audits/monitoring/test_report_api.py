"""The reports API: POST V/reports (202, queued, the task after commit) and
GET /api/v1/reports/{id}, with the permission matrix and precise 400s."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from audits.models import AuditEvent
from audits.monitoring import config, services
from audits.monitoring.models import MonitoringReport
from tests.conftest import client_for

RUN = "/api/v1/models/credit-risk/versions/1.0.0/reports"


@pytest.fixture
def window() -> tuple[datetime, datetime]:
    end = config.hour_floor(timezone.now())
    return end - timedelta(hours=24), end


def body(window: tuple[datetime, datetime], **overrides: Any) -> dict[str, Any]:
    data = {
        "kind": "fairness",
        "environment": "production",
        "window_start": window[0].isoformat(),
        "window_end": window[1].isoformat(),
    }
    data.update(overrides)
    return data


def as_who(request: Any, who: str) -> APIClient:
    """A token client, or a signed-in session for users without a role (no token)."""
    if who == "anonymous":
        return APIClient()
    user = request.getfixturevalue(who)
    if who == "outsider":
        client = APIClient()
        client.force_login(user)
        return client
    return client_for(user)


def nothing_written() -> tuple[int, int]:
    return MonitoringReport.objects.count(), AuditEvent.objects.filter(
        event_type="audits.report.requested"
    ).count()


def test_risk_officer_queues_a_report_and_the_task_is_sent_after_commit(
    submitted_version: Any,
    risk_officer: Any,
    window: tuple[datetime, datetime],
    django_capture_on_commit_callbacks: Any,
) -> None:
    client = client_for(risk_officer)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(RUN, body(window), format="json")
    assert response.status_code == 202, response.content
    report = MonitoringReport.objects.get()
    data = response.json()
    assert (
        response["Location"]
        == data["url"]
        == f"http://testserver/api/v1/reports/{report.pk}"
    )
    assert data["page_url"] == f"http://testserver/audits/reports/{report.pk}"
    assert (data["status"], data["metrics"], data["breaches"]) == ("queued", None, None)
    assert (data["model"], data["version"], data["kind"], data["trigger"]) == (
        "credit-risk",
        "1.0.0",
        "fairness",
        "api",
    )
    assert data["config"]["protected_attributes"] == ["age_group"]
    assert len(callbacks) == 1
    event = AuditEvent.objects.get(event_type="audits.report.requested")
    assert (event.actor_id, event.object_id) == (risk_officer.pk, str(report.pk))


def test_report_json_after_it_ran(
    submitted_version: Any, risk_officer: Any, window: tuple[datetime, datetime]
) -> None:
    report = services.report_request(
        actor=risk_officer,
        version=submitted_version,
        environment="production",
        kind="drift",
        window_start=window[0],
        window_end=window[1],
    )
    services.report_run(report_id=report.pk)
    response = client_for(risk_officer).get(f"/api/v1/reports/{report.pk}")
    assert response.status_code == 200
    data = response.json()
    assert (data["status"], data["predictions"], data["error"]) == ("done", 0, None)
    assert [f["feature"] for f in data["metrics"]["features"]] == ["amount", "purpose"]
    assert all(f["status"] == "insufficient" for f in data["metrics"]["features"])
    assert data["breaches"] == []


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"kind": "speed"}, "kind", '"speed" is not a valid choice.'),
        (
            {"window_start": "2026-11-30T10:30:00Z"},
            "window_start",
            "Must fall on the hour: reports cover whole UTC hours.",
        ),
        ({"window_end": "yesterday"}, "window_end", None),
        ({"environment": "moon"}, "environment", "One of: staging, production."),
    ],
)
def test_bad_input_is_400_naming_the_field_and_writes_nothing(
    submitted_version: Any,
    risk_officer: Any,
    window: tuple[datetime, datetime],
    overrides: dict[str, Any],
    field: str,
    message: str | None,
) -> None:
    before = nothing_written()
    response = client_for(risk_officer).post(
        RUN, body(window, **overrides), format="json"
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == [field]
    if message is not None:
        assert errors[field] == [message]
    assert nothing_written() == before


def test_window_end_before_start_is_400(
    submitted_version: Any, risk_officer: Any, window: tuple[datetime, datetime]
) -> None:
    response = client_for(risk_officer).post(
        RUN,
        body(
            window, window_start=window[1].isoformat(), window_end=window[0].isoformat()
        ),
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"window_end": ["Must be after window_start."]}
    assert nothing_written() == (0, 0)


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("anonymous", 401),
        ("validator", 403),
        ("auditor", 403),
        ("outsider", 403),
        ("developer", 403),
    ],
)
def test_only_risk_officers_run_reports(
    request: Any,
    submitted_version: Any,
    window: tuple[datetime, datetime],
    who: str,
    status: int,
) -> None:
    response = as_who(request, who).post(RUN, body(window), format="json")
    assert response.status_code == status
    assert nothing_written() == (0, 0)


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("anonymous", 401),
        ("outsider", 403),
        ("other_developer", 404),
        ("developer", 200),
        ("validator", 200),
        ("auditor", 200),
        ("risk_officer", 200),
    ],
)
def test_who_reads_a_report(
    request: Any,
    submitted_version: Any,
    risk_officer: Any,
    window: tuple[datetime, datetime],
    who: str,
    status: int,
) -> None:
    report = services.report_request(
        actor=risk_officer,
        version=submitted_version,
        environment="production",
        kind="fairness",
        window_start=window[0],
        window_end=window[1],
    )
    response = as_who(request, who).get(f"/api/v1/reports/{report.pk}")
    assert response.status_code == status


def test_unknown_report_is_404(risk_officer: Any) -> None:
    assert client_for(risk_officer).get("/api/v1/reports/999999").status_code == 404
