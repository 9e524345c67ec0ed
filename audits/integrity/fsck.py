"""The governance part of ``ledger_fsck``: every evidence row against the ledger.

One pass over the governance leaves of the ledger (audit events, refusals,
deployment states, record leaves: a few per cent of its entries), kept in memory as
digests; then one streaming pass over each evidence table of the inventory
(audits.integrity.inventory), recomputing each row's leaf or committed fields:

* a row that differs from its leaf (the latest revision for current state) is
  reported with the leaf's seq and the fields that differ;
* a row that no leaf commits to (inserted behind the application's back) is
  reported without a seq;
* a leaf whose row is gone (deleted as the superuser) is reported with its seq;
* the record index (RecordCommitment) and the record leaves must be a bijection;
* protected attributes are checked against their prediction's commitment.

Errors name ``(table, pk, seq)``; ``first`` is the error of lowest seq (the earliest
damage), errors without a seq after those with one.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.apps import apps
from django.db import connection, transaction
from django.db.models import Model

from audits.integrity import canonical, inventory, verify
from audits.integrity.models import RecordCommitment
from audits.ledger import governance as ledger_governance
from audits.ledger import merkle, records
from audits.ledger.models import EntryType, LedgerEntry, LedgerQueue

MAX_LISTED = 1000
CHUNK = 2000
GOVERNANCE_TYPES = (EntryType.GOVERNANCE, EntryType.DEPLOYMENT_STATE, EntryType.RECORD)


@dataclass
class GovernanceReport:
    rows: int = 0
    leaves: int = 0
    elapsed_s: float = 0.0
    errors: list[dict[str, Any]] = field(default_factory=list)
    unlisted: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors and not self.unlisted

    @property
    def first(self) -> dict[str, Any] | None:
        if not self.errors:
            return None
        return min(
            self.errors,
            key=lambda e: (e["seq"] is None, e["seq"] or 0, e["table"], str(e["pk"])),
        )

    @property
    def rows_per_s(self) -> float:
        return round(self.rows / self.elapsed_s, 1) if self.elapsed_s else 0.0

    def error(self, table: str, pk: Any, seq: int | None, problem: str) -> None:
        if len(self.errors) < MAX_LISTED:
            self.errors.append(
                {"table": table, "pk": str(pk), "seq": seq, "problem": problem}
            )
        else:
            self.unlisted += 1

    def as_dict(self) -> dict[str, Any]:
        first = self.first
        errors = sorted(
            self.errors,
            key=lambda e: (e["seq"] is None, e["seq"] or 0, e["table"], str(e["pk"])),
        )
        if self.unlisted:
            errors = [*errors, {"problem": f"{self.unlisted} more errors not listed"}]
        return {
            "ok": self.ok,
            "rows": self.rows,
            "leaves": self.leaves,
            "first_divergence": (
                {k: first[k] for k in ("table", "pk", "seq")} if first else None
            ),
            "errors": errors,
        }


@dataclass
class _Leaves:
    # (table, pk) -> {rev: (seq, entry_id, fields digest)}
    records: dict[tuple[str, str], dict[int, tuple[int | None, uuid.UUID, bytes]]] = (
        field(default_factory=dict)
    )
    # entry id -> (seq, leaf hash) of audit events and refusals
    events: dict[uuid.UUID, tuple[int | None, bytes]] = field(default_factory=dict)
    # entry id -> (seq, fields) of deployment states
    states: dict[uuid.UUID, tuple[int | None, dict[str, Any]]] = field(
        default_factory=dict
    )


def _governance_leaves() -> Iterator[tuple[int | None, uuid.UUID, int, bytes, bytes]]:
    for seq, entry_id, entry_type, leaf, leaf_hash in (
        LedgerEntry.objects.filter(entry_type__in=GOVERNANCE_TYPES)
        .values_list("seq", "entry_id", "entry_type", "leaf", "leaf_hash")
        .order_by()
        .iterator(chunk_size=CHUNK)
    ):
        yield seq, entry_id, entry_type, bytes(leaf), bytes(leaf_hash)
    for entry_id, entry_type, leaf, leaf_hash in (
        LedgerQueue.objects.filter(entry_type__in=GOVERNANCE_TYPES)
        .values_list("entry_id", "entry_type", "leaf", "leaf_hash")
        .iterator(chunk_size=CHUNK)
    ):
        yield None, entry_id, entry_type, bytes(leaf), bytes(leaf_hash)


def _digest(fields: Any) -> bytes:
    return hashlib.sha256(records.dumps(fields)).digest()


def _load(report: GovernanceReport) -> _Leaves:
    found = _Leaves()
    for seq, entry_id, entry_type, leaf, leaf_hash in _governance_leaves():
        report.leaves += 1
        leaf = bytes(leaf)
        if entry_type == EntryType.GOVERNANCE:
            found.events.setdefault(entry_id, (seq, bytes(leaf_hash)))
            continue
        try:
            data = orjson.loads(leaf)
        except orjson.JSONDecodeError:
            report.error("audits_ledgerentry", entry_id, seq, "the leaf is not JSON")
            continue
        if entry_type == EntryType.DEPLOYMENT_STATE:
            found.states.setdefault(entry_id, (seq, verify._state_leaf_fields(data)))
            continue
        key = (str(data.get("table")), str(data.get("pk")))
        rev = data.get("rev")
        if not isinstance(rev, int):
            report.error(key[0], key[1], seq, "a record leaf without a revision")
            continue
        found.records.setdefault(key, {})[rev] = (
            seq,
            entry_id,
            _digest(data.get("fields")),
        )
    return found


def _leaf_data(entry_id: uuid.UUID) -> dict[str, Any]:
    row = (
        LedgerEntry.objects.filter(entry_id=entry_id).values_list("leaf", flat=True)
    ).first() or (
        LedgerQueue.objects.filter(entry_id=entry_id).values_list("leaf", flat=True)
    ).first()
    try:
        value = orjson.loads(bytes(row)) if row is not None else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _rows(model: type[Model]) -> Iterator[Model]:
    yield from model._default_manager.order_by("pk").iterator(chunk_size=CHUNK)


def _check_records(
    evidence: inventory.EvidenceClass, found: _Leaves, report: GovernanceReport
) -> None:
    table = evidence.table
    seen: set[str] = set()
    for obj in _rows(evidence.model_class):
        report.rows += 1
        pk = str(obj.pk)
        seen.add(pk)
        revisions = found.records.get((table, pk))
        if not revisions:
            report.error(table, pk, None, "no ledger leaf commits to this row")
            continue
        rev = max(revisions)
        seq, entry_id, digest = revisions[rev]
        if evidence.kind == inventory.INSERT_ONLY and rev != 0:
            report.error(table, pk, seq, f"an insert-only row has revision {rev}")
        fields = canonical.committed_fields(obj, exclude=evidence.exclude)
        if _digest(fields) != digest:
            committed = _leaf_data(entry_id).get("fields") or {}
            differ = canonical.differing(fields, committed)
            report.error(
                table,
                pk,
                seq,
                f"differs from its record leaf (revision {rev}) in "
                + (", ".join(differ) or "its fields"),
            )
    for (leaf_table, pk), revisions in found.records.items():
        if leaf_table == table and pk not in seen:
            seq = min(
                (s for s, _, _ in revisions.values() if s is not None), default=None
            )
            report.error(
                table, pk, seq, "the row that this record leaf commits to is gone"
            )


def _check_current(
    evidence: inventory.EvidenceClass, found: _Leaves, report: GovernanceReport
) -> None:
    """Each current registry row against its latest history row (whose own leaf
    is checked with the history tables)."""
    model = evidence.model_class
    history = verify.history_model(model)
    fields = verify.compared_fields(model)
    latest: dict[Any, tuple[Any, bytes]] = {}
    for row in (
        history._default_manager.order_by("id", "-history_date", "-history_id")
        .only("id", "history_id", *(f.attname for f in fields))
        .iterator(chunk_size=CHUNK)
    ):
        object_id = getattr(row, "id")  # noqa: B009  (history rows: dynamic model)
        if object_id not in latest:
            latest[object_id] = (
                getattr(row, "history_id"),  # noqa: B009
                _digest([canonical.value(f, getattr(row, f.attname)) for f in fields]),
            )
    table = evidence.table
    for obj in _rows(model):
        report.rows += 1
        found_history = latest.get(obj.pk)
        if found_history is None:
            report.error(table, obj.pk, None, "it has no history row")
            continue
        history_id, digest = found_history
        now = _digest([canonical.value(f, getattr(obj, f.attname)) for f in fields])
        if now == digest:
            continue
        revisions = found.records.get((history._meta.db_table, str(history_id))) or {}
        seq = revisions[max(revisions)][0] if revisions else None
        differ = verify.current_differs(
            obj, history._default_manager.get(history_id=history_id)
        )
        report.error(
            table,
            obj.pk,
            seq,
            f"differs from its latest history row ({history_id}) in "
            + (", ".join(differ) or "its fields"),
        )


def _check_events(found: _Leaves, report: GovernanceReport) -> None:
    matched: set[uuid.UUID] = set()
    checks = (
        (
            "audits.AuditEvent",
            ledger_governance.event_entry_id,
            ledger_governance.governance_event_leaf,
        ),
        (
            "audits.RefusedAction",
            ledger_governance.refusal_entry_id,
            ledger_governance.refusal_leaf,
        ),
    )
    for label, entry_id_of, leaf_of in checks:
        model = apps.get_model(label)
        table = model._meta.db_table
        for obj in _rows(model):
            report.rows += 1
            entry_id = entry_id_of(obj.pk)
            committed = found.events.get(entry_id)
            if committed is None:
                report.error(table, obj.pk, None, "no ledger leaf commits to this row")
                continue
            matched.add(entry_id)
            seq, leaf_hash = committed
            if merkle.leaf_hash(leaf_of(obj)) != leaf_hash:
                now = orjson.loads(leaf_of(obj))
                then = _leaf_data(entry_id)
                differ = canonical.differing(now, then)
                report.error(
                    table,
                    obj.pk,
                    seq,
                    "differs from its leaf in " + (", ".join(differ) or "its bytes"),
                )
    for entry_id, (seq, _) in found.events.items():
        if entry_id in matched:
            continue
        data = _leaf_data(entry_id)
        if data.get("type") == "refusal":
            table, pk = "audits_refusedaction", data.get("refusal_id")
        else:
            table, pk = "audits_auditevent", data.get("event_id")
        report.error(table, pk, seq, "the row that this leaf records is gone")


def _check_states(found: _Leaves, report: GovernanceReport) -> None:
    model = apps.get_model("audits.DeploymentState")
    table = model._meta.db_table
    matched: set[uuid.UUID] = set()
    for obj in _rows(model):
        report.rows += 1
        entry_id = getattr(obj, "entry_id")  # noqa: B009
        committed = found.states.get(entry_id)
        if committed is None:
            report.error(table, obj.pk, None, "no ledger leaf commits to this row")
            continue
        matched.add(entry_id)
        seq, fields = committed
        now = verify._state_fields(obj)
        differ = canonical.differing(now, fields)
        if differ:
            report.error(
                table, obj.pk, seq, "differs from its leaf in " + ", ".join(differ)
            )
    for entry_id, (seq, _) in found.states.items():
        if entry_id not in matched:
            report.error(table, entry_id, seq, "the row that this leaf records is gone")


_PROTECTED_SQL = (
    "SELECT p.prediction_id, p.attributes::text, p.salt, e.seq, "
    "coalesce(e.leaf, q.leaf) "
    "FROM audits_protectedattributes p "
    "LEFT JOIN audits_ledgerentry e ON e.entry_id = p.prediction_id "
    "LEFT JOIN audits_ledgerqueue q ON e.seq IS NULL AND q.entry_id = p.prediction_id"
)


def _protected_rows() -> Iterator[tuple[Any, Any, bytes, int | None, bytes | None]]:
    """(prediction id, attributes, salt, seq, leaf) of every protected-attributes
    row: one join streamed through a server-side cursor on PostgreSQL."""
    if connection.vendor == "postgresql":
        with connection.chunked_cursor() as cursor:
            cursor.execute(_PROTECTED_SQL)
            while rows := cursor.fetchmany(CHUNK):
                for pid, text, salt, seq, leaf in rows:
                    yield pid, orjson.loads(text), bytes(salt), seq, leaf
        return
    model = apps.get_model("audits.ProtectedAttributes")
    for row in model._default_manager.order_by("pk").iterator(chunk_size=CHUNK):
        pid = getattr(row, "prediction_id")  # noqa: B009
        found = (
            LedgerEntry.objects.filter(entry_id=pid).values_list("seq", "leaf").first()
        )
        at: int | None = None
        stored: Any = None
        if found is not None:
            at, stored = found
        else:
            stored = (
                LedgerQueue.objects.filter(entry_id=pid)
                .values_list("leaf", flat=True)
                .first()
            )
        yield (
            pid,
            getattr(row, "attributes"),  # noqa: B009
            bytes(getattr(row, "salt")),  # noqa: B009
            at,
            bytes(stored) if stored is not None else None,
        )


def _check_protected(report: GovernanceReport) -> None:
    table = "audits_protectedattributes"
    for pid, attributes, salt, seq, leaf in _protected_rows():
        report.rows += 1
        if leaf is None:
            report.error(table, pid, None, "no prediction leaf commits to it")
            continue
        try:
            commitment = orjson.loads(bytes(leaf)).get(
                "protected_attributes_commitment"
            )
        except (orjson.JSONDecodeError, AttributeError):
            commitment = None
        if commitment != records.protected_commitment(dict(attributes), salt):
            report.error(
                table, pid, seq, "differs from the commitment in its prediction's leaf"
            )


def _check_index(found: _Leaves, report: GovernanceReport) -> None:
    """RecordCommitment rows and record leaves: a bijection."""
    leaves = {
        entry_id: (table, pk, rev, seq)
        for (table, pk), revisions in found.records.items()
        for rev, (seq, entry_id, _) in revisions.items()
    }
    table = RecordCommitment._meta.db_table
    seen: set[uuid.UUID] = set()
    for entry_id, leaf_table, pk, rev in RecordCommitment.objects.values_list(
        "entry_id", "table", "object_pk", "rev"
    ).iterator(chunk_size=CHUNK):
        seen.add(entry_id)
        leaf = leaves.get(entry_id)
        if leaf is None:
            report.error(
                table,
                entry_id,
                None,
                f"indexes {leaf_table}:{pk} rev {rev}, which no leaf holds",
            )
        elif leaf[:3] != (leaf_table, pk, rev):
            report.error(table, entry_id, leaf[3], "names another record than its leaf")
    for entry_id, (leaf_table, pk, rev, seq) in leaves.items():
        if entry_id not in seen:
            report.error(
                table,
                entry_id,
                seq,
                f"the index row of {leaf_table}:{pk} rev {rev} is gone",
            )


def check_governance() -> GovernanceReport:
    """Check every evidence row of the inventory against the ledger, in one
    read-only repeatable-read snapshot on PostgreSQL (rows and leaves agree)."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
                )
        return _check_governance()


def _check_governance() -> GovernanceReport:
    report = GovernanceReport()
    started = time.perf_counter()
    found = _load(report)
    for evidence in inventory.EVIDENCE:
        if evidence.kind in inventory.RECORD_KINDS:
            _check_records(evidence, found, report)
        elif evidence.kind == inventory.HISTORY_BACKED:
            _check_current(evidence, found, report)
    _check_events(found, report)
    _check_states(found, report)
    _check_protected(report)
    _check_index(found, report)
    report.elapsed_s = round(time.perf_counter() - started, 3)
    return report
