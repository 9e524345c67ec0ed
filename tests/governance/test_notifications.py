"""Workflow notifications: who gets which email, the webhook's JSON, failures that
must not raise, and delivery only after the transaction commits."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from django.core import mail

from governance import notification_tasks, services
from governance.models import ReleaseRequest
from governance.services import notifications
from tests.factories import PASSWORD, UserFactory
from tests.governance.workflow_helpers import document_everything

AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]
    status = 204

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers["Content-Length"])
        self.received.append(
            {
                "path": self.path,
                "content_type": self.headers["Content-Type"],
                "body": json.loads(self.rfile.read(length)),
            }
        )
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve(status: int) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Hook", (_Hook,), {"received": received, "status": status})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hooks/modelgov", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    yield from _serve(204)


@pytest.fixture
def failing_webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    yield from _serve(500)


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    monkeypatch.setattr(notifications.timezone, "now", lambda: AT)
    return AT


@pytest.fixture
def validated_request(
    developer: Any, validator: Any, risk_officer: Any, submitted_version: Any
) -> ReleaseRequest:
    # The dossier freezes when the request is submitted (ADR 0026).
    document_everything(
        version=submitted_version, developer=developer, validator=validator
    )
    rr = services.release_request_create(
        actor=developer, version=submitted_version, environments=["production"]
    )
    rr = services.release_request_submit(actor=developer, request=rr)
    rr = services.release_request_start_validation(actor=validator, request=rr)
    return services.release_request_record_validation(
        actor=validator, request=rr, outcome="approve", password=PASSWORD
    )


@pytest.fixture
def approved_request(
    developer: Any,
    validator: Any,
    risk_officer: Any,
    submitted_version: Any,
    validated_request: ReleaseRequest,
) -> ReleaseRequest:
    rolf = UserFactory(username="rolf", role="risk_officer")
    ruth = UserFactory(username="ruth", role="risk_officer")
    rr = validated_request
    for actor, committee in ((risk_officer, False), (rolf, False), (ruth, True)):
        rr = services.release_request_approve(
            actor=actor, request=rr, password=PASSWORD, committee=committee
        )
    assert rr.state == "approved"
    return rr


def _mails() -> list[tuple[str, list[str]]]:
    return [(m.subject, sorted(m.to)) for m in mail.outbox]


def test_a_submitted_request_emails_the_validators_with_an_address(
    developer: Any, validator: Any, submitted_version: Any
) -> None:
    # given validators: vera, walt, one without email and one inactive
    UserFactory(username="walt", role="validator")
    UserFactory(username="nomail", email="", role="validator")
    gone = UserFactory(username="gone", role="validator")
    gone.is_active = False
    gone.save(update_fields=["is_active"])
    rr = services.release_request_create(
        actor=developer, version=submitted_version, environments=["production"]
    )
    rr = services.release_request_submit(actor=developer, request=rr)
    mail.outbox.clear()
    # when
    notifications.notify_request_event(request=rr, event="submitted")
    # then
    assert _mails() == [
        (
            f"[modelgov] RR-{rr.pk} credit-risk 1.0.0: awaits validation",
            ["vera@example.com", "walt@example.com"],
        )
    ]
    assert mail.outbox[0].from_email == "modelgov@localhost"


def test_a_validated_request_emails_the_risk_officers(
    risk_officer: Any, validated_request: ReleaseRequest
) -> None:
    # given a second risk officer
    UserFactory(username="rolf", role="risk_officer")
    mail.outbox.clear()
    # when
    notifications.notify_request_event(request=validated_request, event="validated")
    # then
    assert _mails() == [
        (
            f"[modelgov] RR-{validated_request.pk} credit-risk 1.0.0: awaits approval",
            ["rita@example.com", "rolf@example.com"],
        )
    ]


def test_an_approval_emails_the_requester_and_the_developers(
    credit_model: Any, approved_request: ReleaseRequest
) -> None:
    # given a developer without an address on the team
    credit_model.developers.add(UserFactory(username="quiet", email=""))
    mail.outbox.clear()
    # when
    notifications.notify_request_event(request=approved_request, event="approved")
    # then
    assert _mails() == [
        (
            f"[modelgov] RR-{approved_request.pk} credit-risk 1.0.0: "
            "approved for production",
            ["dana@example.com", "pipeline-bot@example.com"],
        )
    ]
    assert approved_request.expires_at is not None
    assert (
        f"Approved until: {approved_request.expires_at:%Y-%m-%d %H:%M} UTC"
        in mail.outbox[0].body
    )


def test_a_revocation_emails_the_team_with_the_reason_and_rollback_target(
    risk_officer: Any, approved_request: ReleaseRequest
) -> None:
    # given a revoked approval
    rr = services.release_request_revoke(
        actor=risk_officer, request=approved_request, reason="Drift."
    )
    mail.outbox.clear()
    # when
    notifications.notify_request_event(request=rr, event="revoked")
    # then
    assert _mails() == [
        (
            f"[modelgov] RR-{rr.pk} credit-risk 1.0.0: approval revoked",
            ["dana@example.com", "pipeline-bot@example.com"],
        )
    ]
    assert mail.outbox[0].body == (
        f"Release request RR-{rr.pk}: revoked.\n"
        "\n"
        "Model: credit-risk (Credit risk PD)\n"
        "Version: 1.0.0\n"
        "Environments: production\n"
        "State: revoked\n"
        "Reason: Drift.\n"
        "Roll back production to: no approved version\n"
    )


def test_an_expiry_and_a_rejection_email_the_team(
    risk_officer: Any, approved_request: ReleaseRequest
) -> None:
    # given the approval expired
    assert approved_request.expires_at is not None
    services.release_requests_expire_due(now=approved_request.expires_at)
    rr = ReleaseRequest.objects.get(pk=approved_request.pk)
    mail.outbox.clear()
    # when
    notifications.notify_request_event(request=rr, event="expired")
    notifications.notify_request_event(request=rr, event="rejected")
    # then
    assert _mails() == [
        (
            f"[modelgov] RR-{rr.pk} credit-risk 1.0.0: approval expired",
            ["dana@example.com", "pipeline-bot@example.com"],
        ),
        (
            f"[modelgov] RR-{rr.pk} credit-risk 1.0.0: rejected",
            ["dana@example.com", "pipeline-bot@example.com"],
        ),
    ]


def test_an_unknown_event_is_refused(validated_request: ReleaseRequest) -> None:
    # when / then
    with pytest.raises(ValueError) as info:
        notifications.notify_request_event(request=validated_request, event="closed")
    assert str(info.value) == (
        "Unknown request event 'closed'; one of: submitted, validated, approved, "
        "rejected, expired, revoked, amended."
    )
    assert mail.outbox == []


def test_the_webhook_receives_the_event_as_json(
    settings: Any,
    webhook: tuple[str, list[dict[str, Any]]],
    approved_request: ReleaseRequest,
    frozen_now: datetime,
) -> None:
    # given the webhook is configured
    url, received = webhook
    settings.MODELGOV_NOTIFY_WEBHOOK_URL = url
    # when
    notifications.notify_request_event(request=approved_request, event="approved")
    # then it received exactly one POST with the event
    assert received == [
        {
            "path": "/hooks/modelgov",
            "content_type": "application/json",
            "body": {
                "event": "approved",
                "request": f"RR-{approved_request.pk}",
                "model": "credit-risk",
                "version": "1.0.0",
                "environments": ["production"],
                "state": "approved",
                "at": "2026-03-01T09:30:00+00:00",
            },
        }
    ]


def test_no_webhook_is_posted_when_none_is_configured(
    settings: Any,
    webhook: tuple[str, list[dict[str, Any]]],
    validated_request: ReleaseRequest,
) -> None:
    # given no webhook URL
    _, received = webhook
    settings.MODELGOV_NOTIFY_WEBHOOK_URL = ""
    # when
    notifications.notify_request_event(request=validated_request, event="validated")
    # then
    assert received == []
    assert len(mail.outbox) == 1


def test_an_unreachable_webhook_is_logged_not_raised(
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    validated_request: ReleaseRequest,
) -> None:
    # given a webhook on a closed port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.MODELGOV_NOTIFY_WEBHOOK_URL = f"http://127.0.0.1:{port}/hook"
    mail.outbox.clear()
    # when
    with caplog.at_level("WARNING", logger="governance.services.notifications"):
        notifications.notify_request_event(request=validated_request, event="validated")
    # then the email still went out and the failure is logged
    assert len(mail.outbox) == 1
    assert [r.getMessage() for r in caplog.records][0].startswith(
        f"notification webhook failed for RR-{validated_request.pk} validated: "
    )


def test_a_webhook_answering_500_is_logged_not_raised(
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    failing_webhook: tuple[str, list[dict[str, Any]]],
    validated_request: ReleaseRequest,
) -> None:
    # given a webhook that fails
    url, received = failing_webhook
    settings.MODELGOV_NOTIFY_WEBHOOK_URL = url
    # when
    with caplog.at_level("WARNING", logger="governance.services.notifications"):
        notifications.notify_request_event(request=validated_request, event="validated")
    # then
    assert len(received) == 1
    assert [r.getMessage() for r in caplog.records] == [
        f"notification webhook failed for RR-{validated_request.pk} validated: "
        "HTTP Error 500: Internal Server Error"
    ]


def test_scheduling_queues_the_task_once_only_after_commit(
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
    validated_request: ReleaseRequest,
) -> None:
    # given the task's delay is recorded instead of sent to a broker
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        notification_tasks.notify_request_event_task,
        "delay",
        lambda *args: sent.append(args),
    )
    # when a notification is scheduled inside a transaction
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        notifications.schedule_request_notification(validated_request.pk, "validated")
    # then nothing is queued before the commit, and exactly one task after it
    assert sent == []
    assert len(callbacks) == 1
    callbacks[0]()
    assert sent == [(validated_request.pk, "validated")]
    assert mail.outbox == []


def test_scheduling_an_unknown_event_is_refused(
    django_capture_on_commit_callbacks: Any,
) -> None:
    # when / then
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with pytest.raises(ValueError):
            notifications.schedule_request_notification(1, "closed")
    assert callbacks == []


def test_the_task_loads_the_request_and_notifies(
    validated_request: ReleaseRequest,
) -> None:
    # given
    mail.outbox.clear()
    # when the task function runs
    notification_tasks.notify_request_event_task(validated_request.pk, "validated")
    # then
    assert notification_tasks.notify_request_event_task.name == (
        "governance.notify_request_event"
    )
    assert _mails() == [
        (
            f"[modelgov] RR-{validated_request.pk} credit-risk 1.0.0: awaits approval",
            ["rita@example.com"],
        )
    ]


def test_the_task_drops_bad_data_without_error(
    validated_request: ReleaseRequest, caplog: pytest.LogCaptureFixture
) -> None:
    # given
    mail.outbox.clear()
    # when the request does not exist, or the event is unknown
    with caplog.at_level("ERROR", logger="governance.notification_tasks"):
        notification_tasks.notify_request_event_task(
            validated_request.pk + 1000, "approved"
        )
        notification_tasks.notify_request_event_task(validated_request.pk, "closed")
    # then nothing is sent and both are logged
    assert mail.outbox == []
    assert [r.getMessage() for r in caplog.records] == [
        f"notification 'approved': RR-{validated_request.pk + 1000} does not exist",
        f"unknown notification event 'closed' for RR-{validated_request.pk}",
    ]


def test_the_workflow_schedules_its_notifications_after_commit(
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
    developer: Any,
    validator: Any,
    risk_officer: Any,
    submitted_version: Any,
) -> None:
    # given a documented tier-2 version and a recorded delay
    from registry.models import Model

    Model.objects.filter(pk=submitted_version.model_id).update(risk_tier=2)
    submitted_version.refresh_from_db()
    document_everything(
        version=submitted_version, developer=developer, validator=validator
    )
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        notification_tasks.notify_request_event_task,
        "delay",
        lambda *args: sent.append(args),
    )
    # when the request goes from draft to approved and is revoked
    with django_capture_on_commit_callbacks(execute=True):
        rr = services.release_request_create(
            actor=developer, version=submitted_version, environments=["production"]
        )
        rr = services.release_request_submit(actor=developer, request=rr)
        rr = services.release_request_start_validation(actor=validator, request=rr)
        rr = services.release_request_record_validation(
            actor=validator, request=rr, outcome="approve", password=PASSWORD
        )
        rr = services.release_request_approve(
            actor=risk_officer, request=rr, password=PASSWORD
        )
        services.release_request_revoke(actor=risk_officer, request=rr, reason="x")
    # then each notifiable transition queued exactly one task
    assert sent == [
        (rr.pk, "submitted"),
        (rr.pk, "validated"),
        (rr.pk, "approved"),
        (rr.pk, "revoked"),
    ]


def test_a_failing_notification_never_fails_the_committed_action(
    developer: Any,
    submitted_version: Any,
    monkeypatch: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given a broker (or eager delivery) that fails
    def broken(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(notification_tasks.notify_request_event_task, "delay", broken)
    rr = services.release_request_create(
        actor=developer, version=submitted_version, environments=["production"]
    )
    # when the action commits and its notification is sent
    with django_capture_on_commit_callbacks(execute=True):
        rr = services.release_request_submit(actor=developer, request=rr)
    # then the action stands and nothing was raised
    rr.refresh_from_db()
    assert rr.state == "submitted"
