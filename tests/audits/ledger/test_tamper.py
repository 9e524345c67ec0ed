"""Tamper tests B5-B8 (reference/ledger.md (b)): a superuser rewrites the ledger.

The database's own guards cannot stop a superuser, who switches the triggers off
(``ALTER TABLE … DISABLE TRIGGER ALL``). What must hold is detection: fsck names the
damage, offline proofs of damaged entries fail while the others still verify, and
the sequencer, the signer state and the witness refuse to go on from a rolled-back
or rewritten log.
"""

from __future__ import annotations

import io
import json
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.db import connection

from audits.ledger import checkpoint, fsck, merkle, proofs, services, witness
from audits.ledger.models import (
    LedgerCheckpoint,
    LedgerEntry,
    LedgerHead,
    LedgerQueue,
)
from governance.exceptions import Conflict

# From an empty ledger: see conftest.py (the templates' record leaves).
pytestmark = pytest.mark.usefixtures("empty_ledger")

ORIGIN = "modelgov/ledger"
BATCHES = [700, 900, 400, 1000]  # checkpoints at 700, 1600, 2000 and 3000
SIZES = [700, 1600, 2000, 3000]

ENTRY = "audits_ledgerentry"
NODE = "audits_ledgernode"
CHECKPOINT = "audits_ledgercheckpoint"
KEY = "audits_ledgerkey"
HEAD = "audits_ledgerhead"
WITNESS_DIFFERS = "the witnessed root differs from the database's checkpoint"
SIGNER_STATE_DIFFERS = "the signer-state root differs from the database's checkpoint"

_TRIGGERS_SQL = (
    "SELECT c.relname, t.tgname, t.tgenabled FROM pg_trigger t "
    "JOIN pg_class c ON c.oid = t.tgrelid "
    "WHERE c.relname = ANY(%s) AND NOT t.tgisinternal ORDER BY 1, 2"
)


def _with_partitions(cursor: Any, tables: tuple[str, ...]) -> list[str]:
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = ANY(%s) "
        "ORDER BY 1",
        [list(tables)],
    )
    return [*tables, *(row[0] for row in cursor.fetchall())]


@contextmanager
def superuser_tampering(*tables: str) -> Iterator[Any]:
    """As the test's superuser: every trigger of ``tables`` (and their partitions)
    off, then back to exactly its former state (ENABLE ALWAYS included)."""
    with connection.cursor() as cursor:
        names = _with_partitions(cursor, tables)
        cursor.execute(_TRIGGERS_SQL, [names])
        before = cursor.fetchall()
        assert before, "the ledger tables carry triggers"
        for name in names:
            cursor.execute(f'ALTER TABLE "{name}" DISABLE TRIGGER ALL')
        try:
            yield cursor
        finally:
            for name in names:
                cursor.execute(f'ALTER TABLE "{name}" ENABLE TRIGGER ALL')
            for relname, trigger, state in before:
                if state == "A":
                    cursor.execute(
                        f'ALTER TABLE "{relname}" ENABLE ALWAYS TRIGGER "{trigger}"'
                    )
            cursor.execute(_TRIGGERS_SQL, [names])
            assert cursor.fetchall() == before


def truncate_tail(size: int) -> None:
    """Cut the ledger back to its first ``size`` entries, consistently: entries,
    their idempotency keys, the nodes and checkpoints beyond, and the head."""
    with superuser_tampering(ENTRY, NODE, CHECKPOINT, KEY, HEAD) as cursor:
        cursor.execute(
            f'DELETE FROM "{KEY}" WHERE "entry_id" IN '
            f'(SELECT "entry_id" FROM "{ENTRY}" WHERE "seq" >= %s)',
            [size],
        )
        cursor.execute(f'DELETE FROM "{ENTRY}" WHERE "seq" >= %s', [size])
        cursor.execute(
            f'DELETE FROM "{NODE}" WHERE ("index" + 1) << "level"::int > %s', [size]
        )
        cursor.execute(f'DELETE FROM "{CHECKPOINT}" WHERE "size" > %s', [size])
        cursor.execute(f'UPDATE "{HEAD}" SET "size" = %s WHERE "id" = 1', [size])


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


