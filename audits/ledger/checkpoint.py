"""Signed checkpoints in the C2SP formats (tlog-checkpoint, signed-note). Pure.

A checkpoint body is three lines (origin, decimal tree size, base64 root) plus optional
extension lines. A signed note is the body, a blank line, and signature lines
``— <name> <base64(key id || signature)>``; the Ed25519 key id is
``SHA-256(name || 0x0A || 0x01 || public key)[:4]``. Verifiers ignore signatures by
unknown keys (this is what allows witnesses and key rotation).

:class:`CheckpointSigner` never signs a checkpoint inconsistent with one it signed
before: not a smaller tree, not the same size with another root, not a larger tree
without a valid consistency proof from the last signed one.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from audits.ledger import merkle

SIGNATURE_PREFIX = "\u2014 "
ED25519_ALGORITHM = b"\x01"


class CheckpointError(ValueError):
    """A note or checkpoint is malformed, unsigned, or would be inconsistent."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = field(default_factory=tuple)

    def body(self) -> str:
        if not self.origin or "\n" in self.origin:
            raise CheckpointError("the origin must be one non-empty line")
        if self.size < 0 or len(self.root) != merkle.HASH_SIZE:
            raise CheckpointError("a checkpoint needs a size >= 0 and a 32-byte root")
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        lines += list(self.extensions)
        return "\n".join(lines) + "\n"


def parse_checkpoint(body: str) -> Checkpoint:
    lines = body.split("\n")
    if len(lines) < 4 or lines[-1] != "" or any(line == "" for line in lines[:-1]):
        raise CheckpointError("a checkpoint body is newline-terminated non-empty lines")
    origin, size_text, root_text, *extensions = lines[:-1]
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise CheckpointError(f"bad tree size {size_text!r}")
    try:
        root = base64.b64decode(root_text, validate=True)
    except ValueError as exc:
        raise CheckpointError("the root is not base64") from exc
    if len(root) != merkle.HASH_SIZE:
        raise CheckpointError("the root is not 32 bytes")
    return Checkpoint(origin, int(size_text), root, tuple(extensions))


def key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    raw = public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return hashlib.sha256(name.encode() + b"\n" + ED25519_ALGORITHM + raw).digest()[:4]


def sign_note(body: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """The signed note of ``body`` with one signature by ``name``."""
    if not body.endswith("\n") or " " in name or not name:
        raise CheckpointError(
            "a note body ends with a newline; a key name has no spaces"
        )
    sig = private_key.sign(body.encode())
    kid = key_id(name, private_key.public_key())
    return f"{body}\n{SIGNATURE_PREFIX}{name} {base64.b64encode(kid + sig).decode()}\n"


def verify_note(
    note: str, trusted: Mapping[str, Ed25519PublicKey]
) -> tuple[str, list[str]]:
    """Return (body, names whose signatures verify); raise if none of ``trusted`` does.

    Signatures by keys not in ``trusted`` (by name and key id) are ignored.
    """
    body, sep, signatures = note.partition("\n\n")
    if not sep or not signatures.endswith("\n"):
        raise CheckpointError("not a signed note")
    body += "\n"
    verified: list[str] = []
    for line in signatures[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            raise CheckpointError("malformed signature line")
        name, _, blob = line[len(SIGNATURE_PREFIX) :].partition(" ")
        key = trusted.get(name)
        if key is None:
            continue
        try:
            raw = base64.b64decode(blob, validate=True)
        except ValueError as exc:
            raise CheckpointError("a signature is not base64") from exc
        if raw[:4] != key_id(name, key):
            continue
        try:
            key.verify(raw[4:], body.encode())
        except InvalidSignature:
            continue
        verified.append(name)
    if not verified:
        raise CheckpointError("no signature by a trusted key verifies")
    return body, verified


class CheckpointSigner:
    """Signs checkpoints for one origin, refusing any that would fork the log."""

    def __init__(
        self,
        *,
        origin: str,
        name: str,
        private_key: Ed25519PrivateKey,
        last: Checkpoint | None = None,
    ) -> None:
        self.origin = origin
        self.name = name
        self._key = private_key
        self.last = last

    def sign(self, checkpoint: Checkpoint, consistency: Sequence[bytes] = ()) -> str:
        if checkpoint.origin != self.origin:
            raise CheckpointError(f"this signer signs for {self.origin!r} only")
        last = self.last
        if last is not None:
            if checkpoint.size < last.size:
                raise CheckpointError(
                    f"refusing to sign size {checkpoint.size} after size {last.size}"
                )
            if checkpoint.size == last.size and checkpoint.root != last.root:
                raise CheckpointError("refusing a second root for the same tree size")
            if checkpoint.size > last.size and not merkle.verify_consistency(
                first=last.size,
                second=checkpoint.size,
                first_root=last.root,
                second_root=checkpoint.root,
                proof=list(consistency),
            ):
                raise CheckpointError(
                    "the new tree is not consistent with the last signed one"
                )
        note = sign_note(checkpoint.body(), self.name, self._key)
        self.last = checkpoint
        return note
