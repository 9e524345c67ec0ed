"""The mark a page shows for an evidence row: verified, altered or not verified.

:func:`verdicts` checks rows of the inventory (audits.integrity.inventory) against
the ledger, in a few queries whatever their number:

* a record-leaf row (a signature, a release request, a history row …) against the
  fields of its latest record leaf;
* an audit event or a refused action against its own leaf, rebuilt from the row;
* a deployment state against the fields of its leaf.

Then the leaf itself: its stored bytes must hash to its stored leaf hash, and when
a signed checkpoint covers it, its inclusion proof must lead to the checkpoint's
root. Only then is the row ``verified``. A row that differs from its leaf is
``altered`` and names the leaf's seq and the fields that differ; a row with no leaf
(written before issue 13, or inserted behind the application's back), or whose
ledger cannot be read, is ``not verified``. A page never shows a check mark for a
row that was not checked.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from django.db import connection, models

from audits.integrity import canonical, inventory
from audits.ledger import governance as ledger_governance
from audits.ledger import merkle
from audits.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerQueue
from audits.ledger.services import ProofBatch

__all__ = [
    "ALTERED",
    "NOT_VERIFIED",
    "Leaf",
    "VERIFIED",
    "Verdict",
    "verdict",
    "verdicts",
]

VERIFIED = "verified"
ALTERED = "altered"
NOT_VERIFIED = "not_verified"


@dataclass(frozen=True)
class Verdict:
    state: str
    seq: int | None = None
    detail: str = ""
    fields: tuple[str, ...] = field(default=())
    # For a row committed by evidence_backfill: the date it was committed.
    since: str = ""

    @property
    def verified(self) -> bool:
        return self.state == VERIFIED

    @property
    def altered(self) -> bool:
        return self.state == ALTERED

    @property
    def label(self) -> str:
        if self.state == VERIFIED:
            return f"verified since {self.since}" if self.since else "verified"
        if self.state == ALTERED:
            where = (
                f" ledger seq {self.seq}"
                if self.seq is not None
                else " its ledger leaf"
            )
            return f"altered: does not match{where}"
        return "not verified"

    @property
    def message(self) -> str:
        return f"{self.label}: {self.detail}" if self.detail else self.label

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "seq": self.seq,
            "label": self.label,
            "detail": self.detail,
            "fields": list(self.fields),
            "since": self.since or None,
        }


@dataclass(frozen=True)
class Leaf:
    seq: int | None
    leaf: bytes
    leaf_hash: bytes

    @property
    def intact(self) -> bool:
        return merkle.leaf_hash(self.leaf) == self.leaf_hash

    @property
    def data(self) -> dict[str, Any]:
        try:
            value = orjson.loads(self.leaf)
        except orjson.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {}


Key = tuple[type, str]


def _model(obj: models.Model) -> type[models.Model]:
    return inventory.concrete(type(obj))


def key_of(obj: models.Model) -> Key:
    return (_model(obj), str(obj.pk))


def verdict(obj: models.Model) -> Verdict:
    return verdicts([obj])[key_of(obj)]


_LATEST = object()


def verdicts(
    objs: Iterable[models.Model],
    *,
    checkpoint: Any = _LATEST,
    proofs: ProofBatch | None = None,
    known: Mapping[uuid.UUID, Leaf] | None = None,
) -> dict[Key, Verdict]:
    """The verdict of every row of ``objs`` (rows of evidence classes), by
    ``(model, str(pk))``.

    Inclusion proofs are checked against ``checkpoint`` (a LedgerCheckpoint or
    None; by default the latest, read here), or, when the caller proves other
    entries against the same checkpoint, with its ``proofs`` batch: the stored
    hashes of every proof are then read in one query. ``known`` are leaves the
    caller has already read, by entry id (the trail's deployment state).
    """
    objs = [o for o in objs if o is not None]
    expected: dict[Key, tuple[uuid.UUID | None, Any]] = {}
    record_rows: dict[str, list[models.Model]] = defaultdict(list)
    current = [o for o in objs if _evidence(o).kind == inventory.HISTORY_BACKED]
    latest_history = _latest_history(current)
    for history in latest_history.values():
        record_rows[history._meta.db_table].append(history)
    for obj in objs:
        model = _model(obj)
        evidence = _evidence(obj)
        if evidence.kind == inventory.HISTORY_BACKED:
            continue
        if evidence.kind in inventory.RECORD_KINDS:
            record_rows[evidence.table].append(obj)
        elif model._meta.label == "audits.AuditEvent":
            expected[key_of(obj)] = (
                ledger_governance.event_entry_id(obj.pk),
                ledger_governance.governance_event_leaf(obj),
            )
        elif model._meta.label == "audits.RefusedAction":
            expected[key_of(obj)] = (
                ledger_governance.refusal_entry_id(obj.pk),
                ledger_governance.refusal_leaf(obj),
            )
        elif model._meta.label == "audits.DeploymentState":
            expected[key_of(obj)] = (getattr(obj, "entry_id"), _state_fields(obj))  # noqa: B009
        else:
            raise KeyError(f"{model._meta.label} has no row verifier")
    latest, leaves = _latest_commitments(record_rows)
    known = known or {}
    leaves.update(
        {e: known[e] for e, _ in expected.values() if e is not None and e in known}
    )
    leaves.update(
        _leaves(
            [e for e, _ in expected.values() if e is not None and e not in leaves]
            + [c.entry_id for c in latest.values() if c.entry_id not in leaves]
        )
    )
    if proofs is None:
        if checkpoint is _LATEST:
            # No query when no leaf is sequenced (an empty page costs nothing).
            sequenced = any(leaf.seq is not None for leaf in leaves.values())
            checkpoint = (
                LedgerCheckpoint.objects.order_by("-size").first()
                if sequenced
                else None
            )
        if checkpoint is not None:
            proofs = ProofBatch(checkpoint.size, bytes(checkpoint.root))
    proven = _proven(leaves.values(), proofs)
    result: dict[Key, Verdict] = {}
    for rows in record_rows.values():
        for obj in rows:
            key = key_of(obj)
            commitment = latest.get(key)
            if commitment is None:
                result[key] = Verdict(
                    NOT_VERIFIED, detail="no ledger leaf commits to it"
                )
                continue
            leaf = leaves.get(commitment.entry_id)
            result[key] = _check_record(obj, commitment, leaf, proven)
    for obj in current:
        result[key_of(obj)] = _check_current(
            obj, latest_history.get(key_of(obj)), result
        )
    for key, (entry_id, wanted) in expected.items():
        leaf = leaves.get(entry_id) if entry_id is not None else None
        if leaf is None:
            result[key] = Verdict(NOT_VERIFIED, detail="no ledger leaf commits to it")
        elif isinstance(wanted, bytes):
            result[key] = _check_bytes(wanted, leaf, proven)
        else:
            result[key] = _check_fields(
                wanted, _state_leaf_fields(leaf.data), leaf, proven
            )
    return result


def _evidence(obj: models.Model) -> inventory.EvidenceClass:
    evidence = inventory.by_model().get(_model(obj))
    if evidence is None:
        raise KeyError(f"{obj._meta.label} is not in the evidence inventory")
    return evidence


@dataclass(frozen=True)
class _Commitment:
    entry_id: uuid.UUID
    rev: int
    leaf_hash: bytes


def _latest_commitments(
    record_rows: Mapping[str, Sequence[models.Model]],
) -> tuple[dict[Key, _Commitment], dict[uuid.UUID, Leaf]]:
    """The latest record leaf of each row (only that revision is read: a shadow
    model's alert has one per ingest batch), with the ledger entry it names when
    sequenced, in one query."""
    if not record_rows:
        return {}, {}
    by_row: dict[tuple[str, str], models.Model] = {}
    where: list[str] = []
    params: list[Any] = []
    for table, rows in record_rows.items():
        pks = [str(o.pk) for o in rows]
        by_row.update({(table, str(o.pk)): o for o in rows})
        where.append(
            f'(c."table" = %s AND c.object_pk IN ({", ".join(["%s"] * len(pks))}))'
        )
        params += [table, *pks]
    sql = (
        'SELECT c.entry_id, c."table", c.object_pk, c.rev, c.leaf_hash, '
        "e.seq, e.leaf, e.leaf_hash "
        "FROM audits_recordcommitment c "
        "LEFT JOIN audits_ledgerentry e ON e.entry_id = c.entry_id "
        f"WHERE ({' OR '.join(where)}) AND c.rev = ("
        "SELECT MAX(r.rev) FROM audits_recordcommitment r "
        'WHERE r."table" = c."table" AND r.object_pk = c.object_pk)'
    )
    latest: dict[Key, _Commitment] = {}
    leaves: dict[uuid.UUID, Leaf] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for entry_id, table, pk, rev, hash_, seq, leaf, leaf_hash in cursor.fetchall():
            entry_id = (
                entry_id if isinstance(entry_id, uuid.UUID) else uuid.UUID(entry_id)
            )
            latest[key_of(by_row[(table, pk)])] = _Commitment(
                entry_id, rev, bytes(hash_)
            )
            if seq is not None:
                leaves[entry_id] = Leaf(seq, bytes(leaf), bytes(leaf_hash))
    return latest, leaves


# --- checks ---------------------------------------------------------------------------


def history_model(model: type[models.Model]) -> type[models.Model]:
    """The django-simple-history model of a registry model."""
    return model.history.model  # type: ignore[attr-defined]


def _latest_history(objs: Sequence[models.Model]) -> dict[Key, models.Model]:
    """The latest history row of each object (one query per model)."""
    by_model: dict[type, list[models.Model]] = defaultdict(list)
    for obj in objs:
        by_model[_model(obj)].append(obj)
    found: dict[Key, models.Model] = {}
    for model, rows in by_model.items():
        history = history_model(model)
        by_pk = {o.pk: o for o in rows}
        for row in history._default_manager.filter(id__in=list(by_pk)).order_by(
            "id", "-history_date", "-history_id"
        ):
            found.setdefault(key_of(by_pk[getattr(row, "id")]), row)  # noqa: B009
    return found


def compared_fields(model: type[models.Model]) -> list[models.Field]:
    """The fields a current registry row shares with its history rows."""
    history = {f.attname for f in history_model(model)._meta.concrete_fields}
    return [f for f in model._meta.concrete_fields if f.attname in history]


def current_differs(obj: models.Model, history: models.Model) -> tuple[str, ...]:
    return tuple(
        f.attname
        for f in compared_fields(_model(obj))
        if canonical.value(f, getattr(obj, f.attname))
        != canonical.value(f, getattr(history, f.attname))
    )


def _check_current(
    obj: models.Model, history: models.Model | None, checked: dict[Key, Verdict]
) -> Verdict:
    if history is None:
        return Verdict(NOT_VERIFIED, detail="it has no history row")
    of_history = checked[key_of(history)]
    if not of_history.verified:
        if of_history.state == ALTERED:
            return replace(
                of_history, detail="its latest history row " + of_history.detail
            )
        return of_history
    differ = current_differs(obj, history)
    if differ:
        return Verdict(
            ALTERED,
            seq=of_history.seq,
            detail="differs from its latest history row in " + ", ".join(differ),
            fields=differ,
        )
    return replace(
        of_history, detail="equals its latest history row, which " + of_history.detail
    )


def _leaf_problem(leaf: Leaf, proven: dict[int, bool | None]) -> Verdict | None:
    if not leaf.intact:
        return Verdict(
            ALTERED,
            seq=leaf.seq,
            detail="the ledger leaf's bytes do not hash to its stored hash",
        )
    if leaf.seq is not None and proven.get(leaf.seq) is False:
        return Verdict(
            ALTERED,
            seq=leaf.seq,
            detail="the ledger leaf is not in the latest signed checkpoint",
        )
    return None


def _ok(leaf: Leaf, proven: dict[int, bool | None]) -> Verdict:
    data = leaf.data
    if data.get("backfilled"):
        since = str(data.get("committed_at", ""))[:10]
        return Verdict(
            VERIFIED,
            seq=leaf.seq,
            detail=f"unchanged since {since}, when it was first committed (written "
            "before the ledger committed to records; nothing vouches for it before)",
            since=since,
        )
    if leaf.seq is None:
        return Verdict(
            VERIFIED, detail="matches its ledger leaf (queued, not yet sequenced)"
        )
    if proven.get(leaf.seq) is None:
        return Verdict(
            VERIFIED,
            seq=leaf.seq,
            detail=f"matches ledger seq {leaf.seq} (not yet in a signed checkpoint)",
        )
    return Verdict(
        VERIFIED,
        seq=leaf.seq,
        detail=f"matches ledger seq {leaf.seq}, proved in the signed checkpoint",
    )


def _check_record(
    obj: models.Model,
    commitment: _Commitment,
    leaf: Leaf | None,
    proven: dict[int, bool | None],
) -> Verdict:
    if leaf is None:
        return Verdict(
            ALTERED,
            detail=f"its ledger leaf (revision {commitment.rev}) is missing from the ledger",
        )
    if commitment.leaf_hash != leaf.leaf_hash:
        return Verdict(
            ALTERED, seq=leaf.seq, detail="its ledger index names another leaf"
        )
    problem = _leaf_problem(leaf, proven)
    if problem is not None:
        return problem
    evidence = inventory.record_class(obj)
    data = leaf.data
    if (data.get("table"), data.get("pk")) != (evidence.table, str(obj.pk)):
        return Verdict(ALTERED, seq=leaf.seq, detail="the leaf is about another record")
    now = canonical.committed_fields(obj, exclude=evidence.exclude)
    verdict = _check_fields(now, data.get("fields") or {}, leaf, proven)
    if verdict.verified and obj._meta.label == "governance.Signature":
        from governance.services.workflow import signature_binding_is_intact

        if not signature_binding_is_intact(obj):  # type: ignore[arg-type]
            return Verdict(
                ALTERED,
                seq=leaf.seq,
                detail="its binding hash does not match what it says was signed",
                fields=("binding_sha256",),
            )
    return verdict


def _check_fields(
    now: dict[str, Any],
    committed: dict[str, Any],
    leaf: Leaf,
    proven: dict[int, bool | None],
) -> Verdict:
    problem = _leaf_problem(leaf, proven)
    if problem is not None:
        return problem
    differ = canonical.differing(now, committed)
    if differ:
        return Verdict(
            ALTERED,
            seq=leaf.seq,
            detail="differs in " + ", ".join(differ),
            fields=differ,
        )
    return _ok(leaf, proven)


def _check_bytes(wanted: bytes, leaf: Leaf, proven: dict[int, bool | None]) -> Verdict:
    problem = _leaf_problem(leaf, proven)
    if problem is not None:
        return problem
    if wanted != leaf.leaf:
        committed = leaf.data
        now = orjson.loads(wanted)
        differ = canonical.differing(now, committed)
        return Verdict(
            ALTERED,
            seq=leaf.seq,
            detail="differs in " + ", ".join(differ)
            if differ
            else "differs from its leaf",
            fields=differ,
        )
    return _ok(leaf, proven)


def _state_fields(state: Any) -> dict[str, Any]:
    """What a deployment state row says, in the terms of its leaf."""
    return {
        "environment": state.environment,
        "reason": state.reason,
        "at": canonical.value(
            type(state)._meta.get_field("created_at"), state.created_at
        ),
        "deployment_id": state.deployment_id,
        "approval_id": f"RR-{state.approval_id}" if state.approval_id else None,
        "approval_expires_at": canonical.value(
            type(state)._meta.get_field("approval_expires_at"),
            state.approval_expires_at,
        ),
    }


def _state_leaf_fields(data: dict[str, Any]) -> dict[str, Any]:
    approval = data.get("approval") or {}
    return {
        "environment": data.get("environment"),
        "reason": data.get("reason"),
        "at": data.get("at"),
        "deployment_id": (data.get("deployment") or {}).get("id"),
        "approval_id": approval.get("id"),
        "approval_expires_at": approval.get("expires_at"),
    }


# --- the ledger -----------------------------------------------------------------------


def _leaves(entry_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Leaf]:
    """The leaves of ``entry_ids``: sequenced ones from the entries, the others
    from the queue (which is drained every second or so; it has no index on
    ``entry_id``, a lookup there reads it)."""
    if not entry_ids:
        return {}
    found = {
        entry_id: Leaf(seq, bytes(leaf), bytes(leaf_hash))
        for seq, entry_id, leaf, leaf_hash in LedgerEntry.objects.filter(
            entry_id__in=entry_ids
        ).values_list("seq", "entry_id", "leaf", "leaf_hash")
    }
    missing = [e for e in entry_ids if e not in found]
    if missing:
        for entry_id, leaf, leaf_hash in LedgerQueue.objects.filter(
            entry_id__in=missing
        ).values_list("entry_id", "leaf", "leaf_hash"):
            found.setdefault(entry_id, Leaf(None, bytes(leaf), bytes(leaf_hash)))
    return found


def _proven(
    leaves: Iterable[Leaf], proofs: ProofBatch | None
) -> dict[int, bool | None]:
    """For each sequenced leaf: True if its inclusion proof leads to the
    checkpoint's root, False if not (or its stored hashes are missing), None when
    no checkpoint covers it yet."""
    sequenced = [leaf for leaf in leaves if leaf.seq is not None]
    if proofs is None:
        return {leaf.seq: None for leaf in sequenced if leaf.seq is not None}
    proofs.want(leaf.seq for leaf in sequenced)
    proofs.load()
    return {
        leaf.seq: proofs.verified(leaf.seq, leaf.leaf_hash)
        for leaf in sequenced
        if leaf.seq is not None
    }
