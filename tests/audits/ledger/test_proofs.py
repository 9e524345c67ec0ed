"""Offline proof bundles: produced by the app, verified by the app and by the
standalone auditor's script; every tampering is rejected by both."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audits.ledger import merkle, proofs
from audits.ledger.checkpoint import Checkpoint, sign_note

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "tools" / "verify_ledger_proof.py"
ORIGIN = "modelgov.example/ledger"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
LEAVES = [f'{{"entry":{i},"score":0.{i}}}'.encode() for i in range(11)]


def _bundle(index: int) -> str:
    hashes = [merkle.leaf_hash(x) for x in LEAVES]
    note = sign_note(
        Checkpoint(ORIGIN, len(hashes), merkle.root(hashes)).body(), "log", KEY
    )
    return proofs.format_bundle(
        index=index, proof=merkle.inclusion_proof(index, hashes), note=note
    )


def _script(
    tmp_path: Path, bundle: str, leaf: bytes, origin: str = ORIGIN
) -> tuple[int, str]:
    (tmp_path / "b.proof").write_text(bundle)
    (tmp_path / "leaf").write_bytes(leaf)
    (tmp_path / "key.pem").write_bytes(
        KEY.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            str(tmp_path / "b.proof"),
            "--leaf",
            str(tmp_path / "leaf"),
            "--public-key",
            str(tmp_path / "key.pem"),
            "--key-name",
            "log",
            "--origin",
            origin,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.returncode, result.stdout.strip()


def test_bundle_round_trip_and_format() -> None:
    text = _bundle(4)
    assert text.startswith("c2sp.org/tlog-proof@v1\nindex 4\n")
    parsed = proofs.parse_bundle(text)
    assert parsed.index == 4 and len(parsed.proof) == 4
    cp = proofs.verify_bundle(
        text, leaf=LEAVES[4], origin=ORIGIN, trusted={"log": KEY.public_key()}
    )
    assert cp.size == 11


def test_standalone_script_accepts_a_valid_bundle(tmp_path: Path) -> None:
    code, out = _script(tmp_path, _bundle(7), LEAVES[7])
    assert code == 0
    assert out.splitlines()[:3] == [
        f"OK: entry 7 is in {ORIGIN} at size 11, signed by log",
        f"  origin     {ORIGIN}",
        "  tree size  11",
    ]


@pytest.mark.parametrize(
    ("name", "mutate", "reason"),
    [
        (
            "wrong leaf",
            lambda b, leaf: (b, leaf + b" "),
            "entry 7 is not in the tree of size 11",
        ),
        (
            "other index",
            lambda b, leaf: (b.replace("index 7", "index 6"), leaf),
            "entry 6 is not in the tree of size 11",
        ),
        (
            "dropped path line",
            lambda b, leaf: (b.replace(b.split("\n")[2] + "\n", "", 1), leaf),
            "entry 7 is not in the tree of size 11",
        ),
        (
            "forged size",
            lambda b, leaf: (b.replace("\n11\n", "\n12\n"), leaf),
            "no valid signature by 'log' on the checkpoint",
        ),
        (
            "not a bundle",
            lambda b, leaf: ("hello\n\n" + b, leaf),
            "not a c2sp.org/tlog-proof@v1 bundle",
        ),
    ],
)
def test_tampering_is_rejected_by_the_app_and_the_script(
    tmp_path: Path, name: str, mutate: object, reason: str
) -> None:
    bundle, leaf = mutate(_bundle(7), LEAVES[7])  # type: ignore[operator]
    with pytest.raises(proofs.BundleError):
        proofs.verify_bundle(
            bundle, leaf=leaf, origin=ORIGIN, trusted={"log": KEY.public_key()}
        )
    assert _script(tmp_path, bundle, leaf) == (1, f"INVALID: {reason}")


def test_a_checkpoint_of_another_log_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(proofs.BundleError, match="not 'other/log'"):
        proofs.verify_bundle(
            _bundle(1),
            leaf=LEAVES[1],
            origin="other/log",
            trusted={"log": KEY.public_key()},
        )
    assert _script(tmp_path, _bundle(1), LEAVES[1], origin="other/log") == (
        1,
        f"INVALID: the checkpoint is for {ORIGIN!r}, not 'other/log'",
    )
