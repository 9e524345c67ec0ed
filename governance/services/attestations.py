"""Approval attestations over the database: the signing key and one envelope per
approval.

The key is ``settings.MODELGOV_ATTESTATION_KEY`` (an Ed25519 private key in PEM, or
``MODELGOV_ATTESTATION_KEY_FILE``). Under DEBUG only, a missing key is generated once
into ``BASE_DIR/var/attestation-key.pem`` (mode 0600) and reused, so the local demo
works; outside DEBUG a missing key is a Conflict, never a silently generated key
that no verifier trusts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings

from governance import attestations
from governance.choices import RequestState, SignatureMeaning
from governance.exceptions import Conflict
from governance.models import ReleaseRequest

# States of a request that once carried an approval: its attestation stays
# downloadable as evidence. Offline verification fails once it has expired; a
# revocation is only visible to the gate.
ATTESTABLE_STATES = (RequestState.APPROVED, RequestState.EXPIRED, RequestState.REVOKED)


def _debug_key_path() -> Path:
    return Path(settings.BASE_DIR) / "var" / "attestation-key.pem"


def _generate_debug_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        # O_EXCL: two workers starting together keep the first key, not two keys.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return pem


def signing_key() -> Ed25519PrivateKey:
    """The Ed25519 key that signs attestations.

    Raises Conflict (``attestation_key_missing``) when no key is configured outside
    DEBUG, and Conflict (``attestation_key_invalid``) when the PEM is not an Ed25519
    private key.
    """
    pem: str | bytes = settings.MODELGOV_ATTESTATION_KEY
    if not pem:
        if not settings.DEBUG:
            raise Conflict(
                "attestation key not configured: set MODELGOV_ATTESTATION_KEY "
                "(or MODELGOV_ATTESTATION_KEY_FILE) to an Ed25519 private key in PEM.",
                code="attestation_key_missing",
            )
        path = _debug_key_path()
        pem = path.read_bytes() if path.exists() else _generate_debug_key(path)
    try:
        return attestations.load_private_key(pem)
    except (ValueError, TypeError) as exc:
        raise Conflict(
            f"MODELGOV_ATTESTATION_KEY is not usable: {exc}",
            code="attestation_key_invalid",
        ) from exc


def public_key_pem() -> str:
    """The PEM of the public key verifiers pin."""
    return attestations.public_key_pem(signing_key())


def keyid() -> str:
    """The keyid hint written into every envelope's signature."""
    return attestations.keyid_for(signing_key().public_key())


def approval_claim(request: ReleaseRequest) -> attestations.ApprovalClaim:
    """What the approval ``request`` states, read from its row and signatures."""
    if request.state not in ATTESTABLE_STATES or request.approved_at is None:
        raise Conflict(
            f"RR-{request.pk} was never approved; it has no attestation.",
            code="not_approved",
        )
    assert request.expires_at is not None
    version = request.model_version
    policy = request.policy
    signatures = request.signatures.exclude(meaning=SignatureMeaning.REJECTED).order_by(
        "signed_at", "id"
    )
    return attestations.ApprovalClaim(
        model=version.model.slug,
        version=version.version,
        artifact_sha256=request.approved_artifact_sha256,
        content_digest=request.approved_content_digest,
        environments=tuple(request.environments),
        approval_id=f"RR-{request.pk}",
        approved_at=request.approved_at,
        expires_at=request.expires_at,
        approvers=tuple(
            attestations.Approver(
                name=s.printed_name, meaning=s.meaning, signed_at=s.signed_at
            )
            for s in signatures
        ),
        conditions=request.conditions,
        policy={
            "name": policy.name,
            "risk_tier": policy.risk_tier,
            "version": policy.version,
            "validity_days": policy.validity_days,
        },
        issuer=f"modelgov ({settings.MODELGOV_ORGANISATION})",
    )


def attestation_for(request: ReleaseRequest) -> dict[str, Any]:
    """The DSSE envelope of the approval ``request`` (same approval, same bytes).

    Approved, expired and revoked requests have one; any other state is a Conflict
    (``not_approved``). Reading it changes nothing and is not audited.
    """
    statement = attestations.build_statement(approval_claim(request))
    return attestations.sign_envelope(statement, signing_key())
