"""The directory witness (c2sp.org/tlog-witness add-checkpoint) and its export."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command

from audits.ledger import checkpoint, fsck, merkle, services, witness
from audits.ledger.models import LedgerCheckpoint
from tests.audits.ledger.test_tamper import ledger_key, truncate_tail

# From an empty ledger: see conftest.py (the templates' record leaves).
pytestmark = pytest.mark.usefixtures("empty_ledger")

__all__ = ["ledger_key"]  # the fixture, shared with the tamper tests

ORIGIN = "modelgov/ledger"
KEY = Ed25519PrivateKey.generate()
HASHES = [merkle.leaf_hash(b"leaf %d" % i) for i in range(20)]
FORK = [merkle.leaf_hash(b"fork %d" % i) for i in range(20)]


def _note(
    size: int,
    hashes: list[bytes] = HASHES,
    *,
    key: Ed25519PrivateKey = KEY,
    origin: str = ORIGIN,
) -> str:
    body = checkpoint.Checkpoint(origin, size, merkle.root(hashes[:size])).body()
    return checkpoint.sign_note(body, origin, key)


def _proof(old: int, new: int, hashes: list[bytes] = HASHES) -> list[bytes]:
    return merkle.consistency_proof(old, hashes[:new])


def _files(path: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(path)): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def at_7(tmp_path: Path) -> witness.DirectoryWitness:
    """A witness that accepted the checkpoints of sizes 3 and 7."""
    directory = witness.DirectoryWitness(tmp_path / "w", ORIGIN, KEY.public_key())
    directory.add(_note(3), 0, [])
    directory.add(_note(7), 3, _proof(3, 7))
    return directory


def test_add_persists_each_checkpoint_and_the_latest(tmp_path: Path) -> None:
    # given
    directory = witness.DirectoryWitness(tmp_path / "w", ORIGIN, KEY.public_key())
    assert (directory.latest(), directory.sizes()) == (None, [])
    # when
    first = directory.add(_note(3), 0, [])
    second = directory.add(_note(7), 3, _proof(3, 7))
    # then
    assert (first.size, second.size) == (3, 7)
    assert directory.latest() == checkpoint.Checkpoint(
        ORIGIN, 7, merkle.root(HASHES[:7])
    )
    assert _files(tmp_path / "w") == {
        ".lock": b"",
        "checkpoints/3.note": _note(3).encode(),
        "checkpoints/7.note": _note(7).encode(),
        "latest.note": _note(7).encode(),
    }
    assert [cp.size for cp in directory.checkpoints()] == [3, 7]


def test_adding_the_latest_checkpoint_again_changes_nothing(
    at_7: witness.DirectoryWitness,
) -> None:
    # given
    before = _files(at_7.path)
    # when
    again = at_7.add(_note(7), 7, [])
    # then
    assert again.size == 7
    assert _files(at_7.path) == before


REFUSALS: dict[str, tuple[int, Callable[[], tuple[str, int, list[bytes]]]]] = {
    "unknown origin": (
        404,
        lambda: (_note(10, origin="other/log"), 7, _proof(7, 10)),
    ),
    "signed by another key": (
        403,
        lambda: (_note(10, key=Ed25519PrivateKey.generate()), 7, _proof(7, 10)),
    ),
    "unsigned": (403, lambda: (_note(10).partition("\n\n")[0] + "\n", 7, [])),
    "old size larger than the new": (400, lambda: (_note(10), 11, [])),
    "malformed body": (
        400,
        lambda: (checkpoint.sign_note(f"{ORIGIN}\nten\nroot\n", ORIGIN, KEY), 7, []),
    ),
    "old size is not the witnessed size": (409, lambda: (_note(10), 3, _proof(3, 10))),
    "first checkpoint claimed as old size 0": (409, lambda: (_note(10), 0, [])),
    "same size, another root": (409, lambda: (_note(7, FORK), 7, [])),
    "smaller tree": (409, lambda: (_note(5), 5, [])),
    "corrupted proof": (
        422,
        lambda: (
            _note(10),
            7,
            [bytes([_proof(7, 10)[0][0] ^ 1]) + _proof(7, 10)[0][1:]]
            + _proof(7, 10)[1:],
        ),
    ),
    "proof for another size": (422, lambda: (_note(10), 7, _proof(7, 11))),
    "fork": (422, lambda: (_note(10, FORK), 7, _proof(7, 10, FORK))),
    "no proof": (422, lambda: (_note(10), 7, [])),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_refusals_leave_the_witness_unchanged(
    at_7: witness.DirectoryWitness, case: str
) -> None:
    # given
    status, request = REFUSALS[case]
    note, old_size, proof = request()
    before = _files(at_7.path)
    # when
    with pytest.raises(witness.WitnessError) as excinfo:
        at_7.add(note, old_size, proof)
    # then
    assert excinfo.value.status == status
    assert excinfo.value.latest_size == (7 if status == 409 else None)
    assert _files(at_7.path) == before
    latest = at_7.latest()
    assert latest is not None and latest.size == 7


def test_the_first_checkpoint_needs_an_empty_proof(tmp_path: Path) -> None:
    # given
    directory = witness.DirectoryWitness(tmp_path / "w", ORIGIN, KEY.public_key())
    # when
    with pytest.raises(witness.WitnessError) as excinfo:
        directory.add(_note(5), 0, _proof(3, 5))
    # then
    assert excinfo.value.status == 422
    assert _files(tmp_path / "w") == {".lock": b""}


# --- exporting the ledger's checkpoints ----------------------------------------------


def _batch(n: int, tag: str) -> list[tuple[uuid.UUID, int, bytes]]:
    return [(uuid.uuid4(), 1, f'{{"tag":"{tag}","i":{i}}}'.encode()) for i in range(n)]


def _notes(*sizes: int) -> dict[str, bytes]:
    rows = LedgerCheckpoint.objects.filter(size__in=sizes).values_list("size", "note")
    return {f"checkpoints/{size}.note": note.encode() for size, note in rows}


def test_submit_pending_exports_every_new_checkpoint_in_order(
    db: Any, ledger_key: Any, settings: Any, tmp_path: Path
) -> None:
    # given: three sequencer batches that were not exported after their commit
    settings.MODELGOV_LEDGER_WITNESS_DIR = str(tmp_path / "w")
    signer = services.ledger_signer()
    for size, tag in [(5, "a"), (20, "b"), (7, "c")]:
        services.ledger_enqueue(entries=_batch(size, tag))
        services.ledger_sequence(signer=signer)
    # when
    first = witness.witness_submit_pending()
    services.ledger_enqueue(entries=_batch(4, "d"))
    services.ledger_sequence(signer=signer)
    second = witness.witness_submit_pending()
    third = witness.witness_submit_pending()
    # then
    assert first == witness.WitnessStatus(
        configured=True, witness_size=32, database_size=32, added=[5, 25, 32]
    )
    assert second == witness.WitnessStatus(
        configured=True, witness_size=36, database_size=36, added=[36]
    )
    assert third == witness.WitnessStatus(
        configured=True, witness_size=36, database_size=36, added=[]
    )
    files = _files(tmp_path / "w")
    assert (
        files.pop("latest.note") == LedgerCheckpoint.objects.get(size=36).note.encode()
    )
    assert files == {".lock": b"", **_notes(5, 25, 32, 36)}


def test_the_sequencer_exports_after_each_commit(
    db: Any,
    ledger_key: Any,
    settings: Any,
    tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given
    settings.MODELGOV_LEDGER_WITNESS_DIR = str(tmp_path / "w")
    settings.MODELGOV_LEDGER_SIGNER_STATE = str(tmp_path / "signer" / "state.json")
    # when
    for size, tag in [(3, "a"), (9, "b")]:
        services.ledger_enqueue(entries=_batch(size, tag))
        with django_capture_on_commit_callbacks(execute=True):
            services.ledger_sequence(signer=services.ledger_signer())
    # then
    assert sorted(_files(tmp_path / "w")) == [
        ".lock",
        "checkpoints/12.note",
        "checkpoints/3.note",
        "latest.note",
    ]
    configured = witness.configured_witness()
    assert configured is not None
    assert configured.latest() == services.latest_checkpoint()
    assert services.signer_state_read() == services.latest_checkpoint()


def test_submit_pending_refuses_a_database_that_forked_from_the_witness(
    db: Any, ledger_key: Any, settings: Any, tmp_path: Path
) -> None:
    # given: the witness holds a size-5 checkpoint (signed by the ledger key) of
    # other leaves than the database's
    settings.MODELGOV_LEDGER_WITNESS_DIR = str(tmp_path / "w")
    directory = witness.configured_witness()
    assert directory is not None
    directory.add(_note(5, FORK, key=ledger_key), 0, [])
    before = _files(tmp_path / "w")
    signer = services.ledger_signer()
    for size, tag in [(5, "a"), (6, "b")]:
        services.ledger_enqueue(entries=_batch(size, tag))
        services.ledger_sequence(signer=signer)
    # when
    with pytest.raises(witness.WitnessError) as excinfo:
        witness.witness_submit_pending()
    report = fsck.check_database()
    # then
    assert excinfo.value.status == 422
    assert _files(tmp_path / "w") == before
    assert report.errors == [
        {
            "checkpoint_size": 5,
            "problem": "the witnessed root differs from the database's checkpoint",
        }
    ]


def test_ledger_witness_command_prints_what_it_exported(
    db: Any, ledger_key: Any, settings: Any, tmp_path: Path
) -> None:
    # given
    settings.MODELGOV_LEDGER_WITNESS_DIR = str(tmp_path / "w")
    services.ledger_enqueue(entries=_batch(6, "a"))
    services.ledger_sequence(signer=services.ledger_signer())
    out = io.StringIO()
    # when
    call_command("ledger_witness", stdout=out)
    # then
    assert json.loads(out.getvalue()) == {
        "added": [6],
        "configured": True,
        "database_size": 6,
        "ok": True,
        "witness_size": 6,
    }


def test_ledger_witness_command_exits_2_without_a_witness(
    db: Any, ledger_key: Any, settings: Any
) -> None:
    # given
    settings.MODELGOV_LEDGER_WITNESS_DIR = ""
    out = io.StringIO()
    # when
    with pytest.raises(SystemExit) as excinfo:
        call_command("ledger_witness", stdout=out)
    # then
    assert excinfo.value.code == 2
    assert json.loads(out.getvalue())["configured"] is False


def test_fsck_finds_the_log_behind_the_witness_after_a_tail_truncation(
    db: Any, ledger_key: Any, settings: Any, tmp_path: Path
) -> None:
    # given: 40 entries witnessed in three checkpoints, then the last batch cut off
    settings.MODELGOV_LEDGER_WITNESS_DIR = str(tmp_path / "w")
    signer = services.ledger_signer()
    for size, tag in [(10, "a"), (15, "b"), (15, "c")]:
        services.ledger_enqueue(entries=_batch(size, tag))
        services.ledger_sequence(signer=signer)
    assert witness.witness_submit_pending().added == [10, 25, 40]
    assert fsck.check_database().ok
    truncate_tail(25)
    # when
    report = fsck.check_database()
    status = witness.witness_submit_pending()
    # then
    assert report.errors == [
        {
            "seq": 25,
            "problem": "entries 25..39 are missing "
            "(shown by the witnessed checkpoint of size 40)",
        },
        {
            "checkpoint_size": 40,
            "problem": "log behind the witnessed checkpoint (size 40)",
        },
    ]
    assert (report.entries, report.first_bad_checkpoint_size) == (25, 40)
    assert report.first_divergent_seq == 25
    assert (status.behind, status.witness_size, status.database_size) == (
        True,
        40,
        25,
    )


def _public_pem(key: Ed25519PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        .decode()
    )


def test_fsck_and_the_witness_need_only_the_public_key(
    db: Any, ledger_key: Ed25519PrivateKey, settings: Any, tmp_path: Path
) -> None:
    # given: a ledger; then a process that holds only the public key
    settings.MODELGOV_LEDGER_WITNESS_DIR = str(tmp_path / "w")
    services.ledger_enqueue(entries=_batch(6, "a"))
    services.ledger_sequence(signer=services.ledger_signer())
    settings.MODELGOV_LEDGER_KEY = ""
    settings.MODELGOV_LEDGER_PUBLIC_KEY = _public_pem(ledger_key)
    # when
    status = witness.witness_submit_pending()
    report = fsck.check_database()
    # and with another public key
    settings.MODELGOV_LEDGER_PUBLIC_KEY = _public_pem(Ed25519PrivateKey.generate())
    wrong = fsck.check_database()
    # then
    assert (status.added, report.ok) == ([6], True)
    assert wrong.errors == [
        {
            "checkpoint_size": 6,
            "problem": "note: no signature by a trusted key verifies",
        }
    ]
