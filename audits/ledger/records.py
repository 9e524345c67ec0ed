"""Prediction and outcome batches: parsing, validation and ledger leaves. Pure.

A batch is validated as a whole: :func:`validate_predictions` returns every valid
record or raises :class:`BatchError` listing every bad record and field, so that
nothing of a bad batch is written. There are no per-row serializer or ORM objects
on this path (it runs at tens of thousands of records per second): orjson parses,
a compiled JSON Schema validator (fastjsonschema) checks features, and a failing
record is re-checked with jsonschema only to name every failing field.

Leaves are canonical JSON (sorted keys, no whitespace, UTF-8) made by orjson; the
bytes are stored and hashed exactly as made, never re-serialised.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson

from governance import inputs

__all__ = [
    "Binding",
    "BatchError",
    "LEAF_VERSION",
    "OUTCOME_NAMESPACE",
    "Outcome",
    "Prediction",
    "VersionInfo",
    "compile_features_validator",
    "dumps",
    "outcome_entry_id",
    "outcome_leaf",
    "parse_batch",
    "prediction_leaf",
    "protected_commitment",
    "validate_outcomes",
    "validate_predictions",
]

LEAF_VERSION = 1
MAX_RECORDS = 1000
MAX_BYTES = 1024 * 1024
MAX_SAFE_INTEGER = 2**53
# The batch array is level 1 and its records level 2 (governance.inputs.MAX_DEPTH).
FEATURES_MAX_DEPTH = 62
# Any integer beyond ±2^53 has at least 16 digits: a body without a run of 16 digits
# holds none (orjson would parse one beyond 64 bits as a rounded float, unseen).
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGIT_RUN = b"0" * 16
# Outcome entry ids are derived from the prediction id: one outcome per prediction.
OUTCOME_NAMESPACE = uuid.UUID("6f0e3c1e-55a4-4c1b-9d59-1a2b3c4d5e6f")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_SORT = orjson.OPT_SORT_KEYS

PREDICTION_FIELDS = frozenset(
    {
        "prediction_id",
        "model",
        "version",
        "predicted_at",
        "features",
        "input_commitment",
        "score",
        "decision",
        "protected_attributes",
        "trace_id",
    }
)
PREDICTION_REQUIRED = ("prediction_id", "model", "version", "predicted_at", "score")
_REQUIRED_SET = frozenset(PREDICTION_REQUIRED)
OUTCOME_FIELDS = frozenset({"prediction_id", "outcome", "observed_at", "trace_id"})


def dumps(value: Any) -> bytes:
    """Canonical bytes: sorted keys, no insignificant whitespace, UTF-8."""
    return orjson.dumps(value, option=_SORT)


class BatchError(Exception):
    """The batch is refused as a whole; ``errors`` maps field paths to messages."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        errors: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors or {}


@dataclass(frozen=True)
class Binding:
    """The serving deployment an ingest key is bound to."""

    model_id: int
    model_slug: str
    environment: str
    key_prefix: str

    @property
    def label(self) -> str:
        return f"{self.model_id}/{self.environment}"


@dataclass(frozen=True)
class VersionInfo:
    id: int
    version: str
    artifact_sha256: str
    validate_features: Callable[[Any], list[tuple[str, str]]] | None = field(
        default=None, compare=False
    )


class Prediction(NamedTuple):
    """A valid prediction record, normalised. ``payload`` is what a retry must
    repeat exactly (its SHA-256 is the idempotency comparison). A named tuple:
    made a thousand times per request, at half the cost of a frozen dataclass."""

    prediction_id: uuid.UUID
    version: VersionInfo
    predicted_at: str
    features: dict[str, Any] | None
    input_commitment: str | None
    score: float | int
    decision: str | None
    protected_attributes: dict[str, Any] | None
    trace_id: str | None
    payload: bytes


@dataclass(frozen=True)
class Outcome:
    prediction_id: uuid.UUID
    outcome: Any
    observed_at: str
    trace_id: str | None
    payload: bytes


# --- parsing ------------------------------------------------------------------------


