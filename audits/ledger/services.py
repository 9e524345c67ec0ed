"""Ledger storage services: enqueue, sequence (one batch = one signed checkpoint), prove.

The sequencer is the only writer of entries, nodes, checkpoints and the head. One
batch is one transaction: a crash anywhere rolls it back and leaves the queue intact,
so a rerun is idempotent. Proofs and roots read O(log n) stored hashes
(:mod:`audits.ledger.tree`), never the whole log.

On PostgreSQL the hot paths (the ingest of prediction batches, the sequencer's
inserts) use COPY through psycopg; SQLite (the demo) gets the same rows with
executemany.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
import psycopg.types.json
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from audits.ledger import checkpoint, merkle, tree
from audits.ledger import models as ledger_models
from governance import exceptions

logger = logging.getLogger(__name__)

DEFAULT_ORIGIN = "modelgov/ledger"
# pg_try_advisory_xact_lock key of the sequencer ("mgledger" as a big-endian int64).
SEQUENCER_LOCK = 0x6D676C6564676572


def ledger_origin() -> str:
    return str(getattr(settings, "MODELGOV_LEDGER_ORIGIN", DEFAULT_ORIGIN))


def ledger_signing_key() -> Ed25519PrivateKey:
    """MODELGOV_LEDGER_KEY (Ed25519 PEM) if set, else the attestation key."""
    pem = getattr(settings, "MODELGOV_LEDGER_KEY", None)
    if pem:
        from governance import attestations

        return attestations.load_private_key(pem)
    from governance.services import attestations as attestation_services

    return attestation_services.signing_key()


def latest_checkpoint() -> checkpoint.Checkpoint | None:
    row = ledger_models.LedgerCheckpoint.objects.order_by("-size").first()
    if row is None:
        return None
    return checkpoint.Checkpoint(ledger_origin(), row.size, bytes(row.root))


# --- the signer's own record of what it signed --------------------------------------


def signer_state_path() -> Path | None:
    value = getattr(settings, "MODELGOV_LEDGER_SIGNER_STATE", "")
    return Path(value) if value else None


def signer_state_read() -> checkpoint.Checkpoint | None:
    """The last checkpoint the signer signed and saw committed, from its own file."""
    path = signer_state_path()
    if path is None or not path.exists():
        return None
    data = json.loads(path.read_text())
    return checkpoint.Checkpoint(
        str(data["origin"]), int(data["size"]), bytes.fromhex(data["root"])
    )


def signer_state_write(state: checkpoint.Checkpoint) -> None:
    """Persist atomically (write, fsync, rename, fsync the directory)."""
    path = signer_state_path()
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps(
        {"origin": state.origin, "size": state.size, "root": state.root.hex()}
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".signer-state-")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def ledger_signer() -> checkpoint.CheckpointSigner:
    """A signer for the configured origin and key.

    Its memory of the last signed tree is the signer state file when
    ``MODELGOV_LEDGER_SIGNER_STATE`` is set (kept outside the database, so a
    rolled-back or truncated database cannot make it sign a fork), else the
    database's latest checkpoint.
    """
    origin = ledger_origin()
    path = signer_state_path()
    last = signer_state_read() if path is not None else latest_checkpoint()
    return checkpoint.CheckpointSigner(
        origin=origin, name=origin, private_key=ledger_signing_key(), last=last
    )


# --- stored hashes ------------------------------------------------------------------


def stored_hashes(keys: Iterable[tree.Key]) -> dict[tree.Key, bytes]:
    """Fetch stored tree hashes: level 0 from the entries, others from the nodes."""
    wanted = set(keys)
    if connection.vendor == "postgresql":
        return _stored_hashes_pg(wanted)
    found: dict[tree.Key, bytes] = {}
    seqs = [index for level, index in wanted if level == 0]
    if seqs:
        for seq, value in ledger_models.LedgerEntry.objects.filter(
            seq__in=seqs
        ).values_list("seq", "leaf_hash"):
            found[(0, seq)] = bytes(value)
    by_level: dict[int, list[int]] = {}
    for level, index in wanted:
        if level:
            by_level.setdefault(level, []).append(index)
    if by_level:
        query = Q(pk__in=[])
        for level, indexes in by_level.items():
            query |= Q(level=level, index__in=indexes)
        for level, index, value in ledger_models.LedgerNode.objects.filter(
            query
        ).values_list("level", "index", "hash"):
            found[(level, index)] = bytes(value)
    return found


def _stored_hashes_pg(wanted: set[tree.Key]) -> dict[tree.Key, bytes]:
    """Both kinds in one round trip, with array parameters: proofs are on the
    trail's hot path, where building ORM queries cost more than running them."""
    seqs = [index for level, index in wanted if level == 0]
    levels = [level for level, _ in wanted if level]
    indexes = [index for level, index in wanted if level]
    if not wanted:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 0::smallint, seq, leaf_hash FROM audits_ledgerentry "
            "WHERE seq = ANY(%s::bigint[]) "
            "UNION ALL "
            "SELECT n.level, n.index, n.hash FROM audits_ledgernode n "
            "JOIN unnest(%s::smallint[], %s::bigint[]) AS w(level, index) "
            "ON n.level = w.level AND n.index = w.index",
            [seqs, levels, indexes],
        )
        return {(level, index): bytes(value) for level, index, value in cursor}


