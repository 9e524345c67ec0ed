"""Kubernetes admission reviews: parse them, find the model, answer. No Django, no I/O.

The webhook view parses an AdmissionReview v1 with :func:`parse_review`, asks
:func:`extract_model_references` where the object names its model artifact, lets
the gate decide each reference, and answers with :func:`review_response`.

Where the model is, per kind (reference/deploy_gate.md section 1.3):

- ``apps/v1 Deployment``: the annotation ``modelgov.io/artifact-sha256``, or the
  pair ``modelgov.io/model`` + ``modelgov.io/version``, on the pod template or on
  the object. A Deployment with none of the ``modelgov.io/`` annotations is not a
  governed model server (sidecars, databases, the model servers' own controllers):
  it is allowed with a warning, since the webhook cannot tell a model out of an
  arbitrary image.
- KServe ``serving.kserve.io/v1beta1 InferenceService``: every
  ``spec.predictor.model.storageUri`` and legacy ``spec.predictor.<framework>.storageUri``,
  plus the digest annotation when present.
- Seldon Core v2 ``mlops.seldon.io/v1alpha1 Model``: ``spec.storageUri``, plus the
  digest annotation when present.

KServe and Seldon objects always carry a model, so one without a resolvable storage
URI is denied. Labels never identify a model: approvals bind to the artifact.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

API_VERSION = "admission.k8s.io/v1"
ANNOTATION_PREFIX = "modelgov.io/"
ANNOTATION_DIGEST = "modelgov.io/artifact-sha256"
ANNOTATION_MODEL = "modelgov.io/model"
ANNOTATION_VERSION = "modelgov.io/version"
GATED_OPERATIONS = frozenset({"CREATE", "UPDATE"})
# Strict admission (MODELGOV_ADMISSION_STRICT lists the environments): in a namespace
# mapped to one of them, only gated operations and workloads that name their model
# are admitted.
STRICT_UNANNOTATED = (
    "strict admission admits only workloads that name their model: annotate "
    f"{ANNOTATION_DIGEST} (or {ANNOTATION_MODEL} + {ANNOTATION_VERSION}), or run "
    "workloads that serve no model in a namespace the gate does not watch"
)
# Kubernetes truncates long warnings; keep each within its advice.
WARNING_MAX_CHARS = 120

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Object-store scheme aliases that address the same bytes.
_SCHEME_ALIASES = {"s3a": "s3", "s3n": "s3", "gcs": "gs"}

DEPLOYMENT = "Deployment"
INFERENCE_SERVICE = "InferenceService"
SELDON_MODEL = "Model"


class MalformedReview(ValueError):
    """The body is not an AdmissionReview v1 request this webhook can answer."""


@dataclass(frozen=True)
class AdmissionRequest:
    """The parts of ``AdmissionReview.request`` the gate uses."""

    uid: str
    group: str
    version: str
    kind: str
    operation: str
    namespace: str
    name: str
    object: Mapping[str, Any] | None
    dry_run: bool


@dataclass(frozen=True)
class ModelReference:
    """One model artifact named by a workload: by storage URI, digest or name."""

    storage_uri: str = ""
    artifact_sha256: str = ""
    model: str = ""
    version: str = ""
    where: str = ""  # the field it came from, for messages


@dataclass(frozen=True)
class Extraction:
    """What a workload says about its model.

    ``governed`` is false only for objects the gate lets through with a warning
    (a Deployment without any modelgov annotation). ``problem`` is set when a
    governed object names no usable model; the webhook then denies.
    """

    workload: str
    governed: bool
    references: tuple[ModelReference, ...] = ()
    problem: str = ""
    warnings: tuple[str, ...] = ()


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def parse_review(body: Any) -> AdmissionRequest:
    """Parse an AdmissionReview v1 body; raise :class:`MalformedReview` otherwise.

    Tolerates every field of the v1 schema; requires ``apiVersion``, ``kind``,
    ``request.uid`` and ``request.operation``.
    """
    if not isinstance(body, Mapping):
        raise MalformedReview("the body must be a JSON object (an AdmissionReview)")
    if body.get("apiVersion") != API_VERSION:
        raise MalformedReview(
            f"apiVersion must be {API_VERSION!r}, not {body.get('apiVersion')!r}"
        )
    if body.get("kind") != "AdmissionReview":
        raise MalformedReview(
            f"kind must be 'AdmissionReview', not {body.get('kind')!r}"
        )
    request = body.get("request")
    if not isinstance(request, Mapping):
        raise MalformedReview("request is missing or not an object")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise MalformedReview("request.uid is missing")
    operation = request.get("operation")
    if not isinstance(operation, str) or not operation:
        raise MalformedReview("request.operation is missing")
    kind = _mapping(request.get("kind"))
    obj = request.get("object")
    if obj is not None and not isinstance(obj, Mapping):
        raise MalformedReview("request.object must be an object or null")
    namespace = _text(request.get("namespace")) or _text(
        _mapping(_mapping(obj).get("metadata")).get("namespace")
    )
    return AdmissionRequest(
        uid=uid,
        group=_text(kind.get("group")),
        version=_text(kind.get("version")),
        kind=_text(kind.get("kind")) or _text(_mapping(obj).get("kind")),
        operation=operation.upper(),
        namespace=namespace,
        name=_text(request.get("name"))
        or _text(_mapping(_mapping(obj).get("metadata")).get("name")),
        object=obj,
        dry_run=request.get("dryRun") is True,
    )


def normalise_uri(uri: str) -> str:
    """The comparable form of a storage URI: trimmed, scheme aliases folded, lower-case
    scheme, no trailing slash. ``s3a://b/k/`` and ``s3://b/k`` are the same artifact."""
    uri = uri.strip()
    scheme, sep, rest = uri.partition("://")
    if sep:
        scheme = scheme.lower()
        uri = f"{_SCHEME_ALIASES.get(scheme, scheme)}://{rest}"
    return uri.rstrip("/") or uri


