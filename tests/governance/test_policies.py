"""Approval policies: shipped defaults and versioned publishing."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from audits.models import AuditEvent, RefusedAction
from governance import services
from governance.models import ApprovalPolicy


def test_default_policies_exist_one_active_per_tier(db: Any) -> None:
    rows = list(
        ApprovalPolicy.objects.filter(is_active=True)
        .order_by("risk_tier")
        .values_list(
            "risk_tier", "approvals_required", "requires_committee", "validity_days"
        )
    )
    assert rows == [(1, 2, True, 365), (2, 1, False, 548), (3, 1, False, 730)]


def test_publishing_a_policy_versions_it_and_deactivates_the_previous(
    administrator: Any,
) -> None:
    # given the shipped tier-2 policy
    old = ApprovalPolicy.objects.get(risk_tier=2, is_active=True)
    # when an administrator publishes a stricter one
    new = services.approval_policy_publish(
        actor=administrator,
        risk_tier=2,
        data={
            "name": "Tier 2 (2027)",
            "approvals_required": 2,
            "validity_days": 365,
            "environments": ["staging", "production"],
            "required_documents": ["sr11-7-development", "validation-report"],
            "blocking_severities": ["medium", "high", "critical"],
        },
    )
    # then it is version 2, active, and the old one is not
    old.refresh_from_db()
    assert (new.version, new.is_active, old.is_active) == (2, True, False)
    assert ApprovalPolicy.objects.filter(risk_tier=2, is_active=True).get() == new
    event = AuditEvent.objects.get(event_type="governance.policy.published")
    assert event.payload == {"risk_tier": 2, "version": 2, "replaces": 1}


def test_a_risk_officer_cannot_publish_a_policy(risk_officer: Any) -> None:
    before = list(ApprovalPolicy.objects.values())
    with pytest.raises(PermissionDenied, match="Only administrators publish policies."):
        services.approval_policy_publish(
            actor=risk_officer, risk_tier=1, data={"name": "x", "validity_days": 1}
        )
    assert list(ApprovalPolicy.objects.values()) == before
    assert not AuditEvent.objects.filter(
        event_type="governance.policy.published"
    ).exists()
    assert RefusedAction.objects.get().action == "governance.policy.publish"


def test_a_policy_with_unknown_environments_is_refused(administrator: Any) -> None:
    with pytest.raises(ValidationError) as exc:
        services.approval_policy_publish(
            actor=administrator,
            risk_tier=3,
            data={"name": "x", "validity_days": 30, "environments": ["moon"]},
        )
    assert exc.value.message_dict == {
        "environments": ["Choose from: staging, production."]
    }
    assert ApprovalPolicy.objects.filter(risk_tier=3).count() == 1