class ProofBatch:
    """Inclusion proofs of several entries against one checkpoint (``size``,
    ``root``), from stored hashes read together.

    Callers say which entries they will prove (:meth:`want`), then :meth:`load`
    reads every stored hash still needed in one query (:func:`stored_hashes`): a
    page that proves its prediction, its outcome and the governance rows around
    them reads the tree once, and computes each proof once.
    """

    def __init__(self, size: int, root: bytes) -> None:
        self.size = size
        self.root = root
        self._keys: dict[int, list[tree.Key]] = {}
        self._proofs: dict[int, tuple[bytes, ...]] = {}
        self._wanted: set[tree.Key] = set()
        self._read: set[tree.Key] = set()
        self._stored: dict[tree.Key, bytes] = {}
        self._ranges: dict[tuple[int, int], bytes] = {}

    def covers(self, seq: int | None) -> bool:
        return seq is not None and 0 <= seq < self.size

    def _keys_of(self, seq: int) -> list[tree.Key]:
        keys = self._keys.get(seq)
        if keys is None:
            keys = self._keys[seq] = tree.inclusion_keys(seq, self.size)
        return keys

    def want(self, seqs: Iterable[int | None]) -> None:
        for seq in seqs:
            if seq is not None and self.covers(seq):
                self._wanted.update(self._keys_of(seq))

    def want_keys(self, keys: Iterable[tree.Key]) -> None:
        self._wanted.update(keys)

    def load(self) -> None:
        todo = self._wanted - self._read
        if todo:
            self._stored.update(stored_hashes(todo))
            self._read |= todo

    def missing(
        self, seqs: Iterable[int | None], keys: Iterable[tree.Key] = ()
    ) -> set[tree.Key]:
        """The stored hashes that proofs of ``seqs`` (and ``keys``) need and that
        are not in the database."""
        needed = set(keys)
        for seq in seqs:
            if seq is not None and self.covers(seq):
                needed.update(self._keys_of(seq))
        self.want_keys(needed)
        self.load()
        return needed - self._stored.keys()

    def proof(self, seq: int) -> tuple[bytes, ...]:
        """PATH(seq, D[size]); raises KeyError or merkle.ProofError when a stored
        hash it needs is missing, ProofError for a seq outside the checkpoint."""
        found = self._proofs.get(seq)
        if found is None:
            self.want([seq])
            self.load()
            found = self._proofs[seq] = tuple(
                tree.inclusion_proof(seq, self.size, self._stored, self._ranges)
            )
        return found

    def verified(self, seq: int | None, leaf_hash: bytes) -> bool | None:
        """True when ``leaf_hash`` at ``seq`` leads to the root, False when not (or a
        stored hash is missing), None when the checkpoint does not cover ``seq``."""
        if seq is None or not self.covers(seq):
            return None
        try:
            proof = self.proof(seq)
        except (KeyError, merkle.ProofError):
            return False
        return merkle.verify_inclusion(
            leaf=leaf_hash,
            index=seq,
            tree_size=self.size,
            proof=proof,
            root_hash=self.root,
        )