def uri_variants(uri: str) -> list[str]:
    """Spellings a registered ``artifact_uri`` may have for the same artifact as
    ``uri``, for an exact-match database lookup (then compare with
    :func:`normalise_uri`)."""
    base = normalise_uri(uri)
    scheme, sep, rest = base.partition("://")
    schemes = [scheme] + [a for a, s in _SCHEME_ALIASES.items() if s == scheme]
    out: list[str] = []
    for s in schemes if sep else [""]:
        core = f"{s}://{rest}" if sep else base
        for candidate in (core, f"{core}/"):
            if candidate not in out:
                out.append(candidate)
    return out


def _annotations(meta: Any) -> dict[str, str]:
    raw = _mapping(_mapping(meta).get("annotations"))
    return {str(k): v.strip() for k, v in raw.items() if isinstance(v, str)}


def _digest_problem(digest: str, where: str) -> str:
    if digest and not _SHA256.match(digest):
        return f"the annotation {ANNOTATION_DIGEST} on {where} must be 64 lowercase hex characters"
    return ""


def _deployment(obj: Mapping[str, Any]) -> Extraction:
    on_object = _annotations(obj.get("metadata"))
    on_template = _annotations(
        _mapping(_mapping(_mapping(obj.get("spec")).get("template")).get("metadata"))
    )
    ours = {
        k: v
        for k, v in (on_object | on_template).items()
        if k.startswith(ANNOTATION_PREFIX)
    }
    if not ours:
        return Extraction(
            workload=DEPLOYMENT,
            governed=False,
            warnings=(
                "modelgov: no modelgov.io/ annotation, so this Deployment is not gated",
            ),
        )
    for key in (ANNOTATION_DIGEST, ANNOTATION_MODEL, ANNOTATION_VERSION):
        a, b = on_object.get(key), on_template.get(key)
        if a and b and a != b:
            return Extraction(
                workload=DEPLOYMENT,
                governed=True,
                problem=f"the annotation {key} differs between the Deployment ({a}) "
                f"and its pod template ({b})",
            )
    digest = ours.get(ANNOTATION_DIGEST, "")
    model = ours.get(ANNOTATION_MODEL, "")
    version = ours.get(ANNOTATION_VERSION, "")
    problem = _digest_problem(digest, "the Deployment")
    if not problem and bool(model) != bool(version):
        problem = (
            f"the annotations {ANNOTATION_MODEL} and {ANNOTATION_VERSION} "
            "must be given together"
        )
    if not problem and not digest and not model:
        problem = (
            f"the Deployment carries modelgov.io/ annotations but neither "
            f"{ANNOTATION_DIGEST} nor {ANNOTATION_MODEL} + {ANNOTATION_VERSION}"
        )
    if problem:
        return Extraction(workload=DEPLOYMENT, governed=True, problem=problem)
    ref = ModelReference(
        artifact_sha256=digest,
        model=model,
        version=version,
        where="metadata.annotations",
    )
    return Extraction(workload=DEPLOYMENT, governed=True, references=(ref,))


