"""The dossier an approval covers: what a signature binds, what it is checked
against now, and the rule for editing it (ADR 0026).

- :func:`dossier_of` reads a version's dossier (card, documents, validation report,
  latest monitoring state) as digests; :func:`workflow._sign` binds it.
- :func:`dossier_check` compares a signature's dossier with the version's now.
- :func:`dossier_edit_allow` is called by the registry's card and document services
  inside their transaction, before they write: it refuses an edit the dossier's
  freeze forbids (DossierFrozenError, a 409), or, where every live approval's policy
  allows amendments, lets it through and puts those approvals under review, audited
  and notified to their signers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Max
from django.utils import timezone

from audits import services as audit_services
from governance import dossier as dossier_rules
from governance.choices import RequestState
from governance.exceptions import FrozenError
from governance.models import ReleaseRequest, Signature
from governance.services import notifications
from registry import digests
from registry.choices import AuthorRole
from registry.models import Document, ModelCard, ModelVersion

AMENDED_EVENT = "governance.request.dossier_amended"
# A request in one of these states has had its dossier submitted for validation and
# not yet decided: the card and documents are frozen (ADR 0026).
IN_REVIEW = (
    RequestState.SUBMITTED,
    RequestState.IN_VALIDATION,
    RequestState.VALIDATED,
)
# A report that ended (done or failed) is part of the monitoring state.
_FINISHED_REPORTS = ("done", "failed")


class DossierFrozenError(FrozenError):
    """An edit of a card or document that the dossier's freeze refuses (409)."""


def _card_entry(card: ModelCard) -> dict[str, Any]:
    return {
        "kind": "card",
        "id": card.pk,
        "label": dossier_rules.CARD_LABEL,
        "template": card.template.key,
        "template_version": card.template.version,
        "sha256": dossier_rules.paper_digest(
            template_key=card.template.key,
            template_version=card.template.version,
            title=dossier_rules.CARD_LABEL,
            content=card.content,
        ),
    }


def _document_entry(document: Document) -> dict[str, Any]:
    return {
        "kind": "document",
        "id": document.pk,
        "label": document.title,
        "template": document.template.key,
        "template_version": document.template.version,
        "sha256": dossier_rules.paper_digest(
            template_key=document.template.key,
            template_version=document.template.version,
            title=document.title,
            content=document.content,
        ),
    }


def _monitoring_state(version: ModelVersion) -> list[dict[str, Any]]:
    """The latest finished report of each (monitor, environment, kind): ids,
    statuses and the digest of its results. Read through the version's reverse
    relation, so governance imports nothing of the monitoring app."""
    reports = version.reports.filter(status__in=_FINISHED_REPORTS)  # type: ignore[attr-defined]
    latest_ids = [
        row["last"]
        for row in reports.values("monitor_id", "environment", "kind").annotate(
            last=Max("id")
        )
    ]
    rows = (
        reports.filter(id__in=latest_ids)
        .order_by("environment", "kind", "monitor_id", "id")
        .values(
            "id", "monitor_id", "environment", "kind", "status", "metrics", "breaches"
        )
    )
    return [
        {
            "report": row["id"],
            "monitor": row["monitor_id"],
            "environment": row["environment"],
            "kind": row["kind"],
            "status": row["status"],
            "sha256": digests.content_digest(
                {"metrics": row["metrics"], "breaches": row["breaches"]}
            ),
        }
        for row in rows
    ]


def dossier_of(version: ModelVersion) -> dict[str, Any]:
    """The dossier of ``version`` now: the card, then the documents by template key
    (the validation report among them), each as its digest, and the latest
    monitoring state (an empty list when none)."""
    papers = [
        _card_entry(card)
        for card in ModelCard.objects.select_related("template").filter(
            model_version=version
        )
    ]
    papers += [
        _document_entry(document)
        for document in Document.objects.select_related("template")
        .filter(model_version=version)
        .order_by("template__key", "id")
    ]
    return {"papers": papers, "monitoring": _monitoring_state(version)}


def dossier_check(signature: Signature) -> list[dossier_rules.DossierLine]:
    """Each paper of ``signature``'s dossier (and the monitoring state) with the
    digest signed, the digest now and whether they agree. Empty for a signature
    made before dossiers were bound."""
    if not isinstance(signature.dossier, dict):
        return []
    return dossier_rules.compare(signature.dossier, dossier_of(signature.model_version))


@dataclass(frozen=True)
class DossierStatus:
    """The requests of a version that freeze its dossier, at one moment."""

    in_review: list[ReleaseRequest]
    live_approvals: list[ReleaseRequest]


def dossier_status(version: ModelVersion, now: datetime) -> DossierStatus:
    """Requests in review (submitted for validation, not decided) and approvals in
    force (approved, not expired, not revoked) of ``version``."""
    requests = list(
        ReleaseRequest.objects.select_related("policy", "model_version__model")
        .filter(model_version=version)
        .filter(state__in=(*IN_REVIEW, RequestState.APPROVED))
        .order_by("id")
    )
    return DossierStatus(
        in_review=[r for r in requests if r.state in IN_REVIEW],
        live_approvals=[
            r
            for r in requests
            if r.state == RequestState.APPROVED
            and (r.expires_at is None or r.expires_at > now)
        ],
    )


def _paper_name(label: str, version: ModelVersion) -> str:
    return f"{label} of {version.model.slug} {version.version}"


