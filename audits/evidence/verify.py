"""Verify an evidence pack offline: ``python -m audits.evidence.verify``.

    python -m audits.evidence.verify PACK.pdf --public-key KEY.pem \
        [--signature PACK.pdf.sig]

An evidence pack is a PDF/A-3 with its sources attached as files, next to a
detached signature (default: the PDF's path plus ``.sig``). The verifier checks

1. the signature: a JSON file naming the SHA-256 of the PDF, and an Ed25519
   signature by KEY over ``modelgov-evidence-pack/1\\n`` followed by that digest's
   32 bytes. It must be valid for the digest of the PDF as read, so any changed
   byte anywhere in the file fails it;
2. the attachments: ``manifest.json`` is attached exactly once, and every source
   it lists is attached with the listed size and SHA-256, with nothing attached
   that it does not list.

Exit 0 when both hold (what was verified is printed), 1 when anything does not
(each problem is printed as ``INVALID: …``), 2 on usage errors (a file that cannot
be read, a key that is not an Ed25519 public key).

This file uses only the standard library, ``cryptography`` and ``pypdf``: it
imports nothing else of the application, so it can be copied and read on its own
and run with the network disabled, on a machine that has never seen the
application. ``modelgov verify-pack`` runs the same code.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import io
import json
import logging
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pypdf import PdfReader

MANIFEST_FORMAT = "modelgov-evidence-pack/1"
MANIFEST_NAME = "manifest.json"
SIGNATURE_FORMAT = "modelgov-evidence-pack-signature/1"
# Domain separation: a signature over a pack can never pass for a signature over
# something else the same key signs (attestations, checkpoints), nor the reverse.
SIGNING_CONTEXT = b"modelgov-evidence-pack/1\n"

_NAME_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_HEX64 = re.compile(r"[0-9a-f]{64}")


class UsageError(Exception):
    """The files given cannot be used (unreadable, not a key)."""


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a source, or None.

    A name is ASCII path segments of letters, digits, ``.``, ``_`` and ``-``
    separated by ``/``, each starting with a letter or digit (so no ``..``, no
    hidden files, no absolute path), and not ``manifest.json``. It stays the same
    string as a PDF attachment name, a ZIP entry and a file on any system.
    """
    if name == MANIFEST_NAME:
        return f"{MANIFEST_NAME!r} is reserved for the manifest"
    if not all(_NAME_SEGMENT.fullmatch(part) for part in name.split("/")):
        return (
            f"{name!r} is not a usable source name (ASCII letters, digits, '.', "
            "'_', '-' and '/' between segments that start with a letter or digit)"
        )
    return None


