"""The promotion gate's decision: one pure function over facts. No Django, no I/O.

Every surface (REST, ``modelgov check``, the Kubernetes admission webhook) gathers the
facts, calls :func:`decide`, records the decision and translates it. The rules fail
closed: anything unknown, unapproved, expired, revoked, changed or blocked is a denial,
and only an explicit, current approval of exactly this artifact for this environment
allows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Subject:
    """The model version being promoted, as registered."""

    model: str
    version: str
    artifact_sha256: str
    content_digest: str  # empty while the version is a draft
    model_status: str = ""  # the inventory status of the model (registry ModelStatus)


# Inventory statuses under which no version of the model may be promoted, whatever
# its approvals say (registry.choices.ModelStatus values). No policy overrides this:
# to promote again, the risk function sets the model back in use (ADR 0025).
BLOCKED_MODEL_STATUSES = frozenset({"suspended", "retired"})


# The answer for a request naming no registered version. It is also the whole answer
# a caller gets about a model it may not see (see :func:`concealed`).
NO_SUBJECT = "no registered model version matches the request"


@dataclass(frozen=True)
class ApprovalFact:
    """An approval of a version for environments, as signed."""

    approval_id: str
    model: str
    version: str
    artifact_sha256: str  # the digest the signers signed
    content_digest: str
    environments: frozenset[str]
    approved_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    revocation_reason: str = ""
    approvers: tuple[str, ...] = ()
    conditions: str = ""


@dataclass(frozen=True)
class FindingFact:
    """An open finding that blocks approval under the policy."""

    finding_id: str
    severity: str
    title: str


@dataclass(frozen=True)
class GateInput:
    subject: Subject | None
    environment: str
    known_environments: frozenset[str]
    approvals: Sequence[ApprovalFact]
    blocking_findings: Sequence[FindingFact]
    now: datetime
    requested_digest: str = ""  # when the caller named an artifact digest


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    reasons: tuple[str, ...] = field(default_factory=tuple)
    approval: ApprovalFact | None = None

    @property
    def expires_at(self) -> datetime | None:
        return self.approval.expires_at if self.allowed and self.approval else None


def _deny(*reasons: str, approval: ApprovalFact | None = None) -> Decision:
    return Decision(
        allowed=False, reason=reasons[0], reasons=tuple(reasons), approval=approval
    )


def _approval_problem(a: ApprovalFact, s: Subject, now: datetime) -> str | None:
    if a.revoked_at is not None and a.revoked_at <= now:
        why = f": {a.revocation_reason}" if a.revocation_reason else ""
        return f"the approval {a.approval_id} was revoked on {a.revoked_at:%Y-%m-%d %H:%M} UTC{why}"
    if now >= a.expires_at:
        return (
            f"the approval {a.approval_id} expired on {a.expires_at:%Y-%m-%d %H:%M} UTC"
        )
    if a.artifact_sha256 != s.artifact_sha256 or a.content_digest != s.content_digest:
        return (
            f"the version changed after approval {a.approval_id}: the approved artifact "
            f"digest is {a.artifact_sha256}, the registered one is {s.artifact_sha256}"
        )
    return None


def decide(facts: GateInput) -> Decision:
    """Decide whether ``facts.subject`` may be promoted into ``facts.environment`` now.

    Deterministic in its input; the caller supplies ``now``. Returns the governing
    approval on allow (its expiry bounds the decision), and the most specific
    reason on deny.
    """
    s = facts.subject
    env = facts.environment
    if env not in facts.known_environments:
        known = ", ".join(sorted(facts.known_environments))
        return _deny(f"unknown environment {env!r}; known: {known}")
    if s is None:
        return _deny(NO_SUBJECT)
    if facts.requested_digest and facts.requested_digest != s.artifact_sha256:
        return _deny(
            f"the artifact digest {facts.requested_digest} is not the one registered for "
            f"{s.model} {s.version}"
        )
    if s.model_status in BLOCKED_MODEL_STATUSES:
        return _deny(
            f"the model {s.model} is {s.model_status}: no version of it may be promoted"
        )
    if not s.content_digest:
        return _deny(
            f"{s.model} {s.version} is a draft: it was never submitted for review"
        )
    for_version = [
        a for a in facts.approvals if a.model == s.model and a.version == s.version
    ]
    in_env = [a for a in for_version if env in a.environments]
    if not in_env:
        elsewhere = sorted({e for a in for_version for e in a.environments})
        if elsewhere:
            return _deny(
                f"{s.model} {s.version} is approved for {', '.join(elsewhere)} only, not {env}"
            )
        return _deny(f"{s.model} {s.version} has no approval for {env}")
    problems = []
    valid: list[ApprovalFact] = []
    for approval in sorted(in_env, key=lambda a: a.approved_at, reverse=True):
        problem = _approval_problem(approval, s, facts.now)
        if problem is None:
            valid.append(approval)
        else:
            problems.append(problem)
    if not valid:
        return _deny(
            *problems, approval=sorted(in_env, key=lambda a: a.approved_at)[-1]
        )
    current = valid[0]
    if facts.blocking_findings:
        # Ids and severities only: the gate's callers need not read finding titles.
        listed = ", ".join(
            f"{f.finding_id} ({f.severity})" for f in facts.blocking_findings
        )
        return _deny(f"open blocking findings: {listed}", approval=current)
    return Decision(
        allowed=True,
        reason=(
            f"{s.model} {s.version} is approved for {env} until "
            f"{current.expires_at:%Y-%m-%d %H:%M} UTC (approval {current.approval_id})"
        ),
        reasons=(),
        approval=current,
    )


def concealed(facts: GateInput) -> Decision:
    """The answer for a caller who may not see ``facts.subject``'s model.

    Exactly the answer for a request that names no registered version (an unknown
    environment is still named, as it would be then): nothing about the model, its
    approvals, revocations or findings. The caller records the full decision apart.
    """
    return decide(
        dataclasses.replace(
            facts, subject=None, approvals=(), blocking_findings=(), requested_digest=""
        )
    )
