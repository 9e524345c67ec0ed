"""Offline proof bundles in the C2SP ``tlog-proof@v1`` format. Pure.

    c2sp.org/tlog-proof@v1
    extra <base64>            (optional, unauthenticated)
    index <N>
    <base64 hash>             (the inclusion path, one per line)
    <blank line>
    <the signed checkpoint note, verbatim>

Verification needs the leaf bytes, the log's origin and the trusted public keys;
``python -m audits.ledger.verify`` (``audits/ledger/verify.py``, also run by
``tools/verify_ledger_proof.py``) does the same with no other project code.

The companion of a bundle, a consistency proof from an earlier (trusted) size to
the bundle's checkpoint, is in the body format of the c2sp.org/tlog-witness
``add-checkpoint`` request, so that the bundle itself stays a plain tlog-proof:

    old <size>
    <base64 hash>             (the consistency proof, one per line)
    <blank line>
    <the signed checkpoint note, verbatim>
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audits.ledger import checkpoint, merkle

HEADER = "c2sp.org/tlog-proof@v1"


class BundleError(ValueError):
    """The bundle is malformed or does not prove what it claims."""


@dataclass(frozen=True)
class Bundle:
    index: int
    proof: tuple[bytes, ...]
    note: str
    extra: bytes = b""


def format_bundle(
    *, index: int, proof: Sequence[bytes], note: str, extra: bytes = b""
) -> str:
    lines = [HEADER]
    if extra:
        lines.append(f"extra {base64.b64encode(extra).decode()}")
    lines.append(f"index {index}")
    lines += [base64.b64encode(p).decode() for p in proof]
    return "\n".join(lines) + "\n\n" + note


def parse_bundle(text: str) -> Bundle:
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise BundleError("no checkpoint after the proof")
    lines = head.split("\n")
    if not lines or lines[0] != HEADER:
        raise BundleError(f"not a {HEADER} bundle")
    rest = lines[1:]
    extra = b""
    try:
        if rest and rest[0].startswith("extra "):
            extra = base64.b64decode(rest.pop(0)[6:], validate=True)
        if not rest or not rest[0].startswith("index "):
            raise BundleError("missing index line")
        index_text = rest.pop(0)[6:]
        if not index_text.isdigit():
            raise BundleError(f"bad index {index_text!r}")
        proof = tuple(base64.b64decode(line, validate=True) for line in rest)
    except ValueError as exc:
        if isinstance(exc, BundleError):
            raise
        raise BundleError("a proof line is not base64") from exc
    return Bundle(index=int(index_text), proof=proof, note=note, extra=extra)


def verify_bundle(
    text: str,
    *,
    leaf: bytes,
    origin: str,
    trusted: Mapping[str, Ed25519PublicKey],
) -> checkpoint.Checkpoint:
    """Check that ``leaf`` (its bytes) is entry ``index`` of the signed checkpoint.

    Returns the checkpoint; raises BundleError naming the first failure.
    """
    bundle = parse_bundle(text)
    try:
        body, _ = checkpoint.verify_note(bundle.note, trusted)
        cp = checkpoint.parse_checkpoint(body)
    except checkpoint.CheckpointError as exc:
        raise BundleError(f"checkpoint: {exc}") from exc
    if cp.origin != origin:
        raise BundleError(f"checkpoint of {cp.origin!r}, not {origin!r}")
    if not merkle.verify_inclusion(
        leaf=merkle.leaf_hash(leaf),
        index=bundle.index,
        tree_size=cp.size,
        proof=list(bundle.proof),
        root_hash=cp.root,
    ):
        raise BundleError(f"entry {bundle.index} is not in the tree of size {cp.size}")
    return cp


def format_consistency(*, old_size: int, proof: Sequence[bytes], note: str) -> str:
    """The consistency companion: from ``old_size`` to the checkpoint ``note``."""
    lines = [f"old {old_size}", *(base64.b64encode(p).decode() for p in proof)]
    return "\n".join(lines) + "\n\n" + note
