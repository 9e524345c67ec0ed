"""`modelgov check` exit codes (fail closed) and `modelgov verify-attestation`."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from governance import attestations as att
from governance import cli

SERVER = "https://modelgov.example.com"
DECISION = {
    "allowed": True,
    "reason": "approved by RR-7 until 2027-08-31T09:30:00Z",
    "decision_id": "0f1e2d3c-0000-4000-8000-000000000001",
    "approval": {"approval_id": "RR-7"},
    "expires_at": "2027-08-31T09:30:00Z",
}


class FakeTransport:
    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = body
        self.calls: list[dict[str, Any]] = []

    def __call__(
        self, url: str, headers: dict[str, str], body: Any, timeout: float
    ) -> tuple[int, bytes]:
        self.calls.append(
            {"url": url, "headers": headers, "body": body, "timeout": timeout}
        )
        return self.status, self.body


@pytest.fixture
def transport(monkeypatch: pytest.MonkeyPatch) -> Any:
    def install(status: int, body: Any) -> FakeTransport:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        fake = FakeTransport(status, raw)
        monkeypatch.setattr(cli, "post_json", fake)
        return fake

    return install


def _check(*extra: str) -> list[str]:
    return [
        "check",
        "--model",
        "credit-risk",
        "--version",
        "1.0.0",
        "--env",
        "production",
        "--server",
        SERVER,
        "--token",
        "mg_test",
        *extra,
    ]


def test_check_allowed_exits_0_and_prints_the_decision(
    transport: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a gate that allows
    fake = transport(200, DECISION)
    # when the pipeline asks
    code = cli.main(_check())
    # then it exits 0, prints the decision and sent the contract's request
    out, err = capsys.readouterr()
    assert code == 0
    assert json.loads(out) == DECISION
    assert err == "modelgov: allowed: approved by RR-7 until 2027-08-31T09:30:00Z\n"
    assert fake.calls == [
        {
            "url": "https://modelgov.example.com/api/v1/gate/decisions",
            "headers": {
                "Authorization": "Bearer mg_test",
                "Accept": "application/json",
                "X-Modelgov-Client": "cli",
            },
            "body": {
                "model": "credit-risk",
                "version": "1.0.0",
                "environment": "production",
            },
            "timeout": 10.0,
        }
    ]


def test_check_denied_exits_1(
    transport: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    denial = {
        **DECISION,
        "allowed": False,
        "reason": "credit-risk 1.0.0 has no approval for production",
        "approval": None,
        "expires_at": None,
    }
    transport(200, denial)
    code = cli.main(_check())
    out, _ = capsys.readouterr()
    assert code == 1
    assert json.loads(out) == denial


def test_check_by_artifact_digest_sends_the_digest(transport: Any) -> None:
    fake = transport(200, DECISION)
    code = cli.main(
        [
            "check",
            "--artifact-sha256",
            "AB" * 32,
            "--env",
            "staging",
            "--server",
            SERVER + "/",
            "--token",
            "mg_test",
        ]
    )
    assert code == 0
    assert fake.calls[0]["url"] == SERVER + "/api/v1/gate/decisions"
    assert fake.calls[0]["body"] == {
        "artifact_sha256": "ab" * 32,
        "environment": "staging",
    }


def test_check_reads_server_and_token_from_the_environment(
    transport: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELGOV_URL", SERVER)
    monkeypatch.setenv("MODELGOV_TOKEN", "mg_env")
    fake = transport(200, DECISION)
    code = cli.main(["check", "--model", "m", "--version", "1", "--env", "production"])
    assert code == 0
    assert fake.calls[0]["headers"]["Authorization"] == "Bearer mg_env"


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (
            401,
            {"detail": "Invalid token.", "code": "authentication_failed"},
            "the token was not accepted (401): Invalid token.",
        ),
        (
            403,
            {"detail": "No scope.", "code": "permission_denied"},
            "the token was not accepted (403): No scope.",
        ),
        (500, b"<h1>Server Error</h1>", "the server answered 500: None"),
        (503, {"detail": "down"}, "the server answered 503: down"),
        (200, b"<html>login</html>", "the server's answer has no boolean 'allowed'"),
        (200, {"allowed": "yes"}, "the server's answer has no boolean 'allowed'"),
        (200, [True], "the server's answer has no boolean 'allowed'"),
        (302, b"", "the server answered 302: None"),
    ],
)
def test_check_is_indeterminate_and_fails_closed(
    transport: Any,
    capsys: pytest.CaptureFixture[str],
    status: int,
    body: Any,
    reason: str,
) -> None:
    # given a server that does not give a usable decision
    transport(status, body)
    # when the pipeline asks
    code = cli.main(_check())
    # then it exits 3 and reports not allowed
    out, err = capsys.readouterr()
    assert code == 3
    assert json.loads(out) == {
        "allowed": False,
        "outcome": "indeterminate",
        "reason": reason,
        "http_status": status,
    }
    assert err == f"modelgov: indeterminate (treat as denied): {reason}\n"


def test_check_against_an_unreachable_server_exits_3(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given nothing listening on the discard port
    # when the pipeline asks
    code = cli.main(
        [
            "check",
            "--model",
            "credit-risk",
            "--version",
            "1.0.0",
            "--env",
            "production",
            "--server",
            "http://127.0.0.1:9",
            "--token",
            "mg_test",
            "--timeout",
            "3",
        ]
    )
    # then the outcome is indeterminate
    out, err = capsys.readouterr()
    assert code == 3
    assert json.loads(out)["allowed"] is False
    assert json.loads(out)["outcome"] == "indeterminate"
    assert err.startswith(
        "modelgov: indeterminate (treat as denied): server unreachable"
    )


def test_check_input_refused_by_the_server_exits_2(
    transport: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    transport(400, {"detail": "Invalid input.", "code": "invalid", "errors": {}})
    assert cli.main(_check()) == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "--model", "m", "--version", "1", "--server", SERVER, "--token", "t"],
        ["check", "--model", "m", "--env", "production", "--server", SERVER],
        ["check", "--env", "production", "--server", SERVER, "--token", "t"],
        [
            "check",
            "--artifact-sha256",
            "xyz",
            "--env",
            "production",
            "--server",
            SERVER,
            "--token",
            "t",
        ],
        [
            "check",
            "--artifact-sha256",
            "a" * 64,
            "--model",
            "m",
            "--version",
            "1",
            "--env",
            "production",
            "--server",
            SERVER,
            "--token",
            "t",
        ],
        ["check", "--model", "m", "--version", "1", "--env", "production"],
        [
            "check",
            "--model",
            "m",
            "--version",
            "1",
            "--env",
            "production",
            "--server",
            "ftp://x",
            "--token",
            "t",
        ],
        ["check", "--bogus"],
    ],
)
def test_check_usage_errors_exit_2_without_calling_the_server(
    transport: Any, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    # given no server or token in the environment
    monkeypatch.delenv("MODELGOV_URL", raising=False)
    monkeypatch.delenv("MODELGOV_TOKEN", raising=False)
    fake = transport(200, DECISION)
    # when the command line is incomplete or ambiguous
    code = cli.main(argv)
    # then it is a usage error and nothing was sent
    assert code == 2
    assert fake.calls == []


def _write_attestation(
    tmp_path: Path, *, environments: tuple[str, ...] = ("production",)
) -> tuple[Path, Path, Ed25519PrivateKey]:
    key = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
    now = datetime.now(UTC)
    claim = att.ApprovalClaim(
        model="credit-risk",
        version="1.0.0",
        artifact_sha256=hashlib.sha256(b"model-bytes").hexdigest(),
        content_digest="c" * 64,
        environments=environments,
        approval_id="RR-3",
        approved_at=now - timedelta(days=1),
        expires_at=now + timedelta(days=30),
    )
    envelope = att.sign_envelope(att.build_statement(claim), key)
    file = tmp_path / "rr-3.intoto.json"
    file.write_text(json.dumps(envelope))
    pub = tmp_path / "modelgov.pub"
    pub.write_text(att.public_key_pem(key))
    return file, pub, key


def test_verify_attestation_valid_exits_0_with_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a signed attestation and the artifact it covers
    file, pub, _ = _write_attestation(tmp_path)
    artifact = tmp_path / "model.pkl"
    artifact.write_bytes(b"model-bytes")
    # when it is verified offline
    code = cli.main(
        [
            "verify-attestation",
            str(file),
            "--public-key",
            str(pub),
            "--env",
            "production",
            "--artifact",
            str(artifact),
        ]
    )
    # then it is valid
    out, _ = capsys.readouterr()
    summary = json.loads(out)
    assert code == 0
    assert summary["valid"] is True
    assert summary["approval_id"] == "RR-3"
    assert summary["environments"] == ["production"]
    assert summary["subject"] == [
        {
            "name": "credit-risk@1.0.0",
            "digest": {"sha256": hashlib.sha256(b"model-bytes").hexdigest()},
        }
    ]


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (
            ["--env", "staging"],
            "environment not covered: staging is not in production",
        ),
        (
            ["--artifact-sha256", "b" * 64],
            "digest mismatch: the attestation covers sha256 "
            f"{hashlib.sha256(b'model-bytes').hexdigest()}, not {'b' * 64}",
        ),
    ],
)
def test_verify_attestation_not_covering_the_request_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], reason: str
) -> None:
    file, pub, _ = _write_attestation(tmp_path)
    code = cli.main(["verify-attestation", str(file), "--public-key", str(pub), *extra])
    out, err = capsys.readouterr()
    assert code == 1
    assert json.loads(out) == {"valid": False, "reason": reason}
    assert err == f"modelgov: attestation invalid: {reason}\n"


def test_verify_attestation_with_a_tampered_signature_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file, pub, _ = _write_attestation(tmp_path)
    envelope = json.loads(file.read_text())
    sig = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
    sig[0] ^= 0xFF
    envelope["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    file.write_text(json.dumps(envelope))
    code = cli.main(["verify-attestation", str(file), "--public-key", str(pub)])
    out, _ = capsys.readouterr()
    assert code == 1
    assert json.loads(out) == {
        "valid": False,
        "reason": "bad signature: no signature verifies with the trusted key",
    }


def test_verify_attestation_that_is_not_json_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file, pub, _ = _write_attestation(tmp_path)
    file.write_text("not json")
    code = cli.main(["verify-attestation", str(file), "--public-key", str(pub)])
    out, _ = capsys.readouterr()
    assert code == 1
    assert json.loads(out)["valid"] is False


@pytest.mark.parametrize(
    "argv_for",
    [
        lambda f, p: ["verify-attestation", str(f)],
        lambda f, p: ["verify-attestation", str(f), "--public-key", str(f) + ".none"],
        lambda f, p: ["verify-attestation", str(f) + ".none", "--public-key", str(p)],
        lambda f, p: ["verify-attestation", str(f), "--public-key", str(f)],
        lambda f, p: [
            "verify-attestation",
            str(f),
            "--public-key",
            str(p),
            "--artifact-sha256",
            "zz",
        ],
    ],
)
def test_verify_attestation_usage_errors_exit_2(tmp_path: Path, argv_for: Any) -> None:
    file, pub, _ = _write_attestation(tmp_path)
    assert cli.main(argv_for(file, pub)) == 2


def test_register_still_parses_after_the_new_commands() -> None:
    args = cli.build_parser().parse_args(["register", "--manifest", "m.yaml"])
    assert args.func is cli.cmd_register
