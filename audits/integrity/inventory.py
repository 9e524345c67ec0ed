"""The inventory of evidence: every record class that a page, the API, the trail,
an evidence pack or the access log presents as evidence (issue 13, ADR 0027).

For each class: how the ledger commits to it, who may insert it, and how a change
is detected. There are three ways:

``LEDGER``
    The row is itself written as a ledger leaf (audit events, refused actions,
    deployment states), or the ledger leaf holds a commitment to it (protected
    attributes in the prediction leaf), or the record *is* a leaf (outcomes).
    Checking recomputes the leaf (or the commitment) from the row.
``INSERT_ONLY``
    The row is written once; a *record leaf* holding its fields is appended in the
    same transaction (revision 0). Append-only triggers refuse UPDATE, DELETE and
    TRUNCATE for every role, the owner included.
``HISTORY_BACKED``
    The current row of a registry object (a model, a version's status, a card, a
    document) is checked against its latest history row, which is ``INSERT_ONLY``.
``CURRENT_STATE``
    The row is the current state of something that changes (a release request's
    state and times, a finding's status). Every change appends a record leaf with
    the new fields (revisions 0, 1, 2, …) in the transaction of the change; the row
    is checked against its latest revision, and the revisions are the insert-only
    history of the state.

``docs/evidence.md`` holds this list as a table; a test keeps the two equal
(``manage.py evidence_inventory --markdown`` prints it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.apps import apps
from django.db import models

__all__ = [
    "CURRENT_STATE",
    "EVIDENCE",
    "EvidenceClass",
    "INSERT_ONLY",
    "LEDGER",
    "by_model",
    "by_table",
    "markdown_table",
]

LEDGER = "ledger"
INSERT_ONLY = "insert-only"
CURRENT_STATE = "current state"
HISTORY_BACKED = "current row of a history"


@dataclass(frozen=True)
class EvidenceClass:
    key: str
    label: str
    model: str  # "app_label.ModelName"
    kind: str  # LEDGER, INSERT_ONLY or CURRENT_STATE
    leaf: str  # what in the ledger commits to the row
    inserted_by: str  # the service (or path) that writes rows
    # Fields not committed: they change without being evidence (a cache, a
    # last-used time); documented in the table.
    exclude: tuple[str, ...] = ()

    @property
    def model_class(self) -> type[models.Model]:
        return apps.get_model(self.model)

    @property
    def table(self) -> str:
        return self.model_class._meta.db_table

    @property
    def guard(self) -> str:
        if self.kind == HISTORY_BACKED:
            return (
                "UPDATE by the registry services, each change a history row; DELETE "
                "refused once submitted (versions, cards, documents)"
            )
        if self.kind == CURRENT_STATE:
            return (
                "UPDATE by the services only, each change a new record leaf, the row "
                "checked against the latest; DELETE and TRUNCATE refused for every role"
            )
        if self.model == "audits.LedgerEntry":
            return "the ledger's own append-only triggers"
        return "append-only triggers (UPDATE, DELETE, TRUNCATE refused for every role)"


def _current(model: str, label: str) -> EvidenceClass:
    return EvidenceClass(
        key=model.split(".")[1].lower(),
        label=label,
        model=model,
        kind=HISTORY_BACKED,
        leaf="none of its own: its latest history row (a record leaf) must equal it",
        inserted_by="registry services",
    )


def _history(model: str, label: str, inserted_by: str) -> EvidenceClass:
    app, name = model.split(".")
    return EvidenceClass(
        key=f"history-{name.lower()}",
        label=f"History of {label}",
        model=f"{app}.Historical{name}",
        kind=INSERT_ONLY,
        leaf="record leaf (revision 0) of the history row",
        inserted_by=inserted_by,
    )


EVIDENCE: tuple[EvidenceClass, ...] = (
    EvidenceClass(
        key="audit-event",
        label="Audit events (and the access log, which is made of them)",
        model="audits.AuditEvent",
        kind=LEDGER,
        leaf="governance leaf (entry id uuid5 'audit-event:<pk>') holding every field",
        inserted_by="audits.services.audit_event_record, in the service's transaction",
    ),
    EvidenceClass(
        key="refused-action",
        label="Refused actions",
        model="audits.RefusedAction",
        kind=LEDGER,
        leaf="refusal leaf (entry id uuid5 'refused-action:<pk>') holding every field",
        inserted_by="audits.services.refused_action_record",
    ),
    EvidenceClass(
        key="deployment-state",
        label="Deployment states (what was in force for a model in an environment)",
        model="audits.DeploymentState",
        kind=LEDGER,
        leaf="deployment-state leaf (the row's entry_id); predictions reference it",
        inserted_by="governance.services.deployments.deployment_state_refresh "
        "(deployment reports, approvals, revocations, expiries)",
    ),
    EvidenceClass(
        key="protected-attributes",
        label="Protected attributes of predictions",
        model="audits.ProtectedAttributes",
        kind=LEDGER,
        leaf="the prediction leaf's protected_attributes_commitment "
        "(SHA-256 of salt and canonical JSON)",
        inserted_by="the ingest (audits.ledger.ingest), with the prediction",
    ),
    EvidenceClass(
        key="outcome",
        label="Outcomes",
        model="audits.LedgerEntry",
        kind=LEDGER,
        leaf="the outcome leaf itself (entry id uuid5 of the prediction id), which "
        "names the prediction's leaf hash",
        inserted_by="the outcome ingest (audits.ledger.ingest)",
    ),
    EvidenceClass(
        key="signature",
        label="E-signatures",
        model="governance.Signature",
        kind=INSERT_ONLY,
        leaf="record leaf (revision 0); its binding_sha256 is also in the audit "
        "event of the signing",
        inserted_by="governance.services.workflow (validation, approval, committee)",
    ),
    EvidenceClass(
        key="release-request",
        label="Release requests: transitions and their times, approvals, "
        "revocations, expiries, reviews",
        model="governance.ReleaseRequest",
        kind=CURRENT_STATE,
        leaf="record leaf per change (revisions), with the audit event of the change",
        inserted_by="governance.services.workflow",
    ),
    EvidenceClass(
        key="finding",
        label="Findings and their closure",
        model="governance.Finding",
        kind=CURRENT_STATE,
        leaf="record leaf per change (revisions), with the audit event of the change",
        inserted_by="governance.services.workflow (raise, remediate, close)",
    ),
    EvidenceClass(
        key="deployment",
        label="Deployments reported by deployment systems",
        model="governance.Deployment",
        kind=INSERT_ONLY,
        leaf="record leaf (revision 0)",
        inserted_by="governance.services.deployments",
    ),
    EvidenceClass(
        key="gate-decision",
        label="Gate decisions",
        model="governance.GateDecision",
        kind=INSERT_ONLY,
        leaf="record leaf (revision 0)",
        inserted_by="governance.services.gate",
    ),
    _history("registry.Model", "models", "registry services (django-simple-history)"),
    _history(
        "registry.ModelVersion", "versions", "registry services (django-simple-history)"
    ),
    _history(
        "registry.ModelCard", "model cards", "registry services (django-simple-history)"
    ),
    _history(
        "registry.Document", "documents", "registry services (django-simple-history)"
    ),
    _history(
        "registry.DocumentTemplate",
        "documentation templates",
        "registry.catalog (django-simple-history)",
    ),
    _current("registry.Model", "Models (the inventory's current rows)"),
    _current("registry.ModelVersion", "Versions: status, digests, lineage"),
    _current("registry.ModelCard", "Model cards (current content)"),
    _current("registry.Document", "Documents (current content)"),
    EvidenceClass(
        key="monitor",
        label="Monitors and their edits",
        model="audits.Monitor",
        kind=CURRENT_STATE,
        leaf="record leaf per change (revisions), with the audit event of the edit",
        inserted_by="audits.monitoring.services",
        # The link to its Celery beat schedule, which the scheduler rewrites.
        exclude=("periodic_task",),
    ),
    EvidenceClass(
        key="monitoring-report",
        label="Monitoring reports",
        model="audits.MonitoringReport",
        kind=CURRENT_STATE,
        leaf="record leaf per status change (revisions); the finished report's "
        "metrics and breaches are in the last one",
        inserted_by="audits.monitoring.services",
    ),
    EvidenceClass(
        key="alert",
        label="Alerts",
        model="audits.Alert",
        kind=CURRENT_STATE,
        leaf="record leaf per change (revisions)",
        inserted_by="audits.monitoring.services, the ingest (shadow predictions)",
    ),
    EvidenceClass(
        key="alert-occurrence",
        label="Alert occurrences (each report's or batch's own message and details)",
        model="audits.AlertOccurrence",
        kind=INSERT_ONLY,
        leaf="record leaf (revision 0)",
        inserted_by="audits.ledger.alerts.alert_occurrence_record",
    ),
    EvidenceClass(
        key="evidence-pack",
        label="Evidence packs and their digests",
        model="audits.EvidencePack",
        kind=CURRENT_STATE,
        leaf="record leaf per status change (revisions); the digests are in the "
        "last one and in the audit event of the build",
        inserted_by="audits.evidence.services",
    ),
)

# Record leaves are kept for these (the others are checked against their own leaf).
RECORD_KINDS = (INSERT_ONLY, CURRENT_STATE)


def concrete(model: type[models.Model]) -> type[models.Model]:
    """The concrete model of ``model`` (itself, for every model here)."""
    return model._meta.concrete_model or model


@cache
def by_model() -> dict[type[models.Model], EvidenceClass]:
    return {e.model_class: e for e in EVIDENCE if e.model != "audits.LedgerEntry"}


@cache
def by_table() -> dict[str, EvidenceClass]:
    return {e.table: e for e in EVIDENCE if e.kind in RECORD_KINDS}


def record_class(obj_or_model: models.Model | type[models.Model]) -> EvidenceClass:
    """The evidence class of a record-leaf model; KeyError for any other."""
    model = obj_or_model if isinstance(obj_or_model, type) else type(obj_or_model)
    evidence = by_model()[concrete(model)]
    if evidence.kind not in RECORD_KINDS:
        raise KeyError(model)
    return evidence


def markdown_table() -> str:
    """The inventory as the table in docs/evidence.md."""
    lines = [
        "| record class | table | kind | ledger leaf or commitment | inserted by | "
        "update and delete |",
        "|---|---|---|---|---|---|",
    ]
    for e in EVIDENCE:
        lines.append(
            f"| {e.label} | `{e.table}` | {e.kind} | {e.leaf} | {e.inserted_by} | "
            f"{e.guard} |"
        )
    return "\n".join(lines) + "\n"
