"""Verify a ledger proof bundle offline: ``python -m audits.ledger.verify``.

    python -m audits.ledger.verify BUNDLE --public-key KEY.pem \
        [--origin ORIGIN] [--key-name NAME] [--leaf LEAF_FILE]

BUNDLE is a C2SP ``tlog-proof@v1`` file as the trail's "download proof" gives it:
the entry's exact leaf bytes in the ``extra`` line, its index, the inclusion path,
and the signed checkpoint. The verifier checks that the checkpoint is signed by
KEY (an Ed25519 public key in PEM) under NAME (default: the origin), that it is
the checkpoint of ORIGIN (when given), and that the leaf, hashed as RFC 6962 says,
sits at that index of the tree the checkpoint commits to (RFC 9162 §2.1.3.2). The
leaf is LEAF_FILE when given (an auditor's own copy), else the bundle's extra line.

Exit 0 when everything verifies (what was verified is printed), 1 when anything
does not (the reason is printed as ``INVALID: …``), 2 on usage errors.

This file uses only the standard library and ``cryptography``: it imports nothing
else of the application, so it can be copied and read on its own and run with
the network disabled, on a machine that has never seen the application.
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


def verify_note(note: str, name: str, key: Ed25519PublicKey) -> str:
    """The checkpoint body, if ``note`` carries a valid signature by (name, key).

    Signatures by other keys are ignored, as C2SP signed notes require.
    """
    body, sep, signatures = note.partition("\n\n")
    if not sep:
        raise Invalid("the checkpoint is not a signed note")
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
    raise Invalid(f"no valid signature by {name!r} on the checkpoint")


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
    body = verify_note(bundle.note, name, key)
    fields = body.split("\n")
    if len(fields) < 4 or fields[-1] != "":
        raise Invalid("the checkpoint body is malformed")
    if origin is not None and fields[0] != origin:
        raise Invalid(f"the checkpoint is for {fields[0]!r}, not {origin!r}")
    size_text = fields[1]
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise Invalid("bad tree size in the checkpoint")
    try:
        root = _b64(fields[2])
    except (ValueError, binascii.Error) as exc:
        raise Invalid("the checkpoint root is not base64") from exc
    if len(root) != HASH_SIZE:
        raise Invalid("the checkpoint root is not 32 bytes")
    size, hashed = int(size_text), leaf_hash(leaf)
    if not verify_inclusion(hashed, bundle.index, size, bundle.path, root):
        raise Invalid(f"entry {bundle.index} is not in the tree of size {size}")
    return Verified(
        origin=fields[0],
        size=size,
        root=root,
        index=bundle.index,
        leaf=leaf,
        leaf_hash=hashed,
        key_name=name,
        key_id=key_id(name, key),
    )


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


def report(result: Verified, *, leaf_source: str, origin_checked: bool) -> list[str]:
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
    args = parser.parse_args(argv)
    try:
        with open(args.bundle, encoding="utf-8") as handle:
            text = handle.read()
        key = _load_key(args.public_key)
        leaf = None
        if args.leaf is not None:
            with open(args.leaf, "rb") as handle:
                leaf = handle.read()
        result = verify(
            text, key=key, leaf=leaf, origin=args.origin, key_name=args.key_name
        )
    except (OSError, ValueError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Invalid as exc:
        print(f"INVALID: {exc}")
        return 1
    source = args.leaf if args.leaf is not None else "the bundle's extra line"
    for line in report(result, leaf_source=source, origin_checked=bool(args.origin)):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
