"""The content of a model-version evidence pack: its sources and its HTML.

:func:`version_pack_content` gathers, for one model version, everything a reviewer
or regulator asks for (the lineage and digests, the model card and documents as
approved, the validation with its findings and their history, the approval chain
with each e-signature, the gate decisions and deployments, the monitoring reports of
a period with their charts, and a statement of the ledger's integrity), as JSON and
CSV sources, and renders the pack's HTML from ``audits/evidence/version_pack.html``.
:func:`period_pack_content` does the same for one model over a period (e.g. a
quarter): the predictions volume per version and day, the monitoring reports and
alerts, the approvals decided and the deployments made in the period
and the refused actions on the model and of its people in the period
(``audits/evidence/period_pack.html``; scope in :mod:`audits.evidence.refusals`).

Everything is bounded by ``as_of``: a row created after it is left out, and mutable
rows (requests, findings, the version and the model) are shown as they stood at
``as_of`` (from their audit events and history), so the same arguments give the
same bytes however much arrives later. ``created`` is ``as_of`` itself, never the
wall clock. Rendering to PDF is :func:`audits.evidence.render.render_pack_pdf`.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import unescape as html_unescape
from typing import Any

import orjson
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.db.models.functions import TruncDate
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString

from audits import trail
from audits.evidence import refusals as pack_refusals
from audits.evidence import render
from audits.evidence.manifest import Source, manifest_of
from audits.integrity import inventory as integrity_inventory
from audits.integrity import verify as integrity_verify
from audits.ledger import checkpoint, fsck, records, witness
from audits.ledger import services as ledger_services
from audits.ledger.models import Alert, LedgerCheckpoint, LedgerEntry
from audits.models import AuditEvent, RefusedAction
from audits.monitoring import rollup, web_views
from audits.monitoring.models import (
    DecisionCell,
    MonitoringReport,
    ReportKind,
    ReportStatus,
    RollupMark,
)
from governance import inputs
from governance.choices import RequestState, SignatureMeaning
from governance.models import (
    Deployment,
    Finding,
    GateDecision,
    ReleaseRequest,
    Signature,
)
from registry.models import DocumentTemplate, Model, ModelVersion

KIND = "model-version"
TITLE = "Model-version evidence pack"
TEMPLATE = "audits/evidence/version_pack.html"
JSON = "application/json"
CSV = "text/csv"
NONE = "None in this period."
TOC = (
    ("summary", "Summary"),
    ("model-card", "Model card"),
    ("documents", "Documents"),
    ("validation", "Validation and findings"),
    ("approvals", "Approval chain and e-signatures"),
    ("deployments", "Gate decisions and deployments"),
    ("monitoring", "Monitoring"),
    ("ledger", "Ledger integrity statement"),
)
GATE_COLUMNS = (
    "decision_id",
    "decided_at",
    "environment",
    "allowed",
    "reason",
    "source",
    "caller",
    "artifact_sha256",
    "approval",
    "correlation_id",
)
DEPLOYMENT_COLUMNS = (
    "id",
    "environment",
    "action",
    "deployed_at",
    "reported_at",
    "reported_by",
    "approval",
    "gate_decision",
    "target",
    "external_id",
)
# The times of the sources (records.iso); the HTML shows them to the second.
ISO_TIME = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?Z$")
# Nodes in fsck's completion order, bounded by a tree size (PostgreSQL and SQLite).
NODES_UP_TO_SQL = (
    'SELECT "level", "index", "hash" FROM "audits_ledgernode" '
    'WHERE (("index" + 1) << "level") <= %s '
    'ORDER BY (("index" + 1) << "level"), "level"'
)


@dataclass(frozen=True)
class PackContent:
    """A pack ready to render: its HTML, sources, manifest and pinned time."""

    kind: str
    title: str
    html: str
    sources: list[Source]
    manifest: dict[str, Any]
    created: datetime


# --- Small helpers ------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return records.iso(value) if value is not None else None


def _upto(value: datetime | None, as_of: datetime) -> datetime | None:
    """``value`` if it happened by ``as_of``, else None (not yet, at ``as_of``)."""
    return value if value is not None and value <= as_of else None


def _shown(value: Any) -> Any:
    """``value`` for the HTML: every ISO time of a source as "YYYY-MM-DD HH:MM:SS"
    (the sources keep the microseconds). Values stored before the input boundary
    (lone surrogates, NUL, non-finite numbers) are shown escaped (ADR 0019)."""
    if isinstance(value, str):
        match = ISO_TIME.match(value)
        return f"{match[1]} {match[2]}" if match else inputs.safe_text(value)
    if isinstance(value, dict):
        return {inputs.sanitize(key): _shown(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shown(item) for item in value]
    return inputs.sanitize(value)


def _json_source(name: str, data: Any) -> Source:
    try:
        return Source(name, JSON, orjson.dumps(data, option=orjson.OPT_SORT_KEYS))
    except orjson.JSONEncodeError:
        # Stored before the input boundary: an integer beyond 64 bits, a lone
        # surrogate, deep nesting. The stdlib writes the same compact, sorted form.
        text = json.dumps(
            inputs.sanitize(data),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            default=str,
        )
        return Source(name, JSON, text.encode("utf-8"))


def _csv_source(
    name: str, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]
) -> Source:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if row[key] is None else row[key] for key in columns})
    return Source(name, CSV, buffer.getvalue().encode("utf-8"))


def _as_of_row(history: Any, as_of: datetime, **filters: Any) -> Any:
    """The last historical record saved at or before ``as_of`` (None if none)."""
    return (
        history.filter(history_date__lte=as_of, **filters)
        .order_by("-history_date", "-history_id")
        .first()
    )


def _events(object_type: str, ids: Sequence[int], as_of: datetime) -> dict[str, Any]:
    """Audit events of the objects ``ids`` up to ``as_of``, by object id, in order."""
    found: dict[str, list[dict[str, Any]]] = {str(pk): [] for pk in ids}
    rows = AuditEvent.objects.filter(
        object_type=object_type,
        object_id__in=list(found),
        occurred_at__lte=as_of,
    ).order_by("occurred_at", "id")
    for event in rows:
        found[event.object_id].append(
            {
                "id": event.pk,
                "occurred_at": _iso(event.occurred_at),
                "event_type": event.event_type,
                "actor": event.actor_display,
                "payload": event.payload,
            }
        )
    return found


def _meaning_label(meaning: str) -> str:
    if meaning in SignatureMeaning.values:
        return str(SignatureMeaning(meaning).label)
    return meaning


# --- Version and papers -------------------------------------------------------------


def _model_data(model: Model, as_of: datetime) -> dict[str, Any]:
    model_then = _as_of_row(Model.history, as_of, id=model.pk) or model
    owner = model_then.owner
    return {
        "slug": model.slug,
        "name": model_then.name,
        "risk_tier": model_then.risk_tier,
        "owner": owner.get_username() if owner is not None else None,
        "business_unit": model_then.business_unit,
        "purpose": model_then.purpose,
        "status": model_then.status,
    }


def _version_data(version: ModelVersion, as_of: datetime) -> dict[str, Any]:
    version_then = _as_of_row(ModelVersion.history, as_of, id=version.pk) or version
    return {
        "model": _model_data(version.model, as_of),
        "version": version.version,
        "status": version_then.status,
        "description": version.description,
        "content": version.content(),
        "content_digest": version.content_digest,
        "artifact_sha256": version.artifact_sha256,
        "created_at": _iso(version.created_at),
        "submitted_at": _iso(_upto(version.submitted_at, as_of)),
    }


def _labelled_sections(
    definitions: Mapping[tuple[str, int], DocumentTemplate], paper: trail.PaperView
) -> list[dict[str, Any]]:
    """The paper's content in its template's order, with section titles and field
    labels; keys the template does not know are listed after, as stored."""
    template = definitions.get((paper.template_key, paper.template_version))
    content = dict(paper.content)
    sections = []
    for section in template.sections if template is not None else []:
        values = content.pop(section["key"], None) or {}
        fields = [
            {"label": f.get("label", f["key"]), "value": values.pop(f["key"], None)}
            for f in section.get("fields", [])
        ]
        fields += [{"label": key, "value": value} for key, value in values.items()]
        sections.append(
            {"title": section.get("title", section["key"]), "fields": fields}
        )
    for key, values in sorted(content.items()):
        items = values.items() if isinstance(values, dict) else [("value", values)]
        sections.append(
            {
                "title": key,
                "fields": [{"label": k, "value": v} for k, v in items],
            }
        )
    return sections


def _paper_data(paper: trail.PaperView) -> dict[str, Any]:
    return {
        "title": paper.title,
        "template": {"key": paper.template_key, "version": paper.template_version},
        "saved_at": _iso(paper.saved_at),
        "saved_by": paper.saved_by,
        "content": paper.content,
        "content_sha256": paper.content_sha256,
        # Against the dossier the approval's signatures bound (ADR 0026).
        "dossier_mark": paper.dossier_mark,
        "signed_sha256": paper.signed_sha256,
    }


def _text(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value) or "—"
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _paper_view(
    definitions: Mapping[tuple[str, int], DocumentTemplate], paper: trail.PaperView
) -> dict[str, Any]:
    return {
        **_paper_data(paper),
        "sections": [
            {
                "title": section["title"],
                "fields": [
                    {"label": f["label"], "value": _text(f["value"])}
                    for f in section["fields"]
                ],
            }
            for section in _labelled_sections(definitions, paper)
        ],
    }


# --- Requests, findings, signatures -------------------------------------------------


def _request_state(history: Sequence[Mapping[str, Any]]) -> str:
    """The state at ``as_of``: the one its last audit event recorded."""
    for event in reversed(history):
        state = (event.get("payload") or {}).get("state")
        if isinstance(state, str):
            return state
    return str(RequestState.DRAFT)


def _request_data(
    request: ReleaseRequest, history: list[dict[str, Any]], as_of: datetime
) -> dict[str, Any]:
    validated = _upto(request.validated_at, as_of)
    approved = _upto(request.approved_at, as_of)
    revoked = _upto(request.revoked_at, as_of)
    review = _upto(request.under_review_at, as_of)
    return {
        "id": request.pk,
        "label": f"RR-{request.pk}",
        "environments": list(request.environments or []),
        "state": _request_state(history),
        "justification": request.justification,
        "requested_by": request.requested_by.get_username(),
        "created_at": _iso(request.created_at),
        "submitted_at": _iso(_upto(request.submitted_at, as_of)),
        "validator": (
            request.validator.get_username()
            if request.validator is not None and validated is not None
            else None
        ),
        "validation_outcome": request.validation_outcome if validated else "",
        "conditions": request.conditions if validated else "",
        "validated_at": _iso(validated),
        "decided_at": _iso(_upto(request.decided_at, as_of)),
        "approved_at": _iso(approved),
        "expires_at": _iso(request.expires_at if approved else None),
        "approved_artifact_sha256": (
            request.approved_artifact_sha256 if approved else ""
        ),
        "approved_content_digest": request.approved_content_digest if approved else "",
        "revoked_at": _iso(revoked),
        "revocation_reason": request.revocation_reason if revoked else "",
        "under_review_at": _iso(review),
        "review_reason": request.review_reason if review else "",
        "history": history,
    }


def _finding_status(history: Sequence[Mapping[str, Any]]) -> str:
    types = {event["event_type"] for event in history}
    if "governance.finding.closed" in types:
        return "closed"
    if "governance.finding.remediation_submitted" in types:
        return "remediation_submitted"
    return "open"


def _finding_data(
    finding: Finding, history: list[dict[str, Any]], as_of: datetime
) -> dict[str, Any]:
    closed = _upto(finding.closed_at, as_of)
    status = _finding_status(history)
    return {
        "id": finding.pk,
        "label": f"F-{finding.pk}",
        "request": finding.request_id,
        "severity": finding.severity,
        "title": finding.title,
        "description": finding.description,
        "sr_section": finding.sr_section,
        "owner": finding.owner.get_username() if finding.owner is not None else None,
        "due_date": finding.due_date.isoformat() if finding.due_date else None,
        "status": status,
        "raised_by": (
            finding.raised_by.get_username()
            if finding.raised_by is not None
            else "monitoring"
        ),
        "raised_at": _iso(finding.raised_at),
        "remediation": finding.remediation if status != "open" else "",
        "closure_evidence": finding.closure_evidence if closed else "",
        "closed_at": _iso(closed),
        "history": history,
    }


def _signature_data(signature: Signature) -> dict[str, Any]:
    return {
        "id": signature.pk,
        "request": signature.request_id,
        "printed_name": signature.printed_name,
        "meaning": signature.meaning,
        "meaning_label": _meaning_label(signature.meaning),
        "signed_at": _iso(signature.signed_at),
        "artifact_sha256": signature.artifact_sha256,
        "content_digest": signature.content_digest,
        "environments": list(signature.environments or []),
        "comment": signature.comment,
        "binding_sha256": signature.binding_sha256,
        # What the signer saw (ADR 0026); null on signatures made before.
        "dossier": signature.dossier,
    }


def _in_force(requests: Sequence[Mapping[str, Any]], as_of: datetime) -> list[str]:
    """Labels of the approvals in force at ``as_of`` (approved, not expired)."""
    moment = records.iso(as_of)
    return [
        r["label"]
        for r in requests
        if r["state"] == RequestState.APPROVED
        and (r["expires_at"] is None or r["expires_at"] > moment)
    ]


# --- Gate, deployments --------------------------------------------------------------


def _gate_rows(version: ModelVersion, as_of: datetime) -> list[dict[str, Any]]:
    decisions = (
        GateDecision.objects.filter(
            Q(model_slug=version.model.slug, version=version.version)
            | Q(artifact_sha256=version.artifact_sha256),
            decided_at__lte=as_of,
        )
        .order_by("decided_at", "id")
        .distinct()
    )
    return [
        {
            "decision_id": str(d.decision_id),
            "decided_at": _iso(d.decided_at),
            "environment": d.environment,
            "allowed": "allowed" if d.allowed else "denied",
            "reason": d.reason,
            "source": d.source,
            "caller": d.caller_display,
            "artifact_sha256": d.artifact_sha256,
            "approval": f"RR-{d.approval_id}" if d.approval_id else "",
            "correlation_id": d.correlation_id,
        }
        for d in decisions
    ]


def _deployment_rows(version: ModelVersion, as_of: datetime) -> list[dict[str, Any]]:
    deployments = (
        Deployment.objects.filter(model_version=version, reported_at__lte=as_of)
        .select_related("reported_by", "gate_decision")
        .order_by("deployed_at", "id")
    )
    return [_deployment_row(d) for d in deployments]


def _deployment_row(d: Deployment) -> dict[str, Any]:
    return {
        "id": d.pk,
        "environment": d.environment,
        "action": d.action,
        "deployed_at": _iso(d.deployed_at),
        "reported_at": _iso(d.reported_at),
        "reported_by": d.reported_by.get_username(),
        "approval": f"RR-{d.approval_id}" if d.approval_id else "",
        "gate_decision": (
            str(d.gate_decision.decision_id) if d.gate_decision is not None else ""
        ),
        "target": d.target,
        "external_id": d.external_id,
    }


# --- Monitoring ---------------------------------------------------------------------


def _reports(
    version: ModelVersion, start: datetime, end: datetime, as_of: datetime
) -> list[MonitoringReport]:
    return list(
        MonitoringReport.objects.filter(
            model_version=version,
            status=ReportStatus.DONE,
            # every report whose window overlaps the period, even in part
            window_start__lt=end,
            window_end__gt=start,
            finished_at__lte=as_of,
        ).order_by("window_start", "kind", "id")
    )


def _report_data(report: MonitoringReport) -> dict[str, Any]:
    return {
        "id": report.pk,
        "kind": report.kind,
        "environment": report.environment,
        "window_start": _iso(report.window_start),
        "window_end": _iso(report.window_end),
        "trigger": report.trigger,
        "config": report.config,
        "metrics": report.metrics,
        "breaches": report.breaches,
        "predictions": report.predictions,
        "as_of_seq": report.as_of_seq,
        "finished_at": _iso(report.finished_at),
    }


_SVG_TITLE = re.compile(r"<title>(.*?)</title>", re.S)
_SVG_WIDTH = re.compile(r'<svg [^>]*?width="([\d.]+)pt"')


def _figure(svg: str, caption: str) -> dict[str, Any]:
    """A chart as the pack's HTML shows it: the SVG as a ``data:`` image, with its
    title as the alternative text and its natural width.

    WeasyPrint renders an SVG image as vector graphics with its text as text, as it
    does inline SVG; as an image, its thousands of elements skip the HTML parser
    and the CSS cascade (a third of a pack's render time)."""
    title = _SVG_TITLE.search(svg)
    width = _SVG_WIDTH.search(svg)
    return {
        "src": "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode(),
        "alt": html_unescape(title.group(1)) if title else "",
        "width_pt": width.group(1) if width else "",
        "caption": caption,
    }


def _figures(report: MonitoringReport) -> list[dict[str, Any]]:
    """The report's charts as the report page draws them (vector SVG)."""
    data = web_views.KIND_CONTEXT[ReportKind(report.kind)](report)
    if report.kind == ReportKind.FAIRNESS:
        figures = []
        for figure in data["figures"]:
            figures.append(_figure(figure["rate_chart"], figure["rate_caption"]))
            figures.append(_figure(figure["air_chart"], figure["air_caption"]))
        return figures
    svg: SafeString = data["chart"]
    thresholds = web_views._thresholds(report)
    caption = (
        "Population stability index of each feature in the window against the "
        f"version's baseline; the lines mark the watch ({thresholds['psi_watch']:g}) "
        f"and breach ({thresholds['psi_breach']:g}) thresholds."
        if report.kind == ReportKind.DRIFT
        else "Observed favourable rate against the mean predicted score per score "
        "decile, on matured outcomes; the diagonal is perfect calibration."
    )
    return [_figure(svg, caption)]


def _fixed(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "—"


def _percent(value: Any, *, signed: bool = False) -> str:
    if not isinstance(value, int | float):
        return "—"
    return f"{value:+.1%}" if signed else f"{value:.1%}"


def _p(value: Any) -> str:
    if not isinstance(value, int | float):
        return "—"
    return "< 0.0001" if value < 0.0001 else f"{value:.4f}"


def _breach_row(
    breach: Mapping[str, Any], report: MonitoringReport, thresholds: Mapping[str, float]
) -> dict[str, str]:
    """One breach as a table row: what was measured where, against what, the
    limit it crossed and the p-value, whatever the report's kind."""
    metric = breach.get("metric")
    if metric == "air":
        by_attribute = ((report.metrics or {}).get("fairness") or {}).get(
            "by_attribute"
        ) or {}
        attribute = str(breach.get("attribute", ""))
        reference = (by_attribute.get(attribute) or {}).get("reference")
        return {
            "metric": "Adverse impact ratio",
            "where": f"{attribute} = {breach.get('group', '')}",
            "value": _fixed(breach.get("value")),
            "against": f"reference {reference}" if reference else "—",
            "limit": f"< {breach.get('threshold', thresholds['air']):g}",
            "p_value": _p(breach.get("p_value")),
        }
    if metric == "approval_rate":
        scope, group = breach.get("scope"), breach.get("group")
        against = (
            "baseline" if breach.get("comparison") == "baseline" else "previous window"
        )
        limit = thresholds["approval_relative_change"]
        return {
            "metric": "Approval rate",
            "where": "overall" if group is None else f"{scope} = {group}",
            "value": _percent(breach.get("rate")),
            "against": (
                f"{against} {_percent(breach.get('reference_rate'))} "
                f"({_percent(breach.get('relative_change'), signed=True)})"
            ),
            "limit": f"± {limit:.0%} relative",
            "p_value": _p(breach.get("p_value")),
        }
    if metric == "psi":
        return {
            "metric": "Population stability index",
            "where": str(breach.get("feature", "")),
            "value": _fixed(breach.get("value")),
            "against": "baseline",
            "limit": f"≥ {breach.get('threshold', thresholds['psi_breach']):g}",
            "p_value": "—",
        }
    if metric in {"gini", "auc", "ks"} and "baseline" in breach:
        title = "KS" if metric == "ks" else str(metric).upper()
        title = "Gini" if metric == "gini" else title
        kind = "absolute" if breach.get("rule") == "absolute_drop" else "relative"
        return {
            "metric": title,
            "where": "overall",
            "value": _fixed(breach.get("value")),
            "against": f"baseline {_fixed(breach.get('baseline'))}",
            "limit": f"{kind} drop > {_fixed(breach.get('threshold'))}",
            "p_value": "—",
        }
    return {
        "metric": str(metric or "—"),
        "where": web_views._breach_message(breach),
        "value": "—",
        "against": "—",
        "limit": "—",
        "p_value": "—",
    }


def _breach_note(report: MonitoringReport, thresholds: Mapping[str, float]) -> str:
    """What the kinds of breach in the table mean, said once under it."""
    metrics = {b.get("metric") for b in report.breaches or [] if isinstance(b, Mapping)}
    notes = []
    if "air" in metrics:
        notes.append(
            f"An adverse impact ratio below {thresholds['air']:g} with p < "
            f"{thresholds['alpha']:g} is a screening flag for adverse impact under "
            "the four-fifths rule (29 CFR 1607.4(D)), used in lending by analogy; "
            "it is not a finding of discrimination."
        )
    if "approval_rate" in metrics:
        notes.append(
            "An approval rate breaches when it moves by at least the relative limit "
            f"and the change is statistically significant (p < {thresholds['alpha']:g})."
        )
    return " ".join(notes)


def _report_view(report: MonitoringReport) -> dict[str, Any]:
    thresholds = web_views._thresholds(report)
    breaches = [b for b in report.breaches or [] if isinstance(b, Mapping)]
    return {
        "id": report.pk,
        "kind": ReportKind(report.kind).label,
        "environment": report.environment,
        "window_start": report.window_start,
        "window_end": report.window_end,
        "predictions": report.predictions,
        # None: computed before the rollups checked their inputs.
        "integrity_failed": ((report.metrics or {}).get("integrity") or {}).get(
            "failed"
        ),
        "breaches": [_breach_row(b, report, thresholds) for b in breaches],
        "breach_note": _breach_note(report, thresholds),
        "figures": _figures(report),
    }


# --- Ledger integrity ---------------------------------------------------------------


def _bounded_fsck(size: int) -> fsck.Report:
    """fsck of the ledger's first ``size`` entries, with the checkpoints and stored
    nodes they cover: the rows written later do not change the result."""
    entries = (
        (seq, bytes(leaf), bytes(leaf_hash))
        for seq, leaf, leaf_hash in LedgerEntry.objects.filter(seq__lt=size)
        .order_by("seq")
        .values_list("seq", "leaf", "leaf_hash")
        .iterator(chunk_size=fsck.CHUNK_ROWS)
    )
    checkpoints = (
        fsck.CheckpointRow(row_size, bytes(root), note)
        for row_size, root, note in LedgerCheckpoint.objects.filter(size__lte=size)
        .order_by("size")
        .values_list("size", "root", "note")
        .iterator(chunk_size=fsck.CHUNK_ROWS)
    )
    with connection.cursor() as cursor:
        cursor.execute(NODES_UP_TO_SQL, [size])
        nodes = [fsck.NodeRow(level, index, bytes(h)) for level, index, h in cursor]
    return fsck.check(
        entries,
        checkpoints,
        witness.ledger_public_key(),
        origin=ledger_services.ledger_origin(),
        nodes=nodes,
    )


def _ledger_integrity(as_of: datetime) -> dict[str, Any]:
    row = (
        LedgerCheckpoint.objects.filter(created_at__lte=as_of).order_by("-size").first()
    )
    origin = ledger_services.ledger_origin()
    if row is None:
        return {"origin": origin, "checkpoint": None, "signature": None, "fsck": None}
    public_key = witness.ledger_public_key()
    try:
        _, names = checkpoint.verify_note(row.note, {origin: public_key})
        signature = {
            "verified": True,
            "key_names": names,
            "key_id": checkpoint.key_id(origin, public_key).hex(),
            "problem": None,
        }
    except checkpoint.CheckpointError as exc:
        signature = {
            "verified": False,
            "key_names": [],
            "key_id": checkpoint.key_id(origin, public_key).hex(),
            "problem": str(exc),
        }
    report = _bounded_fsck(row.size)
    return {
        "origin": origin,
        "checkpoint": {
            "size": row.size,
            "root": bytes(row.root).hex(),
            "note": row.note,
            "created_at": _iso(row.created_at),
        },
        "signature": signature,
        "fsck": {**report.as_dict(), "up_to_size": row.size},
    }


# --- The pack -----------------------------------------------------------------------


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


# --- Record integrity (issue 13) ---------------------------------------------------

RECORD_INTEGRITY = "record_integrity.json"


def _verdict_data(
    verdict: integrity_verify.Verdict, *, size: int, current_state: bool
) -> dict[str, Any]:
    """A verdict as a pack stores it, in the terms of the pack's checkpoint (of
    ``size`` leaves). So that a rebuild at the same as-of gives the same bytes
    whatever was sequenced or changed since, a verified row names its seq only
    when that checkpoint covers it and the row is written once (the latest
    revision of a current-state row, a request or a finding, moves on with it),
    and its detail is left out."""
    seq = verdict.seq
    if verdict.verified and (current_state or seq is None or seq >= size):
        seq = None
    data: dict[str, Any] = {
        "state": verdict.state,
        "seq": seq,
        "label": verdict.label,
    }
    if verdict.since:
        data["since"] = verdict.since
    if not verdict.verified:
        data["detail"] = verdict.detail
        data["fields"] = list(verdict.fields)
    return data


def _attach_verdicts(
    pairs: Sequence[tuple[Any, dict[str, Any]]],
    *,
    as_of: datetime,
    events: Sequence[dict[str, Any]] = (),
    gate_rows: Sequence[dict[str, Any]] = (),
    deployment_rows: Sequence[dict[str, Any]] = (),
    refusal_rows: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """Check every governance record of a pack against the ledger, in one batch,
    and write its verdict into its data (``integrity``): ``pairs`` are (row, its
    data); ``events``, ``gate_rows``, ``deployment_rows`` and ``refusal_rows``
    are data whose rows are loaded here by id. Inclusion proofs are checked against the pack's
    checkpoint (the latest signed by ``as_of``). Returns the pack's
    ``record_integrity.json``: the counts and every record's verdict."""
    pairs = list(pairs)
    by_event = AuditEvent.objects.in_bulk([e["id"] for e in events])
    pairs += [(by_event[e["id"]], e) for e in events if e["id"] in by_event]
    by_decision = {
        str(d.decision_id): d
        for d in GateDecision.objects.filter(
            decision_id__in=[g["decision_id"] for g in gate_rows]
        )
    }
    pairs += [(by_decision[g["decision_id"]], g) for g in gate_rows]
    by_deployment = Deployment.objects.in_bulk([d["id"] for d in deployment_rows])
    pairs += [(by_deployment[d["id"]], d) for d in deployment_rows]
    by_refusal = RefusedAction.objects.in_bulk([r["id"] for r in refusal_rows])
    pairs += [(by_refusal[r["id"]], r) for r in refusal_rows]
    pack_checkpoint = (
        LedgerCheckpoint.objects.filter(created_at__lte=as_of).order_by("-size").first()
    )
    size = pack_checkpoint.size if pack_checkpoint is not None else 0
    found = integrity_verify.verdicts(
        [row for row, _ in pairs], checkpoint=pack_checkpoint
    )
    records = []
    for row, data in pairs:
        evidence = integrity_inventory.by_model()[row._meta.concrete_model]
        verdict = _verdict_data(
            found[integrity_verify.key_of(row)],
            size=size,
            current_state=evidence.kind == integrity_inventory.CURRENT_STATE,
        )
        data["integrity"] = verdict
        records.append({"table": row._meta.db_table, "pk": str(row.pk), **verdict})
    records.sort(key=lambda r: (r["table"], len(r["pk"]), r["pk"]))
    counts = Counter(r["state"] for r in records)
    return {
        "checked": len(records),
        "verified": counts[integrity_verify.VERIFIED],
        "altered": counts[integrity_verify.ALTERED],
        "not_verified": counts[integrity_verify.NOT_VERIFIED],
        "records": records,
    }


def version_pack_content(
    *,
    version: ModelVersion,
    period_start: datetime,
    period_end: datetime,
    as_of: datetime,
) -> PackContent:
    """The model-version evidence pack of ``version`` for monitoring reports whose
    window lies in [``period_start``, ``period_end``], as the records stood at
    ``as_of``.

    Reads only; records nothing (the caller audits the export). Deterministic: rows
    created after ``as_of`` are left out and ``created`` is ``as_of``, so the same
    arguments give the same sources, manifest and HTML. Give an ``as_of`` a little
    in the past: a transaction still open at ``as_of`` may commit rows stamped
    before it. Raises ValueError for a naive datetime or a period that ends before
    it starts.
    """
    period_start = _utc(period_start, "period_start")
    period_end = _utc(period_end, "period_end")
    as_of = _utc(as_of, "as_of")
    if period_end < period_start:
        raise ValueError("the period ends before it starts")
    version = ModelVersion.objects.select_related("model__owner").get(pk=version.pk)

    requests = list(
        ReleaseRequest.objects.filter(model_version=version, created_at__lte=as_of)
        .select_related("requested_by", "validator")
        .order_by("created_at", "id")
    )
    request_events = _events(
        "governance.releaserequest", [r.pk for r in requests], as_of
    )
    request_data = [
        _request_data(r, request_events[str(r.pk)], as_of) for r in requests
    ]
    findings = list(
        Finding.objects.filter(model_version=version, raised_at__lte=as_of)
        .select_related("owner", "raised_by")
        .order_by("raised_at", "id")
    )
    finding_events = _events("governance.finding", [f.pk for f in findings], as_of)
    finding_data = [
        _finding_data(f, finding_events[str(f.pk)], as_of) for f in findings
    ]
    signature_rows = list(
        Signature.objects.filter(model_version=version, signed_at__lte=as_of).order_by(
            "signed_at", "id"
        )
    )
    signatures = [_signature_data(s) for s in signature_rows]
    approved_times = [
        r.approved_at
        for r in requests
        if r.approved_at is not None and r.approved_at <= as_of
    ]
    # "As approved": the papers as saved last before the latest approval by as_of.
    papers_at = max(approved_times) if approved_times else as_of
    # The trail's selector of "papers as they were at a time", shared on purpose,
    # each checked against the digests that approval's signatures bound.
    latest_approval = next(
        (r for r in reversed(requests) if r.approved_at == papers_at), None
    )
    papers = trail.papers_checked(
        trail._papers_as_of(version, papers_at),
        Signature.objects.filter(
            request=latest_approval, signed_at__lte=as_of
        ).select_related("signer", "model_version__model")
        if latest_approval is not None
        else Signature.objects.none(),
    )
    cards = [p for p in papers if p.kind == "card"]
    documents = [p for p in papers if p.kind == "document"]
    gate_rows = _gate_rows(version, as_of)
    deployment_rows = _deployment_rows(version, as_of)
    reports = _reports(version, period_start, period_end, as_of)
    report_data = [_report_data(r) for r in reports]
    record_integrity = _attach_verdicts(
        [
            *zip(requests, request_data, strict=True),
            *zip(findings, finding_data, strict=True),
            *zip(signature_rows, signatures, strict=True),
            *zip(reports, report_data, strict=True),
        ],
        as_of=as_of,
        events=[e for r in [*request_data, *finding_data] for e in r["history"]],
        gate_rows=gate_rows,
        deployment_rows=deployment_rows,
    )
    integrity = _ledger_integrity(as_of)
    in_force = _in_force(request_data, as_of)
    version_data = _version_data(version, as_of)
    papers_basis = {
        "at": _iso(papers_at),
        "basis": "latest approval" if approved_times else "as_of (no approval)",
    }

    sources = [
        _json_source("version.json", {**version_data, "approvals_in_force": in_force}),
        _json_source(
            "model_card.json",
            {**papers_basis, "card": _paper_data(cards[0]) if cards else None},
        ),
        _json_source(
            "documents.json",
            {**papers_basis, "documents": [_paper_data(p) for p in documents]},
        ),
        _json_source(
            "validation.json", {"requests": request_data, "findings": finding_data}
        ),
        _json_source(
            "approvals.json",
            {
                "approvals_in_force": in_force,
                "requests": [
                    {
                        key: r[key]
                        for key in (
                            "id",
                            "label",
                            "state",
                            "environments",
                            "approved_at",
                            "expires_at",
                            "approved_artifact_sha256",
                            "approved_content_digest",
                            "revoked_at",
                            "integrity",
                        )
                    }
                    for r in request_data
                ],
                "signatures": signatures,
            },
        ),
        _csv_source("gate_decisions.csv", GATE_COLUMNS, gate_rows),
        _csv_source("deployments.csv", DEPLOYMENT_COLUMNS, deployment_rows),
        _json_source(
            "monitoring_reports.json",
            {
                "period": {"start": _iso(period_start), "end": _iso(period_end)},
                "reports": report_data,
            },
        ),
        _json_source("ledger_integrity.json", integrity),
        _json_source(RECORD_INTEGRITY, record_integrity),
    ]
    checkpoint_row = integrity["checkpoint"]
    ledger_size = checkpoint_row["size"] if checkpoint_row else 0
    period = f"{_iso(period_start)}/{_iso(period_end)}"
    manifest = manifest_of(
        sources,
        pack={
            "kind": KIND,
            "model": version.model.slug,
            "version": version.version,
            "period": period,
            "built_from": {"ledger_size": ledger_size, "as_of": _iso(as_of)},
        },
    )
    context = render.pack_context(
        manifest=manifest, title=TITLE, created=as_of, toc=TOC
    )
    # The cover prints these two as text; the manifest keeps them structured.
    context["pack"] = {
        **context["pack"],
        "period": f"{period_start:%Y-%m-%d %H:%M} to {period_end:%Y-%m-%d %H:%M} UTC",
        "built_from": f"ledger checkpoint {ledger_size}",
    }
    definitions = {
        (t.key, t.version): t
        for t in DocumentTemplate.objects.filter(
            key__in={p.template_key for p in papers}
        )
    }
    context.update(
        {
            "none": NONE,
            "version": _shown(version_data),
            "approvals_in_force": in_force,
            "as_of": as_of,
            "period_start": period_start,
            "period_end": period_end,
            "papers_at": papers_at,
            "papers_basis": papers_basis["basis"],
            "card": _shown(_paper_view(definitions, cards[0]) if cards else None),
            "documents": _shown([_paper_view(definitions, p) for p in documents]),
            "requests": _shown(request_data),
            "findings": _shown(finding_data),
            "signatures": _shown(signatures),
            "gate_rows": _shown(gate_rows),
            "deployment_rows": _shown(deployment_rows),
            "reports": [
                {**_report_view(r), "integrity": d["integrity"]}
                for r, d in zip(reports, report_data, strict=True)
            ],
            "integrity": _shown(integrity),
            "record_integrity": record_integrity,
        }
    )
    # The template prints times as UTC, whatever the active time zone.
    with timezone.override(UTC):
        html = render_to_string(TEMPLATE, context)
    return PackContent(
        kind=KIND,
        title=TITLE,
        html=html,
        sources=sources,
        manifest=manifest,
        created=as_of,
    )


# --- The period pack ----------------------------------------------------------------

PERIOD_KIND = "period"
PERIOD_TITLE = "Period evidence pack"
PERIOD_TEMPLATE = "audits/evidence/period_pack.html"
PERIOD_TOC = (
    ("summary", "Summary"),
    ("volume", "Predictions volume"),
    ("monitoring", "Monitoring"),
    ("alerts", "Alerts"),
    ("approvals", "Approvals and e-signatures"),
    ("deployments", "Deployments"),
    ("refusals", "Refused actions"),
    ("ledger", "Ledger integrity statement"),
)
VOLUME_COLUMNS = ("day", "version", "environment", "predictions")
PERIOD_DEPLOYMENT_COLUMNS = ("version", *DEPLOYMENT_COLUMNS)
SHADOW_ALERT = "shadow_model"
VolumeKey = tuple[str, int, str]  # (day, version id, environment)


def _hour_start(hour: str) -> datetime:
    # rollup hours are "YYYY-MM-DDTHH" (audits.monitoring.rollup._hour), UTC.
    return datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=UTC)


def _tail_volume(
    version_ids: set[int], start: int, end: int, period: tuple[datetime, datetime]
) -> Counter[VolumeKey]:
    """Predictions of ``version_ids`` among the ledger entries ``[start, end)``,
    counted exactly as the rollups count them, by day, version and environment."""
    found: Counter[VolumeKey] = Counter()
    if end <= start:
        return found
    cells = rollup.count_entries(rollup._entries(start, end))
    for (version_id, environment, hour, _, _), n in cells.decisions.items():
        moment = _hour_start(hour)
        if version_id in version_ids and period[0] <= moment < period[1]:
            found[(hour[:10], version_id, environment)] += n
    return found


def _volume(
    version_ids: set[int],
    period: tuple[datetime, datetime],
    ledger_size: int,
) -> Counter[VolumeKey]:
    """Predictions per day, version and environment among the first
    ``ledger_size`` ledger entries (those of the checkpoint at ``as_of``), with
    their hour of prediction in ``period`` (the rollups' hourly grain).

    The hourly rollups give the bulk; they have counted the entries before their
    mark, so the entries between the mark and ``ledger_size`` are counted from the
    ledger (added when the rollups lag, taken away when they are ahead). The mark
    is locked while the cells are read: the counts and the mark stay consistent,
    and the result is the same whenever it is built. Without rollups, this counts
    the ledger itself.
    """
    found: Counter[VolumeKey] = Counter()
    with transaction.atomic():
        mark = RollupMark.objects.select_for_update().filter(id=1).first()
        mark_seq = mark.seq if mark is not None else 0
        if mark_seq:
            rows = (
                DecisionCell.objects.filter(
                    model_version_id__in=version_ids,
                    hour__gte=period[0],
                    hour__lt=period[1],
                )
                .annotate(day=TruncDate("hour", tzinfo=UTC))
                .values_list("day", "model_version_id", "environment")
                .annotate(total=Sum("n"))
            )
            for day, version_id, environment, total in rows:
                found[(day.isoformat(), version_id, environment)] += total
    found.update(_tail_volume(version_ids, mark_seq, ledger_size, period))
    found.subtract(_tail_volume(version_ids, ledger_size, mark_seq, period))
    return +found  # drops the keys that came to zero


def _alert_data(
    alert: Alert, history: list[dict[str, Any]], as_of: datetime
) -> dict[str, Any]:
    """The alert as at ``as_of``; its counter and last sighting only when they
    have not moved since (they are updated in place)."""
    settled = alert.last_seen_at <= as_of
    closed = _upto(alert.closed_at, as_of)
    return {
        "id": alert.pk,
        "kind": alert.kind,
        "severity": alert.severity,
        "environment": alert.environment,
        "version": alert.model_version.version if alert.model_version else None,
        "message": alert.message,
        "details": alert.details,
        "first_seen_at": _iso(alert.first_seen_at),
        "last_seen_at": _iso(alert.last_seen_at) if settled else None,
        "occurrences": alert.occurrences if settled else None,
        "open": closed is None,
        "closed_at": _iso(closed),
        "history": history,
        # Insert-only, so exactly what was recorded by ``as_of``.
        "occurrence_log": [
            {
                "occurred_at": _iso(o.occurred_at),
                "count": o.count,
                "message": o.message,
                "details": o.details,
                "report": o.report_id,
            }
            for o in alert.occurrence_records.filter(occurred_at__lte=as_of).order_by(
                "occurred_at", "id"
            )
        ],
    }


def _period_requests(
    version_ids: set[int], start: datetime, end: datetime, as_of: datetime
) -> list[ReleaseRequest]:
    """Release requests decided (approved or rejected) or revoked in the period,
    by ``as_of``."""
    bound = min(end, as_of)
    return list(
        ReleaseRequest.objects.filter(
            Q(decided_at__gte=start, decided_at__lt=end, decided_at__lte=bound)
            | Q(revoked_at__gte=start, revoked_at__lt=end, revoked_at__lte=bound),
            model_version_id__in=version_ids,
            created_at__lte=as_of,
        )
        .select_related("requested_by", "validator", "model_version")
        .order_by("decided_at", "id")
    )


def period_pack_content(
    *,
    model: Model,
    period_start: datetime,
    period_end: datetime,
    as_of: datetime,
) -> PackContent:
    """The period evidence pack of ``model`` over [``period_start``,
    ``period_end``), as the records stood at ``as_of``: the predictions volume per
    version and day, the monitoring reports and alerts, the approvals decided and
    the deployments made in the period, and the ledger's integrity.

    Reads only; records nothing (the caller audits the export). Deterministic like
    :func:`version_pack_content`: rows created after ``as_of`` are left out, the
    volume counts the entries of the ledger checkpoint at ``as_of``, and
    ``created`` is ``as_of``. Raises ValueError for a naive datetime or a period
    that ends before it starts.
    """
    period_start = _utc(period_start, "period_start")
    period_end = _utc(period_end, "period_end")
    as_of = _utc(as_of, "as_of")
    if period_end < period_start:
        raise ValueError("the period ends before it starts")
    model = Model.objects.select_related("owner").get(pk=model.pk)
    versions = {
        v.pk: v for v in ModelVersion.objects.filter(model=model, created_at__lte=as_of)
    }
    version_ids = set(versions)
    period = (period_start, period_end)
    integrity = _ledger_integrity(as_of)
    checkpoint_row = integrity["checkpoint"]
    ledger_size = checkpoint_row["size"] if checkpoint_row else 0

    volume = _volume(version_ids, period, ledger_size)
    volume_rows: list[dict[str, Any]] = sorted(
        (
            {
                "day": day,
                "version": versions[version_id].version,
                "environment": environment,
                "predictions": n,
            }
            for (day, version_id, environment), n in volume.items()
        ),
        key=lambda r: (r["day"], r["version"], r["environment"]),
    )
    reports = [
        report
        for version in sorted(versions.values(), key=lambda v: (v.created_at, v.pk))
        for report in _reports(version, period_start, period_end, as_of)
    ]
    reports.sort(key=lambda r: (r.window_start, r.kind, r.pk))
    alerts = list(
        Alert.objects.filter(
            model=model,
            first_seen_at__gte=period_start,
            first_seen_at__lt=period_end,
            first_seen_at__lte=as_of,
        )
        .select_related("model_version")
        .order_by("first_seen_at", "id")
    )
    alert_events = _events("audits.alert", [a.pk for a in alerts], as_of)
    alert_data = [_alert_data(a, alert_events[str(a.pk)], as_of) for a in alerts]
    requests = _period_requests(version_ids, period_start, period_end, as_of)
    request_events = _events(
        "governance.releaserequest", [r.pk for r in requests], as_of
    )
    request_data = [
        {
            **_request_data(r, request_events[str(r.pk)], as_of),
            "version": r.model_version.version,
        }
        for r in requests
    ]
    signature_rows = list(
        Signature.objects.filter(request__in=requests, signed_at__lte=as_of).order_by(
            "signed_at", "id"
        )
    )
    signatures = [_signature_data(s) for s in signature_rows]
    deployment_rows = [
        {"version": d.model_version.version, **_deployment_row(d)}
        for d in Deployment.objects.filter(
            model_version_id__in=version_ids,
            deployed_at__gte=period_start,
            deployed_at__lt=period_end,
            reported_at__lte=as_of,
        )
        .select_related("model_version", "reported_by", "gate_decision")
        .order_by("deployed_at", "id")
    ]
    model_data = _model_data(model, as_of)
    total = sum(volume.values())
    by_version: Counter[str] = Counter()
    for row in volume_rows:
        by_version[row["version"]] += row["predictions"]
    shadow = [a for a in alert_data if a["kind"] == SHADOW_ALERT]
    period_iso = {"start": _iso(period_start), "end": _iso(period_end)}
    refusals = pack_refusals.period_refusals(
        model=model,
        period_start=period_start,
        period_end=period_end,
        as_of=as_of,
        ledger_size=ledger_size,
    )
    report_data = [
        {**_report_data(r), "version": versions[r.model_version_id].version}
        for r in reports
    ]
    record_integrity = _attach_verdicts(
        [
            *zip(reports, report_data, strict=True),
            *zip(alerts, alert_data, strict=True),
            *zip(requests, request_data, strict=True),
            *zip(signature_rows, signatures, strict=True),
        ],
        as_of=as_of,
        events=[e for r in [*alert_data, *request_data] for e in r["history"]],
        deployment_rows=deployment_rows,
        refusal_rows=[*refusals["on_model"], *refusals["of_people"]],
    )

    sources = [
        _csv_source("volume.csv", VOLUME_COLUMNS, volume_rows),
        _json_source(
            "monitoring_reports.json", {"period": period_iso, "reports": report_data}
        ),
        _json_source("alerts.json", {"period": period_iso, "alerts": alert_data}),
        _json_source(
            "approvals.json",
            {"period": period_iso, "requests": request_data, "signatures": signatures},
        ),
        _csv_source("deployments.csv", PERIOD_DEPLOYMENT_COLUMNS, deployment_rows),
        _json_source("refusals.json", {"period": period_iso, **refusals}),
        _json_source("ledger_integrity.json", integrity),
        _json_source(RECORD_INTEGRITY, record_integrity),
    ]
    manifest = manifest_of(
        sources,
        pack={
            "kind": PERIOD_KIND,
            "model": model.slug,
            "period": f"{_iso(period_start)}/{_iso(period_end)}",
            "built_from": {"ledger_size": ledger_size, "as_of": _iso(as_of)},
        },
    )
    context = render.pack_context(
        manifest=manifest, title=PERIOD_TITLE, created=as_of, toc=PERIOD_TOC
    )
    context["pack"] = {
        **context["pack"],
        "period": f"{period_start:%Y-%m-%d %H:%M} to {period_end:%Y-%m-%d %H:%M} UTC",
        "built_from": f"ledger checkpoint {ledger_size}",
    }
    context.update(
        {
            "none": NONE,
            "model": _shown(model_data),
            "as_of": as_of,
            "period_start": period_start,
            "period_end": period_end,
            "ledger_size": ledger_size,
            "total": total,
            "by_version": sorted(by_version.items()),
            "volume_rows": volume_rows,
            "reports": [
                {
                    **_report_view(r),
                    "version": versions[r.model_version_id].version,
                    "integrity": d["integrity"],
                }
                for r, d in zip(reports, report_data, strict=True)
            ],
            "breached": sum(1 for r in reports if r.breaches),
            "alerts": _shown(alert_data),
            "shadow": _shown(shadow),
            "requests": _shown(request_data),
            "signatures": _shown(signatures),
            "deployment_rows": _shown(deployment_rows),
            "refusals": _shown(refusals),
            "integrity": _shown(integrity),
            "record_integrity": record_integrity,
        }
    )
    with timezone.override(UTC):
        html = render_to_string(PERIOD_TEMPLATE, context)
    return PackContent(
        kind=PERIOD_KIND,
        title=PERIOD_TITLE,
        html=html,
        sources=sources,
        manifest=manifest,
        created=as_of,
    )
