"""The ``modelgov`` command line: manifests, local digests, exit codes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from governance import cli
from tests.factories import BASELINE, INPUT_SCHEMA

ARTIFACT = b"\x80\x04fitted-model-bytes" * 500
TRAINING = b"amount,duration\n1000,12\n2500,24\n"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "model.pkl").write_bytes(ARTIFACT)
    (tmp_path / "train.csv").write_bytes(TRAINING)
    (tmp_path / "schema.json").write_text(json.dumps(INPUT_SCHEMA))
    (tmp_path / "baseline.yaml").write_text(yaml.safe_dump(BASELINE))
    return tmp_path


def _manifest(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "model": "credit-risk",
        "version": "2.0.0",
        "artifact_path": "out/model.pkl",
        "artifact_uri": "s3://models/credit/2.0.0/model.pkl",
        "training_data_path": "train.csv",
        "code_commit": "0123456789abcdef0123456789abcdef01234567",
        "input_schema_path": "schema.json",
        "baseline_path": "baseline.yaml",
        "protected_attributes": ["age_group"],
    }
    data.update(overrides)
    return data


def _write(path: Path, manifest: dict[str, object]) -> Path:
    if path.suffix == ".json":
        path.write_text(json.dumps(manifest))
    else:
        path.write_text(yaml.safe_dump(manifest))
    return path


@pytest.mark.parametrize("name", ["manifest.json", "manifest.yaml", "manifest.yml"])
def test_build_registration_hashes_local_files_and_loads_schemas(
    workdir: Path, name: str
) -> None:
    # given a manifest pointing at local files, relative to the manifest
    path = _write(workdir / name, _manifest())
    # when the registration is built
    slug, payload = cli.build_registration(path)
    # then the digests are computed locally and the schema files are loaded
    assert slug == "credit-risk"
    assert payload == {
        "version": "2.0.0",
        "artifact_uri": "s3://models/credit/2.0.0/model.pkl",
        "artifact_sha256": hashlib.sha256(ARTIFACT).hexdigest(),
        "training_data_uri": (workdir / "train.csv").resolve().as_uri(),
        "training_data_sha256": hashlib.sha256(TRAINING).hexdigest(),
        "code_commit": "0123456789abcdef0123456789abcdef01234567",
        "input_schema": INPUT_SCHEMA,
        "baseline": BASELINE,
        "protected_attributes": ["age_group"],
    }


def test_build_registration_accepts_a_matching_declared_digest(workdir: Path) -> None:
    digest = hashlib.sha256(ARTIFACT).hexdigest()
    path = _write(workdir / "m.json", _manifest(artifact_sha256=digest.upper()))
    _, payload = cli.build_registration(path)
    assert payload["artifact_sha256"] == digest


def test_build_registration_refuses_a_mismatching_declared_digest(
    workdir: Path,
) -> None:
    # given a manifest whose declared digest is not the file's
    path = _write(workdir / "m.json", _manifest(training_data_sha256="0" * 64))
    # when / then UsageError naming both digests
    with pytest.raises(cli.UsageError) as excinfo:
        cli.build_registration(path)
    actual = hashlib.sha256(TRAINING).hexdigest()
    assert str(excinfo.value) == (
        f"training_data_sha256 in the manifest ({'0' * 64}) does not match "
        f"{(workdir / 'train.csv').resolve()} ({actual})"
    )


def test_build_registration_refuses_unknown_keys(workdir: Path) -> None:
    path = _write(workdir / "m.yaml", _manifest(colour="blue", artefact_path="x"))
    with pytest.raises(cli.UsageError) as excinfo:
        cli.build_registration(path)
    assert str(excinfo.value) == "unknown manifest keys: artefact_path, colour"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model": ""}, "the manifest needs 'model'"),
        ({"version": None}, "the manifest needs 'version'"),
        (
            {"artifact_path": "missing.pkl"},
            "artifact_path {base}/missing.pkl is not a file",
        ),
        ({"artifact_path": "out"}, "artifact_path {base}/out is not a file"),
    ],
)
def test_build_registration_names_manifest_errors(
    workdir: Path, overrides: dict[str, object], message: str
) -> None:
    path = _write(workdir / "m.json", _manifest(**overrides))
    with pytest.raises(cli.UsageError) as excinfo:
        cli.build_registration(path)
    assert str(excinfo.value) == message.format(base=workdir.resolve())


def test_build_registration_refuses_a_manifest_that_is_not_a_mapping(
    workdir: Path,
) -> None:
    path = workdir / "m.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(cli.UsageError) as excinfo:
        cli.build_registration(path)
    assert str(excinfo.value) == "the manifest must be a mapping"


def test_build_registration_refuses_an_unreadable_schema_file(workdir: Path) -> None:
    (workdir / "broken.json").write_text("{not json")
    path = _write(workdir / "m.json", _manifest(input_schema_path="broken.json"))
    with pytest.raises(cli.UsageError) as excinfo:
        cli.build_registration(path)
    assert str(excinfo.value).startswith("cannot read input_schema_path broken.json: ")


def test_build_registration_refuses_a_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(cli.UsageError) as excinfo:
        cli.build_registration(tmp_path / "nope.json")
    assert str(excinfo.value).startswith(
        f"cannot read manifest {tmp_path / 'nope.json'}: "
    )


def test_dry_run_prints_the_payload_and_sends_nothing(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a manifest and no server configured
    monkeypatch.delenv("MODELGOV_URL", raising=False)
    monkeypatch.delenv("MODELGOV_TOKEN", raising=False)
    path = _write(workdir / "m.yaml", _manifest())
    # when register runs with --dry-run
    code = cli.main(["register", "--manifest", str(path), "--dry-run"])
    # then it prints exactly what it would send and succeeds
    assert code == 0
    out = capsys.readouterr().out
    assert json.loads(out) == {
        "model": "credit-risk",
        "registration": cli.build_registration(path)[1],
    }
    assert json.loads(out)["registration"]["artifact_sha256"] == (
        hashlib.sha256(ARTIFACT).hexdigest()
    )


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ([], {}, "modelgov: error: no server: pass --server or set MODELGOV_URL\n"),
        (
            ["--server", "http://127.0.0.1:9"],
            {},
            "modelgov: error: no token: pass --token or set MODELGOV_TOKEN\n",
        ),
        (
            [],
            {"MODELGOV_URL": "http://127.0.0.1:9"},
            "modelgov: error: no token: pass --token or set MODELGOV_TOKEN\n",
        ),
    ],
)
def test_missing_server_or_token_is_a_usage_error(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    monkeypatch.delenv("MODELGOV_URL", raising=False)
    monkeypatch.delenv("MODELGOV_TOKEN", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    path = _write(workdir / "m.json", _manifest())
    code = cli.main(["register", "--manifest", str(path), *args])
    assert code == 2
    captured = capsys.readouterr()
    assert captured.err == message
    assert captured.out == ""


def test_manifest_error_exits_with_usage_code(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(workdir / "m.json", _manifest(colour="blue"))
    code = cli.main(["register", "--manifest", str(path), "--dry-run"])
    assert code == 2
    assert capsys.readouterr().err == "modelgov: error: unknown manifest keys: colour\n"


def test_argument_errors_exit_with_usage_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["register"]) == 2
    assert "the following arguments are required: --manifest" in capsys.readouterr().err


def test_unreachable_server_exits_3(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a server address where nothing listens (discard port)
    monkeypatch.delenv("MODELGOV_URL", raising=False)
    monkeypatch.delenv("MODELGOV_TOKEN", raising=False)
    path = _write(workdir / "m.json", _manifest())
    # when register tries to reach it
    code = cli.main(
        [
            "register",
            "--manifest",
            str(path),
            "--server",
            "http://127.0.0.1:9",
            "--token",
            "mg_x_y",
        ]
    )
    # then it reports the server unreachable
    assert code == 3
    captured = capsys.readouterr()
    assert captured.err.startswith("modelgov: server unreachable: ")
    assert captured.out == ""


def test_cli_file_sha256_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    data = bytes(range(256)) * 5000
    path.write_bytes(data)
    assert cli.file_sha256(path) == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("status", "code"),
    [(201, 0), (400, 1), (403, 1), (404, 1), (409, 1), (500, 3), (503, 3)],
)
def test_register_exit_code_follows_the_server_answer(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    code: int,
) -> None:
    # given a server (mocked: network I/O) answering the registration with ``status``
    calls: list[tuple[str, str, object]] = []

    def fake_request(
        server: str, token: str, method: str, path: str, body: object = None
    ) -> tuple[int, object]:
        calls.append((method, path, body))
        return status, {"code": "x", "status": status}

    monkeypatch.setattr(cli, "_request", fake_request)
    path = _write(workdir / "m.json", _manifest())
    # when register runs
    result = cli.main(
        ["register", "--manifest", str(path), "--server", "https://mg", "--token", "t"]
    )
    # then it posted the payload once, printed the answer and exits accordingly
    assert result == code
    assert calls == [
        ("POST", "/api/v1/models/credit-risk/versions", cli.build_registration(path)[1])
    ]
    assert json.loads(capsys.readouterr().out) == {"code": "x", "status": status}


def test_register_with_submit_submits_after_registering(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([(201, {"status": "draft"}), (200, {"status": "submitted"})])
    calls: list[tuple[str, str]] = []

    def fake_request(
        server: str, token: str, method: str, path: str, body: object = None
    ) -> tuple[int, object]:
        calls.append((method, path))
        return next(answers)

    monkeypatch.setattr(cli, "_request", fake_request)
    path = _write(workdir / "m.json", _manifest())
    args = ["--server", "https://mg", "--token", "t", "--submit"]
    assert cli.main(["register", "--manifest", str(path), *args]) == 0
    assert calls == [
        ("POST", "/api/v1/models/credit-risk/versions"),
        ("POST", "/api/v1/models/credit-risk/versions/2.0.0/submit"),
    ]


def test_rejected_token_is_indeterminate_like_the_gate_check(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        cli, "_request", lambda *a, **k: (401, {"code": "authentication_failed"})
    )
    path = _write(workdir / "m.json", _manifest())
    args = ["--server", "https://mg", "--token", "mg_revoked"]
    assert cli.main(["register", "--manifest", str(path), *args]) == 3


def test_unquoted_yaml_version_is_refused_not_mangled(workdir: Path) -> None:
    # given a YAML manifest whose version looks like a number
    path = workdir / "m.yaml"
    path.write_text(
        "model: credit-risk\nversion: 2.10\nartifact_uri: s3://m\n"
        f"artifact_sha256: {'a' * 64}\ninput_schema_path: schema.json\n"
    )
    # when / then it is refused rather than registered as 2.1
    with pytest.raises(cli.UsageError, match="version"):
        cli.build_registration(path)