def _stored_for(keys: Iterable[tree.Key]) -> dict[tree.Key, bytes]:
    keys = list(keys)
    found = stored_hashes(keys)
    missing = [k for k in keys if k not in found]
    if missing:
        raise exceptions.Conflict(
            f"the ledger is missing stored hashes {missing[:3]}",
            code="ledger_hashes_missing",
        )
    return found


def ledger_root(size: int) -> bytes:
    return tree.root(size, _stored_for(tree.root_keys(size)))


def ledger_consistency(first: int, second: int) -> list[bytes]:
    return tree.consistency_proof(
        first, second, _stored_for(tree.consistency_keys(first, second))
    )


# --- enqueue ------------------------------------------------------------------------


@dataclass(frozen=True)
class QueuedLeaf:
    """One leaf to enqueue. ``payload_sha256`` is what a retry is compared on."""

    entry_id: uuid.UUID
    entry_type: int
    leaf: bytes
    payload_sha256: bytes
    binding: str = ""


@dataclass(frozen=True)
class Receipt:
    entry_id: uuid.UUID
    leaf_hash: bytes
    received_at: datetime
    duplicate: bool


class PayloadMismatch(Exception):
    """Entry ids already accepted with a different payload: nothing was written."""

    def __init__(self, entry_ids: list[uuid.UUID]) -> None:
        super().__init__(f"{len(entry_ids)} id(s) were accepted with other content")
        self.entry_ids = entry_ids


# PostgreSQL types of the columns the ledger COPYs in binary: no hex for the leaves,
# no text parsing of ids and times on either side (reference/perf_baselines.md:
# binary COPY is about a fifth faster). Other columns (jsonb) go as text.
_BINARY_TYPES: dict[str, dict[str, str]] = {
    "audits_ledgerkey": {
        "entry_id": "uuid",
        "entry_type": "int2",
        "payload_sha256": "bytea",
        "leaf_hash": "bytea",
        "binding": "text",
        "received_at": "timestamptz",
    },
    "audits_ledgerqueue": {
        "entry_id": "uuid",
        "entry_type": "int2",
        "leaf": "bytea",
        "leaf_hash": "bytea",
        "received_at": "timestamptz",
    },
    "audits_ledgerentry": {
        "seq": "int8",
        "entry_id": "uuid",
        "entry_type": "int2",
        "leaf": "bytea",
        "leaf_hash": "bytea",
        "received_at": "timestamptz",
        "sequenced_at": "timestamptz",
    },
    "audits_ledgernode": {"level": "int2", "index": "int8", "hash": "bytea"},
    "audits_protectedattributes": {
        "prediction_id": "uuid",
        "attributes": "jsonb",  # given as objects, serialised by orjson
        "salt": "bytea",
        "received_at": "timestamptz",
    },
}


def _orjson_text(value: Any) -> bytes:
    return orjson.dumps(value)


