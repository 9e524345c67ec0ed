"""`modelgov register` against the real server: digests computed locally, version frozen."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.factories import BASELINE, INPUT_SCHEMA

pytestmark = pytest.mark.e2e


def _token(live_app: Any) -> str:
    out = live_app.manage(
        "create_account",
        "--username",
        "ci-pipeline",
        "--role",
        "service_account",
        "--token",
    ).stdout
    return out.split("token: ")[1].strip()


def test_register_computes_digests_and_submits(live_app: Any, tmp_path: Path) -> None:
    # given a service account on the credit model's team and a manifest with local files
    token = _token(live_app)
    live_app.manage(
        "shell",
        "-c",
        (
            "from registry.models import Model; from django.contrib.auth.models import User;"
            "Model.objects.get(slug='credit-risk-sgc').developers.add(User.objects.get(username='ci-pipeline'))"
        ),
    )
    artifact = tmp_path / "model.pkl"
    artifact.write_bytes(b"\x80\x04fitted-model-bytes" * 100)
    data = tmp_path / "train.csv"
    data.write_text("amount,duration\n1000,12\n")
    (tmp_path / "schema.json").write_text(json.dumps(INPUT_SCHEMA))
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "model": "credit-risk-sgc",
                "version": "9.9.9-ci",
                "artifact_path": "model.pkl",
                "artifact_uri": "s3://models/credit/9.9.9-ci/model.pkl",
                "training_data_path": "train.csv",
                "code_commit": "0123456789abcdef0123456789abcdef01234567",
                "input_schema_path": "schema.json",
                "protected_attributes": ["age_group"],
                "baseline": BASELINE,
            }
        )
    )
    # when the pipeline runs the CLI
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "modelgov"),
            "register",
            "--manifest",
            str(manifest),
            "--server",
            live_app.url,
            "--token",
            token,
            "--submit",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # then the server holds the version with the locally computed digests, frozen
    assert result.returncode == 0, result.stdout + result.stderr
    body = json.loads(result.stdout)
    assert body["artifact_sha256"] == hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert body["training_data_sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert body["status"] == "submitted"
    assert body["frozen"] is True
    assert len(body["content_digest"]) == 64


def test_register_refused_for_a_model_the_account_is_not_on(
    live_app: Any, tmp_path: Path
) -> None:
    out = live_app.manage(
        "create_account",
        "--username",
        "stranger-bot",
        "--role",
        "service_account",
        "--token",
    ).stdout
    token = out.split("token: ")[1].strip()
    manifest = tmp_path / "m.json"
    manifest.write_text(
        json.dumps(
            {
                "model": "credit-risk-sgc",
                "version": "9.9.10",
                "artifact_uri": "s3://x/m.pkl",
                "artifact_sha256": "a" * 64,
                "input_schema": INPUT_SCHEMA,
            }
        )
    )
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "modelgov"),
            "register",
            "--manifest",
            str(manifest),
            "--server",
            live_app.url,
            "--token",
            token,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # an object the account cannot see is a 404: exit 1 (refused), nothing registered
    assert result.returncode == 1
    assert json.loads(result.stdout)["code"] == "not_found"
