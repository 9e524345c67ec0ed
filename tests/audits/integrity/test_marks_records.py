"""Findings, gate decisions and deployments, as pages and API records, carry the
mark of their ledger leaf (issue 13, item 5)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from governance import services
from governance.models import Deployment, Finding, GateDecision, ReleaseRequest
from governance.services import deployments
from tests.audits.integrity.marks_helpers import (
    drop_commitments,
    element,
    marks,
    sequence,
    tamper,
)
from tests.conftest import client_for

pytestmark = pytest.mark.usefixtures("ledger_key")


def _findings(rr: ReleaseRequest, validator: Any, count: int) -> list[Finding]:
    return [
        services.finding_raise(
            actor=validator,
            version=rr.model_version,
            severity="medium",
            title=f"Finding {i}",
            description="Described.",
            owner=None,
            due_date=None,
            sr_section="",
        )
        for i in range(count)
    ]


def test_findings_page_marks_a_forged_closure(
    approved: ReleaseRequest, validator: Any, approver: Any
) -> None:
    forged, untouched = _findings(approved, validator, 2)
    sequence()
    tamper(
        "governance_finding",
        "status = 'closed', closure_evidence = %s",
        forged.pk,
        ("fixed",),
    )
    client = Client()
    client.force_login(approver)

    response = client.get(reverse("governance:findings"))

    assert response.status_code == 200
    html = response.content.decode()
    row = element(html, f"finding-{forged.pk}")
    assert "fixed" in row
    assert marks(row) == ["altered"]
    assert "closure_evidence" in row and "status" in row
    assert marks(element(html, f"finding-{untouched.pk}")) == ["verified"]


def test_gate_decisions_api_marks_a_denial_turned_into_an_allow(
    approved: ReleaseRequest, service: Any, auditor: Any
) -> None:
    version = approved.model_version
    for _ in range(2):
        services.gate_check(
            actor=service,
            environment="staging",
            model=version.model.slug,
            version=version.version,
        )
    forged, untouched = GateDecision.objects.order_by("decided_at", "pk")
    assert not forged.allowed
    sequence()
    tamper("governance_gatedecision", "allowed = true", forged.pk)
    client = client_for(auditor)

    listed = client.get("/api/v1/gate/decisions")
    one = client.get(f"/api/v1/gate/decisions/{forged.decision_id}")

    assert listed.status_code == 200, listed.content
    rows = {r["decision_id"]: r for r in listed.json()["results"]}
    assert rows[str(forged.decision_id)]["allowed"] is True
    assert rows[str(forged.decision_id)]["integrity"]["state"] == "altered"
    assert rows[str(forged.decision_id)]["integrity"]["fields"] == ["allowed"]
    assert rows[str(untouched.decision_id)]["integrity"]["state"] == "verified"
    assert one.status_code == 200
    assert one.json()["integrity"]["state"] == "altered"


def test_deployments_api_marks_an_altered_time_and_a_missing_leaf(
    approved: ReleaseRequest, service: Any, auditor: Any
) -> None:
    version = approved.model_version
    report = deployments.deployment_report(
        actor=service, version=version, environment="production"
    )
    deployment = report.deployment
    sequence()
    client = client_for(auditor)

    clean = client.get("/api/v1/deployments", {"environment": "production"})
    tamper(
        "governance_deployment",
        "deployed_at = deployed_at - interval '3 days'",
        deployment.pk,
    )
    altered = client.get("/api/v1/deployments", {"environment": "production"})
    drop_commitments("governance_deployment", deployment.pk)
    unchecked = client.get("/api/v1/deployments", {"environment": "production"})

    assert Deployment.objects.count() == 1
    for response in (clean, altered, unchecked):
        assert response.status_code == 200, response.content
    assert [r["integrity"]["state"] for r in clean.json()["results"]] == ["verified"]
    (row,) = altered.json()["results"]
    assert row["integrity"]["state"] == "altered"
    assert row["integrity"]["fields"] == ["deployed_at"]
    assert [r["integrity"]["state"] for r in unchecked.json()["results"]] == [
        "not_verified"
    ]