@dataclass(frozen=True)
class Anchored:
    key: Ed25519PrivateKey
    witness_dir: Path
    signer_state: Path


def _batch(n: int, tag: str) -> list[tuple[uuid.UUID, int, bytes]]:
    return [
        (uuid.uuid4(), 1, f'{{"batch":"{tag}","i":{i},"score":0.5}}'.encode())
        for i in range(n)
    ]


@pytest.fixture
def anchored(
    db: Any,
    ledger_key: Ed25519PrivateKey,
    settings: Any,
    tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
) -> Anchored:
    """3,000 entries sequenced in four batches; after each commit the signer state
    and the witness directory record the checkpoint (services._after_commit)."""
    settings.MODELGOV_LEDGER_WITNESS_DIR = str(tmp_path / "witness")
    settings.MODELGOV_LEDGER_SIGNER_STATE = str(tmp_path / "signer" / "state.json")
    signer = services.ledger_signer()
    for number, size in enumerate(BATCHES):
        services.ledger_enqueue(entries=_batch(size, str(number)))
        with django_capture_on_commit_callbacks(execute=True):
            services.ledger_sequence(signer=signer)
    assert list(LedgerCheckpoint.objects.values_list("size", flat=True)) == SIZES
    configured = witness.configured_witness()
    assert configured is not None and configured.sizes() == SIZES
    state = services.signer_state_read()
    assert state is not None and state.size == 3000
    assert fsck.check_database().ok
    return Anchored(ledger_key, tmp_path / "witness", tmp_path / "signer")


def _fsck_command() -> tuple[int, dict[str, Any], str]:
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as excinfo:
        call_command("ledger_fsck", stdout=out, stderr=err)
    return int(str(excinfo.value.code)), json.loads(out.getvalue()), err.getvalue()


def _bundle(seq: int) -> tuple[str, bytes]:
    """The offline tlog-proof bundle of entry ``seq`` against the latest checkpoint,
    and the entry's stored leaf bytes."""
    latest = LedgerCheckpoint.objects.order_by("-size").first()
    inclusion = services.ledger_inclusion_of(
        LedgerEntry.objects.get(seq=seq), at=latest
    )
    assert inclusion is not None
    text = proofs.format_bundle(
        index=inclusion.seq, proof=inclusion.proof, note=inclusion.note
    )
    return text, inclusion.leaf


def _verify(text: str, leaf: bytes, key: Ed25519PrivateKey) -> checkpoint.Checkpoint:
    return proofs.verify_bundle(
        text, leaf=leaf, origin=ORIGIN, trusted={ORIGIN: key.public_key()}
    )


def test_superuser_tampering_restores_the_always_triggers(anchored: Anchored) -> None:
    # given
    with connection.cursor() as cursor:
        names = _with_partitions(cursor, (ENTRY,))
        cursor.execute(_TRIGGERS_SQL, [names])
        before = cursor.fetchall()
    # when
    with superuser_tampering(ENTRY) as cursor:
        cursor.execute(_TRIGGERS_SQL, [names])
        during = {state for _, _, state in cursor.fetchall()}
    # then: all off while tampering; the entry table and its 10 partitions keep
    # their ENABLE ALWAYS guards afterwards
    assert during == {"D"}
    assert {state for _, _, state in before} == {"A"}
    assert len(before) == 2 + 2 * 10


