"""Prediction and outcome batches (audits/ledger/records.py): pure, no database.

Parsing (reference/ledger.md D5), whole-batch validation naming every bad record
and field, the canonical leaf bytes, and the protected-attribute commitment.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from audits.ledger import records
from governance import inputs
from tests.factories import INPUT_SCHEMA

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
BINDING = records.Binding(
    model_id=7,
    model_slug="credit-risk",
    environment="production",
    key_prefix="a1b2c3d4",
)
ARTIFACT = "ab" * 32
VERSION = records.VersionInfo(
    id=11,
    version="1.0.0",
    artifact_sha256=ARTIFACT,
    validate_features=records.compile_features_validator(INPUT_SCHEMA),
)
# A version without an input schema: only the portable-JSON rules apply to features.
UNSCHEMED = records.VersionInfo(id=12, version="0.9.0", artifact_sha256="cd" * 32)
VERSIONS = {"1.0.0": VERSION, "0.9.0": UNSCHEMED}
# A UUIDv7 minted one minute before NOW (48-bit millisecond prefix 0x01a2031fb7a0).
PID = "01a2031f-b7a0-7000-8000-000000000001"
FEATURES = {"amount": 3000, "duration": 24, "purpose": "car"}
COMMITMENT = hashlib.sha256(b"inputs").hexdigest()


def uuid7(at: datetime, tail: int = 1) -> str:
    millis = int(at.timestamp() * 1000)
    return str(uuid.UUID(int=(millis << 80) | (0x7 << 76) | (0b10 << 62) | tail))


def record(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "prediction_id": PID,
        "model": "credit-risk",
        "version": "1.0.0",
        "predicted_at": "2026-11-22T11:59:00Z",
        "features": dict(FEATURES),
        "score": 0.71,
        "decision": "approve",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not ...}


def validate(*batch: Any) -> list[records.Prediction]:
    return records.validate_predictions(
        list(batch), binding=BINDING, versions=VERSIONS, now=NOW
    )


def errors_of(*batch: Any) -> dict[str, list[str]]:
    with pytest.raises(records.BatchError) as excinfo:
        validate(*batch)
    assert (excinfo.value.status, excinfo.value.code) == (422, "invalid_batch")
    return excinfo.value.errors


def parse_error(body: bytes, content_type: str = "application/json") -> Any:
    with pytest.raises(records.BatchError) as excinfo:
        records.parse_batch(body, content_type)
    return excinfo.value


# --- parse_batch --------------------------------------------------------------------


def test_parse_json_array_returns_the_records() -> None:
    # when
    parsed = records.parse_batch(
        b'[{"a": 1}, {"b": [2, 3]}]', "application/json; charset=utf-8"
    )
    # then
    assert parsed == [{"a": 1}, {"b": [2, 3]}]


@pytest.mark.parametrize(
    "content_type", ["application/x-ndjson", "application/jsonl", "Application/NDJSON"]
)
def test_parse_ndjson_skips_blank_lines(content_type: str) -> None:
    # given records separated by blank, whitespace-only and CRLF lines
    body = b'\n{"a": 1}\r\n\n   \n{"b": 2}\n\t\n{"c": 3}'
    # when
    parsed = records.parse_batch(body, content_type)
    # then
    assert parsed == [{"a": 1}, {"b": 2}, {"c": 3}]


def test_parse_accepts_exactly_the_record_limit() -> None:
    # given 1,000 records in each format
    array = orjson.dumps([{"i": i} for i in range(1000)])
    ndjson = b"\n".join(orjson.dumps({"i": i}) for i in range(1000))
    # then
    assert len(records.parse_batch(array, "application/json")) == 1000
    assert len(records.parse_batch(ndjson, "application/x-ndjson")) == 1000


@pytest.mark.parametrize("content_type", ["application/json", "application/x-ndjson"])
def test_parse_refuses_more_than_1000_records_with_413(content_type: str) -> None:
    # given 1,001 small records
    if content_type == "application/json":
        body = orjson.dumps([{"i": i} for i in range(1001)])
    else:
        body = b"\n".join(orjson.dumps({"i": i}) for i in range(1001))
    # when
    error = parse_error(body, content_type)
    # then
    assert (error.status, error.code, error.detail) == (
        413,
        "too_many_records",
        "A batch holds at most 1000 records.",
    )


def test_parse_refuses_a_body_over_1_mib_with_413_before_parsing() -> None:
    # given a body one byte over the limit, which is not even JSON
    body = b"x" * (1024 * 1024 + 1)
    # when
    error = parse_error(body)
    # then
    assert (error.status, error.code, error.detail) == (
        413,
        "batch_too_large",
        "The body exceeds 1048576 bytes.",
    )


def test_parse_accepts_a_body_of_exactly_1_mib() -> None:
    # given a one-record array padded with whitespace to exactly 1 MiB
    core = b'[{"a": 1}]'
    body = core[:-1] + b" " * (1024 * 1024 - len(core)) + b"]"
    assert len(body) == 1024 * 1024
    # then
    assert records.parse_batch(body, "application/json") == [{"a": 1}]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"a": "\xff\xfe"}]', "str is not valid UTF-8"),
        (b'[{"a": 1}', "unexpected end of data"),
        (b'[{"a": "nul\x00byte"}]', "control character"),
    ],
    ids=["invalid-utf8", "truncated", "raw-nul"],
)
def test_parse_refuses_bad_json_with_400(body: bytes, message: str) -> None:
    # when
    error = parse_error(body)
    # then
    assert (error.status, error.code) == (400, "malformed_json")
    assert list(error.errors) == ["body"]
    assert message in error.errors["body"][0]
    assert error.detail.startswith("The body is not valid JSON: ")


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            b"[" * 10_000 + b"]" * 10_000,
            {"records" + "[0]" * 64: [inputs.depth_message(64)]},
        ),
        (b'[{"score": 1e999}]', {"records[0].score": [inputs.NON_FINITE_MESSAGE]}),
        (b'[{"score": NaN}]', {"records[0].score": [inputs.NON_FINITE_MESSAGE]}),
        (
            b'[{"f": {"\\ud800": 1}}]',
            {"records[0].f.\\ud800": [inputs.SURROGATE_MESSAGE]},
        ),
        (b'[{"s": "a\\u0000b"}]', {"records[0].s": [inputs.NUL_MESSAGE]}),
        (
            b'[{"f": {"n": 18446744073709551617}}]',
            {"records[0].f.n": ["Integer outside the accepted range (±2^53)."]},
        ),
    ],
    ids=["nesting-10k", "1e999", "nan", "lone-surrogate-key", "escaped-nul", "2^64+1"],
)
def test_parse_refuses_hostile_values_with_422_naming_record_and_field(
    body: bytes, errors: dict[str, list[str]]
) -> None:
    # when
    error = parse_error(body)
    # then
    assert (error.status, error.code, error.errors) == (422, "invalid_batch", errors)


def test_parse_names_hostile_values_by_record_in_ndjson() -> None:
    # given a good first line and a second with an integer beyond 64 bits
    body = b'{"a": 1}\n\n{"f": [1, -9223372036854775809]}\n'
    # when
    error = parse_error(body, "application/x-ndjson")
    # then
    assert (error.status, error.errors) == (
        422,
        {"records[1].f[1]": ["Integer outside the accepted range (±2^53)."]},
    )


def test_parse_ndjson_names_the_bad_line() -> None:
    # given line 4 (counting the blank line 2) is not JSON
    body = b'{"a": 1}\n\n{"b": 2}\n{"c": \n{"d": 4}'
    # when
    error = parse_error(body, "application/x-ndjson")
    # then
    assert (error.status, error.code) == (400, "malformed_json")
    assert list(error.errors) == ["line 4"]
    assert error.detail.startswith("Line 4 is not valid JSON: ")


def test_parse_keeps_negative_zero_and_long_digit_strings() -> None:
    # when
    parsed = records.parse_batch(
        b'[{"z": -0.0, "t": "12345678901234567890"}]', "application/json"
    )
    # then the values survive parsing (validation decides about them)
    assert str(parsed[0]["z"]) == "-0.0"
    assert parsed[0]["t"] == "12345678901234567890"


@pytest.mark.parametrize("body", [b'{"prediction_id": "x"}', b'"text"', b"42", b"null"])
def test_parse_refuses_json_that_is_not_an_array_with_400(body: bytes) -> None:
    # when
    error = parse_error(body)
    # then
    assert (error.status, error.code, error.errors) == (
        400,
        "not_a_batch",
        {"body": ["Expected a JSON array."]},
    )


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "", "application/xml", "multipart/form-data; boundary=x"],
)
def test_parse_refuses_other_media_types_with_415(content_type: str) -> None:
    # when
    error = parse_error(b"[]", content_type)
    # then
    assert (error.status, error.code, error.errors) == (
        415,
        "unsupported_media_type",
        {"body": ["Send application/json (an array) or application/x-ndjson."]},
    )


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"[]", "application/json"),
        (b"", "application/x-ndjson"),
        (b"\n \n\r\n", "application/x-ndjson"),
    ],
)
def test_parse_refuses_an_empty_batch_with_400(body: bytes, content_type: str) -> None:
    # when
    error = parse_error(body, content_type)
    # then
    assert (error.status, error.code, error.errors) == (
        400,
        "empty_batch",
        {"body": ["Empty."]},
    )


# --- validate_predictions: valid records --------------------------------------------


def test_valid_record_is_normalised() -> None:
    # given a record with a +02:00 time
    raw = record(predicted_at="2026-11-22T13:59:00+02:00")
    # when
    (prediction,) = validate(raw)
    # then the time is UTC and the payload is the record as sent, canonicalised
    assert prediction == records.Prediction(
        prediction_id=uuid.UUID(PID),
        version=VERSION,
        predicted_at="2026-11-22T11:59:00.000000Z",
        features=FEATURES,
        input_commitment=None,
        score=0.71,
        decision="approve",
        protected_attributes=None,
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        payload=(
            b'{"decision":"approve","features":{"amount":3000,"duration":24,'
            b'"purpose":"car"},"model":"credit-risk","predicted_at":'
            b'"2026-11-22T13:59:00+02:00","prediction_id":"' + PID.encode() + b'",'
            b'"score":0.71,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",'
            b'"version":"1.0.0"}'
        ),
    )


def test_payload_is_independent_of_key_order_only() -> None:
    # given the same record with every object's keys reversed
    first = record(protected_attributes={"sex": "female", "age_group": "25+"})
    reordered = dict(reversed(list(first.items())))
    reordered["features"] = dict(reversed(list(FEATURES.items())))
    reordered["protected_attributes"] = {"age_group": "25+", "sex": "female"}
    # and once with the same instant written in another offset
    other_notation = {**first, "predicted_at": "2026-11-22T06:59:00-05:00"}
    # when
    (a,) = validate(first)
    (b,) = validate(reordered)
    (c,) = validate(other_notation)
    # then a retry must repeat the values exactly, in any key order
    assert a.payload == b.payload
    assert a.payload != c.payload
    assert a.predicted_at == c.predicted_at


def test_input_commitment_instead_of_features_is_valid() -> None:
    # when
    (prediction,) = validate(record(features=..., input_commitment=COMMITMENT))
    # then
    assert (prediction.features, prediction.input_commitment) == (None, COMMITMENT)
    assert b'"input_commitment":"' + COMMITMENT.encode() + b'"' in prediction.payload
    assert b'"features"' not in prediction.payload


@pytest.mark.parametrize(
    "overrides",
    [
        {"decision": None, "trace_id": None, "protected_attributes": None},
        {"decision": ..., "trace_id": ..., "protected_attributes": ...},
        {"score": 2**53, "decision": "d" * 100, "trace_id": "t" * 200},
        {"score": -(2**53)},
        {"score": -0.0},
        {"score": 0},
        {"prediction_id": str(uuid.UUID(int=5, version=4))},
        {"protected_attributes": {f"k{i}": i for i in range(50)}},
        {"protected_attributes": {"a": None, "b": True, "c": 1.5, "d": "x"}},
        {"version": "0.9.0", "features": {"anything": [1, {"deep": 2**53}]}},
    ],
    ids=[
        "nulls",
        "absent-optionals",
        "limits",
        "min-int",
        "negative-zero",
        "zero",
        "uuid-v4-has-no-time",
        "50-protected-keys",
        "protected-value-types",
        "no-schema",
    ],
)
def test_records_at_the_limits_are_valid(overrides: dict[str, Any]) -> None:
    # when
    (prediction,) = validate(record(**overrides))
    # then
    assert prediction.prediction_id == uuid.UUID(record(**overrides)["prediction_id"])


def test_predicted_at_and_uuid7_inside_the_window_edges_are_valid() -> None:
    # given times 167 h old and 4 min ahead
    old = NOW - timedelta(hours=167)
    ahead = NOW + timedelta(minutes=4)
    # when
    valid = validate(
        record(prediction_id=uuid7(old), predicted_at=records.iso(old)),
        record(prediction_id=uuid7(ahead), predicted_at=records.iso(ahead)),
    )
    # then
    assert [p.predicted_at for p in valid] == [records.iso(old), records.iso(ahead)]


# --- validate_predictions: refusals ---------------------------------------------------


def test_missing_fields_are_each_named() -> None:
    # then
    assert errors_of({}) == {
        "records[0].prediction_id": ["This field is required."],
        "records[0].model": ["This field is required."],
        "records[0].version": ["This field is required."],
        "records[0].predicted_at": ["This field is required."],
        "records[0].score": ["This field is required."],
        "records[0].features": ["Send exactly one of features or input_commitment."],
    }


def test_unknown_fields_and_non_objects_are_refused() -> None:
    # then
    assert errors_of(
        record(deployment_id="prod", model_version_id=3), [1, 2], "x", None
    ) == {
        "records[0].deployment_id": ["Unknown field."],
        "records[0].model_version_id": ["Unknown field."],
        "records[1]": ["A record must be a JSON object."],
        "records[2]": ["A record must be a JSON object."],
        "records[3]": ["A record must be a JSON object."],
    }


def test_every_bad_record_is_listed_at_once_and_good_ones_are_not() -> None:
    # given records 0 and 3 valid, 1, 2 and 4 invalid
    batch = [
        record(prediction_id=uuid7(NOW, 1)),
        record(prediction_id=uuid7(NOW, 2), score="high"),
        record(prediction_id=uuid7(NOW, 3), model="other-model", decision=""),
        record(prediction_id=uuid7(NOW, 4)),
        record(prediction_id="not-a-uuid"),
    ]
    # when
    with pytest.raises(records.BatchError) as excinfo:
        validate(*batch)
    # then
    error = excinfo.value
    assert error.detail == (
        "3 of 5 records are invalid; nothing of this batch was written."
    )
    assert error.errors == {
        "records[1].score": ["Must be a finite number."],
        "records[2].model": ["This key is bound to model 'credit-risk' in production."],
        "records[2].decision": ["Must be a string of 1 to 100 characters."],
        "records[4].prediction_id": ["Must be a UUID (36 characters)."],
    }


def test_duplicate_id_inside_a_batch_names_both_records() -> None:
    # given the same id at 0 and 2 (differently cased)
    batch = [
        record(),
        record(prediction_id=uuid7(NOW, 9)),
        record(prediction_id=PID.upper()),
    ]
    # then
    assert errors_of(*batch) == {
        "records[2].prediction_id": ["Duplicate of records[0] in this batch."]
    }


@pytest.mark.parametrize(
    "value",
    [
        "0196f2a0",
        "01a2031f-b7a0-7000-8000-00000000000g",
        "{01a2031f-b7a0-7000-8000-00000001}",
        "----01a2031fb7a070008000000000000001",
        "01a2031fb7a070008000000000000001",
        1234,
        None,
    ],
)
def test_prediction_id_must_be_a_36_character_uuid(value: Any) -> None:
    # then
    assert errors_of(record(prediction_id=value)) == {
        "records[0].prediction_id": ["Must be a UUID (36 characters)."]
    }


def test_model_not_matching_the_binding_is_refused() -> None:
    # then
    assert errors_of(
        record(model="fraud"), record(prediction_id=uuid7(NOW, 2), model=1)
    ) == {
        "records[0].model": ["This key is bound to model 'credit-risk' in production."],
        "records[1].model": ["This key is bound to model 'credit-risk' in production."],
    }


@pytest.mark.parametrize(
    ("value", "shown"), [("9.9.9", "'9.9.9'"), (1, "1"), (None, "None")]
)
def test_unknown_version_is_refused(value: Any, shown: str) -> None:
    # then
    assert errors_of(record(version=value)) == {
        "records[0].version": [f"No version {shown} of credit-risk is registered."]
    }


def test_features_are_checked_against_the_input_schema_naming_each_feature() -> None:
    # given three bad features, one missing feature and one extra feature
    batch = [
        record(features={"amount": -1, "duration": "x", "purpose": "boat"}),
        record(prediction_id=uuid7(NOW, 2), features={"amount": 1, "duration": 2}),
        record(
            prediction_id=uuid7(NOW, 3),
            features={**FEATURES, "colour": "red"},
        ),
        record(prediction_id=uuid7(NOW, 4), features=[1, 2]),
    ]
    # then
    assert errors_of(*batch) == {
        "records[0].features.amount": ["-1 is less than the minimum of 0"],
        "records[0].features.duration": ["'x' is not of type 'integer'"],
        "records[0].features.purpose": [
            "'boat' is not one of ['car', 'furniture', 'business']"
        ],
        "records[1].features": ["'purpose' is a required property"],
        "records[2].features": [
            "Additional properties are not allowed ('colour' was unexpected)"
        ],
        "records[3].features": ["Must be an object."],
    }


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        (
            {"input_commitment": COMMITMENT},
            {
                "records[0].features": [
                    "Send exactly one of features or input_commitment."
                ]
            },
        ),
        (
            {"features": ...},
            {
                "records[0].features": [
                    "Send exactly one of features or input_commitment."
                ]
            },
        ),
        (
            {"features": ..., "input_commitment": COMMITMENT.upper()},
            {
                "records[0].input_commitment": [
                    "Must be a SHA-256 hex digest (64 lowercase hex characters)."
                ]
            },
        ),
        (
            {"features": ..., "input_commitment": COMMITMENT[:63]},
            {
                "records[0].input_commitment": [
                    "Must be a SHA-256 hex digest (64 lowercase hex characters)."
                ]
            },
        ),
        (
            {"features": ..., "input_commitment": None},
            {
                "records[0].input_commitment": [
                    "Must be a SHA-256 hex digest (64 lowercase hex characters)."
                ]
            },
        ),
    ],
    ids=["both", "neither", "uppercase", "short", "null"],
)
def test_exactly_one_of_features_or_input_commitment(
    overrides: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    # then
    assert errors_of(record(**overrides)) == errors


def test_uuid7_time_outside_the_window_is_refused() -> None:
    # given ids minted 169 h ago and 6 min ahead (the record times are fine)
    batch = [
        record(prediction_id=uuid7(NOW - timedelta(hours=169))),
        record(prediction_id=uuid7(NOW + timedelta(minutes=6))),
    ]
    # then
    assert errors_of(*batch) == {
        "records[0].prediction_id": ["The UUIDv7 time is older than 168 h."],
        "records[1].prediction_id": [
            "The UUIDv7 time is in the future (more than 300 s ahead)."
        ],
    }


def test_uuid7_time_beyond_year_9999_is_refused_not_a_crash() -> None:
    # then
    assert errors_of(record(prediction_id="ffffffff-ffff-7fff-bfff-ffffffffffff")) == {
        "records[0].prediction_id": [
            "The UUIDv7 time is in the future (more than 300 s ahead)."
        ]
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-11-15T11:59:59Z", "The time is older than 168 h."),
        ("2026-11-22T12:05:01Z", "The time is in the future (more than 300 s ahead)."),
        ("2026-11-22T11:59:00", "Must be an RFC 3339 timestamp with a time zone."),
        ("2026-11-22", "Must be an RFC 3339 timestamp with a time zone."),
        ("yesterday at noon UTC", "Must be an RFC 3339 timestamp with a time zone."),
        (1795348740, "Must be an RFC 3339 timestamp with a time zone."),
        (None, "Must be an RFC 3339 timestamp with a time zone."),
    ],
    ids=["too-old", "future", "naive", "date-only", "words", "epoch", "null"],
)
def test_predicted_at_window_and_time_zone_are_required(
    value: Any, message: str
) -> None:
    # then
    assert errors_of(record(predicted_at=value)) == {
        "records[0].predicted_at": [message]
    }


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]
)
def test_predicted_at_at_the_edge_of_the_calendar_is_refused_not_a_crash(
    value: str,
) -> None:
    # then
    assert errors_of(record(predicted_at=value)) == {
        "records[0].predicted_at": ["Must be an RFC 3339 timestamp with a time zone."]
    }


@pytest.mark.parametrize(
    "value",
    [2**53 + 1, -(2**53) - 1, "0.5", True, None, [0.5], {"p": 0.5}],
    ids=["2^53+1", "-2^53-1", "string", "bool", "null", "list", "object"],
)
def test_score_must_be_a_finite_safe_number(value: Any) -> None:
    # then
    assert errors_of(record(score=value)) == {
        "records[0].score": ["Must be a finite number."]
    }


def test_integers_beyond_2_53_are_refused_anywhere_in_features() -> None:
    # given a version without an input schema and deep out-of-range integers
    features = {
        "a": 2**53 + 1,
        "nested": {"list": [1, -(2**63)], "ok": 2**53},
    }
    # then
    assert errors_of(record(version="0.9.0", features=features)) == {
        "records[0].features.a": ["integer outside ±2^53"],
        "records[0].features.nested.list[1]": ["integer outside ±2^53"],
    }


def test_integers_beyond_2_53_are_refused_when_the_raw_body_is_given() -> None:
    # given the API's call, which passes the body to skip the scan when no
    # 16-digit run is in it
    batch = [record(version="0.9.0", features={"big": -(2**53) - 1})]
    # when
    with pytest.raises(records.BatchError) as excinfo:
        records.validate_predictions(
            batch,
            binding=BINDING,
            versions=VERSIONS,
            now=NOW,
            raw_body=orjson.dumps(batch),
        )
    # then
    assert excinfo.value.errors == {
        "records[0].features.big": ["integer outside ±2^53"]
    }


def test_integer_beyond_2_53_in_a_schema_feature_is_refused() -> None:
    # then
    assert errors_of(record(features={**FEATURES, "amount": 2**60})) == {
        "records[0].features.amount": ["integer outside ±2^53"]
    }


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("decision", "", "Must be a string of 1 to 100 characters."),
        ("decision", "d" * 101, "Must be a string of 1 to 100 characters."),
        ("decision", "app\x00rove", "Must be a string of 1 to 100 characters."),
        ("decision", 1, "Must be a string of 1 to 100 characters."),
        ("trace_id", "", "Must be a string of 1 to 200 characters."),
        ("trace_id", "t" * 201, "Must be a string of 1 to 200 characters."),
        ("trace_id", "\x00", "Must be a string of 1 to 200 characters."),
        ("trace_id", ["t"], "Must be a string of 1 to 200 characters."),
    ],
)
def test_decision_and_trace_id_are_short_strings_without_nul(
    name: str, value: Any, message: str
) -> None:
    # then
    assert errors_of(record(**{name: value})) == {f"records[0].{name}": [message]}


@pytest.mark.parametrize(
    ("value", "errors"),
    [
        (
            ["female"],
            {
                "records[0].protected_attributes": [
                    "Must be an object of at most 50 keys."
                ]
            },
        ),
        (
            {f"k{i}": i for i in range(51)},
            {
                "records[0].protected_attributes": [
                    "Must be an object of at most 50 keys."
                ]
            },
        ),
        (
            {"sex": ["f"], "age": {"v": 30}, "n": 2**53 + 1, "ok": "x"},
            {
                "records[0].protected_attributes.sex": [
                    "Must be a string, number, boolean or null."
                ],
                "records[0].protected_attributes.age": [
                    "Must be a string, number, boolean or null."
                ],
                "records[0].protected_attributes.n": [
                    "Must be a string, number, boolean or null."
                ],
            },
        ),
    ],
    ids=["list", "51-keys", "values"],
)
def test_protected_attributes_are_a_flat_object(
    value: Any, errors: dict[str, list[str]]
) -> None:
    # then
    assert errors_of(record(protected_attributes=value)) == errors


# --- leaves and commitments -----------------------------------------------------------


def test_prediction_leaf_bytes_are_canonical_for_a_fixed_input() -> None:
    # given a prediction with protected attributes, a state reference and -0.0
    (prediction,) = validate(
        record(
            score=-0.0,
            features={"purpose": "car", "duration": 24, "amount": 3000.5},
            protected_attributes={"sex": "female"},
        )
    )
    # when
    leaf = records.prediction_leaf(
        prediction,
        binding=BINDING,
        received_at="2026-11-22T12:00:00.000000Z",
        deployment_state={"leaf_hash": "11" * 32, "entry_id": "e" * 8},
        shadow=False,
        protected_commitment_hex="22" * 32,
    )
    # then every object has sorted keys, no whitespace, and the exact bytes below
    assert leaf == (
        b'{"decision":"approve","deployment":{"environment":"production",'
        b'"key":"a1b2c3d4","model":"credit-risk"},"deployment_state":'
        b'{"entry_id":"eeeeeeee","leaf_hash":"' + b"11" * 32 + b'"},'
        b'"features":{"amount":3000.5,"duration":24,"purpose":"car"},'
        b'"model_version":{"artifact_sha256":"' + ARTIFACT.encode() + b'",'
        b'"version":"1.0.0"},"predicted_at":"2026-11-22T11:59:00.000000Z",'
        b'"prediction_id":"01a2031f-b7a0-7000-8000-000000000001",'
        b'"protected_attributes_commitment":"' + b"22" * 32 + b'",'
        b'"received_at":"2026-11-22T12:00:00.000000Z","score":-0.0,'
        b'"shadow":false,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",'
        b'"type":"prediction","v":1}'
    )
    # and the plaintext protected attributes are not in the leaf
    assert b"female" not in leaf


def test_prediction_leaf_of_a_shadow_with_an_input_commitment() -> None:
    # given
    (prediction,) = validate(
        record(features=..., input_commitment=COMMITMENT, decision=..., trace_id=...)
    )
    # when
    leaf = records.prediction_leaf(
        prediction,
        binding=BINDING,
        received_at="2026-11-22T12:00:00.000000Z",
        deployment_state=None,
        shadow=True,
        protected_commitment_hex=None,
    )
    # then
    assert orjson.loads(leaf) == {
        "v": 1,
        "type": "prediction",
        "prediction_id": PID,
        "deployment": {
            "model": "credit-risk",
            "environment": "production",
            "key": "a1b2c3d4",
        },
        "model_version": {"version": "1.0.0", "artifact_sha256": ARTIFACT},
        "deployment_state": None,
        "shadow": True,
        "predicted_at": "2026-11-22T11:59:00.000000Z",
        "received_at": "2026-11-22T12:00:00.000000Z",
        "score": 0.71,
        "decision": None,
        "protected_attributes_commitment": None,
        "trace_id": None,
        "input_commitment": COMMITMENT,
    }
    assert leaf == records.dumps(orjson.loads(leaf))


def test_protected_commitment_known_answer() -> None:
    # given a fixed salt
    salt = bytes(range(16))
    # when
    value = records.protected_commitment({"sex": "female", "age_group": "25+"}, salt)
    # then SHA-256(salt || '{"age_group":"25+","sex":"female"}')
    assert value == "fe790c4258baf5c000c840558b9789036891df00b4e3fe2925d34a5401815321"
    assert (
        value
        == hashlib.sha256(salt + b'{"age_group":"25+","sex":"female"}').hexdigest()
    )
    assert (
        records.protected_commitment({"sex": "female", "age_group": "25+"}, b"x" * 16)
        != value
    )


# --- outcomes ---------------------------------------------------------------------------


def outcome(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "prediction_id": PID,
        "outcome": "default",
        "observed_at": "2026-11-22T11:00:00+01:00",
        "trace_id": "t-1",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not ...}


def outcome_errors(*batch: Any) -> dict[str, list[str]]:
    with pytest.raises(records.BatchError) as excinfo:
        records.validate_outcomes(list(batch), now=NOW)
    assert (excinfo.value.status, excinfo.value.code) == (422, "invalid_batch")
    return excinfo.value.errors


def test_valid_outcome_is_normalised() -> None:
    # when
    (valid,) = records.validate_outcomes([outcome()], now=NOW)
    # then
    assert valid == records.Outcome(
        prediction_id=uuid.UUID(PID),
        outcome="default",
        observed_at="2026-11-22T10:00:00.000000Z",
        trace_id="t-1",
        payload=(
            b'{"observed_at":"2026-11-22T10:00:00.000000Z","outcome":"default",'
            b'"prediction_id":"' + PID.encode() + b'","trace_id":"t-1"}'
        ),
    )


@pytest.mark.parametrize(
    "value", [True, False, 0, 1.5, -(2**53), "d", "x" * 100], ids=repr
)
def test_outcome_values_that_are_accepted(value: Any) -> None:
    # when
    (valid,) = records.validate_outcomes([outcome(outcome=value)], now=NOW)
    # then
    assert valid.outcome == value


@pytest.mark.parametrize(
    "value",
    [None, "", "x" * 101, "a\x00", 2**53 + 1, [1], {"v": 1}],
    ids=["null", "empty", "101-chars", "nul", "2^53+1", "list", "object"],
)
def test_outcome_values_that_are_refused(value: Any) -> None:
    # then
    assert outcome_errors(outcome(outcome=value)) == {
        "records[0].outcome": ["Must be a boolean, a finite number or a short string."]
    }


def test_outcome_batch_lists_every_bad_record() -> None:
    # given
    batch = [
        {},
        outcome(observed_at="2026-11-22T12:06:00Z"),
        outcome(prediction_id=PID.upper()),
        outcome(prediction_id=uuid7(NOW, 5), observed_at="2026-11-22 11:00", x=1),
        outcome(prediction_id=uuid7(NOW, 6), trace_id=""),
        "outcome",
    ]
    # then
    assert outcome_errors(*batch) == {
        "records[0].prediction_id": ["This field is required."],
        "records[0].outcome": ["This field is required."],
        "records[0].observed_at": ["This field is required."],
        "records[1].observed_at": ["Is in the future."],
        "records[2].prediction_id": ["Duplicate of records[1] in this batch."],
        "records[3].x": ["Unknown field."],
        "records[3].observed_at": ["Must be an RFC 3339 timestamp with a time zone."],
        "records[4].trace_id": ["Must be a string of 1 to 200 characters."],
        "records[5]": ["A record must be a JSON object."],
    }


def test_observed_at_at_the_edge_of_the_calendar_is_refused_not_a_crash() -> None:
    # then
    assert outcome_errors(outcome(observed_at="0001-01-01T00:00:00+01:00")) == {
        "records[0].observed_at": ["Must be an RFC 3339 timestamp with a time zone."]
    }


def test_outcome_entry_id_is_derived_from_the_prediction_id() -> None:
    # then one fixed outcome id per prediction (uuid5), different from the prediction
    assert records.outcome_entry_id(uuid.UUID(PID)) == uuid.UUID(
        "463de3fb-989f-53e1-a514-93b3496e75ee"
    )
    assert records.outcome_entry_id(uuid.UUID(uuid7(NOW, 2))) != uuid.UUID(
        "463de3fb-989f-53e1-a514-93b3496e75ee"
    )


def test_outcome_leaf_bytes_are_canonical_for_a_fixed_input() -> None:
    # given
    (valid,) = records.validate_outcomes([outcome(outcome=True)], now=NOW)
    # when
    leaf = records.outcome_leaf(
        valid,
        binding=BINDING,
        prediction_leaf_hash=bytes.fromhex("33" * 32),
        received_at="2026-11-22T12:00:00.000000Z",
    )
    # then
    assert leaf == (
        b'{"deployment":{"environment":"production","key":"a1b2c3d4",'
        b'"model":"credit-risk"},"observed_at":"2026-11-22T10:00:00.000000Z",'
        b'"outcome":true,"prediction_id":"' + PID.encode() + b'",'
        b'"prediction_leaf_hash":"' + b"33" * 32 + b'",'
        b'"received_at":"2026-11-22T12:00:00.000000Z","trace_id":"t-1",'
        b'"type":"outcome","v":1}'
    )


def test_features_nested_past_the_limit_are_refused_naming_the_path() -> None:
    # given features nested 100 levels (orjson itself accepts up to 1,024)
    features: Any = 1
    for _ in range(100):
        features = {"k": features}
    # when
    errors = errors_of(record(version="0.9.0", features=features))
    # then
    assert errors == {"records[0].features" + ".k" * 62: [inputs.depth_message(62)]}
