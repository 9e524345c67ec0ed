"""Signed checkpoints (C2SP formats) and the signer's refusal to fork the log."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audits.ledger import merkle
from audits.ledger.checkpoint import (
    Checkpoint,
    CheckpointError,
    CheckpointSigner,
    key_id,
    parse_checkpoint,
    sign_note,
    verify_note,
)

ORIGIN = "modelgov.example/ledger"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


def _hashes(n: int) -> list[bytes]:
    return [merkle.leaf_hash(f"entry-{i}".encode()) for i in range(n)]


def test_body_format_and_round_trip() -> None:
    root = merkle.root(_hashes(5))
    cp = Checkpoint(ORIGIN, 5, root, ("time 1795000000",))
    body = cp.body()
    assert body == f"{ORIGIN}\n5\n{base64.b64encode(root).decode()}\ntime 1795000000\n"
    assert parse_checkpoint(body) == cp


def test_key_id_is_the_c2sp_ed25519_key_id() -> None:
    raw = KEY.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    expected = hashlib.sha256(b"log\n\x01" + raw).digest()[:4]
    assert key_id("log", KEY.public_key()) == expected


def test_only_the_untouched_note_verifies() -> None:
    body = Checkpoint(ORIGIN, 5, merkle.root(_hashes(5))).body()
    note = sign_note(body, "log", KEY)
    trusted = {"log": KEY.public_key()}
    assert verify_note(note, trusted) == (body, ["log"])
    root_line = body.split("\n")[2]
    tampered = [
        note.replace(ORIGIN, "evil.example/ledger", 1),
        note.replace("\n5\n", "\n6\n", 1),
        note.replace(root_line, base64.b64encode(bytes(32)).decode(), 1),
        note.replace(body, body + "extra\n", 1),
    ]
    for bad in tampered:
        with pytest.raises(CheckpointError):
            verify_note(bad, trusted)
    with pytest.raises(CheckpointError, match="no signature by a trusted key"):
        verify_note(note, {"log": OTHER.public_key()})


def test_signatures_by_unknown_keys_are_ignored_not_fatal() -> None:
    body = Checkpoint(ORIGIN, 3, merkle.root(_hashes(3))).body()
    note = sign_note(body, "log", KEY)
    cosigned = note + sign_note(body, "witness", OTHER).split("\n\n", 1)[1]
    assert verify_note(cosigned, {"log": KEY.public_key()}) == (body, ["log"])
    assert verify_note(
        cosigned, {"log": KEY.public_key(), "witness": OTHER.public_key()}
    ) == (body, ["log", "witness"])


def test_signer_refuses_rollback_forks_and_unproven_growth() -> None:
    hashes = _hashes(10)
    signer = CheckpointSigner(origin=ORIGIN, name="log", private_key=KEY)
    signer.sign(Checkpoint(ORIGIN, 6, merkle.root(hashes[:6])))
    last = signer.last
    # a smaller tree, a different root for the same size, growth without a proof,
    # growth with a proof for another tree, another origin
    with pytest.raises(CheckpointError, match="refusing to sign size 5 after size 6"):
        signer.sign(Checkpoint(ORIGIN, 5, merkle.root(hashes[:5])))
    with pytest.raises(CheckpointError, match="second root"):
        signer.sign(Checkpoint(ORIGIN, 6, merkle.root(_hashes(7)[1:7])))
    with pytest.raises(CheckpointError, match="not consistent"):
        signer.sign(Checkpoint(ORIGIN, 10, merkle.root(hashes)))
    forked = [merkle.leaf_hash(b"forged"), *hashes[1:]]
    with pytest.raises(CheckpointError, match="not consistent"):
        signer.sign(
            Checkpoint(ORIGIN, 10, merkle.root(forked)),
            merkle.consistency_proof(6, forked),
        )
    with pytest.raises(CheckpointError, match="signs for"):
        signer.sign(Checkpoint("other/log", 10, merkle.root(hashes)))
    assert signer.last == last
    # and signs consistent growth
    note = signer.sign(
        Checkpoint(ORIGIN, 10, merkle.root(hashes)), merkle.consistency_proof(6, hashes)
    )
    assert parse_checkpoint(verify_note(note, {"log": KEY.public_key()})[0]).size == 10
