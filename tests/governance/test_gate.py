"""Table-driven tests of the pure gate decision (no database)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from governance.gate import (
    BLOCKED_MODEL_STATUSES,
    ApprovalFact,
    Decision,
    FindingFact,
    GateInput,
    Subject,
    decide,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
A = "a" * 64
B = "b" * 64
ENVS = frozenset({"staging", "production"})
SUBJECT = Subject(
    model="credit", version="1.0.0", artifact_sha256=A, content_digest="c" * 64
)
APPROVAL = ApprovalFact(
    approval_id="AP-1",
    model="credit",
    version="1.0.0",
    artifact_sha256=A,
    content_digest="c" * 64,
    environments=frozenset({"staging", "production"}),
    approved_at=NOW - timedelta(days=10),
    expires_at=NOW + timedelta(days=170),
)


def facts(**changes: object) -> GateInput:
    base = GateInput(
        subject=SUBJECT,
        environment="production",
        known_environments=ENVS,
        approvals=(APPROVAL,),
        blocking_findings=(),
        now=NOW,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def approval(**changes: object) -> ApprovalFact:
    return dataclasses.replace(APPROVAL, **changes)  # type: ignore[arg-type]


CASES = [
    (
        "approved",
        facts(),
        True,
        "credit 1.0.0 is approved for production until 2027-05-11 12:00 UTC (approval AP-1)",
    ),
    (
        "unknown environment",
        facts(environment="prod"),
        False,
        "unknown environment 'prod'; known: production, staging",
    ),
    (
        "unknown version",
        facts(subject=None),
        False,
        "no registered model version matches the request",
    ),
    (
        "digest of another artifact",
        facts(requested_digest=B),
        False,
        f"the artifact digest {B} is not the one registered for credit 1.0.0",
    ),
    (
        "draft",
        facts(subject=dataclasses.replace(SUBJECT, content_digest="")),
        False,
        "credit 1.0.0 is a draft: it was never submitted for review",
    ),
    (
        "model suspended, approval still valid",
        facts(subject=dataclasses.replace(SUBJECT, model_status="suspended")),
        False,
        "the model credit is suspended: no version of it may be promoted",
    ),
    (
        "model retired, approval still valid",
        facts(subject=dataclasses.replace(SUBJECT, model_status="retired")),
        False,
        "the model credit is retired: no version of it may be promoted",
    ),
    (
        "model suspended and the version a draft",
        facts(
            subject=dataclasses.replace(
                SUBJECT, model_status="suspended", content_digest=""
            )
        ),
        False,
        "the model credit is suspended: no version of it may be promoted",
    ),
    (
        "model approved with conditions",
        facts(
            subject=dataclasses.replace(
                SUBJECT, model_status="approved_with_conditions"
            )
        ),
        True,
        "credit 1.0.0 is approved for production until 2027-05-11 12:00 UTC (approval AP-1)",
    ),
    (
        "no approval",
        facts(approvals=()),
        False,
        "credit 1.0.0 has no approval for production",
    ),
    (
        "approved elsewhere",
        facts(approvals=(approval(environments=frozenset({"staging"})),)),
        False,
        "credit 1.0.0 is approved for staging only, not production",
    ),
    (
        "other version's approval",
        facts(approvals=(approval(version="0.9.0"),)),
        False,
        "credit 1.0.0 has no approval for production",
    ),
    (
        "expired",
        facts(now=NOW + timedelta(days=171)),
        False,
        "the approval AP-1 expired on 2027-05-11 12:00 UTC",
    ),
    (
        "expires exactly now",
        facts(now=APPROVAL.expires_at),
        False,
        "the approval AP-1 expired on 2027-05-11 12:00 UTC",
    ),
    (
        "revoked",
        facts(
            approvals=(
                approval(
                    revoked_at=NOW - timedelta(hours=1), revocation_reason="AIR breach"
                ),
            )
        ),
        False,
        "the approval AP-1 was revoked on 2026-11-22 11:00 UTC: AIR breach",
    ),
    (
        "changed after approval",
        facts(approvals=(approval(artifact_sha256=B),)),
        False,
        f"the version changed after approval AP-1: the approved artifact digest is {B}, the registered one is {A}",
    ),
    (
        "blocking finding",
        facts(blocking_findings=(FindingFact("F-7", "high", "Calibration off"),)),
        False,
        "open blocking findings: F-7 (high)",
    ),
]


@pytest.mark.parametrize(
    ("name", "given", "allowed", "reason"), CASES, ids=[c[0] for c in CASES]
)
def test_decide(name: str, given: GateInput, allowed: bool, reason: str) -> None:
    decision = decide(given)
    assert decision.allowed is allowed
    assert decision.reason == reason


def test_an_older_valid_approval_allows_when_the_newest_is_revoked() -> None:
    newer = approval(
        approval_id="AP-2",
        approved_at=NOW - timedelta(days=1),
        revoked_at=NOW - timedelta(hours=2),
    )
    decision = decide(facts(approvals=(APPROVAL, newer)))
    assert decision.allowed is True
    assert decision.approval == APPROVAL
    assert decision.expires_at == APPROVAL.expires_at


def test_denial_lists_every_problem_newest_first() -> None:
    newer = approval(
        approval_id="AP-2",
        approved_at=NOW - timedelta(days=1),
        revoked_at=NOW - timedelta(hours=2),
    )
    old = approval(expires_at=NOW - timedelta(days=1))
    decision = decide(facts(approvals=(old, newer)))
    assert decision.allowed is False
    assert decision.reasons == (
        "the approval AP-2 was revoked on 2026-11-22 10:00 UTC",
        "the approval AP-1 expired on 2026-11-21 12:00 UTC",
    )
    assert decision.expires_at is None


def test_a_revocation_in_the_future_does_not_yet_deny() -> None:
    later = approval(revoked_at=NOW + timedelta(hours=1))
    assert decide(facts(approvals=(later,))).allowed is True


@pytest.mark.parametrize("status", ["suspended", "retired"])
def test_a_blocked_model_is_denied_even_by_digest_of_an_approved_version(
    status: str,
) -> None:
    # given an approved version, named by its digest, of a model taken out of use
    given = facts(
        subject=dataclasses.replace(SUBJECT, model_status=status), requested_digest=A
    )
    # when
    decision = decide(given)
    # then the denial is the status alone: no approval is cited, nothing expires
    assert decision.allowed is False
    assert decision.reasons == (
        f"the model credit is {status}: no version of it may be promoted",
    )
    assert decision.approval is None
    assert decision.expires_at is None


def test_blocked_statuses_are_the_registry_ones() -> None:
    # the pure module cannot import Django: its literals must match the registry's
    from registry.choices import ModelStatus

    assert BLOCKED_MODEL_STATUSES == {ModelStatus.SUSPENDED, ModelStatus.RETIRED}
    assert BLOCKED_MODEL_STATUSES <= set(ModelStatus.values)


def test_decision_is_deterministic() -> None:
    assert decide(facts()) == decide(facts())
    assert isinstance(decide(facts()), Decision)
