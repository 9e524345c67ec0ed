"""The ``modelgov`` command line: what training pipelines and deployment systems run.

It talks to a modelgov server over HTTPS with a bearer token (stdlib urllib);
``verify-attestation`` works offline and needs only ``cryptography``.

    modelgov register --manifest model.yaml [--server URL] [--token TOKEN] [--submit]
    modelgov check (--model M --version V | --artifact-sha256 D) --env E
                   [--server URL] [--token TOKEN] [--timeout SECONDS]
    modelgov verify-attestation FILE --public-key KEY.pem [--env E]
                   [--artifact-sha256 D | --artifact PATH]
    modelgov verify-pack PACK.pdf --public-key KEY.pem [--signature PACK.pdf.sig]

Server and token come from ``--server``/``--token`` or ``MODELGOV_URL``/``MODELGOV_TOKEN``.

``register`` exits 0 on success, 1 refused by the server (4xx other than 401), 2 usage
or manifest error, 3 indeterminate: server unreachable, failing (5xx) or the token not
accepted (401).

``check`` asks the promotion gate and fails closed: 0 allowed, 1 denied by policy (do
not retry), 2 usage or input error, 3 indeterminate (unreachable, timeout, 5xx, 401 or
403, or an answer without a boolean ``allowed``): treat as denied; CI may retry. The
decision JSON goes to stdout, a one-line reason to stderr.

``verify-attestation`` needs no server: 0 valid (the summary JSON on stdout), 1
invalid (why, on stdout as JSON and on stderr), 2 usage error. A revocation is not
visible offline; ``check`` sees it.

``verify-pack`` needs no server either: it checks an evidence pack's detached
signature and every attached source against its manifest (``audits.evidence.verify``):
0 valid, 1 invalid (each problem on stdout), 2 usage error.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
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
    if not server.startswith(("http://", "https://")):
        raise UsageError(
            f"the server URL must start with http:// or https://: {server}"
        )
    if not token:
        raise UsageError("no token: pass --token or set MODELGOV_TOKEN")
    return server, token


def post_json(
    url: str, headers: dict[str, str], body: Any, timeout: float
) -> tuple[int, bytes]:
    """POST ``body`` as JSON; return (status, raw body). Network errors propagate."""
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _is_sha256(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value.lower())


def check_body(args: argparse.Namespace) -> dict[str, str]:
    """The gate request of ``check``; a UsageError when the subject is ambiguous."""
    env = (args.env or "").strip()
    if not env:
        raise UsageError("--env is required")
    if args.artifact_sha256 is not None and not args.artifact_sha256.strip():
        raise UsageError("--artifact-sha256 is empty")
    digest = (args.artifact_sha256 or "").strip().lower()
    if digest:
        if args.model or args.version:
            raise UsageError(
                "name the subject once: --model/--version or --artifact-sha256"
            )
        if not _is_sha256(digest):
            raise UsageError("--artifact-sha256 must be 64 hexadecimal characters")
        return {"artifact_sha256": digest, "environment": env}
    if not args.model or not args.version:
        raise UsageError("pass --model and --version, or --artifact-sha256")
    return {"model": args.model, "version": args.version, "environment": env}


def _indeterminate(reason: str, http_status: int | None = None) -> int:
    print(
        json.dumps(
            {
                "allowed": False,
                "outcome": "indeterminate",
                "reason": reason,
                "http_status": http_status,
            },
            indent=2,
            sort_keys=True,
        )
    )
    print(f"modelgov: indeterminate (treat as denied): {reason}", file=sys.stderr)
    return EXIT_UNAVAILABLE


def cmd_check(args: argparse.Namespace) -> int:
    body = check_body(args)
    server, token = _server_and_token(args)
    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    url = server.rstrip("/") + "/api/v1/gate/decisions"
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        "X-Modelgov-Client": "cli",
    }
    try:
        status, raw = post_json(url, headers, body, args.timeout)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # URLError, refused connections and timeouts are OSErrors: fail closed.
        reason = getattr(exc, "reason", None) or exc
        return _indeterminate(f"server unreachable: {reason}")
    try:
        answer = json.loads(raw or b"null")
    except ValueError:
        answer = None
    detail = answer.get("detail") if isinstance(answer, dict) else None
    if status in (400, 404, 422):
        print(json.dumps(answer, indent=2, sort_keys=True))
        print(
            f"modelgov: error: the server refused the input: {detail}", file=sys.stderr
        )
        return EXIT_USAGE
    if status in (401, 403):
        return _indeterminate(
            f"the token was not accepted ({status}): {detail}", status
        )
    if status != 200:
        return _indeterminate(f"the server answered {status}: {detail}", status)
    if not isinstance(answer, dict) or not isinstance(answer.get("allowed"), bool):
        return _indeterminate("the server's answer has no boolean 'allowed'", status)
    print(json.dumps(answer, indent=2, sort_keys=True))
    verdict = "allowed" if answer["allowed"] else "denied"
    print(f"modelgov: {verdict}: {answer.get('reason', '')}", file=sys.stderr)
    return EXIT_OK if answer["allowed"] else EXIT_REFUSED


def cmd_verify_attestation(args: argparse.Namespace) -> int:
    from governance import attestations

    try:
        key_pem = Path(args.public_key).read_bytes()
    except OSError as exc:
        raise UsageError(
            f"cannot read the public key {args.public_key}: {exc}"
        ) from exc
    try:
        attestations.load_public_key(key_pem)
    except attestations.AttestationError as exc:
        raise UsageError(f"{args.public_key}: {exc}") from exc
    # An option given but empty (e.g. an unset $DIGEST) is a usage error, never
    # "no check": verification must not pass by omission.
    for option, value in (
        ("--artifact-sha256", args.artifact_sha256),
        ("--artifact", args.artifact),
    ):
        if value is not None and not value.strip():
            raise UsageError(f"{option} is empty")
    digest = (args.artifact_sha256 or "").strip().lower() or None
    if args.artifact:
        path = Path(args.artifact)
        if not path.is_file():
            raise UsageError(f"--artifact {path} is not a file")
        local = file_sha256(path)
        if digest and digest != local:
            raise UsageError(f"--artifact-sha256 {digest} is not the digest of {path}")
        digest = local
    if digest is not None and not _is_sha256(digest):
        raise UsageError("--artifact-sha256 must be 64 hexadecimal characters")
    try:
        raw = Path(args.file).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc}") from exc
    try:
        envelope = json.loads(raw)
        statement = attestations.verify_envelope(
            envelope, key_pem, environment=args.env, artifact_sha256=digest
        )
    except (ValueError, attestations.AttestationError) as exc:
        reason = (
            str(exc)
            if isinstance(exc, attestations.AttestationError)
            else (f"not a JSON envelope: {exc}")
        )
        print(json.dumps({"valid": False, "reason": reason}, indent=2, sort_keys=True))
        print(f"modelgov: attestation invalid: {reason}", file=sys.stderr)
        return EXIT_REFUSED
    summary = {"valid": True, **attestations.summary(statement)}
    print(json.dumps(summary, indent=2, sort_keys=True))
    print(
        "modelgov: attestation valid (offline: revocation is not checked; "
        "modelgov check asks the gate)",
        file=sys.stderr,
    )
    return EXIT_OK


def cmd_verify_pack(args: argparse.Namespace) -> int:
    from audits.evidence import verify

    return verify.run(args.pack, public_key=args.public_key, signature=args.signature)


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

    check = sub.add_parser(
        "check", help="ask the promotion gate whether a version may be deployed"
    )
    check.add_argument("--model", help="model slug")
    check.add_argument("--version", help="model version")
    check.add_argument("--artifact-sha256", help="artifact digest (instead of model)")
    check.add_argument("--env", required=True, help="target environment")
    check.add_argument("--server", help="server URL (or MODELGOV_URL)")
    check.add_argument("--token", help="API token (or MODELGOV_TOKEN)")
    check.add_argument(
        "--timeout", type=float, default=10.0, help="seconds (default 10)"
    )
    check.set_defaults(func=cmd_check)

    verify = sub.add_parser(
        "verify-attestation", help="verify a signed approval offline (no server)"
    )
    verify.add_argument("file", help="the DSSE envelope (rr-<id>.intoto.json)")
    verify.add_argument("--public-key", required=True, help="Ed25519 public key PEM")
    verify.add_argument("--env", help="require this environment to be covered")
    verify.add_argument("--artifact-sha256", help="require this subject digest")
    verify.add_argument("--artifact", help="hash this file and require its digest")
    verify.set_defaults(func=cmd_verify_attestation)

    pack = sub.add_parser(
        "verify-pack", help="verify an evidence pack offline (no server)"
    )
    pack.add_argument("pack", help="the evidence pack (PDF)")
    pack.add_argument("--public-key", required=True, help="Ed25519 public key PEM")
    pack.add_argument("--signature", help="detached signature (default: PACK.sig)")
    pack.set_defaults(func=cmd_verify_pack)
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
