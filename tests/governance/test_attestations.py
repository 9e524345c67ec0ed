"""Approval attestations (pure): DSSE known answers, sign/verify, tampering."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from governance import attestations as att

# secure-systems-lab/dsse testvectors/vectors.json (commit 82043adf): RFC 8032 §7.1
# test 1 key ("A") and the "single-signature" vector.
KEY_A_SEED = bytes.fromhex(
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
)
KEY_A_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
VECTOR_PAYLOAD = "eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEifQ=="
VECTOR_SIG = "2WAfaHm5jluo0w+0rk8uVkluELJYWjSmU9x7EUzx+AyteDGJ4/nqyJXfmAUVFIAoQafWm7AxBZNw5M9ixNHiCA=="
VECTOR_PAE = (
    "445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e"
    "203433207b225f74797065223a2268747470733a2f2f696e2d746f746f2e696f2f5374617465"
    "6d656e742f7631227d"
)
URLSAFE_PAYLOAD = "-_-_Pj8="
URLSAFE_SIG = "P-_KHICeR7tI6S_YyejJTRtrXhcQyQ2LYPaL8h90KjC9qN8HU_svOQ6TuDOT1HIrsGW886DbWNWcCmX5twLrAw=="
NON_ASCII_PAE = (
    "445353457631203239206170706c69636174696f6e2f766e642e6578c3a46d706c652b6a736f6e"
    "203433207b225f74797065223a2268747470733a2f2f696e2d746f746f2e696f2f5374617465"
    "6d656e742f7631227d"
)

DIGEST = "a" * 64
APPROVED_AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
EXPIRES_AT = datetime(2027, 8, 31, 9, 30, tzinfo=UTC)
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _key_a() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(KEY_A_SEED)


def _pem(key: Ed25519PrivateKey) -> str:
    return att.public_key_pem(key)


def _claim(**overrides: Any) -> att.ApprovalClaim:
    values: dict[str, Any] = {
        "model": "credit-risk",
        "version": "1.0.0",
        "artifact_sha256": DIGEST,
        "content_digest": "c" * 64,
        "environments": ("staging", "production"),
        "approval_id": "RR-7",
        "approved_at": APPROVED_AT,
        "expires_at": EXPIRES_AT,
        "approvers": (
            att.Approver(
                name="Vera Validator",
                meaning="validated",
                signed_at=APPROVED_AT - timedelta(days=1),
            ),
            att.Approver(name="Rita Risk", meaning="approved", signed_at=APPROVED_AT),
        ),
        "conditions": "monitor PSI monthly",
        "policy": {"name": "Tier 2", "risk_tier": 2, "version": 1},
        "issuer": "modelgov (Demo Bank plc)",
    }
    values.update(overrides)
    return att.ApprovalClaim(**values)


def _envelope(key: Ed25519PrivateKey | None = None, **overrides: Any) -> dict[str, Any]:
    return att.sign_envelope(att.build_statement(_claim(**overrides)), key or _key_a())


def _resign(envelope: dict[str, Any], statement: dict[str, Any]) -> dict[str, Any]:
    """Swap in another statement but keep the old signature (a forgery attempt)."""
    payload = base64.b64encode(att.canonical_json(statement)).decode()
    return {**envelope, "payload": payload}


def test_pae_matches_the_dsse_spec_example() -> None:
    # given the example of DSSE protocol.md
    # when it is encoded
    encoded = att.pae("http://example.com/HelloWorld", b"hello world")
    # then it is the documented byte string
    assert encoded == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"


def test_pae_matches_the_dsse_test_vector() -> None:
    payload = base64.b64decode(VECTOR_PAYLOAD)
    assert att.pae(att.PAYLOAD_TYPE, payload).hex() == VECTOR_PAE


def test_pae_counts_bytes_not_characters() -> None:
    payload = base64.b64decode(VECTOR_PAYLOAD)
    assert att.pae("application/vnd.exämple+json", payload).hex() == NON_ASCII_PAE


def test_key_a_signs_the_dsse_single_signature_vector_exactly() -> None:
    # given RFC 8032 key A, whose public key the vector names
    key = _key_a()
    raw_public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert raw_public.hex() == KEY_A_PUBLIC
    # when it signs the vector's PAE (Ed25519 is deterministic)
    sig = key.sign(bytes.fromhex(VECTOR_PAE))
    # then the signature is the vector's
    assert base64.b64encode(sig).decode() == VECTOR_SIG


def test_verify_dsse_accepts_the_single_signature_vector() -> None:
    envelope = {
        "payload": VECTOR_PAYLOAD,
        "payloadType": att.PAYLOAD_TYPE,
        "signatures": [{"sig": VECTOR_SIG, "keyid": "A"}],
    }
    payload = att.verify_dsse(envelope, _key_a().public_key())
    assert payload == b'{"_type":"https://in-toto.io/Statement/v1"}'


def test_verify_dsse_accepts_url_safe_base64() -> None:
    envelope = {
        "payload": URLSAFE_PAYLOAD,
        "payloadType": att.PAYLOAD_TYPE,
        "signatures": [{"sig": URLSAFE_SIG, "keyid": "A"}],
    }
    assert att.verify_dsse(envelope, _key_a().public_key()) == b"\xfb\xff\xbf>?"


def test_verify_dsse_rejects_the_payload_type_swap_vector() -> None:
    envelope = {
        "payload": VECTOR_PAYLOAD,
        "payloadType": "application/vnd.example.other+json",
        "signatures": [{"sig": VECTOR_SIG, "keyid": "A"}],
    }
    with pytest.raises(att.AttestationError) as exc:
        att.verify_dsse(envelope, _key_a().public_key())
    assert str(exc.value) == (
        "unsupported payloadType 'application/vnd.example.other+json'; "
        "expected application/vnd.in-toto+json"
    )


def test_statement_has_the_in_toto_v1_shape() -> None:
    statement = att.build_statement(_claim())
    assert statement == {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "credit-risk@1.0.0", "digest": {"sha256": DIGEST}}],
        "predicateType": "https://modelgov.io/attestation/approval/v1",
        "predicate": {
            "model": "credit-risk",
            "version": "1.0.0",
            "content_digest": "c" * 64,
            "environments": ["staging", "production"],
            "approval_id": "RR-7",
            "approved_at": "2026-03-01T09:30:00Z",
            "expires_at": "2027-08-31T09:30:00Z",
            "approvers": [
                {
                    "name": "Vera Validator",
                    "meaning": "validated",
                    "signed_at": "2026-02-28T09:30:00Z",
                },
                {
                    "name": "Rita Risk",
                    "meaning": "approved",
                    "signed_at": "2026-03-01T09:30:00Z",
                },
            ],
            "conditions": "monitor PSI monthly",
            "policy": {"name": "Tier 2", "risk_tier": 2, "version": 1},
            "issuer": "modelgov (Demo Bank plc)",
        },
    }


def test_envelope_is_deterministic_and_canonical() -> None:
    # given the same approval signed twice
    first = _envelope()
    second = _envelope()
    # then the bytes are identical and the payload is compact, sorted JSON
    assert json.dumps(first) == json.dumps(second)
    assert first["payloadType"] == "application/vnd.in-toto+json"
    payload = base64.b64decode(first["payload"])
    assert payload == att.canonical_json(json.loads(payload))
    assert payload.startswith(b'{"_type":"https://in-toto.io/Statement/v1"')
    assert first["signatures"][0]["keyid"] == att.keyid_for(_key_a().public_key())


def test_sign_then_verify_returns_the_statement() -> None:
    # given a signed approval
    envelope = _envelope()
    # when it is verified for a covered environment and the right digest
    statement = att.verify_envelope(
        envelope,
        _pem(_key_a()),
        environment="production",
        artifact_sha256=DIGEST.upper(),
        now=NOW,
    )
    # then the statement comes back
    assert statement == att.build_statement(_claim())
    assert att.summary(statement)["approval_id"] == "RR-7"


def test_verify_refuses_another_key() -> None:
    envelope = _envelope()
    other = Ed25519PrivateKey.from_private_bytes(b"\x01" * 32)
    with pytest.raises(att.AttestationError) as exc:
        att.verify_envelope(envelope, _pem(other), now=NOW)
    assert str(exc.value) == "bad signature: no signature verifies with the trusted key"


def test_verify_refuses_a_flipped_signature_byte() -> None:
    envelope = _envelope()
    sig = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
    sig[10] ^= 0x01
    envelope["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    with pytest.raises(att.AttestationError) as exc:
        att.verify_envelope(envelope, _pem(_key_a()), now=NOW)
    assert str(exc.value) == "bad signature: no signature verifies with the trusted key"


def test_verify_refuses_an_altered_subject_digest() -> None:
    # given an envelope whose statement now names another artifact
    envelope = _envelope()
    statement = att.build_statement(_claim())
    statement["subject"][0]["digest"]["sha256"] = "b" * 64
    forged = _resign(envelope, statement)
    # when it is verified
    with pytest.raises(att.AttestationError) as exc:
        att.verify_envelope(forged, _pem(_key_a()), now=NOW)
    # then the signature no longer matches
    assert str(exc.value) == "bad signature: no signature verifies with the trusted key"


def test_verify_refuses_an_added_environment() -> None:
    envelope = _envelope(environments=("staging",))
    statement = att.build_statement(_claim(environments=("staging",)))
    statement["predicate"]["environments"].append("production")
    with pytest.raises(att.AttestationError) as exc:
        att.verify_envelope(_resign(envelope, statement), _pem(_key_a()), now=NOW)
    assert str(exc.value) == "bad signature: no signature verifies with the trusted key"


def test_verify_refuses_a_payload_type_swap() -> None:
    envelope = {**_envelope(), "payloadType": "application/json"}
    with pytest.raises(att.AttestationError) as exc:
        att.verify_envelope(envelope, _pem(_key_a()), now=NOW)
    assert str(exc.value) == (
        "unsupported payloadType 'application/json'; "
        "expected application/vnd.in-toto+json"
    )


def test_verify_refuses_another_artifact_digest() -> None:
    with pytest.raises(att.AttestationError) as exc:
        att.verify_envelope(
            _envelope(), _pem(_key_a()), artifact_sha256="b" * 64, now=NOW
        )
    assert str(exc.value) == (
        f"digest mismatch: the attestation covers sha256 {DIGEST}, not {'b' * 64}"
    )


def test_verify_refuses_an_environment_not_covered() -> None:
    envelope = _envelope(environments=("staging",))
    with pytest.raises(att.AttestationError) as exc:
        att.verify_envelope(envelope, _pem(_key_a()), environment="production", now=NOW)
    assert str(exc.value) == "environment not covered: production is not in staging"


def test_verify_refuses_an_expired_approval() -> None:
    with pytest.raises(att.AttestationError) as exc:
        att.verify_envelope(_envelope(), _pem(_key_a()), now=EXPIRES_AT)
    assert str(exc.value) == "expired: the approval ended at 2027-08-31T09:30:00Z"


def test_verify_refuses_an_envelope_without_signatures() -> None:
    envelope = {**_envelope(), "signatures": []}
    with pytest.raises(att.AttestationError) as exc:
        att.verify_envelope(envelope, _pem(_key_a()), now=NOW)
    assert str(exc.value) == "the envelope carries no signature"


def test_verify_accepts_when_any_signature_is_the_trusted_keys() -> None:
    # keyid is a hint only: a bogus first entry does not stop the valid second one
    envelope = _envelope()
    envelope["signatures"].insert(0, {"keyid": "x", "sig": "AAAA"})
    statement = att.verify_envelope(envelope, _pem(_key_a()), now=NOW)
    assert statement["predicate"]["approval_id"] == "RR-7"


def test_build_statement_refuses_a_malformed_digest() -> None:
    with pytest.raises(ValueError) as exc:
        att.build_statement(_claim(artifact_sha256="not-a-digest"))
    assert str(exc.value) == "artifact_sha256 must be 64 hexadecimal characters"