def test_b5_a_flipped_leaf_byte_is_named_and_its_bundle_fails(
    anchored: Anchored,
) -> None:
    # given: one byte of seq 1234's leaf (in stored node 4/77, seqs 1232..1247)
    k = 1234
    original = bytes(LedgerEntry.objects.get(seq=k).leaf)
    flipped = bytearray(original)
    flipped[10] ^= 0x20
    # when
    with superuser_tampering(ENTRY) as cursor:
        cursor.execute(
            f'UPDATE "{ENTRY}" SET "leaf" = %s WHERE "seq" = %s', [bytes(flipped), k]
        )
    report = fsck.check_database()
    code, output, err = _fsck_command()
    # then
    assert report.errors == [
        {"seq": k, "problem": "the stored leaf hash does not match the leaf"},
        {"checkpoint_size": 1600, "problem": "the root differs from the leaves"},
        {"checkpoint_size": 2000, "problem": "the root differs from the leaves"},
        {"checkpoint_size": 3000, "problem": "the root differs from the leaves"},
    ]
    assert (report.first_divergent_seq, report.first_bad_checkpoint_size) == (k, 1600)
    assert (code, output["first_divergent_seq"], output["ok"]) == (1, k, False)
    assert f"first divergent seq {k}" in err
    text, leaf = _bundle(k)
    assert leaf == bytes(flipped)
    with pytest.raises(proofs.BundleError, match="entry 1234 is not in the tree"):
        _verify(text, leaf, anchored.key)
    assert _verify(text, original, anchored.key).size == 3000
    others = random.Random(5).sample([s for s in range(3000) if s != k], 20)
    verified = [_verify(*_bundle(seq), anchored.key) for seq in others]
    assert {(cp.origin, cp.size) for cp in verified} == {(ORIGIN, 3000)}


def _rewrite_entry(cursor: Any, k: int, leaf: bytes) -> None:
    """Change leaf and leaf hash at ``k``, its idempotency key, and every stored
    node above it, as an attacker who knows the storage layout would."""
    leaf_hash = merkle.leaf_hash(leaf)
    cursor.execute(
        f'UPDATE "{ENTRY}" SET "leaf" = %s, "leaf_hash" = %s WHERE "seq" = %s '
        'RETURNING "entry_id"',
        [leaf, leaf_hash, k],
    )
    (entry_id,) = cursor.fetchone()
    cursor.execute(
        f'UPDATE "{KEY}" SET "leaf_hash" = %s, "payload_sha256" = %s '
        'WHERE "entry_id" = %s',
        [leaf_hash, services.payload_sha256(leaf), entry_id],
    )
    for level in (4, 8, 12):
        index = k >> level
        cursor.execute(
            f'SELECT "leaf_hash" FROM "{ENTRY}" WHERE "seq" >= %s AND "seq" < %s '
            'ORDER BY "seq"',
            [index << level, (index + 1) << level],
        )
        hashes = [bytes(row[0]) for row in cursor.fetchall()]
        if len(hashes) == 1 << level:
            cursor.execute(
                f'UPDATE "{NODE}" SET "hash" = %s WHERE "level" = %s AND "index" = %s',
                [merkle.root(hashes), level, index],
            )
            assert cursor.rowcount == 1


def test_b6_a_consistent_rewrite_breaks_the_first_checkpoint_after_it(
    anchored: Anchored, tmp_path: Path
) -> None:
    # given: leaf, leaf hash, key and stored nodes of seq 1234 rewritten
    k = 1234
    forged = b'{"batch":"1","i":534,"score":0.99}'
    with superuser_tampering(ENTRY, NODE, KEY) as cursor:
        _rewrite_entry(cursor, k, forged)
    # when
    rewritten = fsck.check_database()
    # and the attacker also puts the new roots into the checkpoint rows
    with superuser_tampering(CHECKPOINT) as cursor:
        for size in (1600, 2000, 3000):
            cursor.execute(
                f'UPDATE "{CHECKPOINT}" SET "root" = %s WHERE "size" = %s',
                [services.ledger_root(size), size],
            )
    resigned_rows = fsck.check_database()
    # then: no leaf, key or node is wrong any more; the signatures tell, and the
    # roots kept outside the database
    assert rewritten.errors == [
        {"checkpoint_size": size, "problem": "the root differs from the leaves"}
        for size in (1600, 2000, 3000)
    ]
    assert resigned_rows.errors == [
        {"checkpoint_size": 1600, "problem": "the signed note differs from the row"},
        {"checkpoint_size": 1600, "problem": WITNESS_DIFFERS},
        {"checkpoint_size": 2000, "problem": "the signed note differs from the row"},
        {"checkpoint_size": 2000, "problem": WITNESS_DIFFERS},
        {"checkpoint_size": 3000, "problem": "the signed note differs from the row"},
        {"checkpoint_size": 3000, "problem": WITNESS_DIFFERS},
        {"checkpoint_size": 3000, "problem": SIGNER_STATE_DIFFERS},
    ]
    for report in (rewritten, resigned_rows):
        assert (report.first_divergent_seq, report.first_bad_checkpoint_size) == (
            1600,
            1600,
        )