def parse_batch(
    body: bytes,
    content_type: str,
    *,
    max_records: int = MAX_RECORDS,
    max_bytes: int = MAX_BYTES,
) -> list[Any]:
    """The records of a JSON array or NDJSON body (``application/x-ndjson``)."""
    if len(body) > max_bytes:
        raise BatchError(
            413,
            "batch_too_large",
            f"The body exceeds {max_bytes} bytes.",
            {"body": [f"The body exceeds {max_bytes} bytes."]},
        )
    kind = content_type.split(";", 1)[0].strip().lower()
    ndjson = kind in ("application/x-ndjson", "application/jsonl", "application/ndjson")
    if ndjson:
        records = []
        for number, line in enumerate(body.split(b"\n"), start=1):
            if not line.strip():
                continue
            try:
                records.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                _refuse_hostile(body, ndjson=True)
                raise BatchError(
                    400,
                    "malformed_json",
                    f"Line {number} is not valid JSON: {exc}",
                    {f"line {number}": [str(exc)]},
                ) from exc
            if len(records) > max_records:
                break
    elif kind == "application/json":
        try:
            records = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            _refuse_hostile(body, ndjson=False)
            raise BatchError(
                400,
                "malformed_json",
                f"The body is not valid JSON: {exc}",
                {"body": [str(exc)]},
            ) from exc
        if not isinstance(records, list):
            raise BatchError(
                400,
                "not_a_batch",
                "The body must be a JSON array of records (or NDJSON).",
                {"body": ["Expected a JSON array."]},
            )
    else:
        raise BatchError(
            415,
            "unsupported_media_type",
            "Send application/json (an array) or application/x-ndjson.",
            {"body": ["Send application/json (an array) or application/x-ndjson."]},
        )
    # orjson refuses lone surrogates, NaN, Infinity and 1e309 (above), but accepts
    # NUL and integers beyond 64 bits (as rounded floats): two byte scans find a
    # suspect body (about 0.6 µs a record), which the strict parser then names field
    # by field. Nesting that orjson accepts (up to 1,024 levels) can only be stored
    # in features: validate_predictions checks its depth.
    if b"\\u0000" in body or _LONG_DIGIT_RUN in body.translate(_DIGITS_AS_ZERO):
        _refuse_hostile(body, ndjson=ndjson)
    if not records:
        raise BatchError(
            400, "empty_batch", "The batch holds no records.", {"body": ["Empty."]}
        )
    if len(records) > max_records:
        raise BatchError(
            413,
            "too_many_records",
            f"A batch holds at most {max_records} records.",
        )
    return records


def _refuse_hostile(body: bytes, *, ndjson: bool) -> None:
    """Raise BatchError(422) naming every record and field that the input boundary
    refuses (governance.inputs, integers limited to ±2^53); return quietly if the
    body holds none (it may still be malformed JSON, reported by the caller)."""
    limits: dict[str, Any] = {"int_min": -MAX_SAFE_INTEGER, "int_max": MAX_SAFE_INTEGER}
    errors: dict[str, list[str]] = {}
    if ndjson:
        lines = (line for line in body.split(b"\n") if line.strip())
        for i, line in enumerate(lines):
            try:
                inputs.loads(line, **limits)
            except inputs.InvalidInput as exc:
                if exc.code != "invalid":  # not JSON: the caller names the line
                    continue
                for where, messages in exc.errors.items():
                    name = (
                        f"records[{i}]" if where == "body" else f"records[{i}].{where}"
                    )
                    if where.startswith("body["):
                        name = f"records[{i}]{where[4:]}"
                    errors.setdefault(name, []).extend(messages)
    else:
        try:
            inputs.loads(body, **limits)
        except inputs.InvalidInput as exc:
            if exc.code == "invalid":
                errors = {
                    ("records" + where[4:] if where.startswith("body") else where): (
                        messages
                    )
                    for where, messages in exc.errors.items()
                }
    if errors:
        bad_records = len({key.split("]", 1)[0] for key in errors})
        raise BatchError(
            422,
            "invalid_batch",
            f"{bad_records} record(s) hold values that are not accepted; "
            "nothing of this batch was written.",
            errors,
        )


# --- field checks -------------------------------------------------------------------


_UUID_TEXT = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)


def _uuid(value: Any) -> uuid.UUID | None:
    if not isinstance(value, str) or _UUID_TEXT.match(value) is None:
        return None
    return uuid.UUID(value)


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not 20 <= len(value) <= 35:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):  # at the edge of datetime's range
        return None


def iso(value: datetime) -> str:
    """UTC, microseconds, "Z": 2026-11-22T10:00:00.000000Z."""
    if value.tzinfo is UTC:  # the usual case, three times cheaper
        return value.isoformat(timespec="microseconds")[:-6] + "Z"
    return (
        value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
        + "Z"
    )


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) <= MAX_SAFE_INTEGER
    return isinstance(value, float) and math.isfinite(value)


