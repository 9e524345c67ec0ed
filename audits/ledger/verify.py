"""Verify a ledger proof bundle offline: ``python -m audits.ledger.verify``.

    python -m audits.ledger.verify BUNDLE --public-key KEY.pem \
        [--origin ORIGIN] [--key-name NAME] [--leaf LEAF_FILE] \
        [--trusted-checkpoint NOTE_FILE] [--witness-dir DIR] \
        [--consistency CONSISTENCY_FILE]

BUNDLE is a C2SP ``tlog-proof@v1`` file as the trail's "download proof" gives it:
the entry's exact leaf bytes in the ``extra`` line, its index, the inclusion path,
and the signed checkpoint. The verifier checks that the checkpoint is signed by
KEY (an Ed25519 public key in PEM) under NAME (default: the origin), that it is
the checkpoint of ORIGIN (when given), and that the leaf, hashed as RFC 6962 says,
sits at that index of the tree the checkpoint commits to (RFC 9162 §2.1.3.2). The
leaf is LEAF_FILE when given (an auditor's own copy), else the bundle's extra line.

Rollback and fork detection. A checkpoint you trusted earlier (``--trusted-checkpoint``:
a signed note as the server publishes it, e.g. from an earlier bundle or the
trail's JSON; or ``--witness-dir``: the witness's directory, whose latest note is
trusted and whose ``checkpoints/<size>.note`` are compared by size) must be
extended consistently by the bundle's checkpoint:

* a smaller tree than a trusted one is refused (the log was rolled back; the
  message says when the witness held that smaller checkpoint too);
* the same size with another root is refused (the log forked), also for any
  size the witness holds;
* a larger tree needs a consistency proof from the trusted size
  (``--consistency``: the file ``GET …/proof?since=<size>`` gives, in the c2sp.org
  tlog-witness add-checkpoint body format: ``old <size>``, the proof hashes in
  base64, a blank line, the signed checkpoint). Without it the verifier says what
  to fetch.

Exit 0 when everything verifies (what was verified is printed), 1 when anything
does not (``INVALID: …``: a bad proof, a rollback, a fork), 3 when a consistency
proof is needed and was not given (``INCOMPLETE: …``), 2 on usage errors.

This file uses only the standard library and ``cryptography``: it imports nothing
else of the application, so it can be copied and read on its own and run with
the network disabled, on a machine that has never seen the application.
``tools/verify_ledger_proof.py`` runs this same verifier.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HEADER = "c2sp.org/tlog-proof@v1"
SIGNATURE_PREFIX = "\u2014 "
HASH_SIZE = 32


class Invalid(Exception):
    """The bundle does not prove what it claims; the message says why."""


class UsageError(Exception):
    """The files given cannot be used (unreadable, not a key, no leaf)."""


class Incomplete(Exception):
    """More input is needed to decide (a consistency proof); the message says which."""


EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3
CONSISTENCY_OLD = "old "


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: is the leaf hash ``leaf`` entry ``index`` of the tree?"""
    if index < 0 or index >= size or any(len(p) != HASH_SIZE for p in path):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int,
    second: int,
    first_root: bytes,
    second_root: bytes,
    proof: Sequence[bytes],
) -> bool:
    """RFC 9162 §2.1.4.2: is the size-``first`` tree a prefix of the size-``second`` one?"""
    if first < 0 or first > second or any(len(p) != HASH_SIZE for p in proof):
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first root starts the path
        path = [first_root, *path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    if not path:
        return False
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


def key_id(name: str, key: Ed25519PublicKey) -> bytes:
    """The C2SP signed-note key id: SHA-256(name || 0x0A || 0x01 || key)[:4]."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(name.encode() + b"\n\x01" + raw).digest()[:4]


@dataclass(frozen=True)
class Bundle:
    extra: bytes | None
    index: int
    path: tuple[bytes, ...]
    note: str


@dataclass(frozen=True)
class Verified:
    origin: str
    size: int
    root: bytes
    index: int
    leaf: bytes
    leaf_hash: bytes
    key_name: str
    key_id: bytes


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def parse_bundle(text: str) -> Bundle:
    head, sep, note = text.partition("\n\n")
    lines = head.split("\n")
    if not sep or lines[0] != HEADER:
        raise Invalid(f"not a {HEADER} bundle")
    rest = lines[1:]
    extra = None
    try:
        if rest and rest[0].startswith("extra "):
            extra = _b64(rest.pop(0)[6:])
    except (ValueError, binascii.Error) as exc:
        raise Invalid("the extra line is not base64") from exc
    if not rest or not rest[0].startswith("index ") or not rest[0][6:].isdigit():
        raise Invalid("missing or bad index line")
    index = int(rest.pop(0)[6:])
    try:
        path = tuple(_b64(line) for line in rest)
    except (ValueError, binascii.Error) as exc:
        raise Invalid("a proof line is not base64") from exc
    return Bundle(extra=extra, index=index, path=path, note=note)


def verify_note(
    note: str, name: str, key: Ed25519PublicKey, *, what: str = "the checkpoint"
) -> str:
    """The checkpoint body, if ``note`` carries a valid signature by (name, key).

    Signatures by other keys are ignored, as C2SP signed notes require.
    """
    body, sep, signatures = note.partition("\n\n")
    if not sep:
        raise Invalid(f"{what} is not a signed note")
    body += "\n"
    wanted = key_id(name, key)
    for line in signatures.rstrip("\n").split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            continue
        signer, _, blob = line[len(SIGNATURE_PREFIX) :].partition(" ")
        if signer != name:
            continue
        try:
            raw = _b64(blob)
        except (ValueError, binascii.Error):
            continue
        if raw[:4] != wanted:
            continue
        try:
            key.verify(raw[4:], body.encode())
        except InvalidSignature:
            continue
        return body
    raise Invalid(f"no valid signature by {name!r} on {what}")


def _note_origin(note: str) -> str:
    return note.split("\n", 1)[0]


def verify(
    text: str,
    *,
    key: Ed25519PublicKey,
    leaf: bytes | None = None,
    origin: str | None = None,
    key_name: str | None = None,
) -> Verified:
    """Verify bundle ``text``; return what was verified or raise Invalid.

    ``leaf`` defaults to the bundle's extra line (UsageError when it has none);
    ``key_name`` defaults to ``origin``, else to the checkpoint's own origin line.
    """
    bundle = parse_bundle(text)
    if leaf is None:
        if bundle.extra is None:
            raise UsageError("the bundle has no extra line with the leaf; pass --leaf")
        leaf = bundle.extra
    name = key_name or origin or _note_origin(bundle.note)
    signed = signed_checkpoint(bundle.note, name, key, origin=origin)
    size, root, hashed = signed.size, signed.root, leaf_hash(leaf)
    if not verify_inclusion(hashed, bundle.index, size, bundle.path, root):
        raise Invalid(f"entry {bundle.index} is not in the tree of size {size}")
    return Verified(
        origin=signed.origin,
        size=size,
        root=root,
        index=bundle.index,
        leaf=leaf,
        leaf_hash=hashed,
        key_name=name,
        key_id=key_id(name, key),
    )


@dataclass(frozen=True)
class SignedCheckpoint:
    origin: str
    size: int
    root: bytes


def signed_checkpoint(
    note: str,
    name: str,
    key: Ed25519PublicKey,
    *,
    origin: str | None = None,
    what: str = "the checkpoint",
) -> SignedCheckpoint:
    """The checkpoint of a note signed by (name, key), of ``origin`` when given."""
    body = verify_note(note, name, key, what=what)
    fields = body.split("\n")
    if len(fields) < 4 or fields[-1] != "":
        raise Invalid(f"{what} body is malformed")
    if origin is not None and fields[0] != origin:
        raise Invalid(f"{what} is for {fields[0]!r}, not {origin!r}")
    size_text = fields[1]
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise Invalid(f"bad tree size in {what}")
    try:
        root = _b64(fields[2])
    except (ValueError, binascii.Error) as exc:
        raise Invalid(f"{what} root is not base64") from exc
    if len(root) != HASH_SIZE:
        raise Invalid(f"{what} root is not 32 bytes")
    return SignedCheckpoint(fields[0], int(size_text), root)


# --- rollback and fork detection ----------------------------------------------------


@dataclass(frozen=True)
class Trusted:
    """A checkpoint trusted before this bundle, and where it came from."""

    source: str  # for messages: "the trusted checkpoint", "the witnessed checkpoint"
    checkpoint: SignedCheckpoint
    # Every size the source vouches for, with its root (the witness's notes).
    known: dict[int, bytes]


@dataclass(frozen=True)
class Extension:
    """How the bundle's checkpoint extends a trusted one."""

    source: str
    size: int
    how: str  # "same checkpoint" or "consistency proof"


def parse_consistency(text: str) -> tuple[int, tuple[bytes, ...], str]:
    """(old size, proof, note) of a tlog-witness add-checkpoint body."""
    head, sep, note = text.partition("\n\n")
    lines = head.split("\n")
    if not sep or not lines[0].startswith(CONSISTENCY_OLD):
        raise Invalid("the consistency file does not start with an 'old <size>' line")
    old_text = lines[0][len(CONSISTENCY_OLD) :]
    if not old_text.isdigit():
        raise Invalid("bad old size in the consistency file")
    try:
        proof = tuple(_b64(line) for line in lines[1:])
    except (ValueError, binascii.Error) as exc:
        raise Invalid("a consistency proof line is not base64") from exc
    return int(old_text), proof, note


def check_extension(
    result: Verified,
    trusted: Trusted,
    *,
    key: Ed25519PublicKey,
    consistency: str | None,
) -> Extension:
    """Check that the bundle's checkpoint consistently extends ``trusted``.

    Raises Invalid on a rollback, a fork or a failing consistency proof, and
    Incomplete when a consistency proof is needed and not given.
    """
    base = trusted.checkpoint
    source = trusted.source
    if base.origin != result.origin:
        raise Invalid(f"{source} is for {base.origin!r}, not {result.origin!r}")
    known = trusted.known.get(result.size)
    if known is not None and known != result.root:
        raise Invalid(
            f"the proof's checkpoint (size {result.size}) has another root than "
            f"{source} of that size: the log forked"
        )
    if result.size < base.size:
        held = (
            f" (it held size {result.size} too: the entry was logged, but the log "
            "that served this proof is behind)"
            if known is not None
            else ""
        )
        raise Invalid(
            f"the proof's checkpoint (size {result.size}) is older than {source} "
            f"(size {base.size}): the log was rolled back{held}"
        )
    if result.size == base.size:
        if result.root != base.root:
            raise Invalid(
                f"the proof's checkpoint (size {result.size}) has another root than "
                f"{source} of that size: the log forked"
            )
        return Extension(source, result.size, "same checkpoint")
    fetch = (
        f"download the proof again with ?since={base.size} and pass it with "
        "--consistency"
    )
    if consistency is None:
        raise Incomplete(
            f"the proof's checkpoint (size {result.size}) is newer than {source} "
            f"(size {base.size}); a consistency proof from size {base.size} is "
            f"needed: {fetch}"
        )
    old, proof, note = parse_consistency(consistency)
    if old != base.size:
        raise Incomplete(
            f"the consistency proof starts at size {old}, not at {base.size}: {fetch}"
        )
    target = signed_checkpoint(
        note, result.key_name, key, what="the consistency proof's checkpoint"
    )
    if (target.origin, target.size, target.root) != (
        result.origin,
        result.size,
        result.root,
    ):
        raise Incomplete(
            f"the consistency proof ends at size {target.size}, not at the proof's "
            f"checkpoint (size {result.size}): download both again"
        )
    if not verify_consistency(base.size, result.size, base.root, result.root, proof):
        raise Invalid(
            f"the proof's checkpoint (size {result.size}) is not a consistent "
            f"extension of {source} (size {base.size}): the log was rewritten"
        )
    return Extension(source, base.size, "consistency proof")


def trusted_from_note(
    note: str, name: str, key: Ed25519PublicKey, origin: str | None
) -> Trusted:
    cp = signed_checkpoint(
        note, name, key, origin=origin, what="the trusted checkpoint"
    )
    return Trusted("the trusted checkpoint", cp, {cp.size: cp.root})


def trusted_from_witness(
    directory: str, name: str, key: Ed25519PublicKey, origin: str | None
) -> Trusted:
    """The witness's latest checkpoint, and every checkpoint it stored by size.

    Reads ``latest.note`` and ``checkpoints/<size>.note`` (see witness.py); each
    note must carry the log's signature. Raises UsageError for a directory with
    no checkpoint.
    """
    root = Path(directory)
    try:
        latest_note = (root / "latest.note").read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UsageError(f"{directory} holds no witnessed checkpoint") from exc
    what = "the witnessed checkpoint"
    latest = signed_checkpoint(latest_note, name, key, origin=origin, what=what)
    known = {latest.size: latest.root}
    notes = root / "checkpoints"
    for path in sorted(notes.glob("*.note")) if notes.is_dir() else []:
        cp = signed_checkpoint(
            path.read_text(encoding="utf-8"), name, key, origin=origin, what=what
        )
        if path.stem != str(cp.size):
            raise Invalid(f"{path.name} holds the checkpoint of size {cp.size}")
        known[cp.size] = cp.root
    return Trusted(what, latest, known)


def _describe_leaf(leaf: bytes) -> str | None:
    """What the (now authenticated) leaf says it is, when it is a JSON record."""
    try:
        value = json.loads(leaf)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    kind = value.get("type")
    ident = value.get("prediction_id") or value.get("event_id") or value.get("model")
    if kind is None:
        return None
    return f"{kind} {ident}" if ident is not None else str(kind)


def report(
    result: Verified,
    *,
    leaf_source: str,
    origin_checked: bool,
    extensions: Sequence[Extension] = (),
) -> list[str]:
    lines = [
        f"OK: entry {result.index} is in {result.origin} at size {result.size}, "
        f"signed by {result.key_name}",
        f"  origin     {result.origin}"
        + ("" if origin_checked else " (taken from the checkpoint: pass --origin)"),
        f"  tree size  {result.size}",
        f"  root       {result.root.hex()}",
        f"  index      {result.index}",
        f"  leaf hash  {result.leaf_hash.hex()}",
        f"  leaf       {len(result.leaf)} bytes from {leaf_source}",
        f"  signed by  {result.key_name} (key id {result.key_id.hex()})",
    ]
    described = _describe_leaf(result.leaf)
    if described is not None:
        lines.append(f"  record     {described}")
    for ext in extensions:
        if ext.how == "consistency proof":
            lines.append(
                f"  extends    {ext.source} (size {ext.size}): consistency proof "
                f"{ext.size} -> {result.size} verified"
            )
        else:
            lines.append(f"  extends    {ext.source} of size {ext.size}: same root")
    return lines


def _load_key(path: str) -> Ed25519PublicKey:
    with open(path, "rb") as handle:
        key = serialization.load_pem_public_key(handle.read())
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError(f"{path} is not an Ed25519 public key")
    return key


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m audits.ledger.verify",
        description="Verify a modelgov ledger proof bundle offline.",
    )
    parser.add_argument("bundle", help="the c2sp.org/tlog-proof@v1 file")
    parser.add_argument(
        "--public-key", required=True, help="the log's Ed25519 public key (PEM)"
    )
    parser.add_argument("--origin", help="require the checkpoint of this log origin")
    parser.add_argument(
        "--key-name", help="the signer's name in the note (default: the origin)"
    )
    parser.add_argument(
        "--leaf", help="a file with the entry's exact bytes (default: the extra line)"
    )
    parser.add_argument(
        "--trusted-checkpoint",
        action="append",
        default=[],
        metavar="NOTE_FILE",
        help="a signed checkpoint trusted earlier: the bundle's must extend it",
    )
    parser.add_argument(
        "--witness-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="a witness directory: the bundle's checkpoint must extend its latest",
    )
    parser.add_argument(
        "--consistency",
        metavar="FILE",
        help="the consistency proof from the trusted size (proof?since=<size>)",
    )
    args = parser.parse_args(argv)
    try:
        with open(args.bundle, encoding="utf-8") as handle:
            text = handle.read()
        key = _load_key(args.public_key)
        leaf = None
        if args.leaf is not None:
            with open(args.leaf, "rb") as handle:
                leaf = handle.read()
        consistency = None
        if args.consistency is not None:
            with open(args.consistency, encoding="utf-8") as handle:
                consistency = handle.read()
        notes = []
        for path in args.trusted_checkpoint:
            with open(path, encoding="utf-8") as handle:
                notes.append(handle.read())
        result = verify(
            text, key=key, leaf=leaf, origin=args.origin, key_name=args.key_name
        )
        trusted = [
            trusted_from_note(note, result.key_name, key, args.origin) for note in notes
        ] + [
            trusted_from_witness(directory, result.key_name, key, args.origin)
            for directory in args.witness_dir
        ]
        extensions = [
            check_extension(result, t, key=key, consistency=consistency)
            for t in trusted
        ]
    except (OSError, ValueError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Invalid as exc:
        print(f"INVALID: {exc}")
        return EXIT_INVALID
    except Incomplete as exc:
        print(f"INCOMPLETE: {exc}")
        return EXIT_INCOMPLETE
    source = args.leaf if args.leaf is not None else "the bundle's extra line"
    for line in report(
        result,
        leaf_source=source,
        origin_checked=bool(args.origin),
        extensions=extensions,
    ):
        print(line)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