def _copy(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    if not rows:
        return
    cols = ", ".join(f'"{c}"' for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            known = _BINARY_TYPES.get(table, {})
            types = [known[c] for c in columns if c in known]
            binary = len(types) == len(columns)
            statement = f'COPY "{table}" ({cols}) FROM STDIN' + (
                " (FORMAT BINARY)" if binary else ""
            )
            # The raw psycopg cursor: errors become Django's (IntegrityError,
            # OperationalError for a deadlock) as on the wrapped cursor.
            if "jsonb" in types:
                psycopg.types.json.set_json_dumps(_orjson_text, context=cursor.cursor)
            with (
                connection.wrap_database_errors,
                cursor.cursor.copy(statement) as copy,
            ):
                if binary:
                    copy.set_types(types)
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(
                f'INSERT INTO "{table}" ({cols}) VALUES ({marks})',
                [[_sqlite_value(v) for v in row] for row in rows],
            )


def _sqlite_value(value: Any) -> Any:
    """Values as Django stores them on SQLite: UUIDs as hex, datetimes naive UTC."""
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.make_naive(value, UTC)
        return value.isoformat(" ")
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


@transaction.atomic
def ledger_enqueue_batch(
    *,
    leaves: Sequence[QueuedLeaf],
    received_at: datetime | None = None,
    extra_rows: Mapping[str, tuple[Sequence[str], Sequence[Sequence[Any]]]]
    | None = None,
    extra_rows_for: Any = None,
) -> list[Receipt]:
    """Durably queue leaves, idempotently; one receipt per leaf, in order.

    An id seen before with the same payload hash gets the original receipt
    (``duplicate=True``) and writes nothing; an id seen before with another payload
    raises :class:`PayloadMismatch` and nothing of the batch is written. A
    concurrent insert of the same id waits for the other transaction (unique
    index), then resolves the same way. ``extra_rows_for(new_ids)`` may return
    more rows to COPY in the same transaction for the new ids only (e.g. the
    protected attributes), as {table: (columns, rows)}.
    """
    now = received_at or timezone.now()
    ids = [leaf.entry_id for leaf in leaves]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate entry ids in one batch")
    by_id = {leaf.entry_id: leaf for leaf in leaves}
    hashes = {leaf.entry_id: merkle.leaf_hash(leaf.leaf) for leaf in leaves}

    def existing() -> dict[uuid.UUID, tuple[bytes, bytes, datetime]]:
        if connection.vendor == "postgresql":
            # One array parameter: an ORM `__in` over 1,000 ids costs more to build
            # than the whole lookup.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT entry_id, payload_sha256, leaf_hash, received_at "
                    "FROM audits_ledgerkey WHERE entry_id = ANY(%s)",
                    [ids],
                )
                rows = cursor.fetchall()
        else:
            rows = list(
                ledger_models.LedgerKey.objects.filter(entry_id__in=ids).values_list(
                    "entry_id", "payload_sha256", "leaf_hash", "received_at"
                )
            )
        return {r[0]: (bytes(r[1]), bytes(r[2]), r[3]) for r in rows}

    def key_rows(queued: Sequence[QueuedLeaf]) -> list[tuple[Any, ...]]:
        return [
            (
                q.entry_id,
                q.entry_type,
                q.payload_sha256,
                hashes[q.entry_id],
                q.binding,
                now,
            )
            for q in queued
        ]

    before: dict[uuid.UUID, tuple[bytes, bytes, datetime]] = {}
    new = list(leaves)
    if connection.vendor == "postgresql" and _copy_keys_at_once(key_rows(new)):
        # The usual case: every id is new and one COPY wrote them all. A retry, or
        # a concurrent request with one of the ids, makes the COPY fail instead,
        # and the path below sorts the batch out.
        new_ids = set(ids)
    else:
        before = existing()
        mismatched = [
            i
            for i, (payload, _, _) in before.items()
            if payload != by_id[i].payload_sha256
        ]
        if mismatched:
            raise PayloadMismatch(mismatched)
        new = [leaf for leaf in leaves if leaf.entry_id not in before]
        new_ids = set()
        if new and connection.vendor == "postgresql":
            new_ids = _insert_keys_pg(new, hashes, now)
        elif new:
            _copy("audits_ledgerkey", KEY_COLUMNS, key_rows(new))
            new_ids = {q.entry_id for q in new}
        lost = [q.entry_id for q in new if q.entry_id not in new_ids]
        if lost:
            # A concurrent request accepted these ids first: compare with it.
            after = existing()
            mismatched = [i for i in lost if after[i][0] != by_id[i].payload_sha256]
            if mismatched:
                raise PayloadMismatch(mismatched)
            before.update({i: after[i] for i in lost})
        new = [q for q in new if q.entry_id in new_ids]
    if new:
        _copy(
            "audits_ledgerqueue",
            ["entry_id", "entry_type", "leaf", "leaf_hash", "received_at"],
            [(q.entry_id, q.entry_type, q.leaf, hashes[q.entry_id], now) for q in new],
        )
        if extra_rows_for is not None:
            for table, (columns, rows) in extra_rows_for(
                {q.entry_id for q in new}
            ).items():
                _copy(table, columns, rows)
    receipts = []
    for leaf in leaves:
        if leaf.entry_id in before:
            _, leaf_hash, at = before[leaf.entry_id]
            receipts.append(Receipt(leaf.entry_id, leaf_hash, at, True))
        else:
            receipts.append(Receipt(leaf.entry_id, hashes[leaf.entry_id], now, False))
    return receipts


KEY_COLUMNS = (
    "entry_id",
    "entry_type",
    "payload_sha256",
    "leaf_hash",
    "binding",
    "received_at",
)


def _copy_keys_at_once(rows: Sequence[Sequence[Any]]) -> bool:
    """COPY every key in a savepoint; False (and nothing written) when one of the
    ids is already there (a retry) or was inserted concurrently meanwhile."""
    try:
        with transaction.atomic():  # a savepoint: a failed COPY leaves nothing
            _copy("audits_ledgerkey", KEY_COLUMNS, rows)
    except IntegrityError:
        return False
    return True


def _insert_keys_pg(
    new: Sequence[QueuedLeaf], hashes: Mapping[uuid.UUID, bytes], now: datetime
) -> set[uuid.UUID]:
    """Through a staging table and INSERT … ON CONFLICT DO NOTHING RETURNING, which
    says which ids were ours when another request inserted some meanwhile."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS ledger_key_stage "
            "(LIKE audits_ledgerkey INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        with cursor.cursor.copy(
            "COPY ledger_key_stage (entry_id, entry_type, payload_sha256, leaf_hash, "
            "binding, received_at) FROM STDIN"
        ) as copy:
            for q in new:
                copy.write_row(
                    (
                        q.entry_id,
                        q.entry_type,
                        q.payload_sha256,
                        hashes[q.entry_id],
                        q.binding,
                        now,
                    )
                )
        cursor.execute(
            "INSERT INTO audits_ledgerkey SELECT * FROM ledger_key_stage "
            "ON CONFLICT (entry_id) DO NOTHING RETURNING entry_id"
        )
        inserted = {row[0] for row in cursor.fetchall()}
        cursor.execute("DELETE FROM ledger_key_stage")
    return inserted


def payload_sha256(value: bytes) -> bytes:
    import hashlib

    return hashlib.sha256(value).digest()


def ledger_enqueue(*, entries: Sequence[tuple[uuid.UUID, int, bytes]]) -> int:
    """Queue canonical leaves whose payload is the leaf itself; return how many were
    new. Idempotent on the entry id; a different leaf for a known id raises
    Conflict (``ledger_entry_conflict``) and nothing of the batch is written."""
    leaves: dict[uuid.UUID, QueuedLeaf] = {}
    for entry_id, entry_type, leaf in entries:
        q = QueuedLeaf(entry_id, entry_type, bytes(leaf), payload_sha256(bytes(leaf)))
        if entry_id in leaves and leaves[entry_id] != q:
            raise _conflict(entry_id)
        leaves[entry_id] = q
    try:
        receipts = ledger_enqueue_batch(leaves=list(leaves.values()))
    except PayloadMismatch as exc:
        raise _conflict(exc.entry_ids[0]) from exc
    return sum(1 for r in receipts if not r.duplicate)


def _conflict(entry_id: uuid.UUID) -> exceptions.Conflict:
    return exceptions.Conflict(
        f"ledger entry {entry_id} was already received with different content",
        code="ledger_entry_conflict",
    )


# --- sequencing ---------------------------------------------------------------------


def _existing(keys: Iterable[tree.Key], size: int) -> list[tree.Key]:
    """The keys that were stored before the tree grew past ``size``."""
    return [(level, index) for level, index in keys if ((index + 1) << level) <= size]


@transaction.atomic
def ledger_sequence(
    *, signer: checkpoint.CheckpointSigner, batch_size: int = 20000
) -> checkpoint.Checkpoint | None:
    """Sequence up to ``batch_size`` queued entries under one new signed checkpoint.

    Returns None when the queue is empty. Raises Conflict when another sequencer
    holds the lock, moved the head meanwhile, or the database is behind what the
    signer last signed (a rollback or truncation), and CheckpointError when the
    signer refuses the new tree (a fork).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SEQUENCER_LOCK])
            if not cursor.fetchone()[0]:
                raise exceptions.Conflict(
                    "another ledger sequencer is running", code="ledger_sequencer_busy"
                )
    head = ledger_models.LedgerHead.objects.get(id=1)
    old_size = head.size
    last = ledger_models.LedgerCheckpoint.objects.order_by("-size").first()
    if (last.size if last else 0) != old_size:
        raise exceptions.Conflict(
            f"the head says {old_size} entries but the latest checkpoint covers "
            f"{last.size if last else 0}",
            code="ledger_head_mismatch",
        )
    if signer.last is not None and signer.last.size > old_size:
        raise exceptions.Conflict(
            f"the database holds {old_size} entries but the signer last signed "
            f"{signer.last.size}: the ledger was rolled back or truncated; "
            "sequencing stops until an operator investigates",
            code="ledger_behind_signer",
        )
    queued = _queue_head(batch_size)
    if not queued:
        return None
    now = timezone.now()
    new_size = old_size + len(queued)
    rows = []
    work: dict[tree.Key, bytes] = {}
    for i, (_, entry_id, entry_type, leaf, leaf_hash, received_at) in enumerate(queued):
        if not isinstance(entry_id, uuid.UUID):
            entry_id = uuid.UUID(str(entry_id))
        leaf_hash = bytes(leaf_hash)
        work[(0, old_size + i)] = leaf_hash
        rows.append(
            (
                old_size + i,
                entry_id,
                entry_type,
                bytes(leaf),
                leaf_hash,
                received_at,
                now,
            )
        )
    since = signer.last.size if signer.last is not None else 0
    wanted = set(tree.new_node_keys(old_size, new_size))
    wanted |= set(tree.root_keys(new_size)) | set(
        tree.consistency_keys(since, new_size)
    )
    work.update(_stored_for(_existing(wanted, old_size)))
    nodes = tree.new_nodes(old_size, new_size, work)
    for level, index, value in nodes:
        work[(level, index)] = value
    new = checkpoint.Checkpoint(signer.origin, new_size, tree.root(new_size, work))
    proof = tree.consistency_proof(since, new_size, work)
    note = signer.sign(new, proof)
    _copy(
        "audits_ledgerentry",
        [
            "seq",
            "entry_id",
            "entry_type",
            "leaf",
            "leaf_hash",
            "received_at",
            "sequenced_at",
        ],
        rows,
    )
    _copy("audits_ledgernode", ["level", "index", "hash"], nodes)
    ledger_models.LedgerCheckpoint.objects.create(
        size=new.size, root=new.root, note=note, created_at=now
    )
    moved = ledger_models.LedgerHead.objects.filter(id=1, size=old_size).update(
        size=new.size
    )
    if moved != 1:
        raise exceptions.Conflict(
            "the ledger head moved during sequencing", code="ledger_head_moved"
        )
    with connection.cursor() as cursor:
        ids = [q[0] for q in queued]
        if connection.vendor == "postgresql":
            cursor.execute(
                "DELETE FROM audits_ledgerqueue WHERE queue_id = ANY(%s)", [ids]
            )
        else:
            ledger_models.LedgerQueue.objects.filter(queue_id__in=ids).delete()
    transaction.on_commit(lambda: _after_commit(new, note, since))
    return new