def _entry_problem(index: int, entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return f"manifest source {index} is not an object"
    name, size, digest = entry.get("name"), entry.get("bytes"), entry.get("sha256")
    if not isinstance(name, str):
        return f"manifest source {index} has no name"
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return f"manifest source {name!r} has no valid size"
    if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
        return f"manifest source {name!r} has no valid sha256"
    return None


def check_sources(manifest: Any, contents: Mapping[str, bytes]) -> list[str]:
    """What is wrong between a parsed manifest and the files ``contents`` (name to
    bytes): a malformed manifest, a listed source that is missing, one whose size
    or SHA-256 differs, a file the manifest does not list. Empty when they agree.
    """
    if not isinstance(manifest, dict):
        return ["the manifest is not a JSON object"]
    if manifest.get("format") != MANIFEST_FORMAT:
        return [
            f"the manifest's format is {manifest.get('format')!r}, not {MANIFEST_FORMAT!r}"
        ]
    entries = manifest.get("sources")
    if not isinstance(entries, list):
        return ["the manifest has no list of sources"]
    problems: list[str] = []
    listed: set[str] = set()
    for index, entry in enumerate(entries):
        problem = _entry_problem(index, entry)
        if problem is not None:
            problems.append(problem)
            continue
        name = entry["name"]
        if name in listed:
            problems.append(f"the manifest lists {name!r} twice")
            continue
        listed.add(name)
        content = contents.get(name)
        if content is None:
            problems.append(f"source {name!r} is in the manifest but missing")
            continue
        actual = hashlib.sha256(content).hexdigest()
        if actual != entry["sha256"]:
            problems.append(
                f"source {name!r}: SHA-256 {actual} ({len(content)} bytes), "
                f"the manifest says {entry['sha256']} ({entry['bytes']} bytes)"
            )
        elif len(content) != entry["bytes"]:
            problems.append(
                f"source {name!r}: {len(content)} bytes, the manifest says "
                f"{entry['bytes']}"
            )
    problems += [
        f"source {name!r} is not in the manifest"
        for name in sorted(set(contents) - listed)
    ]
    return problems


# --- The detached signature ----------------------------------------------------------


def signed_message(pdf_sha256: bytes) -> bytes:
    """The bytes the Ed25519 signature covers: the context and the PDF's digest."""
    return SIGNING_CONTEXT + pdf_sha256


def key_id(public_key: Ed25519PublicKey) -> str:
    """A hint naming the key: SHA-256 (hex) of its raw 32 bytes, as approval
    attestations name it. Never trusted; the signature decides."""
    raw = public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return hashlib.sha256(raw).hexdigest()


def check_signature(
    pdf: bytes, signature: bytes, public_key: Ed25519PublicKey
) -> list[str]:
    """What is wrong with the detached ``signature`` (the JSON file's bytes) of
    ``pdf`` under ``public_key``; empty when it is valid for exactly these bytes."""
    try:
        document = json.loads(signature)
    except ValueError:
        return ["the signature file is not JSON"]
    if not isinstance(document, dict) or document.get("format") != SIGNATURE_FORMAT:
        return [f"the signature file is not a {SIGNATURE_FORMAT} document"]
    digest = hashlib.sha256(pdf).digest()
    try:
        raw = base64.b64decode(str(document.get("signature", "")), validate=True)
    except (ValueError, binascii.Error):
        return ["the signature is not base64"]
    try:
        public_key.verify(raw, signed_message(digest))
    except InvalidSignature:
        problems = []
        if document.get("sha256") != digest.hex():
            problems.append(
                f"the PDF's SHA-256 is {digest.hex()}, the signature was made "
                f"for {document.get('sha256')}"
            )
        if document.get("key_id") != key_id(public_key):
            problems.append(
                f"the signature names key {document.get('key_id')}, "
                f"not the given key {key_id(public_key)}"
            )
        return [*problems, "the signature is not valid for this PDF and key"]
    if document.get("sha256") != digest.hex():
        # Valid over these bytes, yet the file states another digest: edited.
        return ["the signature file's sha256 field does not match the PDF"]
    return []


# --- The PDF's attachments -----------------------------------------------------------


def read_attachments(pdf: bytes) -> tuple[dict[str, bytes], list[str]]:
    """The files attached to ``pdf`` (name to bytes) and what could not be read.

    A name attached twice, or a damaged stream, is a problem rather than an
    exception, so the verifier reports every defect of a tampered file.
    """
    problems: list[str] = []
    files: dict[str, bytes] = {}
    try:
        reader = PdfReader(io.BytesIO(pdf))
        attachments = reader.attachments
        names = list(attachments)
    except Exception as exc:  # a damaged file may fail anywhere in the parser
        return {}, [f"the PDF cannot be read: {type(exc).__name__}: {exc}"]
    for name in names:
        try:
            contents = attachments[name]
        except Exception as exc:  # zlib, pypdf or a missing object
            problems.append(
                f"attachment {name!r} cannot be read: {type(exc).__name__}: {exc}"
            )
            continue
        if len(contents) != 1:
            problems.append(f"{len(contents)} attachments are named {name!r}")
            continue
        files[name] = contents[0]
    return files, problems


@dataclass
class Report:
    """What :func:`inspect_pack` found: the problems, and for a valid pack what
    was verified."""

    problems: list[str] = field(default_factory=list)
    pdf_sha256: str = ""
    key_id: str = ""
    manifest_sha256: str = ""
    pack: dict[str, Any] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM; UsageError otherwise."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise UsageError(f"cannot read the public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError("the public key is not an Ed25519 key")
    return key


def inspect_pack(pdf: bytes, signature: bytes, public_key: Ed25519PublicKey) -> Report:
    """Check the signature and the attached sources of a pack; see the module."""
    report = Report(
        pdf_sha256=hashlib.sha256(pdf).hexdigest(), key_id=key_id(public_key)
    )
    report.problems += check_signature(pdf, signature, public_key)
    files, unreadable = read_attachments(pdf)
    report.problems += unreadable
    raw = files.pop(MANIFEST_NAME, None)
    if raw is None:
        if not unreadable:
            report.problems.append(f"no {MANIFEST_NAME} is attached")
        return report
    try:
        manifest = json.loads(raw)
    except ValueError:
        report.problems.append(f"the attached {MANIFEST_NAME} is not JSON")
        return report
    report.problems += check_sources(manifest, files)
    report.manifest_sha256 = hashlib.sha256(raw).hexdigest()
    if isinstance(manifest, dict):
        pack, sources = manifest.get("pack"), manifest.get("sources")
        report.pack = pack if isinstance(pack, dict) else {}
        report.sources = sources if isinstance(sources, list) else []
    return report


def verify_pack(pdf: bytes, signature: bytes, public_key_pem: bytes) -> list[str]:
    """The problems of the pack ``pdf`` with its detached ``signature`` under the
    Ed25519 ``public_key_pem``; empty when it verifies. UsageError for a bad key."""
    return inspect_pack(pdf, signature, load_public_key(public_key_pem)).problems


def describe(report: Report) -> list[str]:
    """The lines printed for a pack that verifies."""
    pack = report.pack
    subject = " ".join(
        str(pack[key]) for key in ("kind", "model", "version") if pack.get(key)
    )
    lines = [
        f"OK: evidence pack{' ' + subject if subject else ''}: signature valid, "
        f"{len(report.sources)} sources match the manifest",
        f"  pdf sha256       {report.pdf_sha256}",
        f"  signed by key    {report.key_id}",
        f"  manifest sha256  {report.manifest_sha256}",
    ]
    lines += [f"  pack {key:<11} {pack[key]}" for key in sorted(pack)]
    lines += [
        f"  source           {entry['sha256']}  {entry['name']}"
        for entry in report.sources
    ]
    return lines


def run(pack: str, *, public_key: str, signature: str | None = None) -> int:
    """Verify the pack at path ``pack`` and print the outcome; the exit status."""
    # pypdf logs each repair it attempts on a damaged file; the problems say enough.
    logging.getLogger("pypdf").setLevel(logging.CRITICAL)
    signature_path = signature if signature is not None else pack + ".sig"
    try:
        with open(pack, "rb") as handle:
            pdf = handle.read()
        with open(signature_path, "rb") as handle:
            signed = handle.read()
        with open(public_key, "rb") as handle:
            key = load_public_key(handle.read())
    except (OSError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = inspect_pack(pdf, signed, key)
    if report.problems:
        for problem in report.problems:
            print(f"INVALID: {problem}")
        return 1
    for line in describe(report):
        print(line)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m audits.evidence.verify",
        description="Verify a modelgov evidence pack offline.",
    )
    parser.add_argument("pack", help="the evidence pack (PDF)")
    parser.add_argument(
        "--public-key", required=True, help="the signer's Ed25519 public key (PEM)"
    )
    parser.add_argument(
        "--signature", help="the detached signature (default: PACK.sig)"
    )
    args = parser.parse_args(argv)
    return run(args.pack, public_key=args.public_key, signature=args.signature)


if __name__ == "__main__":
    sys.exit(main())
