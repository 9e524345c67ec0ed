"""Full consistency check of the stored ledger, in one streaming pass.

:func:`check` is pure. It reads the entries once, in seq order, and holds only
O(log n) hashes (a :class:`~audits.ledger.tree.CompactRange`), so ten million
entries need no more memory than ten. It

* rehashes every leaf from its stored bytes and checks that seq runs 0, 1, 2, …;
* compares every stored subtree node with the node recomputed from the leaves, as the
  stream completes it (the stored nodes come in completion order);
* recomputes every checkpoint's root when the stream reaches its size (checkpoints in
  size order) and verifies the checkpoint's signed note against its row. All roots
  come from one verified leaf sequence, so checkpoints that match the leaves are
  consistent with each other: no consistency proofs are checked, and a checkpoint
  is reported only for its own faults;
* optionally compares the checkpoints held outside the database (the witness, the
  signer's state file: "anchors") and the head row.

The report names the first divergent sequence number (or, when every leaf is sound,
the size of the first bad checkpoint). A wrong stored node only says that some leaf
in its range changed, so it is blamed on its first leaf; but a leaf whose stored
hash is known to be wrong is named exactly (nodes that match the stored leaf hashes
are not blamed), and a wrong node is blamed no lower than the first wrong stored
node below it (the lower nodes that match vouch for their leaves).

Missing entries are named exactly: a gap in seq at its first missing seq; entries
missing from the tail (deleted, or the whole tail rolled back) at the first seq
after the last stored entry, as soon as anything shows that the log was longer: a
checkpoint row, a stored node, the head, or an anchor (the witness, the signer
state). A stored node reaching past the leaves is blamed no lower than that seq:
it shows that leaves are missing, not that those before them changed.

:func:`check_database` feeds it from PostgreSQL through server-side cursors, inside
one read-only repeatable-read snapshot, and adds the bijection between the ledger and
its idempotency index (``LedgerKey``).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audits.ledger import checkpoint, tree

# Errors listed per kind (seq, node, checkpoint); the rest are only counted, so a
# ledger that is wrong everywhere still gives a report of bounded size.
MAX_LISTED = 1000
# Rows fetched per round trip from each server-side cursor, and how many fetched
# chunks of entries may wait for the checker.
CHUNK_ROWS = 10_000
PREFETCH_CHUNKS = 2

_LEAF_PREFIX = b"\x00"


class EntryRow(NamedTuple):
    seq: int
    leaf: bytes
    leaf_hash: bytes


class CheckpointRow(NamedTuple):
    size: int
    root: bytes
    note: str


@dataclass(frozen=True, slots=True)
class NodeRow:
    level: int
    index: int
    hash: bytes


class Anchor(NamedTuple):
    """A checkpoint kept outside the database: by the witness or the signer."""

    source: str  # "witnessed" or "signer-state", used in the messages
    size: int
    root: bytes
    origin: str


@dataclass
class Report:
    entries: int = 0
    checkpoints: int = 0
    nodes: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    first_divergent_seq: int | None = None
    first_bad_checkpoint_size: int | None = None
    # Entries missing from the tail: {"first_seq", "last_seq", "shown_by"}.
    missing: dict[str, Any] | None = None
    # Errors by kind while checking; ``errors`` lists seq, then node, then
    # checkpoint errors (the order of the former whole-log check).
    _seq_errors: list[dict[str, Any]] = field(default_factory=list, repr=False)
    _node_errors: list[dict[str, Any]] = field(default_factory=list, repr=False)
    _checkpoint_errors: list[dict[str, Any]] = field(default_factory=list, repr=False)
    _unlisted: int = field(default=0, repr=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "checkpoints": self.checkpoints,
            "nodes": self.nodes,
            "first_divergent_seq": self.first_divergent_seq,
            "first_bad_checkpoint_size": self.first_bad_checkpoint_size,
            "missing": self.missing,
            "errors": self.errors,
        }

    def summary(self) -> str:
        """One line for people: the first divergent seq first, with its problem."""
        if self.ok:
            return f"ledger fsck ok: {self.entries} entries"
        seq, size = self.first_divergent_seq, self.first_bad_checkpoint_size
        named = [e for e in self.errors if seq is not None and e.get("seq") == seq]
        named += [e for e in self.errors if "checkpoint_size" in e]
        problem = (named or self.errors)[0]["problem"]
        return (
            f"ledger fsck failed: first divergent seq {seq}: {problem}; "
            f"first bad checkpoint {size}"
        )

    def _list(self, bucket: list[dict[str, Any]], error: dict[str, Any]) -> None:
        if len(bucket) < MAX_LISTED:
            bucket.append(error)
        else:
            self._unlisted += 1

    def _bad_seq(self, seq: int, problem: str, *, node: bool = False) -> None:
        bucket = self._node_errors if node else self._seq_errors
        self._list(bucket, {"seq": seq, "problem": problem})
        if self.first_divergent_seq is None or seq < self.first_divergent_seq:
            self.first_divergent_seq = seq

    def _bad_checkpoint(self, size: int, problem: str) -> None:
        self._list(
            self._checkpoint_errors, {"checkpoint_size": size, "problem": problem}
        )
        if (
            self.first_bad_checkpoint_size is None
            or size < self.first_bad_checkpoint_size
        ):
            self.first_bad_checkpoint_size = size

    def _finish(self) -> None:
        self.errors = self._seq_errors + self._node_errors + self._checkpoint_errors
        if self._unlisted:
            self.errors.append({"problem": f"{self._unlisted} more errors not listed"})
        if self.first_divergent_seq is None:
            self.first_divergent_seq = self.first_bad_checkpoint_size


NodeCallback = Callable[[int, int, bytes], None]

# The order in which what shows missing entries is named: the records kept outside
# the database first (the database's own rows could have been cut back with them).
_RANK_WITNESS, _RANK_SIGNER, _RANK_CHECKPOINT, _RANK_NODE, _RANK_HEAD = range(5)
_ANCHOR_RANKS = {"witnessed": _RANK_WITNESS, "signer-state": _RANK_SIGNER}


class _Range(tree.CompactRange):
    def __init__(self, on_node: NodeCallback | None = None) -> None:
        super().__init__(on_node)

    def fork(self, on_node: NodeCallback) -> _Range:
        """An independent copy of this range that reports nodes to ``on_node``."""
        other = _Range(on_node)
        other.size = self.size
        other._stack = list(self._stack)
        return other


class _Sorted:
    """Pulls rows of a size- or completion-ordered stream one at a time."""

    def __init__(self, rows: Iterable[Any]) -> None:
        self._rows = iter(rows)
        self.head: Any = next(self._rows, None)

    def pop(self) -> Any:
        row = self.head
        self.head = next(self._rows, None)
        return row


class _Checker:
    """The state of one streaming check; see :func:`check`."""

    def __init__(
        self,
        checkpoints: Iterable[CheckpointRow],
        public_key: Ed25519PublicKey,
        origin: str,
        nodes: Iterable[NodeRow],
        anchors: Iterable[Anchor],
    ) -> None:
        self.report = Report()
        self.origin = origin
        self.trusted = {origin: public_key}
        self.count = 0  # leaves verified in order so far
        # ``_range`` follows the hashes recomputed from the leaf bytes (they give
        # the roots) and, until a stored leaf hash is found wrong, also the stored
        # ones; from then on ``_stored_range`` follows the stored leaf hashes.
        self._range = _Range(self._on_node)
        self._stored_range: _Range | None = None
        self._stored_nodes: dict[int, bytes] = {}  # level -> stored-hash node
        self._bad_starts: list[int] = []
        self._nodes = _Sorted(nodes)
        self._node_end, self._node_level = self._node_key()
        self._checkpoints = _Sorted(checkpoints)
        self._anchors = _Sorted(sorted(anchors, key=lambda a: a.size))
        self._last_checkpoint: CheckpointRow | None = None
        self._unmatched: list[Anchor] = []  # anchors with no checkpoint row (yet)
        self._gap = False  # the stream stopped at a gap in seq
        # What shows the most entries beyond the stored leaves: the size it covers,
        # and the first record of each rank that shows that size (bounded memory).
        self._beyond_size = 0
        self._beyond: dict[int, str] = {}

    # --- entries -----------------------------------------------------------------

    def feed(self, entries: Iterable[tuple[int, bytes, bytes]]) -> None:
        report = self.report
        sha256 = hashlib.sha256
        prefix = _LEAF_PREFIX
        count = start = self.count
        self._events(count)
        due = self._next_event_size()
        append = self._range.append
        diverged = self._stored_range is not None
        for seq, leaf, stored in entries:
            if seq != count:
                report.entries += 1
                report._bad_seq(count, f"seq {seq} found where {count} was due")
                self._gap = True
                break
            recomputed = sha256(prefix + leaf).digest()
            if recomputed == stored and not diverged:
                append(recomputed)
            else:
                self._append_diverged(seq, recomputed, bytes(stored))
                diverged = True
            count += 1
            if count >= due:
                self.count = count
                self._events(count)
                due = self._next_event_size()
        report.entries += count - start
        self.count = count

    def _append_diverged(self, seq: int, recomputed: bytes, stored: bytes) -> None:
        if recomputed != stored:
            self.report._bad_seq(seq, "the stored leaf hash does not match the leaf")
        if self._stored_range is None:
            self._stored_range = self._range.fork(self._on_stored_node)
        # The stored-hash range first: its nodes are compared in _on_node.
        self._stored_nodes.clear()
        self._stored_range.append(stored)
        self._range.append(recomputed)

    # --- stored nodes, in completion order ((index + 1) << level, level) ---------

    def _node_key(self) -> tuple[float, int]:
        node = self._nodes.head
        if node is None:
            return float("inf"), 0
        return (node.index + 1) << node.level, node.level

    def _on_stored_node(self, level: int, index: int, value: bytes) -> None:
        self._stored_nodes[level] = value

    def _on_node(self, level: int, index: int, value: bytes) -> None:
        end = (index + 1) << level
        if end < self._node_end:
            return
        while self._nodes.head is not None and (self._node_end, self._node_level) < (
            end,
            level,
        ):
            self._node_skipped(self._nodes.pop())
            self._node_end, self._node_level = self._node_key()
        if (self._node_end, self._node_level) == (end, level):
            node = self._nodes.pop()
            self._node_end, self._node_level = self._node_key()
            self.report.nodes += 1
            stored = bytes(node.hash)
            if stored != value and stored != self._stored_nodes.get(level, value):
                self._bad_node(level, index)

    def _bad_node(self, level: int, index: int) -> None:
        """Blame a wrong node on its first leaf, or on the first wrong node below it.

        Stored nodes of lower levels tile this one and were compared first; those
        that matched vouch for their leaves. ``_bad_starts`` holds the blamed seqs
        of the wrong subtrees so far, ascending; those inside this node are its
        suffix, replaced by the smallest of them.
        """
        start = index << level
        blame = start
        bad = self._bad_starts
        while bad and bad[-1] >= start:
            blame = bad.pop()
        bad.append(blame)
        self.report._bad_seq(blame, f"node {level}/{index} differs", node=True)

    def _node_skipped(self, node: NodeRow) -> None:
        self.report.nodes += 1
        self.report._bad_seq(
            max(node.index, 0) << max(node.level, 0),
            f"node {node.level}/{node.index} is not a subtree node in order",
            node=True,
        )

    def _nodes_left(self) -> None:
        count = self.count
        while self._nodes.head is not None:
            node = self._nodes.pop()
            end = (node.index + 1) << node.level
            if node.level >= 1 and end > count:
                # It shows that leaves from ``count`` on existed; the leaves before
                # ``count`` in its range are vouched for by the checkpoints.
                self.report.nodes += 1
                self.report._bad_seq(
                    max(node.index << node.level, count),
                    f"node {node.level}/{node.index} past the leaves",
                    node=True,
                )
                self._shows_beyond(
                    end, _RANK_NODE, f"stored node {node.level}/{node.index}"
                )
            else:
                self._node_skipped(node)

    def _shows_beyond(self, size: int, rank: int, name: str) -> None:
        if size <= self.count or size < self._beyond_size:
            return
        if size > self._beyond_size:
            self._beyond_size, self._beyond = size, {}
        self._beyond.setdefault(rank, name)

    def _missing_tail(self) -> None:
        """Name the entries missing after the last stored one, and what shows them."""
        if self._gap or not self._beyond:
            return
        count, top = self.count, self._beyond_size
        at_top = sorted(self._beyond.items())
        # Signed checkpoints (anchors, rows) are named when they show it; a stored
        # node or the head only when nothing signed does.
        signed = [item for item in at_top if item[0] <= _RANK_CHECKPOINT]
        shown_by = [name for _, name in signed or at_top]
        self.report.missing = {
            "first_seq": count,
            "last_seq": top - 1,
            "shown_by": shown_by,
        }
        which = (
            f"entry {count} is"
            if top - 1 == count
            else f"entries {count}..{top - 1} are"
        )
        problem = f"{which} missing (shown by {', '.join(shown_by)})"
        # Listed first, whatever the cap: it is the headline of a truncation.
        report = self.report
        report._seq_errors.insert(0, {"seq": count, "problem": problem})
        if report.first_divergent_seq is None or count < report.first_divergent_seq:
            report.first_divergent_seq = count

    # --- checkpoints and anchors, in size order ----------------------------------

    def _next_event_size(self) -> float:
        sizes = [
            row.size
            for row in (self._checkpoints.head, self._anchors.head)
            if row is not None
        ]
        return min(sizes) if sizes else float("inf")

    def _events(self, count: int) -> None:
        """Check the checkpoints and anchors of size <= ``count`` (the leaves so far)."""
        while True:
            row: CheckpointRow | None = self._checkpoints.head
            anchor: Anchor | None = self._anchors.head
            if (
                row is not None
                and row.size <= count
                and (anchor is None or row.size <= anchor.size)
            ):
                self._checkpoint(self._checkpoints.pop(), count)
            elif anchor is not None and anchor.size <= count:
                self._anchor(self._anchors.pop(), count)
            else:
                return

    def _checkpoint(self, row: CheckpointRow, count: int) -> None:
        report = self.report
        report.checkpoints += 1
        root = bytes(row.root)
        try:
            body, _ = checkpoint.verify_note(row.note, self.trusted)
            signed = checkpoint.parse_checkpoint(body)
        except checkpoint.CheckpointError as exc:
            report._bad_checkpoint(row.size, f"note: {exc}")
        else:
            if (signed.origin, signed.size, signed.root) != (
                self.origin,
                row.size,
                root,
            ):
                report._bad_checkpoint(row.size, "the signed note differs from the row")
        last = self._last_checkpoint
        self._last_checkpoint = row
        if row.size > count:
            report._bad_checkpoint(row.size, f"only {count} leaves are stored")
            self._shows_beyond(row.size, _RANK_CHECKPOINT, f"checkpoint {row.size}")
            return
        if row.size < count or (last is not None and last.size > row.size):
            report._bad_checkpoint(row.size, "checkpoints are not in size order")
            return
        if self._range.root() != root:
            report._bad_checkpoint(row.size, "the root differs from the leaves")

    def _anchor(self, anchor: Anchor, count: int) -> None:
        report = self.report
        if anchor.origin != self.origin:
            report._bad_checkpoint(
                anchor.size, f"the {anchor.source} checkpoint is for {anchor.origin!r}"
            )
            return
        self._shows_beyond(
            anchor.size,
            _ANCHOR_RANKS.get(anchor.source, _RANK_CHECKPOINT),
            f"the {anchor.source} checkpoint of size {anchor.size}",
        )
        last = self._last_checkpoint
        if last is not None and last.size == anchor.size:
            # The checkpoint row itself was compared with the leaves.
            if bytes(last.root) != anchor.root:
                report._bad_checkpoint(
                    anchor.size,
                    f"the {anchor.source} root differs from the database's checkpoint",
                )
            return
        if anchor.size == count and self._range.root() != anchor.root:
            report._bad_checkpoint(
                anchor.size, f"the {anchor.source} root differs from the leaves"
            )
        self._unmatched.append(anchor)  # missing, or the log is behind: see the end

    def _anchors_left(self) -> None:
        latest = self._last_checkpoint.size if self._last_checkpoint else 0
        ahead: dict[str, int] = {}
        for anchor in self._unmatched:
            if anchor.size > latest:
                ahead[anchor.source] = max(ahead.get(anchor.source, 0), anchor.size)
            else:
                self.report._bad_checkpoint(
                    anchor.size,
                    f"the {anchor.source} checkpoint is missing from the database",
                )
        for source, size in sorted(ahead.items()):
            self.report._bad_checkpoint(
                size, f"log behind the {source} checkpoint (size {size})"
            )

    # --- the end -----------------------------------------------------------------

    def finish(self, *, head: int | None = None) -> Report:
        report = self.report
        count = self.count
        self._events(count)
        self._nodes_left()
        while (row := self._checkpoints.head) is not None or (
            self._anchors.head is not None
        ):
            anchor = self._anchors.head
            if row is not None and (anchor is None or row.size <= anchor.size):
                self._checkpoint(self._checkpoints.pop(), count)
            else:
                self._anchor(self._anchors.pop(), count)
        self._anchors_left()
        if head is not None:
            self._shows_beyond(head, _RANK_HEAD, f"the head ({head})")
            latest = self._last_checkpoint.size if self._last_checkpoint else 0
            if head != latest:
                report._bad_checkpoint(
                    latest,
                    f"the head says {head} entries but the latest checkpoint "
                    f"covers {latest}",
                )
            if count > latest:
                report._bad_seq(
                    latest,
                    f"entries after the latest checkpoint: {count - latest}",
                )
        self._missing_tail()
        report._finish()
        return report


def check(
    entries: Iterable[tuple[int, bytes, bytes]],
    checkpoints: Iterable[CheckpointRow],
    public_key: Ed25519PublicKey,
    *,
    origin: str,
    nodes: Iterable[NodeRow] = (),
    anchors: Iterable[Anchor] = (),
    head: int | None = None,
) -> Report:
    """Check ``entries`` (seq order) against ``checkpoints`` (size order), in one pass.

    ``nodes`` are the stored subtree nodes in completion order, i.e. sorted by
    ``((index + 1) << level, level)``; a node out of that order is reported.
    ``anchors`` are checkpoints held outside the database: each must match the
    database's checkpoint of its size and the leaves, and the database must reach
    the largest one ("log behind the … checkpoint"). ``head``, when given, is the
    head row's size: it, the latest checkpoint's size and the number of entries must
    agree. Every argument is consumed lazily; memory is O(log n) plus the errors
    listed (at most :data:`MAX_LISTED` per kind) and the anchors.
    """
    checker = _Checker(checkpoints, public_key, origin, nodes, anchors)
    checker.feed(entries)
    return checker.finish(head=head)


# --- the database -------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    elapsed_s: float
    rows_per_s: float


def _chunks(sql: str, *, prefetch: bool = False) -> Generator[list[Any], None, None]:
    """Rows of ``sql`` through a server-side cursor, in lists of CHUNK_ROWS (one
    round trip each; iterate them with itertools.chain.from_iterable).

    Binary results: bytea arrives as bytes without hex decoding (about a third less
    time per row than text). ``prefetch`` fetches the next chunk in a thread while
    the caller works on this one, so PostgreSQL reads and sends rows while Python
    hashes (at most PREFETCH_CHUNKS chunks wait). psycopg serialises the use of the
    connection, and waits for the server without holding the GIL.
    """
    from django.db import connection

    with connection.chunked_cursor() as cursor, connection.wrap_database_errors:
        raw = cursor.cursor
        raw.execute(sql, binary=True)
        if not prefetch:
            while rows := raw.fetchmany(CHUNK_ROWS):
                yield rows
            return
        chunks: queue.Queue[list[Any] | BaseException | None] = queue.Queue(
            maxsize=PREFETCH_CHUNKS
        )
        stop = threading.Event()

        def put(item: list[Any] | BaseException | None) -> None:
            while not stop.is_set():
                try:
                    chunks.put(item, timeout=0.05)
                    return
                except queue.Full:
                    continue

        def produce() -> None:
            try:
                while not stop.is_set():
                    rows = raw.fetchmany(CHUNK_ROWS)
                    put(rows or None)
                    if not rows:
                        return
            except BaseException as exc:  # handed to the consumer
                put(exc)

        producer = threading.Thread(target=produce, name="fsck-prefetch", daemon=True)
        producer.start()
        try:
            while (item := chunks.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            producer.join()


ENTRIES_SQL = (
    'SELECT "seq", "leaf", "leaf_hash" FROM "audits_ledgerentry" ORDER BY "seq"'
)
CHECKPOINTS_SQL = (
    'SELECT "size", "root", "note" FROM "audits_ledgercheckpoint" ORDER BY "size"'
)
NODES_SQL = (
    'SELECT "level", "index", "hash" FROM "audits_ledgernode" '
    'ORDER BY ("index" + 1) << "level"::int, "level"'
)
# One hash full join of the keys with the sequenced and queued entries: entries
# without their key or whose key holds another leaf hash, and keys with no entry.
KEY_MISMATCH_SQL = (
    'SELECT e."seq", k."entry_id" IS NULL, e."entry_id" IS NULL, '
    'COALESCE(k."entry_id", e."entry_id") '
    'FROM "audits_ledgerkey" k FULL JOIN ('
    'SELECT "entry_id", "seq", "leaf_hash" FROM "audits_ledgerentry" UNION ALL '
    'SELECT "entry_id", NULL, "leaf_hash" FROM "audits_ledgerqueue") e '
    'ON e."entry_id" = k."entry_id" '
    'WHERE k."entry_id" IS NULL OR e."entry_id" IS NULL '
    'OR k."leaf_hash" <> e."leaf_hash" '
    'ORDER BY e."seq" NULLS LAST, k."entry_id" LIMIT %s'
)
COUNTS_SQL = (
    'SELECT (SELECT count(*) FROM "audits_ledgerkey"), '
    '(SELECT count(*) FROM "audits_ledgerentry"), '
    '(SELECT count(*) FROM "audits_ledgerqueue")'
)
DUPLICATES_SQL = (
    'SELECT "entry_id", min("seq"), count(*) FROM ('
    'SELECT "entry_id", "seq" FROM "audits_ledgerentry" UNION ALL '
    'SELECT "entry_id", NULL FROM "audits_ledgerqueue") u '
    'GROUP BY "entry_id" HAVING count(*) > 1 ORDER BY 2 NULLS LAST LIMIT %s'
)


def _check_keys(report: Report) -> None:
    """The ledger and the idempotency index are a bijection (by entry id).

    Every sequenced entry has its key with the same leaf hash, every key has an
    entry or a queued row, and there are as many keys as entries plus queued rows
    (so no id is sequenced or queued twice). One hash full join and three counts;
    no per-row Python.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(KEY_MISMATCH_SQL, [MAX_LISTED])
        for seq, keyless, entryless, entry_id in cursor.fetchall():
            if entryless:
                report._list(
                    report._seq_errors,
                    {
                        "entry_id": str(entry_id),
                        "problem": "an accepted entry is missing",
                    },
                )
            elif seq is None:
                report._list(
                    report._seq_errors,
                    {
                        "entry_id": str(entry_id),
                        "problem": "a queued entry is inconsistent with its key",
                    },
                )
            else:
                report._bad_seq(
                    seq,
                    "the entry has no idempotency key"
                    if keyless
                    else "the idempotency key holds another leaf hash",
                )
        cursor.execute(COUNTS_SQL)
        keys, entries, queued = cursor.fetchone()
        if keys != entries + queued:
            cursor.execute(DUPLICATES_SQL, [MAX_LISTED])
            for entry_id, seq, times in cursor.fetchall():
                problem = f"entry id {entry_id} is sequenced or queued {times} times"
                if seq is None:
                    report._list(report._seq_errors, {"problem": problem})
                else:
                    report._bad_seq(seq, problem)


