"""Monitoring end to end on real PostgreSQL: predictions through the ingest API, the
sequencer, the rollups, a report, and what a breach does to the approval and the gate.

The drift scenario of issue 5: the approval rate of one group falls by more than 15%
and raises exactly one alert, opens a finding and (with the revoke policy) makes the
gate deny; a stable window raises none; a small group is insufficient, not a breach.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from django.core import mail
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from audits.ledger import merkle
from audits.ledger.models import Alert
from audits.models import AuditEvent
from audits.monitoring import config, rollup, services
from audits.monitoring.models import (
    DecisionCell,
    FeatureCell,
    Monitor,
    MonitoringReport,
    OutcomeCell,
    RollupMark,
    ScoreCell,
)
from governance.models import Finding, ReleaseRequest
from governance.services import deployments
from governance.services import gate as gate_service
from tests.audits.ledger.test_ingest_api import (
    ingest_key,  # noqa: F401  (fixture)
    outcome,
    post,
    prediction,
    scorer,  # noqa: F401  (fixture)
    sequence_all,
)
from tests.governance.test_gate_api import approval  # noqa: F401  (fixture)
from tests.governance.test_notifications import webhook  # noqa: F401  (fixture)

OUTCOMES = "/api/v1/outcomes"
pytestmark = pytest.mark.usefixtures("ledger_key")


@pytest.fixture
def window() -> tuple[datetime, datetime]:
    end = config.hour_floor(timezone.now())
    return end - timedelta(hours=2), end


@pytest.fixture
def deployed(approval: ReleaseRequest, service: Any) -> ReleaseRequest:  # noqa: F811
    deployments.deployment_report(
        actor=service, version=approval.model_version, environment="production"
    )
    return approval


def batch(
    start: datetime, *, group: str, n: int, approved: int, **extra: Any
) -> list[dict[str, Any]]:
    """``n`` predictions of ``group``, the first ``approved`` approved."""
    out = []
    for i in range(n):
        at = start + timedelta(minutes=10, seconds=i)
        out.append(
            prediction(
                prediction_id=str(uuid.uuid4()),
                predicted_at=at.isoformat().replace("+00:00", "Z"),
                decision="approve" if i < approved else "decline",
                score=round(0.9 - i / (2 * n), 4),
                features={
                    "amount": 500 + (i % 40) * 100,
                    "duration": 12,
                    "purpose": "car",
                },
                protected_attributes={"age_group": group},
                **extra,
            )
        )
    return out


def ingest(client: Any, records: list[dict[str, Any]]) -> None:
    for i in range(0, len(records), 1000):
        response = post(client, records[i : i + 1000])
        assert response.status_code == 200, response.content
    sequence_all()


def run(
    risk_officer: Any, version: Any, window: tuple[datetime, datetime], kind: str
) -> MonitoringReport:
    report = services.report_request(
        actor=risk_officer,
        version=version,
        environment="production",
        kind=kind,
        window_start=window[0],
        window_end=window[1],
    )
    return services.report_run(report_id=report.pk)


def state(version: Any) -> dict[str, Any]:
    rr = ReleaseRequest.objects.get(model_version=version)
    return {
        "alerts": list(
            Alert.objects.filter(model_version=version)
            .order_by("kind")
            .values_list("kind", "occurrences", "is_open")
        ),
        "findings": list(
            Finding.objects.filter(model_version=version).values_list(
                "severity", "raised_by", "status"
            )
        ),
        "approval": (rr.state, rr.under_review_at is not None),
    }


# --- the drift scenario -------------------------------------------------------------


def test_group_approval_drop_raises_one_alert_and_puts_the_approval_under_review(
    deployed: ReleaseRequest,
    scorer: Any,  # noqa: F811
    risk_officer: Any,
    window: tuple[datetime, datetime],
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given baseline approval rates <25: 0.58 and 25+: 0.72, and a window where
    # <25 falls to 0.49 (-15.5%), 25+ holds at 0.72, and a group of 10 is all declined
    version = deployed.model_version
    start = window[0]
    ingest(
        scorer,
        batch(start, group="25+", n=1000, approved=720)
        + batch(start + timedelta(minutes=30), group="<25", n=1000, approved=490)
        + batch(start + timedelta(minutes=50), group="65+", n=10, approved=0),
    )
    # when the fairness report runs, twice (a persisting breach)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = run(risk_officer, version, window, "fairness")
        second = run(risk_officer, version, window, "fairness")
    # then
    assert first.status == second.status == "done"
    assert first.predictions == 2010
    drift_rows = {
        (r["scope"], r["group"]): r
        for r in first.metrics["approval_drift"]["vs_baseline"]
    }
    young = drift_rows[("age_group", "<25")]
    assert (young["n"], young["rate"], young["status"]) == (1000, 0.49, "breach")
    assert young["relative_change"] == pytest.approx(0.49 / 0.58 - 1, abs=1e-12)
    assert drift_rows[("age_group", "25+")]["status"] == "ok"
    assert drift_rows[("age_group", "65+")]["status"] == "insufficient"
    assert drift_rows[("overall", None)]["status"] == "ok"
    groups = {
        g["group"]: g
        for g in first.metrics["fairness"]["by_attribute"]["age_group"]["groups"]
    }
    assert groups["65+"]["status"] == "insufficient"
    assert groups["65+"]["air"] is None
    assert groups["<25"]["air"] == pytest.approx(0.49 / 0.72, abs=1e-12)
    assert {(b["metric"], b.get("group")) for b in first.breaches} == {
        ("approval_rate", "<25"),
        ("air", "<25"),
    }
    assert not any(b.get("group") == "65+" for b in first.breaches)
    after = state(version)
    assert after["alerts"] == [("monitoring.fairness", 2, True)]
    assert after["findings"] == [("medium", None, "open")]
    assert after["approval"] == ("approved", True)
    # the gate still allows an approval under review (the finding does not block)
    decision = gate_service.gate_check(
        actor=risk_officer,
        environment="production",
        model="credit-risk",
        version="1.0.0",
    )
    assert decision.decision.allowed is True
    # one alert, so one notification
    assert len(callbacks) == 1 + 2  # two report tasks, one alert notification
    assert (
        AuditEvent.objects.filter(event_type="governance.request.under_review").count()
        == 1
    )


def test_with_the_revoke_policy_a_breach_revokes_and_the_gate_denies(
    deployed: ReleaseRequest,
    scorer: Any,  # noqa: F811
    risk_officer: Any,
    window: tuple[datetime, datetime],
) -> None:
    # given a monitor whose policy revokes on breach
    version = deployed.model_version
    monitor = Monitor.objects.get(model_version=version, environment="production")
    services.monitor_update(
        actor=risk_officer, monitor=monitor, changes={"action_on_breach": "revoke"}
    )
    start = window[0]
    ingest(
        scorer,
        batch(start, group="25+", n=1000, approved=720)
        + batch(start + timedelta(minutes=30), group="<25", n=1000, approved=490),
    )
    # when
    report = run(risk_officer, version, window, "fairness")
    # then the approval is revoked by monitoring, and the gate denies
    assert report.status == "done"
    rr = ReleaseRequest.objects.get(pk=deployed.pk)
    assert rr.state == "revoked"
    assert rr.revoked_by is None
    assert rr.rollback_targets == {"production": None}
    assert f"report {report.pk}" in rr.revocation_reason
    assert state(version)["findings"] == [("high", None, "open")]
    decision = gate_service.gate_check(
        actor=risk_officer,
        environment="production",
        model="credit-risk",
        version="1.0.0",
    )
    assert decision.decision.allowed is False


def test_stable_window_raises_nothing(
    deployed: ReleaseRequest,
    scorer: Any,  # noqa: F811
    risk_officer: Any,
    window: tuple[datetime, datetime],
) -> None:
    # given rates at the baseline (<25: 0.58, 25+: 0.72)
    version = deployed.model_version
    start = window[0]
    ingest(
        scorer,
        batch(start, group="25+", n=1000, approved=720)
        + batch(start + timedelta(minutes=30), group="<25", n=1000, approved=580),
    )
    before = state(version)
    events = AuditEvent.objects.count()
    # when
    report = run(risk_officer, version, window, "fairness")
    # then no breach, no alert, no finding, the approval untouched
    assert report.status == "done"
    assert report.breaches == []
    assert (
        state(version)
        == before
        == {
            "alerts": [],
            "findings": [],
            "approval": ("approved", False),
        }
    )
    assert AuditEvent.objects.count() == events + 1  # the report request only


def test_missing_data_is_an_alert(
    deployed: ReleaseRequest, risk_officer: Any, window: tuple[datetime, datetime]
) -> None:
    # given a monitor that expects predictions, and none in the window
    version = deployed.model_version
    # when
    report = run(risk_officer, version, window, "fairness")
    # then
    assert (report.status, report.predictions, report.breaches) == ("done", 0, [])
    alert = Alert.objects.get(model_version=version)
    assert (alert.kind, alert.severity) == ("monitoring.missing_data", "medium")
    assert "0 predictions" in alert.message


# --- rollups ------------------------------------------------------------------------


def cells() -> dict[str, list[tuple[Any, ...]]]:
    return {
        "decisions": sorted(
            DecisionCell.objects.values_list("hour", "groups", "decision", "n")
        ),
        "outcomes": sorted(
            OutcomeCell.objects.values_list(
                "hour", "groups", "decision", "outcome", "n"
            )
        ),
        "scores": sorted(
            ScoreCell.objects.values_list("hour", "score", "outcome", "n")
        ),
        "features": sorted(
            FeatureCell.objects.values_list("hour", "feature", "bin", "n")
        ),
    }


def test_rollups_count_each_entry_once_and_equal_a_rebuild(
    deployed: ReleaseRequest,
    scorer: Any,  # noqa: F811
    window: tuple[datetime, datetime],
) -> None:
    # given predictions, then outcomes for some of them
    records = batch(window[0], group="<25", n=40, approved=25)
    ingest(scorer, records)
    response = post(
        scorer,
        [
            outcome(r["prediction_id"], "good" if i % 2 else "bad")
            for i, r in enumerate(records[:10])
        ],
        url=OUTCOMES,
    )
    assert response.status_code == 200, response.content
    sequence_all()
    # when the rollups advance (twice: the second finds nothing new)
    first = rollup.rollup_catch_up()
    again = rollup.rollup_catch_up()
    incremental = cells()
    rebuilt_count = rollup.rollup_rebuild()
    # then
    assert again == 0
    assert first == rebuilt_count == RollupMark.objects.get().seq
    assert cells() == incremental
    hour = window[0]
    assert incremental["decisions"] == [
        (hour, '{"age_group":"<25"}', "approve", 25),
        (hour, '{"age_group":"<25"}', "decline", 15),
    ]
    assert incremental["outcomes"] == [
        (hour, '{"age_group":"<25"}', "approve", "bad", 5),
        (hour, '{"age_group":"<25"}', "approve", "good", 5),
    ]
    assert sum(n for *_, n in incremental["scores"]) == 10
    features = {(f, b): n for _, f, b, n in incremental["features"]}
    # amounts 500..4400 against the baseline edges 1000 and 3000
    assert features == {
        ("amount", "0"): 5,
        ("amount", "1"): 20,
        ("amount", "2"): 15,
        ("purpose", "car"): 40,
    }


def test_missing_values_and_unknown_categories_have_their_own_bins(
    submitted_version: Any,
) -> None:
    # given leaves (as the sequencer stored them) with a missing amount and a
    # category the baseline never saw
    def leaf(features: dict[str, Any]) -> bytes:
        return orjson.dumps(
            {
                "type": "prediction",
                "prediction_id": str(uuid.uuid4()),
                "deployment": {"model": "credit-risk", "environment": "production"},
                "model_version": {"version": "1.0.0"},
                "predicted_at": "2026-12-01T10:59:59.999999Z",
                "decision": None,
                "score": 0.5,
                "features": features,
            }
        )

    # when
    boat, car = leaf({"purpose": "boat"}), leaf({"amount": 3000, "purpose": "car"})
    cells = rollup.count_entries(
        [
            (0, 1, boat, merkle.leaf_hash(boat), None, None),
            (1, 1, car, merkle.leaf_hash(car), None, None),
        ]
    )
    # then
    version = submitted_version.pk
    assert dict(cells.features) == {
        (version, "production", "2026-12-01T10", "amount", ""): 1,
        (version, "production", "2026-12-01T10", "amount", "2"): 1,
        (version, "production", "2026-12-01T10", "purpose", rollup.OTHER): 1,
        (version, "production", "2026-12-01T10", "purpose", "car"): 1,
    }
    assert dict(cells.decisions) == {
        (version, "production", "2026-12-01T10", "", ""): 2
    }


# --- monitors -----------------------------------------------------------------------


def test_deployment_creates_a_monitor_with_the_tier_defaults_and_a_schedule(
    deployed: ReleaseRequest,
) -> None:
    monitor = Monitor.objects.get(model_version=deployed.model_version)
    # tier 2 (the approve helper re-tiers the model)
    assert (monitor.schedule, monitor.window, monitor.action_on_breach) == (
        "0 2 * * *",
        "last_7_days",
        "review",
    )
    assert monitor.protected_attributes == ["age_group"]
    task = PeriodicTask.objects.get(pk=monitor.periodic_task_id)
    assert (task.task, task.args, task.enabled) == (
        "audits.monitor_run",
        f"[{monitor.pk}]",
        True,
    )
    assert (task.crontab.minute, task.crontab.hour, str(task.crontab.timezone)) == (
        "0",
        "2",
        "UTC",
    )


def test_only_a_risk_officer_may_change_a_monitor(
    deployed: ReleaseRequest, validator: Any, risk_officer: Any
) -> None:
    monitor = Monitor.objects.get(model_version=deployed.model_version)
    before = (monitor.schedule, monitor.periodic_task.crontab_id)
    with pytest.raises(Exception) as denied:
        services.monitor_update(
            actor=validator, monitor=monitor, changes={"schedule": "*/5 * * * *"}
        )
    assert type(denied.value).__name__ == "PermissionDenied"
    monitor.refresh_from_db()
    assert (monitor.schedule, monitor.periodic_task.crontab_id) == before
    updated = services.monitor_update(
        actor=risk_officer, monitor=monitor, changes={"schedule": "*/5 * * * *"}
    )
    task = PeriodicTask.objects.get(pk=updated.periodic_task_id)
    assert (task.crontab.minute, task.crontab.hour) == ("*/5", "*")


def test_monitor_run_is_idempotent_per_window(
    deployed: ReleaseRequest,
    scorer: Any,  # noqa: F811
) -> None:
    monitor = Monitor.objects.get(model_version=deployed.model_version)
    now = timezone.now()
    first = services.monitor_run(monitor_id=monitor.pk, now=now)
    second = services.monitor_run(monitor_id=monitor.pk, now=now)
    assert [r.pk for r in first] == [r.pk for r in second]
    assert sorted(r.kind for r in first) == ["drift", "fairness", "performance"]
    assert MonitoringReport.objects.filter(monitor=monitor).count() == 3
    assert all(r.status == "done" for r in first)
    assert len(mail.outbox) == 0  # notifications go through the (not run) task


# --- notifications ------------------------------------------------------------------


def test_a_new_alert_emails_risk_officers_and_the_owner_and_posts_the_webhook(
    settings: Any,
    webhook: tuple[str, list[dict[str, Any]]],  # noqa: F811
    submitted_version: Any,
    risk_officer: Any,
    developer: Any,
    credit_model: Any,
) -> None:
    # given an open monitoring alert and the webhook configured
    url, received = webhook
    settings.MODELGOV_NOTIFY_WEBHOOK_URL = url
    risk_officer.email = "rita@bank.example"
    risk_officer.save(update_fields=["email"])
    developer.email = "owner@bank.example"
    developer.save(update_fields=["email"])
    credit_model.owner = developer
    credit_model.save(update_fields=["owner"])
    alert, created = services.alert_raise(
        kind="monitoring.drift",
        version=submitted_version,
        environment="production",
        message="Data drift breach for credit-risk 1.0.0: psi amount: 0.310",
        details={"report": 7, "breaches": [{"metric": "psi", "feature": "amount"}]},
    )
    # when the task's service runs
    services.alert_notify(alert_id=alert.pk)
    # then one email to both, and one POST with the alert
    assert created is True
    assert len(mail.outbox) == 1
    assert sorted(mail.outbox[0].to) == ["owner@bank.example", "rita@bank.example"]
    assert mail.outbox[0].subject == (
        "[modelgov] high alert: monitoring.drift on credit-risk 1.0.0"
    )
    assert mail.outbox[0].body == (
        "Data drift breach for credit-risk 1.0.0: psi amount: 0.310\n"
    )
    assert received == [
        {
            "path": "/hooks/modelgov",
            "content_type": "application/json",
            "body": {
                "event": "alert",
                "alert": alert.pk,
                "kind": "monitoring.drift",
                "severity": "high",
                "model": "credit-risk",
                "version": "1.0.0",
                "environment": "production",
                "message": "Data drift breach for credit-risk 1.0.0: psi amount: 0.310",
                "details": {
                    "report": 7,
                    "breaches": [{"metric": "psi", "feature": "amount"}],
                },
            },
        }
    ]
    # and a second raise of the same kind is an occurrence, not a new alert
    again, created_again = services.alert_raise(
        kind="monitoring.drift",
        version=submitted_version,
        environment="production",
        message="again",
        details={"report": 8},
    )
    assert (again.pk, created_again, again.occurrences) == (alert.pk, False, 2)
    assert Alert.objects.count() == 1