def test_b6_the_signer_and_the_witness_refuse_to_extend_a_rewritten_log(
    anchored: Anchored,
) -> None:
    # given
    with superuser_tampering(ENTRY, NODE, KEY) as cursor:
        _rewrite_entry(cursor, 1234, b'{"forged":true}')
    services.ledger_enqueue(entries=_batch(10, "after"))
    directory = witness.configured_witness()
    assert directory is not None
    witnessed = sorted(p.name for p in (anchored.witness_dir / "checkpoints").iterdir())
    # when: the sequencer (its signer remembers the true root of 3000)
    with pytest.raises(checkpoint.CheckpointError, match="not consistent"):
        services.ledger_sequence(signer=services.ledger_signer())
    # and even an attacker holding the signing key cannot get the witness to accept
    # the rewritten tree
    forged = checkpoint.Checkpoint(ORIGIN, 3000, services.ledger_root(3000))
    note = checkpoint.sign_note(forged.body(), ORIGIN, anchored.key)
    with pytest.raises(witness.WitnessError) as excinfo:
        directory.add(note, 3000, [])
    # then
    assert excinfo.value.status == 409
    assert LedgerHead.objects.get(id=1).size == 3000
    assert list(LedgerCheckpoint.objects.values_list("size", flat=True)) == SIZES
    assert LedgerQueue.objects.count() == 10
    assert (
        sorted(p.name for p in (anchored.witness_dir / "checkpoints").iterdir())
        == witnessed
    )
    latest = directory.latest()
    assert latest is not None and latest.size == 3000


def test_b7_a_deleted_and_renumbered_row_is_found(anchored: Anchored) -> None:
    # given: seq 1234 deleted, later rows moved down by one
    k = 1234
    deleted = LedgerEntry.objects.get(seq=k).entry_id
    with superuser_tampering(ENTRY) as cursor:
        cursor.execute(f'DELETE FROM "{ENTRY}" WHERE "seq" = %s', [k])
        cursor.execute(
            f'UPDATE "{ENTRY}" SET "seq" = "seq" + 1000000 WHERE "seq" > %s', [k]
        )
        cursor.execute(
            f'UPDATE "{ENTRY}" SET "seq" = "seq" - 1000001 WHERE "seq" > 1000000'
        )
    # when
    report = fsck.check_database()
    # then: every leaf still matches its own hash; the stored node 4/77 (seqs
    # 1232..1247) is the first that no longer matches, the deleted entry's
    # idempotency key has no entry any more, and the log is one entry short
    assert report.first_divergent_seq == 1232
    assert report.first_bad_checkpoint_size == 1600
    assert report.errors[:3] == [
        {
            "seq": 2999,
            "problem": "entry 2999 is missing (shown by the witnessed checkpoint "
            "of size 3000, the signer-state checkpoint of size 3000, checkpoint 3000)",
        },
        {"entry_id": str(deleted), "problem": "an accepted entry is missing"},
        {"seq": 1232, "problem": "node 4/77 differs"},
    ]
    assert report.errors[-3:] == [
        {"checkpoint_size": 1600, "problem": "the root differs from the leaves"},
        {"checkpoint_size": 2000, "problem": "the root differs from the leaves"},
        {"checkpoint_size": 3000, "problem": "only 2999 leaves are stored"},
    ]
    assert report.entries == 2999


def test_b7_swapped_leaves_are_named(anchored: Anchored) -> None:
    # given: the leaf bytes of seqs 1500 and 2500 swapped
    with superuser_tampering(ENTRY) as cursor:
        cursor.execute(
            f'UPDATE "{ENTRY}" a SET "leaf" = b."leaf" FROM "{ENTRY}" b '
            'WHERE (a."seq", b."seq") IN ((1500, 2500), (2500, 1500))'
        )
    # when
    report = fsck.check_database()
    # then
    assert report.errors == [
        {"seq": 1500, "problem": "the stored leaf hash does not match the leaf"},
        {"seq": 2500, "problem": "the stored leaf hash does not match the leaf"},
        {"checkpoint_size": 1600, "problem": "the root differs from the leaves"},
        {"checkpoint_size": 2000, "problem": "the root differs from the leaves"},
        {"checkpoint_size": 3000, "problem": "the root differs from the leaves"},
    ]
    assert report.first_divergent_seq == 1500


