"""The promotion gate over the database: gather facts, decide (pure), record."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audits import services as audit_services
from audits.integrity import commit as integrity
from governance import gate
from governance.choices import RequestState, SignatureMeaning
from governance.models import GateDecision, ReleaseRequest
from governance.services.workflow import blocking_findings, policy_for
from registry import selectors as registry_selectors
from registry.models import ModelVersion

# Requests that ever carried an approval: the pure rules judge validity.
_APPROVAL_STATES = (RequestState.APPROVED, RequestState.EXPIRED, RequestState.REVOKED)


@dataclass(frozen=True)
class GateResult:
    """``decision`` is the answer the caller gets; ``record`` the stored decision.

    ``concealed`` when the caller may not see the model: the answer is then the
    one for a model that does not exist, and only the record names the model and
    what the rules said about it.
    """

    decision: gate.Decision
    record: GateDecision
    concealed: bool = False


def _subject(version: ModelVersion) -> gate.Subject:
    return gate.Subject(
        model=version.model.slug,
        version=version.version,
        artifact_sha256=version.artifact_sha256,
        content_digest=version.content_digest,
        model_status=version.model.status,
    )


def _approval_fact(r: ReleaseRequest) -> gate.ApprovalFact:
    assert r.approved_at is not None and r.expires_at is not None
    return gate.ApprovalFact(
        approval_id=f"RR-{r.pk}",
        model=r.model_version.model.slug,
        version=r.model_version.version,
        artifact_sha256=r.approved_artifact_sha256,
        content_digest=r.approved_content_digest,
        environments=frozenset(r.environments),
        approved_at=r.approved_at,
        expires_at=r.expires_at,
        revoked_at=r.revoked_at,
        revocation_reason=r.revocation_reason,
        # Approvers are those who signed the approval (not the validator).
        approvers=tuple(
            s.printed_name
            for s in r.signatures.all()
            if s.meaning in (SignatureMeaning.APPROVED, SignatureMeaning.COMMITTEE)
        ),
        conditions=r.conditions,
    )


def gate_facts(
    *,
    version: ModelVersion | None,
    environment: str,
    now: datetime,
    requested_digest: str = "",
    loaded: dict[str, ReleaseRequest] | None = None,
) -> gate.GateInput:
    """Everything the decision needs about ``version``, read in one place.

    ``loaded``, when given, receives the approval rows by approval id, so the
    caller can link the decision without reading them again.
    """
    approvals: list[gate.ApprovalFact] = []
    findings: list[gate.FindingFact] = []
    if version is not None:
        requests = list(
            ReleaseRequest.objects.filter(
                model_version=version, state__in=_APPROVAL_STATES
            )
            .exclude(approved_at=None)
            .select_related("model_version__model")
            .prefetch_related("signatures")
        )
        approvals = [_approval_fact(r) for r in requests]
        if loaded is not None:
            loaded.update({f"RR-{r.pk}": r for r in requests})
        policy = policy_for(version)
        findings = [
            gate.FindingFact(finding_id=f"F-{f.pk}", severity=f.severity, title=f.title)
            for f in blocking_findings(version, policy)
        ]
    return gate.GateInput(
        subject=_subject(version) if version is not None else None,
        environment=environment,
        known_environments=frozenset(settings.MODELGOV_ENVIRONMENTS),
        approvals=approvals,
        blocking_findings=findings,
        now=now,
        requested_digest=requested_digest,
    )


def _resolve(*, model: str, version: str, artifact_sha256: str) -> list[ModelVersion]:
    qs = ModelVersion.objects.select_related("model")
    if model and version:
        # A digest given as well must match this version's (checked by the rules).
        return list(qs.filter(model__slug=model, version=version))
    if artifact_sha256:
        return list(qs.filter(artifact_sha256=artifact_sha256).order_by("-created_at"))
    return []


def _facts_json(facts: gate.GateInput) -> dict[str, Any]:
    return {
        "subject": facts.subject.__dict__ if facts.subject else None,
        "environment": facts.environment,
        "approvals": [
            {
                "approval_id": a.approval_id,
                "environments": sorted(a.environments),
                "artifact_sha256": a.artifact_sha256,
                "approved_at": a.approved_at.isoformat(),
                "expires_at": a.expires_at.isoformat(),
                "revoked_at": a.revoked_at.isoformat() if a.revoked_at else None,
            }
            for a in facts.approvals
        ],
        "blocking_findings": [f.finding_id for f in facts.blocking_findings],
        "requested_digest": facts.requested_digest,
        "now": facts.now.isoformat(),
    }


@transaction.atomic
def gate_check(
    *,
    actor: Any,
    environment: str,
    model: str = "",
    version: str = "",
    artifact_sha256: str = "",
    source: str = "api",
    correlation_id: str = "",
    now: datetime | None = None,
) -> GateResult:
    """Answer "may this version go to ``environment`` now?" and record the answer.

    The subject is named by model and version, or by artifact digest (then any
    registered version with that digest that is approved allows: the approval binds
    the bytes). Only versions of models ``actor`` may see (the system, ``None``,
    sees all) are judged for the answer; about any other the answer is the one
    for a model that does not exist
    (``GateResult.concealed``), while the record keeps the full decision. Every
    decision is stored with its inputs and reason, and is an audit event
    (``governance.gate.decided``).
    """
    now = now or timezone.now()
    candidates = _resolve(model=model, version=version, artifact_sha256=artifact_sha256)
    # Only models the caller may see are judged for its answer. When every match is
    # hidden, they are judged for the record and the caller is told what it would
    # be told about a model that does not exist. The system itself (actor None: the
    # expiry sweep, benchmarks, shell) sees everything; API callers are accounts.
    if actor is None:
        visible = list(candidates)
    else:
        visible_ids = registry_selectors.model_ids_visible_to(
            user=actor, model_ids=[c.model_id for c in candidates]
        )
        visible = [c for c in candidates if c.model_id in visible_ids]
    concealed = bool(candidates) and not visible
    decision: gate.Decision | None = None
    chosen: ModelVersion | None = None
    facts: gate.GateInput | None = None
    loaded: dict[str, ReleaseRequest] = {}
    options: list[ModelVersion | None] = list(visible or candidates) or [None]
    for candidate in options:
        f = gate_facts(
            version=candidate,
            environment=environment,
            now=now,
            requested_digest=artifact_sha256,
            loaded=loaded,
        )
        d = gate.decide(f)
        if decision is None or (d.allowed and not decision.allowed):
            decision, chosen, facts = d, candidate, f
        if d.allowed:
            break
    assert decision is not None and facts is not None
    inputs = _facts_json(facts)
    approval = loaded.get(decision.approval.approval_id) if decision.approval else None
    reasons = list(decision.reasons)
    if concealed:
        # The record keeps what the rules said; the answer says nothing of it.
        assert chosen is not None
        inputs["concealed"] = {
            "allowed": decision.allowed,
            "reason": decision.reason,
            "approval_id": decision.approval.approval_id if decision.approval else None,
        }
        hidden = decision
        decision = gate.concealed(facts)
        approval = None
        reasons = [
            *decision.reasons,
            f"concealed: {audit_services.actor_display_name(actor)} may not see the "
            f"model {chosen.model.slug}; the rules said: "
            + ("allowed" if hidden.allowed else "denied"),
            *(hidden.reasons or [hidden.reason]),
        ]
    record = GateDecision.objects.create(
        decision_id=uuid.uuid4(),
        decided_at=now,
        source=source,
        caller=actor if getattr(actor, "is_authenticated", False) else None,
        caller_display=audit_services.actor_display_name(actor),
        model_slug=chosen.model.slug if chosen else model,
        version=chosen.version if chosen else version,
        artifact_sha256=chosen.artifact_sha256 if chosen else artifact_sha256,
        environment=environment,
        allowed=decision.allowed,
        reason=decision.reason,
        reasons=reasons,
        approval=approval,
        correlation_id=correlation_id[:200],
        inputs=inputs,
    )
    integrity.record_commit(record)
    audit_services.audit_event_record(
        actor=actor,
        event_type="governance.gate.decided",
        obj=record,
        payload={
            "allowed": decision.allowed,
            "environment": environment,
            "model": record.model_slug,
            "version": record.version,
            "source": source,
            **({"concealed": True} if concealed else {}),
        },
    )
    return GateResult(decision=decision, record=record, concealed=concealed)
