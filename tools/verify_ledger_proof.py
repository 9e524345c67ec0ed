#!/usr/bin/env python3
"""Verify a modelgov ledger proof offline, with no modelgov code.

    python verify_ledger_proof.py BUNDLE --leaf LEAF_FILE --public-key KEY.pem \
        --key-name NAME --origin ORIGIN

Needs only Python 3.9+ and the ``cryptography`` package. BUNDLE is a C2SP
tlog-proof@v1 file; LEAF_FILE holds the entry's exact stored bytes. Exit 0 when the
entry is in the tree the checkpoint commits to and the checkpoint is signed by the
key; 1 otherwise (the reason is printed); 2 on usage errors. Implements RFC 9162
§2.1.3.2 and the C2SP signed-note format independently of the application, so an
auditor can read and trust this file on its own.

The package ships the same check as ``python -m audits.ledger.verify`` (also
stdlib + ``cryptography`` only), which takes the leaf from the bundle's ``extra``
line, as the audit trail's proof download writes it, and prints what it verified.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: list, root: bytes
) -> bool:
    if index >= size or any(len(p) != 32 for p in path):
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


def fail(reason: str) -> int:
    print(f"INVALID: {reason}")
    return 1


def main(argv: list | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bundle")
    ap.add_argument("--leaf", required=True, help="file with the entry's stored bytes")
    ap.add_argument(
        "--public-key", required=True, help="the log's Ed25519 public key (PEM)"
    )
    ap.add_argument("--key-name", required=True, help="the signer name in the note")
    ap.add_argument("--origin", required=True, help="the log origin")
    args = ap.parse_args(argv)
    try:
        text = open(args.bundle, encoding="utf-8").read()
        leaf = open(args.leaf, "rb").read()
        key = serialization.load_pem_public_key(open(args.public_key, "rb").read())
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not isinstance(key, Ed25519PublicKey):
        print("error: not an Ed25519 public key", file=sys.stderr)
        return 2
    head, sep, note = text.partition("\n\n")
    lines = head.split("\n")
    if not sep or lines[0] != "c2sp.org/tlog-proof@v1":
        return fail("not a c2sp.org/tlog-proof@v1 bundle")
    rest = lines[1:]
    if rest and rest[0].startswith("extra "):
        rest.pop(0)
    if not rest or not rest[0].startswith("index ") or not rest[0][6:].isdigit():
        return fail("missing or bad index line")
    index = int(rest.pop(0)[6:])
    try:
        path = [base64.b64decode(line, validate=True) for line in rest]
    except ValueError:
        return fail("a proof line is not base64")
    body, sep, sigs = note.partition("\n\n")
    if not sep:
        return fail("the checkpoint is not a signed note")
    body += "\n"
    raw_key = key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    key_id = hashlib.sha256(args.key_name.encode() + b"\n\x01" + raw_key).digest()[:4]
    signed = False
    for line in sigs.rstrip("\n").split("\n"):
        name, _, blob = line.removeprefix("\u2014 ").partition(" ")
        if name != args.key_name:
            continue
        try:
            raw = base64.b64decode(blob, validate=True)
            if raw[:4] == key_id:
                key.verify(raw[4:], body.encode())
                signed = True
        except (ValueError, InvalidSignature):
            continue
    if not signed:
        return fail(f"no valid signature by {args.key_name!r} on the checkpoint")
    fields = body.split("\n")
    if len(fields) < 4 or fields[0] != args.origin:
        return fail(f"the checkpoint is for {fields[0]!r}, not {args.origin!r}")
    if not fields[1].isdigit():
        return fail("bad tree size in the checkpoint")
    size, root = int(fields[1]), base64.b64decode(fields[2])
    if not verify_inclusion(leaf_hash(leaf), index, size, path, root):
        return fail(f"entry {index} is not in the tree of size {size}")
    print(
        f"OK: entry {index} is in {args.origin} at size {size}, signed by {args.key_name}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