def test_b7_swapped_leaves_with_their_hashes_are_named_by_their_keys(
    anchored: Anchored,
) -> None:
    # given: leaf and leaf hash of seqs 1500 and 2500 swapped (entry ids stay)
    with superuser_tampering(ENTRY) as cursor:
        cursor.execute(
            f'UPDATE "{ENTRY}" a SET "leaf" = b."leaf", "leaf_hash" = b."leaf_hash" '
            f'FROM "{ENTRY}" b WHERE (a."seq", b."seq") IN ((1500, 2500), (2500, 1500))'
        )
    # when
    report = fsck.check_database()
    # then: the keys name both seqs; the stored nodes place the first change in
    # 1488..1503 (node 4/93), so that is the first seq fsck cannot vouch for
    assert report.errors[:2] == [
        {"seq": 1500, "problem": "the idempotency key holds another leaf hash"},
        {"seq": 2500, "problem": "the idempotency key holds another leaf hash"},
    ]
    assert {"seq": 1488, "problem": "node 4/93 differs"} in report.errors
    assert {"seq": 2496, "problem": "node 4/156 differs"} in report.errors
    assert report.first_divergent_seq == 1488
    assert report.first_bad_checkpoint_size == 1600


def test_b7_a_forged_row_after_the_head_is_named(anchored: Anchored) -> None:
    # given: a row inserted at seq 3000 (an INSERT is not even refused)
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{ENTRY}" SELECT 3000, %s, "entry_type", "leaf", '
            '"leaf_hash", "received_at", "sequenced_at" FROM "audits_ledgerentry" '
            'WHERE "seq" = 0',
            [uuid.uuid4()],
        )
    # when
    report = fsck.check_database()
    # then
    assert report.errors == [
        {"seq": 3000, "problem": "the entry has no idempotency key"},
        {"seq": 3000, "problem": "entries after the latest checkpoint: 1"},
    ]
    assert (report.first_divergent_seq, report.first_bad_checkpoint_size) == (
        3000,
        None,
    )


def test_b8_a_truncated_tail_is_behind_the_witness_and_the_signer(
    anchored: Anchored,
) -> None:
    # given: the last 1,000 entries gone, the head and checkpoints rolled back
    truncate_tail(2000)
    services.ledger_enqueue(entries=_batch(5, "after"))
    # when
    report = fsck.check_database()
    code, output, _ = _fsck_command()
    with pytest.raises(Conflict) as excinfo:
        services.ledger_sequence(signer=services.ledger_signer())
    witness_out = io.StringIO()
    with pytest.raises(SystemExit) as witness_exit:
        call_command("ledger_witness", stdout=witness_out)
    # then: the first missing seq is the rolled-back size, shown by the anchors
    assert report.errors == [
        {
            "seq": 2000,
            "problem": "entries 2000..2999 are missing (shown by the witnessed "
            "checkpoint of size 3000, the signer-state checkpoint of size 3000)",
        },
        {
            "checkpoint_size": 3000,
            "problem": "log behind the signer-state checkpoint (size 3000)",
        },
        {
            "checkpoint_size": 3000,
            "problem": "log behind the witnessed checkpoint (size 3000)",
        },
    ]
    assert (report.entries, report.first_bad_checkpoint_size) == (2000, 3000)
    assert report.first_divergent_seq == 2000
    assert (code, output["first_bad_checkpoint_size"]) == (1, 3000)
    assert output["first_divergent_seq"] == 2000
    assert excinfo.value.code == "ledger_behind_signer"
    assert list(LedgerCheckpoint.objects.values_list("size", flat=True)) == SIZES[:3]
    assert LedgerHead.objects.get(id=1).size == 2000
    assert LedgerQueue.objects.count() == 5
    assert witness_exit.value.code == 1
    assert json.loads(witness_out.getvalue()) == {
        "added": [],
        "configured": True,
        "database_size": 2000,
        "error": "log behind the witnessed checkpoint (size 3000)",
        "ok": False,
        "witness_size": 3000,
    }
