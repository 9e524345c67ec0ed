"""`modelgov check` and `modelgov verify-attestation` against the real server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

pytestmark = pytest.mark.e2e

MODELGOV = str(Path(sys.executable).parent / "modelgov")
ROOT = Path(__file__).resolve().parents[2]

# The demo's validated mortgage request; the browser test approves it in the
# browser (it runs first). Approve it here through the services only when nothing
# is approved yet, so the attestation round trip has an approval to sign.
APPROVED_REQUEST = """
import json
from django.contrib.auth import get_user_model
from governance import services
from governance.models import ReleaseRequest
approved = ReleaseRequest.objects.filter(state="approved").order_by("id").first()
if approved is None:
    rr = ReleaseRequest.objects.get(
        model_version__model__slug="mortgage-approval-hmda",
        model_version__version="2.0.0",
        state="validated",
    )
    approved = services.release_request_approve(
        actor=get_user_model().objects.get(username="risk"),
        request=rr,
        password="{password}",
        comment="approved for the CLI round trip",
    )
print(json.dumps({{
    "id": approved.pk,
    "artifact_sha256": approved.approved_artifact_sha256,
    "environments": approved.environments,
}}))
"""


def _token(live_app: Any, username: str, role: str) -> str:
    out = live_app.manage(
        "create_account", "--username", username, "--role", role, "--token"
    ).stdout
    return out.split("token: ")[1].strip()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MODELGOV, *args], capture_output=True, text=True, timeout=60, cwd=ROOT
    )


@pytest.fixture(scope="module")
def gate_token(live_app: Any) -> str:
    # A gatekeeper: a deploy bot that may ask about any model (not on its team).
    return _token(live_app, "cd-gate-bot", "gatekeeper")


def test_check_with_a_bad_token_is_indeterminate(live_app: Any) -> None:
    # given a token the server does not know
    # when the pipeline asks the gate
    result = _cli(
        "check",
        "--model",
        "credit-risk-sgc",
        "--version",
        "1.2.0",
        "--env",
        "production",
        "--server",
        live_app.url,
        "--token",
        "mg_00000000_not-a-real-token",
    )
    # then it exits 3 (treat as denied), with the 401 named
    assert result.returncode == 3, result.stderr
    answer = json.loads(result.stdout)
    assert answer["allowed"] is False
    assert answer["outcome"] == "indeterminate"
    assert answer["http_status"] == 401


def test_check_of_an_unapproved_version_is_denied(
    live_app: Any, gate_token: str
) -> None:
    # given a demo version that was never approved (a draft, never submitted)
    # when the pipeline asks the gate
    result = _cli(
        "check",
        "--model",
        "credit-risk-sgc",
        "--version",
        "1.2.0",
        "--env",
        "production",
        "--server",
        live_app.url,
        "--token",
        gate_token,
    )
    # then the decision is a denial and the exit code 1
    assert result.returncode == 1, result.stdout + result.stderr
    decision = json.loads(result.stdout)
    assert decision["allowed"] is False
    assert decision["reason"] == (
        "credit-risk-sgc 1.2.0 is a draft: it was never submitted for review"
    )
    assert decision["decision_id"]


def test_check_against_an_unreachable_server_is_indeterminate() -> None:
    result = _cli(
        "check",
        "--model",
        "credit-risk-sgc",
        "--version",
        "1.2.0",
        "--env",
        "production",
        "--server",
        "http://127.0.0.1:9",
        "--token",
        "mg_x",
        "--timeout",
        "3",
    )
    assert result.returncode == 3
    assert json.loads(result.stdout)["outcome"] == "indeterminate"


def test_downloaded_attestation_verifies_offline(
    live_app: Any, gate_token: str, tmp_path: Path
) -> None:
    # given an approved request on the server
    approved = json.loads(
        _shell(live_app.env, APPROVED_REQUEST.format(password=live_app.password))
    )
    env = approved["environments"][0]
    # and the gate allows it (the CLI exits 0)
    allowed = _cli(
        "check",
        "--artifact-sha256",
        approved["artifact_sha256"],
        "--env",
        env,
        "--server",
        live_app.url,
        "--token",
        gate_token,
    )
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert json.loads(allowed.stdout)["allowed"] is True
    # when its attestation is downloaded
    token = _token(live_app, "cli-auditor", "auditor")
    envelope, public_key_pem = _download(live_app, token, approved["id"])
    file = tmp_path / f"rr-{approved['id']}.intoto.json"
    file.write_text(json.dumps(envelope))
    key = tmp_path / "modelgov.pub"
    key.write_text(public_key_pem)
    # then it verifies offline for its environment and digest
    ok = _cli(
        "verify-attestation",
        str(file),
        "--public-key",
        str(key),
        "--env",
        env,
        "--artifact-sha256",
        approved["artifact_sha256"],
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    summary = json.loads(ok.stdout)
    assert summary["valid"] is True
    assert summary["approval_id"] == f"RR-{approved['id']}"
    # and fails for another digest, an environment it does not cover, another key
    wrong_digest = _cli(
        "verify-attestation",
        str(file),
        "--public-key",
        str(key),
        "--artifact-sha256",
        "0" * 64,
    )
    assert wrong_digest.returncode == 1
    assert json.loads(wrong_digest.stdout)["reason"].startswith("digest mismatch")
    wrong_env = _cli(
        "verify-attestation", str(file), "--public-key", str(key), "--env", "nowhere"
    )
    assert wrong_env.returncode == 1
    other = tmp_path / "other.pub"
    other.write_text(_new_public_key_pem())
    wrong_key = _cli("verify-attestation", str(file), "--public-key", str(other))
    assert wrong_key.returncode == 1
    assert json.loads(wrong_key.stdout) == {
        "valid": False,
        "reason": "bad signature: no signature verifies with the trusted key",
    }


def _download(live_app: Any, token: str, pk: int) -> tuple[dict[str, Any], str]:
    """The envelope and the server's public key, downloaded over HTTP."""
    import urllib.error
    import urllib.request

    def get(path: str) -> tuple[int, Any]:
        req = urllib.request.Request(
            live_app.url + path, headers={"Authorization": f"Bearer {token}"}
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    status, body = get(f"/api/v1/release-requests/{pk}/attestation")
    assert status == 200, body
    key_status, key = get("/api/v1/attestations/public-key")
    assert key_status == 200
    return body, key["public_key_pem"]


def _shell(env: dict[str, str], code: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # Django's shell may announce its automatic imports first: the JSON is last.
    return result.stdout.strip().splitlines()[-1]


def _new_public_key_pem() -> str:
    return (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        .decode()
    )
