"""The offline verifier refuses a proof whose checkpoint is not a consistent
extension of a checkpoint trusted earlier (``--trusted-checkpoint``) or of a
witness directory (``--witness-dir``): a rollback, a fork, or a larger tree
without a consistency proof. Pure: trees built in memory, notes signed here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audits.ledger import merkle, proofs, verify
from audits.ledger.checkpoint import Checkpoint, sign_note

ROOT = Path(__file__).resolve().parents[3]
TOOL = ROOT / "tools" / "verify_ledger_proof.py"
ORIGIN = "modelgov.example/ledger"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
LEAVES = [f'{{"entry":{i},"score":0.{i}}}'.encode() for i in range(40)]
HASHES = [merkle.leaf_hash(x) for x in LEAVES]


def _note(size: int, root: bytes | None = None, key: Ed25519PrivateKey = KEY) -> str:
    root = merkle.root(HASHES[:size]) if root is None else root
    return sign_note(Checkpoint(ORIGIN, size, root).body(), ORIGIN, key)


def _bundle(index: int, size: int) -> str:
    return proofs.format_bundle(
        index=index,
        proof=merkle.inclusion_proof(index, HASHES[:size]),
        note=_note(size),
        extra=LEAVES[index],
    )


def _consistency(old: int, size: int) -> str:
    return proofs.format_consistency(
        old_size=old,
        proof=merkle.consistency_proof(old, HASHES[:size]),
        note=_note(size),
    )


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "key.pem").write_bytes(
        KEY.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return tmp_path


def _run(
    files: Path,
    bundle: str,
    *,
    trusted: str | None = None,
    consistency: str | None = None,
    witness: Path | None = None,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, list[str]]:
    (files / "b.tlog-proof").write_text(bundle)
    argv = [str(files / "b.tlog-proof"), "--public-key", str(files / "key.pem")]
    if trusted is not None:
        (files / "trusted.note").write_text(trusted)
        argv += ["--trusted-checkpoint", str(files / "trusted.note")]
    if consistency is not None:
        (files / "c.tlog-consistency").write_text(consistency)
        argv += ["--consistency", str(files / "c.tlog-consistency")]
    if witness is not None:
        argv += ["--witness-dir", str(witness)]
    code = verify.main(argv)
    out, err = capsys.readouterr()
    assert err == ""
    return code, out.splitlines()


def _witness_dir(files: Path, sizes: list[int], latest: int) -> Path:
    directory = files / "witness"
    (directory / "checkpoints").mkdir(parents=True)
    for size in sizes:
        (directory / "checkpoints" / f"{size}.note").write_text(_note(size))
    (directory / "latest.note").write_text(_note(latest))
    return directory


def test_the_same_checkpoint_as_the_trusted_one_verifies(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = _run(files, _bundle(7, 20), trusted=_note(20), capsys=capsys)
    assert code == 0
    assert lines[0] == f"OK: entry 7 is in {ORIGIN} at size 20, signed by {ORIGIN}"
    assert lines[-1] == "  extends    the trusted checkpoint of size 20: same root"


def test_a_smaller_tree_than_the_trusted_one_is_a_rollback(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = _run(files, _bundle(7, 20), trusted=_note(30), capsys=capsys)
    assert (code, lines) == (
        1,
        [
            "INVALID: the proof's checkpoint (size 20) is older than the trusted "
            "checkpoint (size 30): the log was rolled back"
        ],
    )


def test_the_same_size_with_another_root_is_a_fork(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = _note(20, merkle.leaf_hash(b"another tree"))
    code, lines = _run(files, _bundle(7, 20), trusted=other, capsys=capsys)
    assert (code, lines) == (
        1,
        [
            "INVALID: the proof's checkpoint (size 20) has another root than the "
            "trusted checkpoint of that size: the log forked"
        ],
    )


def test_a_larger_tree_needs_a_consistency_proof(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = _run(files, _bundle(7, 30), trusted=_note(20), capsys=capsys)
    assert (code, lines) == (
        3,
        [
            "INCOMPLETE: the proof's checkpoint (size 30) is newer than the trusted "
            "checkpoint (size 20); a consistency proof from size 20 is needed: "
            "download the proof again with ?since=20 and pass it with --consistency"
        ],
    )


def test_a_larger_tree_with_its_consistency_proof_verifies(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = _run(
        files,
        _bundle(7, 30),
        trusted=_note(20),
        consistency=_consistency(20, 30),
        capsys=capsys,
    )
    assert code == 0
    assert lines[-1] == (
        "  extends    the trusted checkpoint (size 20): consistency proof 20 -> 30 "
        "verified"
    )


def test_a_consistency_proof_from_another_size_or_to_another_tree_is_refused(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # from 16, where 20 is trusted
    code, lines = _run(
        files,
        _bundle(7, 30),
        trusted=_note(20),
        consistency=_consistency(16, 30),
        capsys=capsys,
    )
    assert (code, lines) == (
        3,
        [
            "INCOMPLETE: the consistency proof starts at size 16, not at 20: "
            "download the proof again with ?since=20 and pass it with --consistency"
        ],
    )
    # to 31 while the bundle is against 30
    code, lines = _run(
        files,
        _bundle(7, 30),
        trusted=_note(20),
        consistency=_consistency(20, 31),
        capsys=capsys,
    )
    assert (code, lines) == (
        3,
        [
            "INCOMPLETE: the consistency proof ends at size 31, not at the proof's "
            "checkpoint (size 30): download both again"
        ],
    )


def test_a_rewritten_history_fails_the_consistency_proof(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given: a trusted size-20 checkpoint of another history (entry 3 rewritten)
    rewritten = list(HASHES[:20])
    rewritten[3] = merkle.leaf_hash(b"forged")
    trusted = _note(20, merkle.root(rewritten))
    # when
    code, lines = _run(
        files,
        _bundle(7, 30),
        trusted=trusted,
        consistency=_consistency(20, 30),
        capsys=capsys,
    )
    # then
    assert (code, lines) == (
        1,
        [
            "INVALID: the proof's checkpoint (size 30) is not a consistent extension "
            "of the trusted checkpoint (size 20): the log was rewritten"
        ],
    )


def test_a_trusted_checkpoint_signed_by_another_key_is_refused(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = _note(20, key=Ed25519PrivateKey.generate())
    code, lines = _run(files, _bundle(7, 20), trusted=other, capsys=capsys)
    assert (code, lines) == (
        1,
        [f"INVALID: no valid signature by {ORIGIN!r} on the trusted checkpoint"],
    )


def test_the_witness_directory_trusts_its_latest_checkpoint(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given: the witness holds 10, 20 and 30 (latest)
    witness = _witness_dir(files, [10, 20, 30], latest=30)
    # when / then: the latest verifies
    code, lines = _run(files, _bundle(7, 30), witness=witness, capsys=capsys)
    assert code == 0
    assert lines[-1] == "  extends    the witnessed checkpoint of size 30: same root"
    # an older witnessed size is a rollback of the log that served it
    code, lines = _run(files, _bundle(7, 20), witness=witness, capsys=capsys)
    assert (code, lines) == (
        1,
        [
            "INVALID: the proof's checkpoint (size 20) is older than the witnessed "
            "checkpoint (size 30): the log was rolled back (it held size 20 too: "
            "the entry was logged, but the log that served this proof is behind)"
        ],
    )
    # an older size it never held
    code, lines = _run(files, _bundle(7, 25), witness=witness, capsys=capsys)
    assert (code, lines) == (
        1,
        [
            "INVALID: the proof's checkpoint (size 25) is older than the witnessed "
            "checkpoint (size 30): the log was rolled back"
        ],
    )
    # a newer one needs the consistency proof from the witness's latest
    code, lines = _run(files, _bundle(7, 40), witness=witness, capsys=capsys)
    assert code == 3
    assert "a consistency proof from size 30 is needed" in lines[0]
    code, lines = _run(
        files,
        _bundle(7, 40),
        witness=witness,
        consistency=_consistency(30, 40),
        capsys=capsys,
    )
    assert code == 0


def test_a_fork_against_a_witnessed_size_is_refused(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    witness = _witness_dir(files, [10, 20, 30], latest=30)
    (witness / "checkpoints" / "20.note").write_text(
        _note(20, merkle.leaf_hash(b"other"))
    )
    code, lines = _run(files, _bundle(7, 20), witness=witness, capsys=capsys)
    assert (code, lines) == (
        1,
        [
            "INVALID: the proof's checkpoint (size 20) has another root than the "
            "witnessed checkpoint of that size: the log forked"
        ],
    )


def test_an_empty_witness_directory_is_a_usage_error(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (files / "empty").mkdir()
    (files / "b.tlog-proof").write_text(_bundle(7, 20))
    code = verify.main(
        [
            str(files / "b.tlog-proof"),
            "--public-key",
            str(files / "key.pem"),
            "--witness-dir",
            str(files / "empty"),
        ]
    )
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == f"error: {files / 'empty'} holds no witnessed checkpoint\n"


@pytest.mark.parametrize(
    "command",
    [[str(TOOL)], ["-m", "audits.ledger.verify"]],
    ids=["tools/verify_ledger_proof.py", "python -m audits.ledger.verify"],
)
def test_both_entry_points_run_the_one_verifier(
    files: Path, command: list[str]
) -> None:
    # given
    (files / "b.tlog-proof").write_text(_bundle(7, 20))
    (files / "trusted.note").write_text(_note(30))
    # when: as a real process, without the application's settings
    result = subprocess.run(
        [
            sys.executable,
            *command,
            str(files / "b.tlog-proof"),
            "--public-key",
            str(files / "key.pem"),
            "--trusted-checkpoint",
            str(files / "trusted.note"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    # then
    assert (result.returncode, result.stderr) == (1, "")
    assert result.stdout == (
        "INVALID: the proof's checkpoint (size 20) is older than the trusted "
        "checkpoint (size 30): the log was rolled back\n"
    )
