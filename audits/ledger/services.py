"""Ledger storage services: enqueue, sequence (one batch = one signed checkpoint), prove.

The sequencer is the only writer of entries, nodes, checkpoints and the head. One
batch is one transaction: a crash anywhere rolls it back and leaves the queue intact,
so a rerun is idempotent. Proofs are computed from the stored leaf hashes for now.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audits.ledger import checkpoint, merkle
from audits.ledger import models as ledger_models
from governance import exceptions

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


def ledger_signer() -> checkpoint.CheckpointSigner:
    """A signer for the configured origin and key, starting from the latest checkpoint.

    A separate signer process that keeps its own last signed checkpoint comes later.
    """
    origin = ledger_origin()
    return checkpoint.CheckpointSigner(
        origin=origin,
        name=origin,
        private_key=ledger_signing_key(),
        last=latest_checkpoint(),
    )


def _leaf_hashes(limit: int | None = None) -> list[bytes]:
    qs = ledger_models.LedgerEntry.objects.order_by("seq")
    if limit is not None:
        qs = qs.filter(seq__lt=limit)
    return [bytes(h) for h in qs.values_list("leaf_hash", flat=True)]


def _conflict(entry_id: uuid.UUID) -> exceptions.Conflict:
    return exceptions.Conflict(
        f"ledger entry {entry_id} was already received with different content",
        code="ledger_entry_conflict",
    )


@transaction.atomic
def ledger_enqueue(*, entries: Sequence[tuple[uuid.UUID, int, bytes]]) -> int:
    """Queue canonical leaves; return how many were new.

    Idempotent on the entry id: the same leaf again is skipped, a different leaf
    raises Conflict (``ledger_entry_conflict``) and nothing of the batch is written.
    """
    wanted: dict[uuid.UUID, tuple[int, bytes]] = {}
    for entry_id, entry_type, leaf in entries:
        leaf = bytes(leaf)
        previous = wanted.get(entry_id)
        if previous is not None and previous != (entry_type, leaf):
            raise _conflict(entry_id)
        wanted[entry_id] = (entry_type, leaf)

    def existing() -> dict[uuid.UUID, tuple[int, bytes]]:
        found: dict[uuid.UUID, tuple[int, bytes]] = {}
        for model in (ledger_models.LedgerQueue, ledger_models.LedgerEntry):
            rows = model.objects.filter(entry_id__in=list(wanted)).values_list(
                "entry_id", "entry_type", "leaf"
            )
            for entry_id, entry_type, leaf in rows:
                found[entry_id] = (entry_type, bytes(leaf))
        return found

    def check(found: dict[uuid.UUID, tuple[int, bytes]]) -> None:
        for entry_id, stored in found.items():
            if stored != wanted[entry_id]:
                raise _conflict(entry_id)

    before = existing()
    check(before)
    now = timezone.now()
    new = [
        ledger_models.LedgerQueue(
            entry_id=entry_id,
            entry_type=entry_type,
            leaf=leaf,
            leaf_hash=merkle.leaf_hash(leaf),
            received_at=now,
        )
        for entry_id, (entry_type, leaf) in wanted.items()
        if entry_id not in before
    ]
    ledger_models.LedgerQueue.objects.bulk_create(new, ignore_conflicts=True)
    # A concurrent enqueue of the same id may have won the insert: compare again.
    check(existing())
    return len(new)


def _new_nodes(
    hashes: Sequence[bytes], old_size: int
) -> list[ledger_models.LedgerNode]:
    """The complete subtrees (level >= 1) that the leaves past ``old_size`` complete."""
    nodes: list[ledger_models.LedgerNode] = []
    level, current = 0, list(hashes)
    while len(current) >= 2:
        level += 1
        current = [
            merkle.node_hash(current[2 * i], current[2 * i + 1])
            for i in range(len(current) // 2)
        ]
        nodes += [
            ledger_models.LedgerNode(level=level, index=i, hash=current[i])
            for i in range(old_size >> level, len(current))
        ]
    return nodes


@transaction.atomic
def ledger_sequence(
    *, signer: checkpoint.CheckpointSigner, batch_size: int = 20000
) -> checkpoint.Checkpoint | None:
    """Sequence up to ``batch_size`` queued entries under one new signed checkpoint.

    Returns None when the queue is empty. Raises Conflict when another sequencer
    holds the lock or moved the head meanwhile, and CheckpointError when the signer
    refuses the new tree (a fork).
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
    queued = list(
        ledger_models.LedgerQueue.objects.select_for_update().order_by("queue_id")[
            :batch_size
        ]
    )
    if not queued:
        return None
    now = timezone.now()
    rows = [
        ledger_models.LedgerEntry(
            seq=old_size + i,
            entry_id=q.entry_id,
            entry_type=q.entry_type,
            leaf=bytes(q.leaf),
            leaf_hash=bytes(q.leaf_hash),
            received_at=q.received_at,
            sequenced_at=now,
        )
        for i, q in enumerate(queued)
    ]
    hashes = _leaf_hashes(old_size)
    if len(hashes) != old_size:
        raise exceptions.Conflict(
            f"the head says {old_size} entries but {len(hashes)} are stored",
            code="ledger_head_mismatch",
        )
    hashes += [bytes(r.leaf_hash) for r in rows]
    ledger_models.LedgerEntry.objects.bulk_create(rows)
    ledger_models.LedgerNode.objects.bulk_create(_new_nodes(hashes, old_size))
    new = checkpoint.Checkpoint(signer.origin, len(hashes), merkle.root(hashes))
    last = ledger_models.LedgerCheckpoint.objects.order_by("-size").first()
    proof = merkle.consistency_proof(last.size, hashes) if last is not None else []
    note = signer.sign(new, proof)
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
    ledger_models.LedgerQueue.objects.filter(
        queue_id__in=[q.queue_id for q in queued]
    ).delete()
    return new


def ledger_inclusion(*, entry_id: uuid.UUID) -> tuple[int, bytes, list[bytes], str]:
    """(seq, leaf bytes, inclusion proof, signed note) against the latest checkpoint.

    Raises LedgerEntry.DoesNotExist when the entry is not sequenced (yet).
    """
    entry = ledger_models.LedgerEntry.objects.get(entry_id=entry_id)
    latest = ledger_models.LedgerCheckpoint.objects.order_by("-size").first()
    if latest is None or entry.seq >= latest.size:
        raise ledger_models.LedgerEntry.DoesNotExist(
            f"ledger entry {entry_id} is not under a checkpoint yet"
        )
    hashes = _leaf_hashes(latest.size)
    return (
        entry.seq,
        bytes(entry.leaf),
        merkle.inclusion_proof(entry.seq, hashes),
        latest.note,
    )
