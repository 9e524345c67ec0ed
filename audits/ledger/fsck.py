"""Full consistency check of the stored ledger. :func:`check` is pure.

It rehashes every leaf from its stored bytes, checks that seq runs 0, 1, 2, … without
gaps, recomputes every checkpoint root and stored subtree node from the leaves,
verifies every checkpoint note's signature, and verifies consistency between
consecutive checkpoints. The report names the first divergent sequence number (or,
when every leaf is sound, the size of the first bad checkpoint).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audits.ledger import checkpoint, merkle


@dataclass(frozen=True)
class EntryRow:
    seq: int
    leaf: bytes
    leaf_hash: bytes


@dataclass(frozen=True)
class CheckpointRow:
    size: int
    root: bytes
    note: str


@dataclass(frozen=True)
class NodeRow:
    level: int
    index: int
    hash: bytes


@dataclass
class Report:
    entries: int = 0
    checkpoints: int = 0
    nodes: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    first_divergent_seq: int | None = None
    first_bad_checkpoint_size: int | None = None

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
            "errors": self.errors,
        }

    def _bad_seq(self, seq: int, problem: str) -> None:
        self.errors.append({"seq": seq, "problem": problem})
        if self.first_divergent_seq is None or seq < self.first_divergent_seq:
            self.first_divergent_seq = seq

    def _bad_checkpoint(self, size: int, problem: str) -> None:
        self.errors.append({"checkpoint_size": size, "problem": problem})
        if (
            self.first_bad_checkpoint_size is None
            or size < self.first_bad_checkpoint_size
        ):
            self.first_bad_checkpoint_size = size


def check(
    entries: Iterable[EntryRow],
    checkpoints: Iterable[CheckpointRow],
    public_key: Ed25519PublicKey,
    *,
    origin: str,
    nodes: Iterable[NodeRow] = (),
) -> Report:
    """Check ``entries`` (in seq order) and ``checkpoints`` (in size order)."""
    report = Report()
    hashes: list[bytes] = []  # recomputed from the stored leaf bytes
    for entry in entries:
        report.entries += 1
        expected = len(hashes)
        if entry.seq != expected:
            report._bad_seq(expected, f"seq {entry.seq} found where {expected} was due")
            break
        recomputed = merkle.leaf_hash(bytes(entry.leaf))
        if bytes(entry.leaf_hash) != recomputed:
            report._bad_seq(entry.seq, "the stored leaf hash does not match the leaf")
        hashes.append(recomputed)

    _check_nodes(report, hashes, nodes)
    _check_checkpoints(report, hashes, list(checkpoints), public_key, origin)
    if report.first_divergent_seq is None:
        report.first_divergent_seq = report.first_bad_checkpoint_size
    return report


def _check_nodes(report: Report, hashes: list[bytes], nodes: Iterable[NodeRow]) -> None:
    levels: list[list[bytes]] = [hashes]
    while len(levels[-1]) >= 2:
        below = levels[-1]
        levels.append(
            [
                merkle.node_hash(below[2 * i], below[2 * i + 1])
                for i in range(len(below) // 2)
            ]
        )
    for node in nodes:
        report.nodes += 1
        first_leaf = node.index << node.level
        if node.level >= len(levels) or node.index >= len(levels[node.level]):
            report._bad_seq(
                first_leaf, f"node {node.level}/{node.index} past the leaves"
            )
        elif levels[node.level][node.index] != bytes(node.hash):
            report._bad_seq(first_leaf, f"node {node.level}/{node.index} differs")


def _check_checkpoints(
    report: Report,
    hashes: list[bytes],
    rows: Sequence[CheckpointRow],
    public_key: Ed25519PublicKey,
    origin: str,
) -> None:
    previous: CheckpointRow | None = None
    for row in rows:
        report.checkpoints += 1
        root = bytes(row.root)
        try:
            body, _ = checkpoint.verify_note(row.note, {origin: public_key})
            signed = checkpoint.parse_checkpoint(body)
        except checkpoint.CheckpointError as exc:
            report._bad_checkpoint(row.size, f"note: {exc}")
        else:
            if (signed.origin, signed.size, signed.root) != (origin, row.size, root):
                report._bad_checkpoint(row.size, "the signed note differs from the row")
        if row.size > len(hashes):
            report._bad_checkpoint(row.size, f"only {len(hashes)} leaves are stored")
            continue
        if merkle.root(hashes[: row.size]) != root:
            report._bad_checkpoint(row.size, "the root differs from the leaves")
        if previous is not None:
            proof = merkle.consistency_proof(previous.size, hashes[: row.size])
            if not merkle.verify_consistency(
                first=previous.size,
                second=row.size,
                first_root=bytes(previous.root),
                second_root=root,
                proof=proof,
            ):
                report._bad_checkpoint(
                    row.size, f"not consistent with checkpoint {previous.size}"
                )
        previous = row


def check_database() -> Report:
    """Feed :func:`check` from the database with the configured key and origin."""
    from audits.ledger import models as ledger_models
    from audits.ledger import services

    entries = (
        EntryRow(seq, bytes(leaf), bytes(leaf_hash))
        for seq, leaf, leaf_hash in ledger_models.LedgerEntry.objects.order_by("seq")
        .values_list("seq", "leaf", "leaf_hash")
        .iterator(chunk_size=5000)
    )
    checkpoints = [
        CheckpointRow(size, bytes(root), note)
        for size, root, note in ledger_models.LedgerCheckpoint.objects.order_by(
            "size"
        ).values_list("size", "root", "note")
    ]
    nodes = [
        NodeRow(level, index, bytes(h))
        for level, index, h in ledger_models.LedgerNode.objects.order_by(
            "level", "index"
        ).values_list("level", "index", "hash")
    ]
    return check(
        entries,
        checkpoints,
        services.ledger_signing_key().public_key(),
        origin=services.ledger_origin(),
        nodes=nodes,
    )