def _queue_head(batch_size: int) -> list[tuple[Any, ...]]:
    """The oldest ``batch_size`` queued leaves, locked (PostgreSQL), in order."""
    query = (
        "SELECT queue_id, entry_id, entry_type, leaf, leaf_hash, received_at "
        "FROM audits_ledgerqueue ORDER BY queue_id LIMIT %s"
    )
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(query, [batch_size])
            return list(cursor.fetchall())
    connection.ensure_connection()
    # A server-side-binding cursor on Django's connection (same transaction): it
    # can return the leaves in binary, where Django's client-side cursor sends hex.
    with (
        connection.wrap_database_errors,
        psycopg.Cursor(connection.connection) as raw,
    ):
        raw.execute(query + " FOR UPDATE", [batch_size], binary=True)
        return list(raw.fetchall())


def _after_commit(new: checkpoint.Checkpoint, note: str, since: int) -> None:
    """Record the committed checkpoint outside the database (signer state, witness)."""
    try:
        signer_state_write(new)
    except OSError:
        logger.exception("could not write the ledger signer state")
    if not getattr(settings, "MODELGOV_LEDGER_WITNESS_DIR", ""):
        return
    try:
        from audits.ledger import witness

        witness.witness_submit_pending()
    except Exception:  # the witness is retried on the next batch and by fsck
        logger.exception("could not export checkpoints to the witness")


