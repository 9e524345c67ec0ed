"""Reported deployments: the service, the "live at" selector and the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from rest_framework.test import APIClient

from audits.models import AuditEvent
from governance import services
from governance.models import Deployment, ReleaseRequest
from governance.services import deployments
from registry import services as registry_services
from tests.conftest import client_for
from tests.factories import version_payload
from tests.governance.test_gate_api import approve

URL = "/api/v1/deployments"


@pytest.fixture
def approval(
    submitted_version: Any, developer: Any, validator: Any, risk_officer: Any
) -> ReleaseRequest:
    return approve(
        version=submitted_version,
        developer=developer,
        validator=validator,
        risk_officer=risk_officer,
        environments=["production"],
    )


@pytest.fixture
def second_version(credit_model: Any, developer: Any) -> Any:
    return registry_services.model_version_register(
        actor=developer, model=credit_model, data=version_payload("2.0.0")
    )


def iso(value: Any) -> str:
    return value.isoformat().replace("+00:00", "Z")


def test_report_binds_the_approval_in_force_and_is_audited(
    approval: ReleaseRequest, submitted_version: Any, service: Any
) -> None:
    # given a time after the approval
    at = approval.approved_at + timedelta(hours=1)
    # when the deployment system reports the deployment
    report = deployments.deployment_report(
        actor=service,
        version=submitted_version,
        environment="production",
        deployed_at=at,
        target="prod-eu/credit/scorer",
        external_id="argo-123",
    )
    # then
    row = Deployment.objects.get()
    assert report.deployment == row
    assert report.warnings == ()
    assert (row.action, row.deployed_at, row.approval, row.reported_by) == (
        "deployed",
        at,
        approval,
        service,
    )
    event = AuditEvent.objects.get(event_type="governance.deployment.reported")
    assert event.object_id == str(row.pk)
    assert event.payload["approval"] == f"RR-{approval.pk}"
    assert event.payload["warnings"] == []


def test_report_before_the_approval_records_a_warning(
    approval: ReleaseRequest, submitted_version: Any, service: Any
) -> None:
    # when a deployment from before the approval is reported
    report = deployments.deployment_report(
        actor=service,
        version=submitted_version,
        environment="production",
        deployed_at=approval.approved_at - timedelta(days=1),
    )
    # then it is recorded without approval, with the warning
    assert report.deployment.approval is None
    assert report.warnings == ("deployed without an approval in force",)
    assert Deployment.objects.count() == 1


def test_report_in_an_environment_not_approved_has_no_approval(
    approval: ReleaseRequest, submitted_version: Any, service: Any
) -> None:
    # when
    report = deployments.deployment_report(
        actor=service, version=submitted_version, environment="staging"
    )
    # then
    assert report.deployment.approval is None
    assert report.warnings == ("deployed without an approval in force",)


def test_report_after_revocation_has_no_approval(
    approval: ReleaseRequest, submitted_version: Any, service: Any, risk_officer: Any
) -> None:
    # given a revoked approval
    services.release_request_revoke(actor=risk_officer, request=approval, reason="x")
    # when
    report = deployments.deployment_report(
        actor=service, version=submitted_version, environment="production"
    )
    # then
    assert report.deployment.approval is None


def test_report_refuses_an_actor_without_add_deployment(
    submitted_version: Any, developer: Any
) -> None:
    # given
    events = AuditEvent.objects.count()
    # when / then
    with pytest.raises(PermissionDenied):
        deployments.deployment_report(
            actor=developer, version=submitted_version, environment="production"
        )
    assert Deployment.objects.count() == 0
    assert AuditEvent.objects.count() == events


def test_report_refuses_an_unknown_environment(
    submitted_version: Any, service: Any
) -> None:
    # when / then
    with pytest.raises(ValidationError) as caught:
        deployments.deployment_report(
            actor=service, version=submitted_version, environment="moon"
        )
    assert caught.value.message_dict == {
        "environment": ["Unknown environment 'moon'; known: staging, production."]
    }
    assert Deployment.objects.count() == 0


def test_live_at_follows_two_deployments_and_an_undeploy(
    approval: ReleaseRequest, submitted_version: Any, second_version: Any, service: Any
) -> None:
    # given 1.0.0 deployed at t1, 2.0.0 at t2, 2.0.0 undeployed at t3,
    # and 1.0.0 in staging (another environment) at t1
    t0 = approval.approved_at
    t1, t2, t3 = (t0 + timedelta(hours=h) for h in (1, 2, 3))
    first = deployments.deployment_report(
        actor=service,
        version=submitted_version,
        environment="production",
        deployed_at=t1,
    ).deployment
    second = deployments.deployment_report(
        actor=service, version=second_version, environment="production", deployed_at=t2
    ).deployment
    deployments.deployment_report(
        actor=service,
        version=second_version,
        environment="production",
        action="undeployed",
        deployed_at=t3,
    )
    deployments.deployment_report(
        actor=service, version=submitted_version, environment="staging", deployed_at=t1
    )
    # when / then
    assert deployments.deployment_live_at(environment="production", at=t0) == []
    assert deployments.deployment_live_at(environment="production", at=t1) == [first]
    assert deployments.deployment_live_at(
        environment="production", at=t1 + timedelta(minutes=30)
    ) == [first]
    assert deployments.deployment_live_at(environment="production", at=t2) == [second]
    assert deployments.deployment_live_at(environment="production", at=t3) == []
    assert first.approval == approval
    assert second.approval is None


def test_undeploy_of_another_version_leaves_the_live_one(
    submitted_version: Any, second_version: Any, service: Any
) -> None:
    # given 1.0.0 live, then an undeploy of 2.0.0 reported
    now = submitted_version.created_at
    live = deployments.deployment_report(
        actor=service,
        version=submitted_version,
        environment="production",
        deployed_at=now + timedelta(minutes=1),
    ).deployment
    deployments.deployment_report(
        actor=service,
        version=second_version,
        environment="production",
        action="undeployed",
        deployed_at=now + timedelta(minutes=2),
    )
    # when
    result = deployments.deployment_live_at(
        environment="production", at=now + timedelta(minutes=3)
    )
    # then
    assert result == [live]


def test_api_report_returns_201_with_approval(
    approval: ReleaseRequest, service: Any
) -> None:
    # given
    at = approval.approved_at + timedelta(hours=1)
    decision = services.gate_check(
        actor=service, model="credit-risk", version="1.0.0", environment="production"
    ).record
    # when
    response = client_for(service).post(
        URL,
        {
            "model": "credit-risk",
            "version": "1.0.0",
            "environment": "production",
            "deployed_at": iso(at),
            "target": "prod-eu/credit/scorer",
            "external_id": "argo-123",
            "decision_id": str(decision.decision_id),
        },
        format="json",
    )
    # then
    assert response.status_code == 201
    row = Deployment.objects.get()
    body = response.json()
    assert body["warnings"] == []
    assert body["id"] == row.pk
    assert body["decision_id"] == str(decision.decision_id)
    assert body["approval"]["id"] == f"RR-{approval.pk}"
    assert (body["deployed_at"], body["action"], body["target"]) == (
        iso(at),
        "deployed",
        "prod-eu/credit/scorer",
    )
    assert row.gate_decision == decision


def test_api_report_without_approval_warns(
    submitted_version: Any, service: Any
) -> None:
    # when
    response = client_for(service).post(
        URL,
        {"model": "credit-risk", "version": "1.0.0", "environment": "production"},
        format="json",
    )
    # then
    assert response.status_code == 201
    assert response.json()["warnings"] == ["deployed without an approval in force"]
    assert response.json()["approval"] is None


def test_api_report_refuses_a_decision_about_another_environment(
    approval: ReleaseRequest, service: Any
) -> None:
    # given a decision about staging
    decision = services.gate_check(
        actor=service, model="credit-risk", version="1.0.0", environment="staging"
    ).record
    # when it is cited for a production deployment
    response = client_for(service).post(
        URL,
        {
            "model": "credit-risk",
            "version": "1.0.0",
            "environment": "production",
            "decision_id": str(decision.decision_id),
        },
        format="json",
    )
    # then
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["decision_id"]
    assert Deployment.objects.count() == 0


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        (
            {"model": "credit-risk", "version": "1.0.0"},
            {"environment": ["This field is required."]},
        ),
        (
            {
                "model": "credit-risk",
                "version": "1.0.0",
                "environment": "production",
                "action": "paused",
            },
            {"action": ['"paused" is not a valid choice.']},
        ),
        (
            {
                "model": "credit-risk",
                "version": "1.0.0",
                "environment": "moon",
            },
            {
                "environment": [
                    "Unknown environment 'moon'; known: staging, production."
                ]
            },
        ),
    ],
)
def test_api_report_bad_body_is_400(
    submitted_version: Any, service: Any, payload: Any, errors: Any
) -> None:
    # when
    response = client_for(service).post(URL, payload, format="json")
    # then
    assert response.status_code == 400
    assert response.json()["errors"] == errors
    assert Deployment.objects.count() == 0


def test_api_report_of_an_unknown_version_is_404(
    credit_model: Any, service: Any
) -> None:
    # when
    response = client_for(service).post(
        URL,
        {"model": "credit-risk", "version": "9.9.9", "environment": "production"},
        format="json",
    )
    # then
    assert response.status_code == 404
    assert Deployment.objects.count() == 0


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("developer", 403), ("risk_officer", 403), ("auditor", 403), ("service", 201)],
)
def test_api_report_needs_add_deployment_and_gate_check(
    request: Any, submitted_version: Any, persona: str, expected: int
) -> None:
    # given
    client = client_for(request.getfixturevalue(persona))
    # when
    response = client.post(
        URL,
        {"model": "credit-risk", "version": "1.0.0", "environment": "production"},
        format="json",
    )
    # then
    assert response.status_code == expected
    assert Deployment.objects.count() == (1 if expected == 201 else 0)


def test_api_live_at_answers_which_version_under_which_approval(
    approval: ReleaseRequest,
    submitted_version: Any,
    second_version: Any,
    service: Any,
    auditor: Any,
) -> None:
    # given 1.0.0 deployed at t1 and 2.0.0 at t2
    t1 = approval.approved_at + timedelta(hours=1)
    t2 = approval.approved_at + timedelta(hours=2)
    deployments.deployment_report(
        actor=service,
        version=submitted_version,
        environment="production",
        deployed_at=t1,
    )
    deployments.deployment_report(
        actor=service, version=second_version, environment="production", deployed_at=t2
    )
    client = APIClient()
    client.force_login(auditor)
    # when the auditor asks what was live between them
    at = t1 + timedelta(minutes=30)
    response = client.get(URL, {"environment": "production", "at": iso(at)})
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["environment"] == "production"
    assert body["at"] == iso(at)
    assert [
        (r["model"], r["version"], r["artifact_sha256"], r["deployed_at"])
        for r in body["results"]
    ] == [("credit-risk", "1.0.0", submitted_version.artifact_sha256, iso(t1))]
    assert body["results"][0]["approval"]["id"] == f"RR-{approval.pk}"
    # and after t2, 2.0.0 without approval
    later = client.get(URL, {"environment": "production", "at": iso(t2)}).json()
    assert [(r["version"], r["approval"]) for r in later["results"]] == [
        ("2.0.0", None)
    ]


def test_api_live_at_needs_an_environment(auditor: Any) -> None:
    # when
    response = client_for(auditor).get(URL)
    # then
    assert response.status_code == 400
    assert response.json()["errors"] == {"environment": ["This field is required."]}


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("developer", 403), ("outsider", 403), ("risk_officer", 200), ("auditor", 200)],
)
def test_api_live_at_needs_view_deployment(
    request: Any, persona: str, expected: int
) -> None:
    # given
    client = APIClient()
    client.force_login(request.getfixturevalue(persona))
    # when
    response = client.get(URL, {"environment": "production"})
    # then
    assert response.status_code == expected


def test_api_live_at_query_count(
    approval: ReleaseRequest,
    submitted_version: Any,
    service: Any,
    auditor: Any,
    django_assert_num_queries: Any,
) -> None:
    # given a deployment
    at = approval.approved_at + timedelta(hours=1)
    deployments.deployment_report(
        actor=service,
        version=submitted_version,
        environment="production",
        deployed_at=at,
    )
    client = APIClient()
    client.force_login(auditor)
    # when / then: session, user, 2 permissions, rows, signatures, and the ledger
    # check of the rows (record leaves, ledger entries, checkpoint)
    with django_assert_num_queries(9):
        response = client.get(URL, {"environment": "production", "at": iso(at)})
    assert len(response.json()["results"]) == 1