def _storage_references(
    uris: Sequence[tuple[str, str]], digest: str
) -> tuple[ModelReference, ...]:
    seen: dict[str, ModelReference] = {}
    for where, uri in uris:
        key = normalise_uri(uri)
        if key not in seen:
            seen[key] = ModelReference(
                storage_uri=uri, artifact_sha256=digest, where=where
            )
    return tuple(seen.values())


def _inference_service(obj: Mapping[str, Any]) -> Extraction:
    predictor = _mapping(_mapping(obj.get("spec")).get("predictor"))
    uris: list[tuple[str, str]] = []
    # The new schema (predictor.model) first, then the legacy per-framework keys.
    for key in ["model", *sorted(k for k in predictor if k != "model")]:
        uri = _text(_mapping(predictor.get(key)).get("storageUri"))
        if uri:
            uris.append((f"spec.predictor.{key}.storageUri", uri))
    digest = _annotations(obj.get("metadata")).get(ANNOTATION_DIGEST, "")
    problem = _digest_problem(digest, "the InferenceService")
    if not problem and not uris:
        problem = (
            "the InferenceService names no model: spec.predictor.model.storageUri "
            "(or spec.predictor.<framework>.storageUri) is missing"
        )
    if problem:
        return Extraction(workload=INFERENCE_SERVICE, governed=True, problem=problem)
    return Extraction(
        workload=INFERENCE_SERVICE,
        governed=True,
        references=_storage_references(uris, digest),
    )


def _seldon_model(obj: Mapping[str, Any]) -> Extraction:
    uri = _text(_mapping(obj.get("spec")).get("storageUri"))
    digest = _annotations(obj.get("metadata")).get(ANNOTATION_DIGEST, "")
    problem = _digest_problem(digest, "the Seldon Model")
    if not problem and not uri:
        problem = "the Seldon Model names no model: spec.storageUri is missing"
    if problem:
        return Extraction(workload=SELDON_MODEL, governed=True, problem=problem)
    return Extraction(
        workload=SELDON_MODEL,
        governed=True,
        references=_storage_references([("spec.storageUri", uri)], digest),
    )


def extract_model_references(obj: Mapping[str, Any] | None) -> Extraction:
    """Find the model artifacts ``obj`` (a Kubernetes object) would serve.

    Dispatches on ``apiVersion``/``kind``. A kind the gate does not know is governed
    and has a problem (fail closed): the webhook configuration should not send it.
    """
    if obj is None:
        return Extraction(
            workload="", governed=True, problem="the review carries no object"
        )
    api_version = _text(obj.get("apiVersion"))
    group = api_version.split("/", 1)[0] if "/" in api_version else ""
    kind = _text(obj.get("kind"))
    if group == "apps" and kind == DEPLOYMENT:
        return _deployment(obj)
    if group == "serving.kserve.io" and kind == INFERENCE_SERVICE:
        return _inference_service(obj)
    if group == "mlops.seldon.io" and kind == SELDON_MODEL:
        return _seldon_model(obj)
    return Extraction(
        workload=kind,
        governed=True,
        problem=f"the modelgov gate does not handle {api_version or '?'} {kind or '?'} objects",
    )


def strict_operation_message(review: AdmissionRequest, *, environment: str) -> str:
    """The denial of an operation other than CREATE/UPDATE under strict admission."""
    what = f"{review.kind or '?'} {review.namespace}/{review.name}"
    return (
        f"modelgov denied {review.operation} of {what} in {environment}: strict "
        "admission gates only CREATE and UPDATE, and the webhook configuration "
        "sends no other operation"
    )


def _short(text: str) -> str:
    if len(text) <= WARNING_MAX_CHARS:
        return text
    return text[: WARNING_MAX_CHARS - 1] + "…"


def review_response(
    *,
    uid: str,
    allowed: bool,
    message: str = "",
    warnings: Sequence[str] = (),
    audit_annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An AdmissionReview v1 answer echoing ``uid``; a denial carries HTTP 403 and
    ``message`` in ``status`` (kubectl prints it)."""
    response: dict[str, Any] = {
        "uid": uid,
        "allowed": allowed,
        "warnings": [_short(w) for w in warnings],
    }
    if not allowed:
        response["status"] = {"code": 403, "reason": "Forbidden", "message": message}
    if audit_annotations:
        response["auditAnnotations"] = dict(audit_annotations)
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}
