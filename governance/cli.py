"""The ``modelgov`` command line: what training pipelines and deployment systems run.

It talks to a modelgov server over HTTPS with a bearer token and needs only the
standard library (plus PyYAML for YAML manifests), so it can run in a slim CI image.

    modelgov register --manifest model.yaml [--server URL] [--token TOKEN] [--submit]

Server and token come from ``--server``/``--token`` or ``MODELGOV_URL``/``MODELGOV_TOKEN``.
Exit codes: 0 success, 1 refused by the server (4xx other than 401), 2 usage or
manifest error, 3 indeterminate: server unreachable, failing (5xx) or the token not
accepted (401), as ``modelgov check`` will treat them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3

MANIFEST_KEYS = {
    "model",
    "version",
    "description",
    "artifact_uri",
    "artifact_path",
    "artifact_sha256",
    "training_data_uri",
    "training_data_path",
    "training_data_sha256",
    "code_commit",
    "feature_pipeline_version",
    "hyperparameters",
    "metrics",
    "input_schema",
    "input_schema_path",
    "protected_attributes",
    "baseline",
    "baseline_path",
}


class UsageError(Exception):
    pass


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _load_structured(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in {".yaml", ".yml"}:
        import yaml

        return yaml.safe_load(text)
    return json.loads(text)


def build_registration(manifest_path: Path) -> tuple[str, dict[str, Any]]:
    """Read a manifest and return (model slug, registration payload).

    ``artifact_path``/``training_data_path`` are hashed locally (SHA-256); a digest
    given in the manifest must match the file. Paths are relative to the manifest.
    ``input_schema_path``/``baseline_path`` load JSON or YAML files.
    """
    try:
        manifest = _load_structured(manifest_path)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read manifest {manifest_path}: {exc}") from exc
    if not isinstance(manifest, dict):
        raise UsageError("the manifest must be a mapping")
    unknown = sorted(set(manifest) - MANIFEST_KEYS)
    if unknown:
        raise UsageError(f"unknown manifest keys: {', '.join(unknown)}")
    for key in ("model", "version"):
        if not manifest.get(key):
            raise UsageError(f"the manifest needs {key!r}")
        if not isinstance(manifest[key], str):
            # YAML reads `version: 2.10` as the float 2.1: refuse rather than mangle.
            raise UsageError(
                f'{key!r} must be a string; quote it in YAML ({key}: "2.10")'
            )
    base = manifest_path.parent
    payload = {
        k: v for k, v in manifest.items() if not k.endswith("_path") and k != "model"
    }
    for kind in ("artifact", "training_data"):
        rel = manifest.get(f"{kind}_path")
        if not rel:
            continue
        path = (base / rel).resolve()
        if not path.is_file():
            raise UsageError(f"{kind}_path {path} is not a file")
        digest = file_sha256(path)
        given = manifest.get(f"{kind}_sha256")
        if given and given.lower() != digest:
            raise UsageError(
                f"{kind}_sha256 in the manifest ({given}) does not match {path} ({digest})"
            )
        payload[f"{kind}_sha256"] = digest
        payload.setdefault(f"{kind}_uri", path.as_uri())
    for key in ("input_schema", "baseline"):
        rel = manifest.get(f"{key}_path")
        if rel:
            try:
                payload[key] = _load_structured((base / rel).resolve())
            except (OSError, ValueError) as exc:
                raise UsageError(f"cannot read {key}_path {rel}: {exc}") from exc
    return str(manifest["model"]), payload


def _request(
    server: str,
    token: str,
    method: str,
    path: str,
    body: Any = None,
    timeout: float = 30,
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        server.rstrip("/") + path,
        data=data,
        method=method,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, {"detail": raw.decode("utf-8", "replace")[:500]}


def cmd_register(args: argparse.Namespace) -> int:
    slug, payload = build_registration(Path(args.manifest))
    if args.dry_run:
        print(
            json.dumps(
                {"model": slug, "registration": payload}, indent=2, sort_keys=True
            )
        )
        return EXIT_OK
    server, token = _server_and_token(args)
    status, body = _request(
        server, token, "POST", f"/api/v1/models/{slug}/versions", payload
    )
    if status == 201 and args.submit:
        status, body = _request(
            server,
            token,
            "POST",
            f"/api/v1/models/{slug}/versions/{payload['version']}/submit",
        )
        if status == 200:
            status = 201
    print(json.dumps(body, indent=2, sort_keys=True))
    if status == 201:
        return EXIT_OK
    return EXIT_UNAVAILABLE if status >= 500 or status == 401 else EXIT_REFUSED


def _server_and_token(args: argparse.Namespace) -> tuple[str, str]:
    server = args.server or os.environ.get("MODELGOV_URL", "")
    token = args.token or os.environ.get("MODELGOV_TOKEN", "")
    if not server:
        raise UsageError("no server: pass --server or set MODELGOV_URL")
    if not token:
        raise UsageError("no token: pass --token or set MODELGOV_TOKEN")
    return server, token


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelgov", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    reg = sub.add_parser("register", help="register a model version from a manifest")
    reg.add_argument("--manifest", required=True, help="JSON or YAML manifest")
    reg.add_argument("--server", help="server URL (or MODELGOV_URL)")
    reg.add_argument("--token", help="API token (or MODELGOV_TOKEN)")
    reg.add_argument(
        "--submit", action="store_true", help="submit (freeze) after registering"
    )
    reg.add_argument(
        "--dry-run", action="store_true", help="print the payload, send nothing"
    )
    reg.set_defaults(func=cmd_register)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors already
        return int(exc.code or 0)
    try:
        code: int = args.func(args)
        return code
    except UsageError as exc:
        print(f"modelgov: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        print(f"modelgov: server unreachable: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE


if __name__ == "__main__":
    sys.exit(main())