@dataclass(frozen=True)
class EditRule:
    """What the dossier's freeze says of an edit of one paper now: refused (with
    the reason), or allowed, putting ``amends`` (live approvals) under review."""

    refusal: str | None
    amends: list[ReleaseRequest]


def _review_refusal(
    *, actor: Any, name: str, in_review: list[ReleaseRequest], validation_report: bool
) -> str | None:
    """Why an edit is refused while requests are in review, or None."""
    if not in_review:
        return None
    labels = ", ".join(
        f"RR-{r.pk} ({RequestState(r.state).label.lower()})" for r in in_review
    )
    if validation_report:
        writable = all(
            r.state == RequestState.IN_VALIDATION and r.validator_id == actor.pk
            for r in in_review
        )
        if writable:
            return None
        return (
            f"{name} is frozen: {labels} is under review, and only the validator "
            "assigned to a request in validation writes its validation report, "
            "until they sign."
        )
    return (
        f"{name} is frozen: {labels} was submitted for validation with it. A "
        "change is a new draft that a new request must carry: withdraw the request "
        "(or wait for its decision) first."
    )


def dossier_edit_rule(*, actor: Any, paper: ModelCard | Document) -> EditRule:
    """What the freeze says of ``actor`` editing ``paper`` now (ADR 0026); reads
    only. Pages use it to say why a paper is read-only before anyone tries."""
    version = (
        ModelVersion.objects.select_related("model")
        .only("id", "version", "model__slug")
        .get(pk=paper.model_version_id)
    )
    label = dossier_rules.CARD_LABEL if isinstance(paper, ModelCard) else paper.title
    name = _paper_name(label, version)
    status = dossier_status(version, timezone.now())
    refusal = _review_refusal(
        actor=actor,
        name=name,
        in_review=status.in_review,
        validation_report=paper.template.author_role == AuthorRole.VALIDATOR,
    )
    if refusal or not status.live_approvals:
        return EditRule(refusal=refusal, amends=[])
    from governance.services import workflow

    closed = [
        r
        for r in status.live_approvals
        if not workflow.effective_policy(r).allows_amendments
    ]
    if closed:
        labels = ", ".join(
            f"RR-{r.pk} (until {r.expires_at:%Y-%m-%d %H:%M} UTC)"
            if r.expires_at
            else f"RR-{r.pk}"
            for r in closed
        )
        return EditRule(
            refusal=(
                f"{name} is covered by the approval {labels}, whose policy allows "
                "no amendments. A change is a new draft that a new request must "
                "carry, once the approval has expired or been revoked."
            ),
            amends=[],
        )
    return EditRule(refusal=None, amends=status.live_approvals)


def _paper_entry(paper: ModelCard | Document, content: Any) -> dict[str, Any]:
    entry = (
        _card_entry(paper) if isinstance(paper, ModelCard) else _document_entry(paper)
    )
    title = dossier_rules.CARD_LABEL if isinstance(paper, ModelCard) else paper.title
    entry["sha256"] = dossier_rules.paper_digest(
        template_key=paper.template.key,
        template_version=paper.template.version,
        title=title,
        content=content,
    )
    return entry


def dossier_edit_allow(
    *, actor: Any, paper: ModelCard | Document, content: Any, created: bool = False
) -> list[ReleaseRequest]:
    """Decide whether ``actor`` may give ``paper`` (a card, or a document, unsaved
    when ``created``) the new ``content``.

    Called by the registry's card and document services inside their transaction,
    before they write. Locks the version row (signing locks it too), so an edit and
    a signature never interleave. Raises DossierFrozenError while a request is in
    review (except the validation report, for the validator of a request in
    validation) and under a live approval whose policy allows no amendments.
    Where every live approval's policy allows amendments, puts each under review
    (``governance.request.under_review``), records
    ``governance.request.dossier_amended`` with the digests before and after, and
    notifies its signers after commit. Returns the approvals put under review.
    """
    label = _paper_entry(paper, content)["label"]
    before_sha256 = None if created else _paper_entry(paper, paper.content)["sha256"]
    after_sha256 = _paper_entry(paper, content)["sha256"]
    version = (
        ModelVersion.objects.select_for_update()
        .select_related("model")
        .get(pk=paper.model_version_id)
    )
    rule = dossier_edit_rule(actor=actor, paper=paper)
    if rule.refusal:
        raise DossierFrozenError(rule.refusal)
    if not rule.amends:
        return []
    from governance.services import workflow

    name = _paper_name(label, version)
    review_reason = f"{name} was amended by {actor.get_username()} after approval."
    for request in rule.amends:
        workflow.release_request_put_under_review(
            request=request,
            reason=review_reason,
            source={"amended": label},
            actor=actor,
        )
        audit_services.audit_event_record(
            actor=actor,
            event_type=AMENDED_EVENT,
            obj=request,
            payload={
                "model": version.model.slug,
                "version": version.version,
                "document": label,
                "sha256_before": before_sha256,
                "sha256_after": after_sha256,
            },
        )
        notifications.schedule_request_notification(request.pk, "amended")
    return rule.amends


__all__ = [
    "AMENDED_EVENT",
    "DossierFrozenError",
    "DossierStatus",
    "EditRule",
    "dossier_check",
    "dossier_edit_allow",
    "dossier_edit_rule",
    "dossier_of",
    "dossier_status",
]