def anchors_configured() -> list[Anchor]:
    """The checkpoints held by the witness directory and the signer's state file,
    when configured (MODELGOV_LEDGER_WITNESS_DIR, MODELGOV_LEDGER_SIGNER_STATE)."""
    from audits.ledger import services, witness

    anchors: list[Anchor] = []
    directory = witness.configured_witness()
    if directory is not None:
        anchors += [
            Anchor("witnessed", cp.size, cp.root, cp.origin)
            for cp in directory.checkpoints()
        ]
    state = services.signer_state_read()
    if state is not None:
        anchors.append(Anchor("signer-state", state.size, state.root, state.origin))
    return anchors


def check_database(*, keys: bool = True) -> Report:
    """Check the stored ledger with the configured key, origin and anchors.

    Reads the entries, nodes and checkpoints through server-side cursors in one
    read-only repeatable-read transaction (a snapshot: a sequencer committing
    meanwhile cannot cause a false alarm; the anchors are read before it, and they
    are only ever written after a commit). ``keys=False`` skips the bijection with
    the idempotency index (a hash join over the whole ledger).
    """
    from django.db import connection, transaction

    from audits.ledger import models as ledger_models
    from audits.ledger import services, witness

    public_key = witness.ledger_public_key()
    origin = services.ledger_origin()
    anchors = anchors_configured()
    outermost = not connection.in_atomic_block
    with transaction.atomic(), contextlib.ExitStack() as stack:
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"
                )
        head = ledger_models.LedgerHead.objects.get(id=1).size
        if connection.vendor == "postgresql":
            # Binary rows are (int, bytes, bytes) already: fed as they come.
            entries: Iterable[Any] = itertools.chain.from_iterable(
                stack.enter_context(
                    contextlib.closing(_chunks(ENTRIES_SQL, prefetch=True))
                )
            )
            rows: Iterable[Any] = itertools.chain.from_iterable(
                stack.enter_context(contextlib.closing(_chunks(CHECKPOINTS_SQL)))
            )
            stored: Iterable[Any] = itertools.chain.from_iterable(
                stack.enter_context(contextlib.closing(_chunks(NODES_SQL)))
            )
        else:  # SQLite, the demo database: the ORM, nodes sorted in memory
            entries = (
                (seq, bytes(leaf), bytes(h))
                for seq, leaf, h in ledger_models.LedgerEntry.objects.order_by("seq")
                .values_list("seq", "leaf", "leaf_hash")
                .iterator(chunk_size=CHUNK_ROWS)
            )
            rows = (
                ledger_models.LedgerCheckpoint.objects.order_by("size")
                .values_list("size", "root", "note")
                .iterator(chunk_size=CHUNK_ROWS)
            )
            stored = sorted(
                ledger_models.LedgerNode.objects.values_list("level", "index", "hash"),
                key=lambda n: ((n[1] + 1) << n[0], n[0]),
            )
        checker = _Checker(
            (CheckpointRow(size, bytes(root), note) for size, root, note in rows),
            public_key,
            origin,
            (NodeRow(level, index, bytes(h)) for level, index, h in stored),
            anchors,
        )
        checker.feed(entries)
        if keys:
            _check_keys(checker.report)
        return checker.finish(head=head)


def check_database_timed(*, keys: bool = True) -> tuple[Report, Timing]:
    """:func:`check_database` and how long it took (not part of the report)."""
    started = time.perf_counter()
    report = check_database(keys=keys)
    elapsed = time.perf_counter() - started
    rate = report.entries / elapsed if elapsed > 0 else 0.0
    return report, Timing(round(elapsed, 3), round(rate))
