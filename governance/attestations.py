"""Signed approval attestations: an in-toto Statement v1 in a DSSE envelope (Ed25519).

Pure: the standard library and ``cryptography`` only, no Django, so the offline
verifier (``modelgov verify-attestation``) runs in a slim CI image without a server.

Formats (reference/deploy_gate.md section 6):
- the Statement's subject is ``<model>@<version>`` with the artifact's sha256; its
  predicate (``PREDICATE_TYPE``) says which environments the approval covers, who
  signed it and until when it is valid;
- the envelope signs ``PAE(payloadType, payload)`` (DSSE v1), so the payload type is
  covered by the signature;
- the payload is canonical JSON (sorted keys, compact, UTF-8) and Ed25519 is
  deterministic, so one approval always gives the same envelope bytes.

Revocation is not visible offline: an envelope stays cryptographically valid after
its approval is revoked. Offline verification proves "approved until expires_at";
only the gate (``modelgov check``) knows about a revocation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://modelgov.io/attestation/approval/v1"


class AttestationError(Exception):
    """The envelope is malformed, not signed by the trusted key, or does not cover
    what was asked (artifact digest, environment, time)."""


@dataclass(frozen=True)
class Approver:
    name: str
    meaning: str
    signed_at: datetime


@dataclass(frozen=True)
class ApprovalClaim:
    """What an approval states; the input of ``build_statement``."""

    model: str
    version: str
    artifact_sha256: str
    content_digest: str
    environments: tuple[str, ...]
    approval_id: str
    approved_at: datetime
    expires_at: datetime
    approvers: tuple[Approver, ...] = ()
    conditions: str = ""
    policy: dict[str, Any] = field(default_factory=dict)
    issuer: str = ""


def _iso(moment: datetime) -> str:
    """UTC, second precision, ``Z`` suffix: the form every verifier parses."""
    if moment.tzinfo is None:
        raise ValueError("timezone-aware datetimes only")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise AttestationError(f"the predicate's {name} is missing")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise AttestationError(f"the predicate's {name} is not a date-time") from exc
    if moment.tzinfo is None:
        raise AttestationError(f"the predicate's {name} has no timezone")
    return moment


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no insignificant whitespace, UTF-8: stable bytes to sign."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def build_statement(claim: ApprovalClaim) -> dict[str, Any]:
    """The in-toto Statement v1 of an approval; the subject is the artifact digest."""
    digest = claim.artifact_sha256.lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError("artifact_sha256 must be 64 hexadecimal characters")
    return {
        "_type": STATEMENT_TYPE,
        "subject": [
            {"name": f"{claim.model}@{claim.version}", "digest": {"sha256": digest}}
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "model": claim.model,
            "version": claim.version,
            "content_digest": claim.content_digest,
            "environments": list(claim.environments),
            "approval_id": claim.approval_id,
            "approved_at": _iso(claim.approved_at),
            "expires_at": _iso(claim.expires_at),
            "approvers": [
                {"name": a.name, "meaning": a.meaning, "signed_at": _iso(a.signed_at)}
                for a in claim.approvers
            ],
            "conditions": claim.conditions,
            "policy": claim.policy,
            "issuer": claim.issuer,
        },
    }


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding; lengths are byte counts."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def b64decode(value: Any) -> bytes:
    """Standard or URL-safe base64, padded or not (DSSE verifiers accept both)."""
    if not isinstance(value, str):
        raise AttestationError("expected a base64 string")
    text = value.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AttestationError("invalid base64") from exc


def keyid_for(public_key: Ed25519PublicKey) -> str:
    """A hint naming the key: the SHA-256 of its raw 32 bytes. Never trusted."""
    raw = public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return hashlib.sha256(raw).hexdigest()


def load_private_key(pem: str | bytes) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM (PKCS#8, unencrypted)."""
    data = pem.encode() if isinstance(pem, str) else pem
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the attestation key must be an Ed25519 private key")
    return key


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM (SubjectPublicKeyInfo)."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise AttestationError(f"cannot read the public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise AttestationError("the public key is not an Ed25519 key")
    return key


def public_key_pem(private_key: Ed25519PrivateKey) -> str:
    """The PEM of the public half of ``private_key``."""
    return (
        private_key.public_key()
        .public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        .decode("ascii")
    )