# --- proofs -------------------------------------------------------------------------


@dataclass(frozen=True)
class Inclusion:
    seq: int
    entry_id: uuid.UUID
    entry_type: int
    leaf: bytes
    leaf_hash: bytes
    received_at: datetime
    sequenced_at: datetime
    size: int
    root: bytes
    note: str
    proof: list[bytes]


def ledger_entry_lookup(
    entry_id: uuid.UUID,
) -> ledger_models.LedgerEntry | None:
    return ledger_models.LedgerEntry.objects.filter(entry_id=entry_id).first()


def ledger_inclusion_of(
    entry: ledger_models.LedgerEntry,
    at: ledger_models.LedgerCheckpoint | None = None,
) -> Inclusion | None:
    """The entry's inclusion proof against checkpoint ``at`` (default: the latest);
    None when no checkpoint covers it yet."""
    if at is None:
        at = ledger_models.LedgerCheckpoint.objects.order_by("-size").first()
    if at is None or entry.seq >= at.size:
        return None
    proof = tree.inclusion_proof(
        entry.seq, at.size, _stored_for(tree.inclusion_keys(entry.seq, at.size))
    )
    return Inclusion(
        seq=entry.seq,
        entry_id=entry.entry_id,
        entry_type=entry.entry_type,
        leaf=bytes(entry.leaf),
        leaf_hash=bytes(entry.leaf_hash),
        received_at=entry.received_at,
        sequenced_at=entry.sequenced_at,
        size=at.size,
        root=bytes(at.root),
        note=at.note,
        proof=proof,
    )


def ledger_inclusion(*, entry_id: uuid.UUID) -> tuple[int, bytes, list[bytes], str]:
    """(seq, leaf bytes, inclusion proof, signed note) against the latest checkpoint.

    Raises LedgerEntry.DoesNotExist when the entry is not sequenced (yet).
    """
    entry = ledger_entry_lookup(entry_id)
    inclusion = ledger_inclusion_of(entry) if entry is not None else None
    if inclusion is None:
        raise ledger_models.LedgerEntry.DoesNotExist(
            f"ledger entry {entry_id} is not under a checkpoint yet"
        )
    return inclusion.seq, inclusion.leaf, inclusion.proof, inclusion.note