def _plain_errors(value: Any, path: str, out: list[tuple[str, str]]) -> None:
    """Integers beyond ±2^53 have no portable JSON form: refuse them anywhere."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            out.append((path, "integer outside ±2^53"))
        return
    if isinstance(value, dict):
        for key, item in value.items():
            _plain_errors(item, f"{path}.{key}", out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _plain_errors(item, f"{path}[{i}]", out)


def _has_big_integer(value: Any) -> bool:
    """Whether an integer beyond ±2^53 is anywhere in ``value`` (orjson refuses to
    serialise one under OPT_STRICT_INTEGER): a fraction of a walk's cost."""
    try:
        orjson.dumps(value, option=orjson.OPT_STRICT_INTEGER)
    except orjson.JSONEncodeError:
        return True
    return False


def _text(value: Any, limit: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit and "\x00" not in value


def _time_window(
    at: datetime, now: datetime, max_age: timedelta, max_skew: timedelta
) -> str | None:
    if at > now + max_skew:
        return f"is in the future (more than {int(max_skew.total_seconds())} s ahead)"
    if at < now - max_age:
        return f"is older than {int(max_age.total_seconds() // 3600)} h"
    return None


def _uuid7_time(value: uuid.UUID) -> datetime | None:
    if value.version != 7:
        return None
    millis = value.int >> 80
    try:
        return datetime.fromtimestamp(millis / 1000, UTC)
    except (OverflowError, ValueError, OSError):  # past year 9999
        return datetime.max.replace(tzinfo=UTC)


def compile_features_validator(
    schema: Mapping[str, Any],
) -> Callable[[Any], list[tuple[str, str]]]:
    """A validator returning (path, message) for every failing field (empty if valid).

    fastjsonschema answers valid/invalid fast; only an invalid value is re-checked
    with jsonschema to list every failure.
    """
    import fastjsonschema
    from jsonschema import Draft202012Validator

    fast = fastjsonschema.compile(dict(schema))
    full = Draft202012Validator(dict(schema))

    def validate(value: Any) -> list[tuple[str, str]]:
        try:
            fast(value)
            return []
        except fastjsonschema.JsonSchemaException:
            pass
        found = []
        for error in full.iter_errors(value):
            where = "".join(
                f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
            )
            found.append((where, error.message))
        return found or [("", "does not match the input schema")]

    return validate


# --- predictions --------------------------------------------------------------------


def validate_predictions(
    records: Sequence[Any],
    *,
    binding: Binding,
    versions: Mapping[str, VersionInfo],
    now: datetime,
    max_age: timedelta = timedelta(days=7),
    max_skew: timedelta = timedelta(minutes=5),
    raw_body: bytes | None = None,
) -> list[Prediction]:
    """Every record valid, or BatchError(422) naming every bad record and field.

    ``raw_body`` is accepted for compatibility and not needed: integers beyond
    ±2^53 are found by serialising the features with orjson's 53-bit limit.
    """
    errors: dict[str, list[str]] = {}
    valid: list[Prediction] = []
    seen: dict[uuid.UUID, int] = {}

    def bad(i: int, name: str, message: str) -> None:
        errors.setdefault(
            f"records[{i}].{name}" if name else f"records[{i}]", []
        ).append(message)

    for i, record in enumerate(records):
        if not isinstance(record, dict):
            bad(i, "", "A record must be a JSON object.")
            continue
        before = len(errors)
        fields = record.keys()
        if not fields <= PREDICTION_FIELDS:
            for name in sorted(fields - PREDICTION_FIELDS):
                bad(i, name, "Unknown field.")
        if not _REQUIRED_SET <= fields:
            for name in PREDICTION_REQUIRED:
                if name not in record:
                    bad(i, name, "This field is required.")
        prediction_id = _uuid(record.get("prediction_id"))
        if "prediction_id" in record:
            if prediction_id is None:
                bad(i, "prediction_id", "Must be a UUID (36 characters).")
            elif prediction_id in seen:
                bad(
                    i,
                    "prediction_id",
                    f"Duplicate of records[{seen[prediction_id]}] in this batch.",
                )
            else:
                seen[prediction_id] = i
                minted = _uuid7_time(prediction_id)
                if minted is not None:
                    problem = _time_window(minted, now, max_age, max_skew)
                    if problem:
                        bad(i, "prediction_id", f"The UUIDv7 time {problem}.")
        model = record.get("model")
        if "model" in record and model != binding.model_slug:
            bad(
                i,
                "model",
                f"This key is bound to model {binding.model_slug!r} "
                f"in {binding.environment}.",
            )
        version = None
        if "version" in record:
            raw_version = record["version"]
            version = (
                versions.get(raw_version) if isinstance(raw_version, str) else None
            )
            if version is None:
                bad(
                    i,
                    "version",
                    f"No version {raw_version!r} of {binding.model_slug} is registered.",
                )
        predicted = None
        if "predicted_at" in record:
            predicted = _timestamp(record["predicted_at"])
            if predicted is None:
                bad(
                    i,
                    "predicted_at",
                    "Must be an RFC 3339 timestamp with a time zone.",
                )
            else:
                problem = _time_window(predicted, now, max_age, max_skew)
                if problem:
                    bad(i, "predicted_at", f"The time {problem}.")
        features = record.get("features")
        commitment = record.get("input_commitment")
        if ("features" in record) == ("input_commitment" in record):
            bad(i, "features", "Send exactly one of features or input_commitment.")
        elif "features" in record:
            if not isinstance(features, dict):
                bad(i, "features", "Must be an object.")
            else:
                if inputs.deeper_than(features, FEATURES_MAX_DEPTH):
                    for where, message in inputs.problems(
                        features, max_depth=FEATURES_MAX_DEPTH
                    ):
                        bad(i, f"features.{where}", message)
                if _has_big_integer(features):
                    plain: list[tuple[str, str]] = []
                    _plain_errors(features, "", plain)
                    for where, message in plain:
                        bad(i, f"features{where}", message)
                if version is not None and version.validate_features is not None:
                    for where, message in version.validate_features(features):
                        bad(i, f"features{where}", message)
        elif not (isinstance(commitment, str) and _HEX64.match(commitment)):
            bad(
                i,
                "input_commitment",
                "Must be a SHA-256 hex digest (64 lowercase hex characters).",
            )
        if "score" in record and not _is_number(record["score"]):
            bad(i, "score", "Must be a finite number.")
        decision = record.get("decision")
        if decision is not None and not _text(decision, 100):
            bad(i, "decision", "Must be a string of 1 to 100 characters.")
        protected = record.get("protected_attributes")
        if protected is not None:
            if not isinstance(protected, dict) or len(protected) > 50:
                bad(i, "protected_attributes", "Must be an object of at most 50 keys.")
            elif not all(_text(key, 100) for key in protected):
                bad(
                    i,
                    "protected_attributes",
                    "Keys must be strings of 1 to 100 characters without NUL.",
                )
            else:
                for key, item in protected.items():
                    if type(item) is str:
                        if len(item) > 1000 or "\x00" in item:
                            bad(
                                i,
                                f"protected_attributes.{key}",
                                "Must be a string of at most 1000 characters "
                                "without NUL.",
                            )
                    elif not (item is None or type(item) is bool or _is_number(item)):
                        bad(
                            i,
                            f"protected_attributes.{key}",
                            "Must be a string, number, boolean or null.",
                        )
        trace_id = record.get("trace_id")
        if trace_id is not None and not _text(trace_id, 200):
            bad(i, "trace_id", "Must be a string of 1 to 200 characters.")
        if len(errors) != before:
            continue
        assert prediction_id is not None and version is not None
        assert predicted is not None
        valid.append(
            Prediction(
                prediction_id=prediction_id,
                version=version,
                predicted_at=iso(predicted),
                features=features if "features" in record else None,
                input_commitment=commitment if "input_commitment" in record else None,
                score=record["score"],
                decision=decision,
                protected_attributes=protected,
                trace_id=trace_id,
                # What the client sent, canonicalised: a retry must repeat it.
                payload=dumps(record),
            )
        )
    if errors:
        bad_records = len({key.split("]", 1)[0] for key in errors})
        raise BatchError(
            422,
            "invalid_batch",
            f"{bad_records} of {len(records)} records are invalid; "
            "nothing of this batch was written.",
            errors,
        )
    return valid


def protected_commitment(attributes: Mapping[str, Any], salt: bytes) -> str:
    """SHA-256(salt || canonical JSON of the attributes), hex."""
    return hashlib.sha256(salt + dumps(dict(attributes))).hexdigest()


def prediction_leaf(
    prediction: Prediction,
    *,
    binding: Binding,
    received_at: str,
    deployment_state: Mapping[str, str] | None,
    shadow: bool,
    protected_commitment_hex: str | None,
) -> bytes:
    leaf: dict[str, Any] = {
        "v": LEAF_VERSION,
        "type": "prediction",
        "prediction_id": str(prediction.prediction_id),
        "deployment": {
            "model": binding.model_slug,
            "environment": binding.environment,
            "key": binding.key_prefix,
        },
        "model_version": {
            "version": prediction.version.version,
            "artifact_sha256": prediction.version.artifact_sha256,
        },
        "deployment_state": dict(deployment_state) if deployment_state else None,
        "shadow": shadow,
        "predicted_at": prediction.predicted_at,
        "received_at": received_at,
        "score": prediction.score,
        "decision": prediction.decision,
        "protected_attributes_commitment": protected_commitment_hex,
        "trace_id": prediction.trace_id,
    }
    if prediction.features is not None:
        leaf["features"] = prediction.features
    else:
        leaf["input_commitment"] = prediction.input_commitment
    return dumps(leaf)


# --- outcomes -----------------------------------------------------------------------


def outcome_entry_id(prediction_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(OUTCOME_NAMESPACE, str(prediction_id))


def validate_outcomes(
    records: Sequence[Any],
    *,
    now: datetime,
    max_skew: timedelta = timedelta(minutes=5),
) -> list[Outcome]:
    errors: dict[str, list[str]] = {}
    valid: list[Outcome] = []
    seen: dict[uuid.UUID, int] = {}

    def bad(i: int, name: str, message: str) -> None:
        errors.setdefault(
            f"records[{i}].{name}" if name else f"records[{i}]", []
        ).append(message)

    for i, record in enumerate(records):
        if not isinstance(record, dict):
            bad(i, "", "A record must be a JSON object.")
            continue
        before = len(errors)
        for name in sorted(set(record) - OUTCOME_FIELDS):
            bad(i, name, "Unknown field.")
        for name in ("prediction_id", "outcome", "observed_at"):
            if name not in record:
                bad(i, name, "This field is required.")
        prediction_id = _uuid(record.get("prediction_id"))
        if "prediction_id" in record:
            if prediction_id is None:
                bad(i, "prediction_id", "Must be a UUID (36 characters).")
            elif prediction_id in seen:
                bad(
                    i,
                    "prediction_id",
                    f"Duplicate of records[{seen[prediction_id]}] in this batch.",
                )
            else:
                seen[prediction_id] = i
        outcome = record.get("outcome")
        if "outcome" in record and not (
            isinstance(outcome, bool)
            or _is_number(outcome)
            or (isinstance(outcome, str) and _text(outcome, 100))
        ):
            bad(i, "outcome", "Must be a boolean, a finite number or a short string.")
        observed = None
        if "observed_at" in record:
            observed = _timestamp(record["observed_at"])
            if observed is None:
                bad(i, "observed_at", "Must be an RFC 3339 timestamp with a time zone.")
            elif observed > now + max_skew:
                bad(i, "observed_at", "Is in the future.")
        trace_id = record.get("trace_id")
        if trace_id is not None and not _text(trace_id, 200):
            bad(i, "trace_id", "Must be a string of 1 to 200 characters.")
        if len(errors) != before:
            continue
        assert prediction_id is not None and observed is not None
        normalised = {
            "prediction_id": str(prediction_id),
            "outcome": outcome,
            "observed_at": iso(observed),
            "trace_id": trace_id,
        }
        valid.append(
            Outcome(prediction_id, outcome, iso(observed), trace_id, dumps(normalised))
        )
    if errors:
        bad_records = len({key.split("]", 1)[0] for key in errors})
        raise BatchError(
            422,
            "invalid_batch",
            f"{bad_records} of {len(records)} records are invalid; "
            "nothing of this batch was written.",
            errors,
        )
    return valid


def outcome_leaf(
    outcome: Outcome,
    *,
    binding: Binding,
    prediction_leaf_hash: bytes,
    received_at: str,
) -> bytes:
    return dumps(
        {
            "v": LEAF_VERSION,
            "type": "outcome",
            "prediction_id": str(outcome.prediction_id),
            "prediction_leaf_hash": prediction_leaf_hash.hex(),
            "deployment": {
                "model": binding.model_slug,
                "environment": binding.environment,
                "key": binding.key_prefix,
            },
            "outcome": outcome.outcome,
            "observed_at": outcome.observed_at,
            "received_at": received_at,
            "trace_id": outcome.trace_id,
        }
    )