def sign_envelope(
    statement: dict[str, Any], private_key: Ed25519PrivateKey
) -> dict[str, Any]:
    """Wrap ``statement`` in a DSSE envelope signed over its PAE with Ed25519."""
    payload = canonical_json(statement)
    signature = private_key.sign(pae(PAYLOAD_TYPE, payload))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [
            {
                "keyid": keyid_for(private_key.public_key()),
                "sig": base64.b64encode(signature).decode("ascii"),
            }
        ],
    }


def verify_dsse(envelope: Any, public_key: Ed25519PublicKey) -> bytes:
    """Check that one of the envelope's signatures is ``public_key``'s over the PAE.

    Only the in-toto payload type is accepted; ``keyid`` is ignored (DSSE: it is not
    for security decisions). Returns the payload bytes; raises AttestationError.
    """
    if not isinstance(envelope, dict):
        raise AttestationError("the envelope is not a JSON object")
    payload_type = envelope.get("payloadType")
    if payload_type != PAYLOAD_TYPE:
        raise AttestationError(
            f"unsupported payloadType {payload_type!r}; expected {PAYLOAD_TYPE}"
        )
    payload = b64decode(envelope.get("payload"))
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise AttestationError("the envelope carries no signature")
    message = pae(payload_type, payload)
    for entry in signatures:
        if not isinstance(entry, dict):
            continue
        try:
            public_key.verify(b64decode(entry.get("sig")), message)
        except (InvalidSignature, AttestationError):
            continue
        return payload
    raise AttestationError("bad signature: no signature verifies with the trusted key")


def verify_envelope(
    envelope: Any,
    public_key_pem: str | bytes,
    *,
    environment: str | None = None,
    artifact_sha256: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Verify an approval attestation offline and return its Statement.

    Checks, in order: the signature (trusted key, in-toto payload type), the
    Statement and predicate types, the subject digest against ``artifact_sha256``,
    that ``environment`` is covered, and that ``now`` is before ``expires_at``.
    Raises AttestationError naming the first failure. A revocation is not visible
    offline; ask the gate for that.
    """
    payload = verify_dsse(envelope, load_public_key(public_key_pem))
    try:
        statement = json.loads(payload)
    except ValueError as exc:
        raise AttestationError("the payload is not JSON") from exc
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise AttestationError("the payload is not an in-toto Statement v1")
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise AttestationError(
            f"unexpected predicateType {statement.get('predicateType')!r}"
        )
    predicate = statement.get("predicate")
    subjects = statement.get("subject")
    if not isinstance(predicate, dict) or not isinstance(subjects, list):
        raise AttestationError("the Statement has no subject or predicate")
    digests = {
        str(s.get("digest", {}).get("sha256", "")).lower()
        for s in subjects
        if isinstance(s, dict) and isinstance(s.get("digest"), dict)
    } - {""}
    if not digests:
        raise AttestationError("the Statement's subject has no sha256 digest")
    if artifact_sha256 is not None and artifact_sha256.lower() not in digests:
        raise AttestationError(
            f"digest mismatch: the attestation covers sha256 {', '.join(sorted(digests))}, "
            f"not {artifact_sha256.lower()}"
        )
    environments = predicate.get("environments")
    if not isinstance(environments, list):
        raise AttestationError("the predicate names no environments")
    if environment is not None and environment not in environments:
        raise AttestationError(
            f"environment not covered: {environment} is not in {', '.join(environments)}"
        )
    expires_at = _parse_iso(predicate.get("expires_at"), "expires_at")
    moment = now or datetime.now(UTC)
    if moment >= expires_at:
        raise AttestationError(f"expired: the approval ended at {_iso(expires_at)}")
    return statement


def summary(statement: dict[str, Any]) -> dict[str, Any]:
    """The fields a pipeline log needs from a verified Statement."""
    predicate = statement["predicate"]
    return {
        "subject": statement["subject"],
        "model": predicate.get("model"),
        "version": predicate.get("version"),
        "approval_id": predicate.get("approval_id"),
        "environments": predicate.get("environments"),
        "approved_at": predicate.get("approved_at"),
        "expires_at": predicate.get("expires_at"),
        "approvers": predicate.get("approvers"),
        "conditions": predicate.get("conditions"),
        "issuer": predicate.get("issuer"),
    }
