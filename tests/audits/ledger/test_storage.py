"""Ledger storage: enqueue, sequence, prove, fsck, and the append-only guard."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.db import connection, transaction
from django.db.utils import Error as DatabaseError

from audits.ledger import checkpoint, fsck, merkle, services
from audits.ledger.models import (
    LedgerCheckpoint,
    LedgerEntry,
    LedgerHead,
    LedgerNode,
    LedgerQueue,
)
from governance.exceptions import Conflict

# From an empty ledger: see conftest.py (the templates' record leaves).
pytestmark = pytest.mark.usefixtures("empty_ledger")

ORIGIN = "modelgov/ledger"


@pytest.fixture
def ledger_key(settings: Any) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    settings.MODELGOV_LEDGER_KEY = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    settings.MODELGOV_LEDGER_ORIGIN = ORIGIN
    return key


def _batch(n: int, tag: str) -> list[tuple[uuid.UUID, int, bytes]]:
    return [(uuid.uuid4(), 1, f'{{"tag":"{tag}","i":{i}}}'.encode()) for i in range(n)]


def _sequence_all() -> list[checkpoint.Checkpoint]:
    signer = services.ledger_signer()
    made = []
    while (cp := services.ledger_sequence(signer=signer)) is not None:
        made.append(cp)
    return made


def test_three_batches_are_sequenced_and_provable(db: Any, ledger_key: Any) -> None:
    # given
    batches = [_batch(3, "a"), _batch(17, "b"), _batch(20, "c")]
    signer = services.ledger_signer()
    made = []
    # when
    for batch in batches:
        assert services.ledger_enqueue(entries=batch) == len(batch)
        made.append(services.ledger_sequence(signer=signer))
    # then
    assert [cp.size for cp in made if cp] == [3, 20, 40]
    assert LedgerHead.objects.get(id=1).size == 40
    assert LedgerQueue.objects.count() == 0
    assert list(LedgerEntry.objects.values_list("seq", flat=True)) == list(range(40))
    assert list(LedgerCheckpoint.objects.values_list("size", flat=True)) == [3, 20, 40]
    # stored levels are multiples of 4: 40 leaves complete two level-4 subtrees
    assert sorted(LedgerNode.objects.values_list("level", "index")) == [(4, 0), (4, 1)]
    hashes = [merkle.leaf_hash(leaf) for batch in batches for _, _, leaf in batch]
    assert [
        bytes(h)
        for h in LedgerNode.objects.order_by("index").values_list("hash", flat=True)
    ] == [merkle.root(hashes[:16]), merkle.root(hashes[16:32])]
    everything = [e for batch in batches for e in batch]
    for expected_seq, (entry_id, _, leaf) in enumerate(everything):
        seq, stored, proof, note = services.ledger_inclusion(entry_id=entry_id)
        body, names = checkpoint.verify_note(note, {ORIGIN: ledger_key.public_key()})
        cp = checkpoint.parse_checkpoint(body)
        assert (seq, stored, names, cp.size) == (expected_seq, leaf, [ORIGIN], 40)
        assert proof == merkle.inclusion_proof(seq, hashes)
        assert merkle.verify_inclusion(
            leaf=merkle.leaf_hash(leaf),
            index=seq,
            tree_size=cp.size,
            proof=proof,
            root_hash=cp.root,
        )


def test_enqueue_is_idempotent(db: Any, ledger_key: Any) -> None:
    # given
    batch = _batch(2, "same")
    assert services.ledger_enqueue(entries=batch) == 2
    # when
    again_queued = services.ledger_enqueue(entries=batch)
    _sequence_all()
    again_sequenced = services.ledger_enqueue(entries=batch)
    # then
    assert (again_queued, again_sequenced) == (0, 0)
    assert LedgerQueue.objects.count() == 0
    assert LedgerEntry.objects.count() == 2


def test_conflicting_reenqueue_is_refused_and_nothing_written(
    db: Any, ledger_key: Any
) -> None:
    # given
    (entry_id, entry_type, _leaf), *_ = first = _batch(1, "x")
    services.ledger_enqueue(entries=first)
    fresh = _batch(2, "fresh")
    # when
    with pytest.raises(Conflict) as excinfo:
        services.ledger_enqueue(
            entries=[*fresh, (entry_id, entry_type, b'{"other":1}')]
        )
    # then
    assert excinfo.value.code == "ledger_entry_conflict"
    assert list(LedgerQueue.objects.values_list("entry_id", flat=True)) == [entry_id]


def test_conflict_with_a_sequenced_entry_is_refused(db: Any, ledger_key: Any) -> None:
    # given
    (entry_id, entry_type, _leaf), *_ = first = _batch(1, "x")
    services.ledger_enqueue(entries=first)
    _sequence_all()
    # when
    with pytest.raises(Conflict):
        services.ledger_enqueue(entries=[(entry_id, entry_type, b'{"other":1}')])
    # then
    assert LedgerQueue.objects.count() == 0


def test_sequencing_an_empty_queue_returns_none(db: Any, ledger_key: Any) -> None:
    # when
    made = services.ledger_sequence(signer=services.ledger_signer())
    # then
    assert made is None
    assert LedgerCheckpoint.objects.count() == 0
    assert LedgerHead.objects.get(id=1).size == 0


def test_batch_size_splits_into_checkpoints(db: Any, ledger_key: Any) -> None:
    # given
    services.ledger_enqueue(entries=_batch(5, "s"))
    signer = services.ledger_signer()
    # when
    sizes = []
    while (cp := services.ledger_sequence(signer=signer, batch_size=2)) is not None:
        sizes.append(cp.size)
    # then
    assert sizes == [2, 4, 5]


def test_sequencer_command_once_and_fsck_clean(db: Any, ledger_key: Any) -> None:
    # given
    services.ledger_enqueue(entries=_batch(4, "cmd"))
    out = io.StringIO()
    # when
    call_command("ledger_sequencer", "--once", stdout=out)
    services.ledger_enqueue(entries=_batch(3, "cmd2"))
    call_command("ledger_sequencer", "--once", stdout=out)
    report_out = io.StringIO()
    # (the ledger part: this ledger holds no governance records' leaves)
    call_command("ledger_fsck", "--skip-governance", stdout=report_out)
    # then
    assert out.getvalue().split() == ["checkpoint", "size=4", "checkpoint", "size=7"]
    report = json.loads(report_out.getvalue())
    assert report.pop("fsck_rows_per_s") > 0
    assert report == {
        "ok": True,
        "entries": 7,
        "checkpoints": 2,
        "nodes": 0,
        "first_divergent_seq": None,
        "first_bad_checkpoint_size": None,
        "missing": None,
        "errors": [],
    }


def test_fsck_command_exits_1_with_another_key(
    db: Any, ledger_key: Any, settings: Any
) -> None:
    # given
    services.ledger_enqueue(entries=_batch(2, "k"))
    _sequence_all()
    other = Ed25519PrivateKey.generate()
    settings.MODELGOV_LEDGER_KEY = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    out = io.StringIO()
    # when
    with pytest.raises(SystemExit) as excinfo:
        call_command("ledger_fsck", stdout=out)
    # then
    assert excinfo.value.code == 1
    report = json.loads(out.getvalue())
    assert (report["ok"], report["first_divergent_seq"]) == (False, 2)
    assert report["first_bad_checkpoint_size"] == 2


def _rows(
    leaves: list[bytes], sizes: list[int], key: Ed25519PrivateKey
) -> tuple[list[fsck.EntryRow], list[fsck.CheckpointRow]]:
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    entries = [fsck.EntryRow(i, leaf, hashes[i]) for i, leaf in enumerate(leaves)]
    checkpoints = []
    for size in sizes:
        root = merkle.root(hashes[:size])
        body = checkpoint.Checkpoint(ORIGIN, size, root).body()
        note = checkpoint.sign_note(body, ORIGIN, key)
        checkpoints.append(fsck.CheckpointRow(size, root, note))
    return entries, checkpoints


def test_fsck_check_clean() -> None:
    # given
    key = Ed25519PrivateKey.generate()
    entries, checkpoints = _rows([b"l%d" % i for i in range(10)], [3, 7, 10], key)
    # when
    report = fsck.check(entries, checkpoints, key.public_key(), origin=ORIGIN)
    # then
    assert report.ok
    assert (report.entries, report.checkpoints, report.first_divergent_seq) == (
        10,
        3,
        None,
    )


def test_fsck_check_names_the_first_tampered_leaf() -> None:
    # given
    key = Ed25519PrivateKey.generate()
    entries, checkpoints = _rows([b"l%d" % i for i in range(10)], [3, 7, 10], key)
    entries[8] = fsck.EntryRow(8, b"forged", entries[8].leaf_hash)
    entries[5] = fsck.EntryRow(5, b"forged", entries[5].leaf_hash)
    # when
    report = fsck.check(entries, checkpoints, key.public_key(), origin=ORIGIN)
    # then
    assert not report.ok
    assert report.first_divergent_seq == 5
    assert report.first_bad_checkpoint_size == 7
    assert [e.get("seq") for e in report.errors if "seq" in e] == [5, 8]


def test_fsck_check_names_a_gap_in_seq() -> None:
    # given
    key = Ed25519PrivateKey.generate()
    entries, checkpoints = _rows([b"l%d" % i for i in range(6)], [6], key)
    del entries[4]
    # when
    report = fsck.check(entries, checkpoints, key.public_key(), origin=ORIGIN)
    # then
    assert report.first_divergent_seq == 4
    assert report.first_bad_checkpoint_size == 6


def test_fsck_check_names_a_checkpoint_with_a_wrong_root() -> None:
    # given
    key = Ed25519PrivateKey.generate()
    entries, checkpoints = _rows([b"l%d" % i for i in range(6)], [2, 6], key)
    forged_root = merkle.root([merkle.leaf_hash(b"x")] * 6)
    note = checkpoint.sign_note(
        checkpoint.Checkpoint(ORIGIN, 6, forged_root).body(), ORIGIN, key
    )
    checkpoints[1] = fsck.CheckpointRow(6, forged_root, note)
    # when
    report = fsck.check(entries, checkpoints, key.public_key(), origin=ORIGIN)
    # then
    assert report.first_divergent_seq == 6
    # every root is recomputed from the one leaf sequence, so consistency with
    # checkpoint 2 is implied and not listed separately
    assert report.errors == [
        {"checkpoint_size": 6, "problem": "the root differs from the leaves"},
    ]


def test_fsck_check_names_a_bad_node() -> None:
    # given
    key = Ed25519PrivateKey.generate()
    entries, checkpoints = _rows([b"l%d" % i for i in range(4)], [4], key)
    nodes = [fsck.NodeRow(1, 1, b"\x00" * 32)]
    # when
    report = fsck.check(
        entries, checkpoints, key.public_key(), origin=ORIGIN, nodes=nodes
    )
    # then
    assert report.first_divergent_seq == 2


def _refused(sql: str) -> DatabaseError:
    with pytest.raises(DatabaseError) as excinfo:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    return excinfo.value


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("audits_ledgerentry", "leaf"),
        ("audits_ledgernode", "hash"),
        ("audits_ledgercheckpoint", "note"),
    ],
)
def test_append_only_guard_refuses_update_delete_truncate(
    db: Any, ledger_key: Any, table: str, column: str
) -> None:
    # given
    services.ledger_enqueue(entries=_batch(16, "guard"))
    _sequence_all()
    # when
    errors = [
        _refused(f'UPDATE "{table}" SET "{column}" = "{column}"'),
        _refused(f'DELETE FROM "{table}"'),
        _refused(f'TRUNCATE "{table}"'),
    ]
    # then
    assert all("append-only" in str(error) for error in errors)
    assert LedgerEntry.objects.count() == 16
    assert LedgerNode.objects.count() == 1
    assert LedgerCheckpoint.objects.count() == 1
