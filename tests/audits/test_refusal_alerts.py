"""Alerts on repeated refusals (audits.services.refusal_alert_check): the
refusal that brings one account or one address to the threshold within the
window raises one ``audits.refusals.alert_raised`` event and notifies the
administrators after commit; fewer refusals, or refusals outside the window,
raise nothing; and a failing alert never loses the refusal."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import DatabaseError
from django.utils import timezone

from audits import services as audit_services
from audits import tasks
from audits.models import AuditEvent, RefusalKind, RefusedAction
from governance.services import notifications
from tests.audits.refusal_fixtures import refuse

ALERT = audit_services.REFUSAL_ALERT_RAISED


@pytest.fixture(autouse=True)
def alert_settings(settings: Any) -> None:
    settings.MODELGOV_REFUSAL_ALERT_THRESHOLD = 5
    settings.MODELGOV_REFUSAL_ALERT_WINDOW_MINUTES = 15
    settings.MODELGOV_NOTIFY_WEBHOOK_URL = ""


def _failed_login(username: str, ip_address: str) -> RefusedAction:
    return refuse(
        ip_address=ip_address,
        path="/accounts/login/",
        actor=None,
        action="auth.login",
        reason="Wrong user name or password.",
        kind=RefusalKind.LOGIN_FAILED,
        username=username,
    )


def _alerts() -> list[dict[str, Any]]:
    return [
        {**e.payload, "refusal": int(e.object_id)}
        for e in AuditEvent.objects.filter(event_type=ALERT).order_by("pk")
    ]


def test_the_fifth_refusal_of_an_account_raises_one_alert_and_no_more(
    db: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given four failed sign-ins of one account, each from another address
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        for n in range(4):
            _failed_login("mallory", f"203.0.113.{n}")
        # then below the threshold, nothing
        assert _alerts() == []
        assert callbacks == []
        # when the fifth comes
        fifth = _failed_login("mallory", "203.0.113.4")
    # then one alert, on the fifth, and one notification scheduled
    assert _alerts() == [
        {
            "key": "account",
            "value": "mallory",
            "refusals": 5,
            "threshold": 5,
            "window_minutes": 15,
            "refusal": fifth.pk,
        }
    ]
    assert len(callbacks) == 1
    event = AuditEvent.objects.get(event_type=ALERT)
    assert (event.actor_id, event.actor_display) == (None, "system")
    assert event.object_type == "audits.refusedaction"
    # and five more in the same window raise no other alert
    for n in range(5, 10):
        _failed_login("mallory", f"203.0.113.{n}")
    assert len(_alerts()) == 1
    assert RefusedAction.objects.filter(username="mallory").count() == 10


def test_five_refusals_from_one_address_raise_one_address_alert(db: Any) -> None:
    # given five failed sign-ins with five account names from one address
    for name in ("ann", "bob", "cat", "dan"):
        _failed_login(name, "198.51.100.9")
    assert _alerts() == []
    # when
    fifth = _failed_login("eve", "198.51.100.9")
    # then
    assert _alerts() == [
        {
            "key": "address",
            "value": "198.51.100.9",
            "refusals": 5,
            "threshold": 5,
            "window_minutes": 15,
            "refusal": fifth.pk,
        }
    ]


def test_refusals_outside_the_window_do_not_count(db: Any) -> None:
    # given four failed sign-ins 16 minutes ago (rows as an earlier session wrote)
    earlier = timezone.now() - timedelta(minutes=16)
    for n in range(4):
        RefusedAction.objects.create(
            occurred_at=earlier,
            kind=RefusalKind.LOGIN_FAILED,
            action="auth.login",
            username="mallory",
            reason="Wrong user name or password.",
            ip_address=f"192.0.2.{n}",
        )
    # when four more come now
    for n in range(4):
        _failed_login("mallory", f"192.0.2.{10 + n}")
    # then eight in all, but only four within the window: no alert
    assert RefusedAction.objects.filter(username="mallory").count() == 8
    assert _alerts() == []
    # and the fifth within the window raises it
    _failed_login("mallory", "192.0.2.20")
    assert [a["refusals"] for a in _alerts()] == [5]


def test_an_alert_older_than_the_window_does_not_silence_a_new_one(db: Any) -> None:
    # given an alert for the account raised 20 minutes ago
    AuditEvent.objects.create(
        occurred_at=timezone.now() - timedelta(minutes=20),
        event_type=ALERT,
        actor_display="system",
        payload={"key": "account", "value": "mallory"},
    )
    # when five refusals come now
    for n in range(5):
        _failed_login("mallory", f"192.0.2.{n}")
    # then a new alert
    assert AuditEvent.objects.filter(event_type=ALERT).count() == 2


def test_threshold_zero_turns_alerts_off(db: Any, settings: Any) -> None:
    settings.MODELGOV_REFUSAL_ALERT_THRESHOLD = 0
    for _ in range(6):
        _failed_login("mallory", "192.0.2.1")
    assert _alerts() == []


def test_the_administrators_are_emailed_and_the_webhook_posted(
    db: Any,
    administrator: Any,
    auditor: Any,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given an alert raised on the fifth refusal
    settings.MODELGOV_NOTIFY_WEBHOOK_URL = "https://hooks.example.com/modelgov"
    posted: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(
        notifications, "webhook_post", lambda url, body: posted.append((url, body))
    )
    for n in range(5):
        _failed_login("mallory", f"203.0.113.{n}")
    event = AuditEvent.objects.get(event_type=ALERT)
    # when the task runs
    tasks.refusal_alert_notify_task(event.pk)
    # then one email, to the administrator only, listing the five refusals
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [administrator.email]
    assert message.subject == (
        "[modelgov] 5 refused attempts by account mallory within 15 minutes"
    )
    assert message.body.count("login_failed  mallory") == 5
    assert "203.0.113.4" in message.body
    assert posted == [
        (
            "https://hooks.example.com/modelgov",
            {
                "event": "refusals.alert_raised",
                "key": "account",
                "value": "mallory",
                "refusals": 5,
                "threshold": 5,
                "window_minutes": 15,
                "at": event.occurred_at.isoformat(),
            },
        )
    ]


def test_a_failing_alert_never_loses_the_refusal(
    db: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # given four refusals, and the audit event of an alert failing to write
    for n in range(4):
        _failed_login("mallory", f"203.0.113.{n}")

    def broken(**kwargs: Any) -> None:
        raise DatabaseError("disk full")

    monkeypatch.setattr(audit_services, "audit_event_record", broken)
    # when the fifth comes
    with caplog.at_level(logging.ERROR, logger="audits.services"):
        fifth = _failed_login("mallory", "203.0.113.4")
    # then it is recorded, no alert, and the failure is logged
    assert RefusedAction.objects.filter(pk=fifth.pk).exists()
    assert _alerts() == []
    assert f"the alert check of refusal {fifth.pk} failed" in caplog.text


def test_a_failing_notification_is_logged_and_the_alert_stays(
    db: Any,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broker_down(*args: Any) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.refusal_alert_notify_task, "delay", broker_down)
    with (
        caplog.at_level(logging.ERROR, logger="audits.services"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        for n in range(5):
            _failed_login("mallory", f"203.0.113.{n}")
    assert RefusedAction.objects.filter(username="mallory").count() == 5
    assert len(_alerts()) == 1
    assert "the notification of refusal alert" in caplog.text
