"""The detached Ed25519 signature of an evidence pack.

The signature file is small canonical JSON next to the PDF (``PACK.pdf.sig``)::

    {"format": "modelgov-evidence-pack-signature/1", "key_id": "…",
     "sha256": "<the PDF's SHA-256>", "signature": "<base64>"}

The signature covers ``modelgov-evidence-pack/1\\n`` followed by the 32 bytes of
the PDF's SHA-256, so it binds every byte of the PDF, attachments included, and
cannot be replayed as a signature over anything else the key signs. Ed25519 is
deterministic: the same PDF and key give the same signature file. Verification
is :func:`audits.evidence.verify.check_signature`, which runs offline.
"""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from audits.evidence import verify

SIGNATURE_FORMAT = verify.SIGNATURE_FORMAT


def sign_pack(pdf: bytes, key: Ed25519PrivateKey) -> bytes:
    """The detached signature file (JSON, sorted keys, one trailing newline) of
    ``pdf`` by ``key``. Deterministic for the same PDF and key."""
    digest = hashlib.sha256(pdf).digest()
    document = {
        "format": SIGNATURE_FORMAT,
        "key_id": verify.key_id(key.public_key()),
        "sha256": digest.hex(),
        "signature": base64.b64encode(key.sign(verify.signed_message(digest))).decode(
            "ascii"
        ),
    }
    return (json.dumps(document, sort_keys=True, indent=2) + "\n").encode("ascii")


def verify_signature(
    pdf: bytes, signature_json: bytes, public_key: Ed25519PublicKey
) -> list[str]:
    """What is wrong with ``signature_json`` as the signature of ``pdf`` by
    ``public_key``; empty when it is valid."""
    return verify.check_signature(pdf, signature_json, public_key)
