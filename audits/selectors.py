"""Reads for the auditor workspace: finding recorded predictions, and the access
log (who viewed what, :func:`access_log_for_user`) and the refused actions
(:func:`refusal_list_for_user`).

The ledger keeps a prediction's fields only inside its leaf (canonical JSON bytes),
and no table indexes them: the rollups count predictions per hour but keep no ids,
and ``LedgerKey`` holds only the id. So a search by time range, version or trace
id reads the leaves of a bounded window of the ledger:

* the window is a range of ``seq``, found by bisection on ``sequenced_at`` (the
  sequencer writes entries in order, so ``sequenced_at`` grows with ``seq``); a
  prediction made at ``t`` is accepted between ``t - MAX_SKEW`` and
  ``t + MODELGOV_INGEST_MAX_AGE_HOURS``, so the window covers those bounds;
* the window is read newest first and the scan stops after ``SCAN_LIMIT`` entries
  or ``limit`` matches; the result says when it stopped early, so the page can ask
  for a narrower range rather than pretend the search was complete.

A search by prediction id needs none of this (``LedgerKey`` is its index).

The access log reads audit events (insert-only, each also a ledger leaf) of the
kinds in :class:`AccessKind`, newest first by id, a page at a time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet

from audits import services as audit_services
from audits import trail
from audits.ledger import governance, records
from audits.ledger.models import EntryType, LedgerEntry, LedgerHead
from audits.models import AuditEvent, RefusalKind, RefusedAction
from registry import selectors as registry_selectors
from registry.models import ModelVersion

SEARCH_LIMIT = 100
SCAN_LIMIT = 50_000
CHUNK_ROWS = 2_000
# How far ahead of the server's clock a prediction time may be (records.py).
MAX_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class PredictionHit:
    prediction_id: str
    predicted_at: str
    environment: str
    version: str
    decision: Any
    score: Any
    trace_id: str | None
    shadow: bool
    seq: int


@dataclass(frozen=True)
class PredictionSearch:
    hits: list[PredictionHit]
    scanned: int
    complete: bool  # False: a limit stopped the scan before the window's start


def prediction_versions_for_user(*, user: Any) -> QuerySet[ModelVersion]:
    """Versions of the models ``user`` may see, for the search form."""
    models = registry_selectors.model_list_for_user(user=user)
    return (
        ModelVersion.objects.filter(model__in=models)
        .select_related("model")
        .order_by("model__name", "-created_at", "-id")
    )


def _first_seq_at(moment: datetime, size: int) -> int:
    """The first ``seq`` sequenced at or after ``moment`` (``size`` if none), by
    bisection on the primary key: a few point reads, however large the ledger."""
    low, high = 0, size
    while low < high:
        middle = (low + high) // 2
        at = (
            LedgerEntry.objects.filter(seq=middle)
            .values_list("sequenced_at", flat=True)
            .first()
        )
        if at is None or at < moment:
            low = middle + 1
        else:
            high = middle
    return low


def _seq_window(start: datetime, end: datetime) -> tuple[int, int]:
    size = LedgerHead.objects.filter(id=1).values_list("size", flat=True).first() or 0
    max_age = timedelta(hours=settings.MODELGOV_INGEST_MAX_AGE_HOURS)
    return (
        _first_seq_at(start - MAX_SKEW, size),
        _first_seq_at(end + max_age, size),
    )


def _hit(seq: int, leaf: dict[str, Any]) -> PredictionHit:
    return PredictionHit(
        prediction_id=leaf["prediction_id"],
        predicted_at=leaf["predicted_at"],
        environment=leaf["deployment"]["environment"],
        version=leaf["model_version"]["version"],
        decision=leaf.get("decision"),
        score=leaf.get("score"),
        trace_id=leaf.get("trace_id"),
        shadow=bool(leaf.get("shadow")),
        seq=seq,
    )


def prediction_list_for_user(
    *,
    user: Any,
    version: ModelVersion,
    start: datetime,
    end: datetime,
    trace_id: str | None = None,
    limit: int = SEARCH_LIMIT,
    scan_limit: int = SCAN_LIMIT,
) -> PredictionSearch:
    """Predictions of ``version`` made in ``[start, end)`` (and with ``trace_id``,
    if given): the ``limit`` most recently recorded, newest prediction first.

    Reads at most ``scan_limit`` ledger entries of the window (see the module
    docstring); ``complete`` is False when a limit stopped the scan. Raises
    PermissionDenied without the trail permission; a version of a model the user
    may not see gives no hits (as a missing one would).
    """
    if not user.has_perm(trail.PERM_TRAIL):
        raise PermissionDenied("Your role may not see prediction audit trails.")
    if not prediction_versions_for_user(user=user).filter(pk=version.pk).exists():
        return PredictionSearch(hits=[], scanned=0, complete=True)
    slug = version.model.slug
    start_iso, end_iso = records.iso(start), records.iso(end)

    def wanted(leaf: dict[str, Any]) -> bool:
        # Leaf times are all records.iso strings, so text order is time order.
        return bool(
            leaf["deployment"]["model"] == slug
            and leaf["model_version"]["version"] == version.version
            and start_iso <= leaf["predicted_at"] < end_iso
            and (trace_id is None or leaf.get("trace_id") == trace_id)
        )

    low, high = _seq_window(start, end)
    rows = (
        LedgerEntry.objects.filter(
            seq__gte=low, seq__lt=high, entry_type=EntryType.PREDICTION
        )
        .order_by("-seq")
        .values_list("seq", "leaf")
        .iterator(chunk_size=CHUNK_ROWS)
    )
    hits: list[PredictionHit] = []
    scanned = 0
    complete = True
    for seq, leaf_bytes in rows:
        if scanned >= scan_limit or len(hits) >= limit:
            complete = False
            break
        scanned += 1
        leaf = orjson.loads(bytes(leaf_bytes))
        if wanted(leaf):
            hits.append(_hit(seq, leaf))
    hits.sort(key=lambda hit: (hit.predicted_at, hit.seq), reverse=True)
    return PredictionSearch(hits=hits, scanned=scanned, complete=complete)


# --- The access log: who viewed what ------------------------------------------------

PERM_ACCESS_LOG = "audits.view_auditevent"
ACCESS_PAGE = 50


class AccessKind:
    """The kinds of access the log shows, each an audit event type."""

    TRAIL = trail.TRAIL_VIEWED
    PACK_REQUESTED = "audits.evidence_pack.requested"
    PACK_DOWNLOADED = "audits.evidence_pack.downloaded"
    LOG = audit_services.ACCESS_LOG_VIEWED
    REFUSALS = audit_services.REFUSALS_VIEWED

    LABELS = {
        TRAIL: "Viewed a prediction's trail",
        PACK_REQUESTED: "Requested an evidence pack",
        PACK_DOWNLOADED: "Downloaded an evidence pack",
        LOG: "Viewed the access log",
        REFUSALS: "Viewed the refused actions",
    }
    FILTERS = {
        "trails": (TRAIL,),
        "packs": (PACK_REQUESTED, PACK_DOWNLOADED),
        "log": (LOG, REFUSALS),
    }


@dataclass(frozen=True)
class AccessRow:
    event_id: int
    occurred_at: datetime
    who: str
    username: str
    event_type: str
    action: str
    prediction_id: str | None
    pack_id: int | None
    detail: str
    request_id: str
    seq: int | None  # its ledger leaf; None while it waits to be sequenced


@dataclass(frozen=True)
class AccessLog:
    rows: list[AccessRow]
    older: int | None  # the event id to continue before, if there are older rows


def _access_detail(event: AuditEvent) -> str:
    payload = event.payload or {}
    if event.event_type == AccessKind.TRAIL:
        return str(payload.get("format", "")).upper()
    if event.event_type == AccessKind.PACK_DOWNLOADED:
        return str(payload.get("name") or payload.get("file", ""))
    if event.event_type == AccessKind.PACK_REQUESTED:
        return str(payload.get("kind", ""))
    shown = {k: v for k, v in payload.items() if v not in (None, "")}
    return ", ".join(f"{k} {v}" for k, v in sorted(shown.items()))


def access_log_for_user(
    *,
    user: Any,
    who: str | None = None,
    prediction_id: uuid.UUID | None = None,
    pack_id: int | None = None,
    kind: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    before: int | None = None,
    limit: int = ACCESS_PAGE,
) -> AccessLog:
    """Who viewed what: trail views, pack requests and downloads, and views of
    this log, newest first, ``limit`` at a time (continue with ``before``).

    Every row is an insert-only audit event (the database refuses updates and
    deletes) and a leaf of the ledger, whose ``seq`` is returned with it.
    """
    if not user.has_perm(PERM_ACCESS_LOG):
        raise PermissionDenied("Your role may not see the access log.")
    types = AccessKind.FILTERS.get(kind or "", tuple(AccessKind.LABELS))
    events = AuditEvent.objects.filter(event_type__in=types).select_related("actor")
    if who:
        events = events.filter(
            Q(actor__username__iexact=who) | Q(actor_display__icontains=who)
        )
    if prediction_id is not None:
        events = events.filter(
            event_type=AccessKind.TRAIL, payload__prediction_id=str(prediction_id)
        )
    if pack_id is not None:
        events = events.filter(
            object_type="audits.evidencepack", object_id=str(pack_id)
        )
    if start is not None:
        events = events.filter(occurred_at__gte=start)
    if end is not None:
        events = events.filter(occurred_at__lt=end)
    if before is not None:
        events = events.filter(pk__lt=before)
    page = list(events.order_by("-pk")[: limit + 1])
    older = page[limit - 1].pk if len(page) > limit else None
    page = page[:limit]
    entry_ids = {governance.event_entry_id(e.pk): e.pk for e in page}
    seqs = {
        entry_ids[entry_id]: seq
        for entry_id, seq in LedgerEntry.objects.filter(
            entry_id__in=list(entry_ids)
        ).values_list("entry_id", "seq")
    }
    rows = []
    for event in page:
        payload = event.payload or {}
        prediction = payload.get("prediction_id")
        rows.append(
            AccessRow(
                event_id=event.pk,
                occurred_at=event.occurred_at,
                who=event.actor_display,
                username=event.actor.get_username() if event.actor else "",
                event_type=event.event_type,
                action=AccessKind.LABELS[event.event_type],
                prediction_id=str(prediction) if prediction else None,
                pack_id=(
                    int(event.object_id)
                    if event.object_type == "audits.evidencepack"
                    and event.object_id.isdigit()
                    else None
                ),
                detail=_access_detail(event),
                request_id=event.request_id,
                seq=seqs.get(event.pk),
            )
        )
    return AccessLog(rows=rows, older=older)


# --- Refused actions: what was attempted and refused ----------------------------------

PERM_REFUSALS = "audits.view_refusedaction"
REFUSAL_PAGE = 50
# The object filter: "app.model" or "app.model:id".
REFUSAL_OBJECT_PATTERN = r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*(:[A-Za-z0-9_-]{1,100})?$"


@dataclass(frozen=True)
class RefusalRow:
    refusal_id: int
    occurred_at: datetime
    kind: str
    kind_label: str
    who: str  # the actor's display name, or the account name tried
    username: str
    action: str
    object_type: str
    object_id: str
    reason: str
    ip_address: str | None
    method: str
    path: str
    token_id: int | None
    request_id: str
    seq: int | None  # its ledger leaf; None while it waits to be sequenced


@dataclass(frozen=True)
class RefusalLog:
    rows: list[RefusalRow]
    older: int | None  # the refusal id to continue before, if there are older rows


def refusal_who(refused: RefusedAction) -> str:
    """Who tried: the signed-in actor, else the account name tried, else anonymous."""
    if refused.actor_id is not None:
        return refused.actor_display
    if refused.username:
        return refused.username
    return "anonymous"


def refusal_seqs(refusal_ids: list[int]) -> dict[int, int]:
    """The ledger ``seq`` of each refusal already sequenced, by refusal id."""
    entry_ids = {governance.refusal_entry_id(pk): pk for pk in refusal_ids}
    return {
        entry_ids[entry_id]: seq
        for entry_id, seq in LedgerEntry.objects.filter(
            entry_id__in=list(entry_ids)
        ).values_list("entry_id", "seq")
    }


def refusal_list_for_user(
    *,
    user: Any,
    kind: str | None = None,
    who: str | None = None,
    address: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    before: int | None = None,
    limit: int = REFUSAL_PAGE,
) -> RefusalLog:
    """Refused attempts (failed sign-ins, lockouts, wrong signature passwords,
    separation-of-duties, permission and token refusals), newest first, ``limit``
    at a time (continue with ``before``).

    ``who`` matches the account name (of the actor or the one tried) exactly,
    ignoring case, or part of the actor's display name; ``address`` the client
    address exactly; ``object_type`` (``app.model``) with an optional
    ``object_id`` the object the attempt was on. Each row is insert-only and a
    ledger leaf, whose ``seq`` is returned with it. Raises PermissionDenied
    unless the user may see refusals (auditors, administrators).
    """
    if not user.has_perm(PERM_REFUSALS):
        raise PermissionDenied("Your role may not see refused actions.")
    refusals = RefusedAction.objects.all()
    if kind:
        refusals = refusals.filter(kind=kind)
    if who:
        refusals = refusals.filter(
            Q(username__iexact=who)
            | Q(actor__username__iexact=who)
            | Q(actor_display__icontains=who)
        )
    if address:
        refusals = refusals.filter(ip_address=address)
    if object_type:
        refusals = refusals.filter(object_type=object_type)
        if object_id:
            refusals = refusals.filter(object_id=object_id)
    if start is not None:
        refusals = refusals.filter(occurred_at__gte=start)
    if end is not None:
        refusals = refusals.filter(occurred_at__lt=end)
    if before is not None:
        refusals = refusals.filter(pk__lt=before)
    page = list(refusals.order_by("-pk")[: limit + 1])
    older = page[limit - 1].pk if len(page) > limit else None
    page = page[:limit]
    seqs = refusal_seqs([r.pk for r in page])
    labels = dict(RefusalKind.choices)
    rows = [
        RefusalRow(
            refusal_id=r.pk,
            occurred_at=r.occurred_at,
            kind=r.kind,
            kind_label=str(labels.get(r.kind, r.kind)),
            who=refusal_who(r),
            username=r.username,
            action=r.action,
            object_type=r.object_type,
            object_id=r.object_id,
            reason=r.reason,
            ip_address=r.ip_address,
            method=r.method,
            path=r.path,
            token_id=r.token_id,
            request_id=r.request_id,
            seq=seqs.get(r.pk),
        )
        for r in page
    ]
    return RefusalLog(rows=rows, older=older)


def refusal_filters(data: dict[str, Any]) -> dict[str, Any]:
    """The selector's filters from the cleaned filter form (or API query)."""
    object_type, _, object_id = (data.get("object") or "").partition(":")
    return {
        "kind": data.get("kind") or None,
        "who": (data.get("who") or "").strip() or None,
        "address": data.get("address") or None,
        "object_type": object_type or None,
        "object_id": object_id or None,
        "start": data.get("start"),
        "end": data.get("end"),
    }


def refusal_recorded_filters(data: dict[str, Any]) -> dict[str, Any]:
    """The filters of a reading of the refused actions, as recorded."""
    recorded: dict[str, Any] = {
        "kind": data.get("kind"),
        "who": (data.get("who") or "").strip(),
        "address": data.get("address"),
        "object": data.get("object"),
        "start": data.get("start"),
        "end": data.get("end"),
        "before": data.get("before"),
    }
    return {
        key: value.isoformat() if hasattr(value, "isoformat") else value
        for key, value in recorded.items()
    }
