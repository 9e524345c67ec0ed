"""Pure modules of the registry: tiering, digests, baseline rules, as-of parsing."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import math
from pathlib import Path
from typing import Any

import pytest

from registry import digests, template_schema, tiering
from registry.baseline import validate_baseline, validate_input_schema
from registry.selectors import parse_as_of
from tests.factories import BASELINE, INPUT_SCHEMA

UTC = dt.UTC


@pytest.mark.parametrize(
    ("exposure", "purpose", "tier"),
    [
        ("high", "high", 1),
        ("high", "medium", 1),
        ("high", "low", 2),
        ("medium", "high", 1),
        ("medium", "medium", 2),
        ("medium", "low", 3),
        ("low", "high", 2),
        ("low", "medium", 3),
        ("low", "low", 3),
    ],
)
def test_suggested_tier_follows_the_materiality_matrix(
    exposure: str, purpose: str, tier: int
) -> None:
    # given materiality inputs / when the tier is suggested / then it is the matrix cell
    assert tiering.suggested_tier(exposure, purpose) == tier


@pytest.mark.parametrize(
    ("exposure", "purpose"),
    [("", "high"), ("high", ""), ("", ""), ("HIGH", "high"), ("critical", "low")],
)
def test_suggested_tier_is_none_when_an_input_is_unset(
    exposure: str, purpose: str
) -> None:
    # given a blank or unknown level / when / then no tier is suggested
    assert tiering.suggested_tier(exposure, purpose) is None


def test_canonical_json_sorts_keys_compactly_in_utf8() -> None:
    # given a nested value with unsorted keys and non-ASCII text
    value = {"b": [1, 2.5, None, True], "a": {"z": "é", "y": "€"}}
    # when it is serialised canonically
    out = digests.canonical_json(value)
    # then keys are sorted at every level, without spaces, UTF-8 encoded
    assert out == '{"a":{"y":"€","z":"é"},"b":[1,2.5,null,true]}'.encode()
    assert out == b'{"a":{"y":"\xe2\x82\xac","z":"\xc3\xa9"},"b":[1,2.5,null,true]}'


def test_canonical_json_is_independent_of_key_order() -> None:
    # given the same mapping built in two orders
    first = {"x": 1, "y": {"b": 2, "a": 1}}
    second = {"y": {"a": 1, "b": 2}, "x": 1}
    # when / then both hash the same
    assert digests.canonical_json(first) == digests.canonical_json(second)
    assert digests.content_digest(first) == digests.content_digest(second)
    assert (
        digests.content_digest(first)
        == hashlib.sha256(b'{"x":1,"y":{"a":1,"b":2}}').hexdigest()
    )


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_canonical_json_refuses_non_finite_floats(bad: float) -> None:
    # given a value holding a non-finite float / when / then it is refused
    with pytest.raises(ValueError, match="Out of range float values"):
        digests.canonical_json({"auc": bad})


def test_sha256_hex_hashes_bytes() -> None:
    assert digests.sha256_hex(b"abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_file_sha256_hashes_the_whole_file_in_chunks(tmp_path: Path) -> None:
    # given a file larger than the chunk size
    path = tmp_path / "model.pkl"
    data = b"\x80\x04fitted-model-bytes" * 1000
    path.write_bytes(data)
    # when it is hashed with a small chunk size and with the default one
    small = digests.file_sha256(path, chunk_size=7)
    default = digests.file_sha256(str(path))
    # then both equal hashlib's digest of the content
    assert small == hashlib.sha256(data).hexdigest()
    assert default == hashlib.sha256(data).hexdigest()


def test_file_sha256_of_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    assert digests.file_sha256(path) == hashlib.sha256(b"").hexdigest()


def test_validate_input_schema_accepts_an_object_schema() -> None:
    assert validate_input_schema(INPUT_SCHEMA) == []


@pytest.mark.parametrize(
    ("schema", "messages"),
    [
        ([], ["Must be a JSON Schema object."]),
        ("object", ["Must be a JSON Schema object."]),
        (None, ["Must be a JSON Schema object."]),
        (
            {"type": 5},
            ["Not a valid JSON Schema: 5 is not valid under any of the given schemas"],
        ),
        (
            {"type": "object", "properties": {"a": {"minimum": "a"}}},
            ["Not a valid JSON Schema: 'a' is not of type 'number'"],
        ),
        ({}, ['Must describe an object: "type": "object" with "properties".']),
        (
            {"type": "array", "properties": {}},
            ['Must describe an object: "type": "object" with "properties".'],
        ),
        (
            {"type": "object"},
            ['Must describe an object: "type": "object" with "properties".'],
        ),
    ],
)
def test_validate_input_schema_names_the_problem(
    schema: Any, messages: list[str]
) -> None:
    # given a malformed input schema / when validated / then the exact message
    assert validate_input_schema(schema) == messages


@pytest.mark.parametrize("baseline", [None, {}, BASELINE])
def test_validate_baseline_accepts_empty_and_well_formed_baselines(
    baseline: Any,
) -> None:
    assert validate_baseline(baseline, {"amount", "duration", "purpose"}) == []


def _numeric(edges: Any, proportions: Any) -> dict[str, Any]:
    return {
        "features": {
            "amount": {"type": "numeric", "edges": edges, "proportions": proportions}
        }
    }


@pytest.mark.parametrize(
    ("baseline", "messages"),
    [
        ([], ["Must be an object."]),
        ("baseline", ["Must be an object."]),
        ({"n": 10, "extra": 1, "other": 2}, ["Unknown keys: extra, other."]),
        ({"n": 0}, ["n: must be a positive integer."]),
        ({"n": -3}, ["n: must be a positive integer."]),
        ({"n": True}, ["n: must be a positive integer."]),
        ({"n": 1.5}, ["n: must be a positive integer."]),
        ({"n": "100"}, ["n: must be a positive integer."]),
        ({"features": []}, ["features: must be an object."]),
        ({"features": {"amount": 3}}, ["features.amount: must be an object."]),
        (
            {"features": {"amount": {"type": "ordinal"}}},
            ['features.amount: type: must be "numeric" or "categorical".'],
        ),
        (
            _numeric("1,2", [0.5, 0.5]),
            ["features.amount: edges: must be a list of finite numbers."],
        ),
        (
            _numeric([1.0, math.nan], [0.2, 0.3, 0.5]),
            ["features.amount: edges: must be a list of finite numbers."],
        ),
        (
            _numeric([3.0, 1.0], [0.2, 0.3, 0.5]),
            ["features.amount: edges: must be strictly increasing."],
        ),
        (
            _numeric([1.0, 1.0], [0.2, 0.3, 0.5]),
            ["features.amount: edges: must be strictly increasing."],
        ),
        (
            _numeric([1.0, 2.0], [0.5, 0.5]),
            ["features.amount: proportions: must have one more entry than edges."],
        ),
        (
            _numeric([1.0], [1.5, -0.5]),
            ["features.amount: proportions: each must be a share in [0, 1]."],
        ),
        (
            _numeric([1.0], [0.5, 0.4]),
            ["features.amount: proportions: must sum to 1 (they sum to 0.900000)."],
        ),
        (
            {"features": {"purpose": {"type": "categorical", "proportions": {}}}},
            ["features.purpose: proportions: must map categories to shares."],
        ),
        (
            {"features": {"purpose": {"type": "categorical", "proportions": [1.0]}}},
            ["features.purpose: proportions: must map categories to shares."],
        ),
        (
            {
                "features": {
                    "purpose": {
                        "type": "categorical",
                        "proportions": {"car": 0.7, "furniture": 0.4},
                    }
                }
            },
            ["features.purpose: proportions: must sum to 1 (they sum to 1.100000)."],
        ),
        ({"approval_rate": [0.7]}, ["approval_rate: must be an object."]),
        (
            {"approval_rate": {"overall": 1.2}},
            ["approval_rate.overall: must be a rate in [0, 1]."],
        ),
        (
            {"approval_rate": {"overall": True}},
            ["approval_rate.overall: must be a rate in [0, 1]."],
        ),
        (
            {"approval_rate": {"by_group": {"age_group": {}}}},
            ["approval_rate.by_group.age_group: must map groups to rates."],
        ),
        (
            {"approval_rate": {"by_group": {"age_group": 0.5}}},
            ["approval_rate.by_group.age_group: must map groups to rates."],
        ),
        (
            {"approval_rate": {"by_group": {"age_group": {"<25": -0.1, "25+": 0.7}}}},
            ["approval_rate.by_group.age_group.<25: must be a rate in [0, 1]."],
        ),
        ({"performance": [0.78]}, ["performance: must be an object."]),
        (
            {"performance": {"auc": "high", "ks": math.inf, "gini": 0.5}},
            [
                "performance.auc: must be a finite number.",
                "performance.ks: must be a finite number.",
            ],
        ),
    ],
)
def test_validate_baseline_names_each_malformed_shape(
    baseline: Any, messages: list[str]
) -> None:
    # given a malformed baseline / when validated / then the exact messages
    assert validate_baseline(baseline) == messages


def test_validate_baseline_refuses_features_missing_from_the_input_schema() -> None:
    # given a baseline of a feature the schema does not declare
    baseline = {
        "features": {
            "income": {"type": "numeric", "edges": [], "proportions": [1.0]},
            "amount": {"type": "numeric", "edges": [5.0], "proportions": [0.5, 0.5]},
        }
    }
    # when validated against the schema's properties
    messages = validate_baseline(baseline, {"amount", "duration"})
    # then only the undeclared feature is named
    assert messages == ["features.income: not a property of the input schema."]


def test_validate_baseline_reports_every_problem_at_once() -> None:
    # given a baseline wrong in several places
    baseline = {
        "n": 0,
        "features": {
            "amount": {"type": "numeric", "edges": [1.0], "proportions": [1.0]}
        },
        "approval_rate": {"overall": 2},
        "performance": {"auc": None},
    }
    # when / then every message, in order
    assert validate_baseline(baseline, {"amount"}) == [
        "n: must be a positive integer.",
        "features.amount: proportions: must have one more entry than edges.",
        "approval_rate.overall: must be a rate in [0, 1].",
        "performance.auc: must be a finite number.",
    ]


@pytest.mark.parametrize("by_group", [["age_group"], "age_group"])
def test_validate_baseline_names_a_by_group_that_is_not_an_object(
    by_group: Any,
) -> None:
    # given approval_rate.by_group that is not an object
    baseline = {"approval_rate": {"overall": 0.7, "by_group": by_group}}
    # when validated / then a message, not a crash
    assert validate_baseline(baseline) == ["approval_rate.by_group: must be an object."]


def test_parse_as_of_reads_a_date_as_the_end_of_that_day_utc() -> None:
    assert parse_as_of("2026-03-31") == dt.datetime(
        2026, 3, 31, 23, 59, 59, 999999, tzinfo=UTC
    )


def test_parse_as_of_strips_surrounding_whitespace() -> None:
    assert parse_as_of("  2026-03-31 ") == dt.datetime(
        2026, 3, 31, 23, 59, 59, 999999, tzinfo=UTC
    )


def test_parse_as_of_reads_a_z_suffix_as_utc() -> None:
    parsed = parse_as_of("2026-03-31T12:00:00Z")
    assert parsed == dt.datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
    assert parsed.utcoffset() == dt.timedelta(0)


def test_parse_as_of_takes_a_naive_datetime_as_utc() -> None:
    parsed = parse_as_of("2026-03-31T12:30:15.250000")
    assert parsed == dt.datetime(2026, 3, 31, 12, 30, 15, 250000, tzinfo=UTC)
    assert parsed.tzinfo == UTC


def test_parse_as_of_keeps_an_explicit_offset() -> None:
    parsed = parse_as_of("2026-03-31T12:00:00+02:00")
    assert parsed == dt.datetime(2026, 3, 31, 10, 0, tzinfo=UTC)
    assert parsed.utcoffset() == dt.timedelta(hours=2)


@pytest.mark.parametrize(
    "garbage",
    ["yesterday", "", "2026-13-01", "2026-02-30", "31/03/2026", "2026-03-31T25:00"],
)
def test_parse_as_of_refuses_garbage_naming_the_accepted_forms(garbage: str) -> None:
    # given text that is no ISO date / when / then ValueError naming the forms
    with pytest.raises(ValueError) as excinfo:
        parse_as_of(garbage)
    assert str(excinfo.value) == (
        "Use an ISO 8601 date (2026-03-31) or date-time (2026-03-31T12:00:00Z)."
    )


def test_parse_as_of_reads_a_basic_format_date_as_the_end_of_that_day() -> None:
    assert parse_as_of("20260331") == dt.datetime(
        2026, 3, 31, 23, 59, 59, 999999, tzinfo=UTC
    )


ATTESTATION_TEMPLATE = {
    "key": "attest",
    "version": 1,
    "name": "Attestation",
    "kind": "validation",
    "author_role": "validator",
    "sections": [
        {
            "key": "control",
            "title": "Control",
            "fields": [
                {
                    "key": "independent",
                    "label": "I attest independence",
                    "type": "boolean",
                    "required": True,
                    "must_be_true": True,
                },
                {
                    "key": "vendor",
                    "label": "Vendor?",
                    "type": "boolean",
                    "required": True,
                },
            ],
        }
    ],
}


@pytest.mark.parametrize(
    ("values", "filled", "missing"),
    [
        ({}, 0, ["independent", "vendor"]),
        ({"independent": False, "vendor": False}, 1, ["independent"]),
        ({"independent": True, "vendor": None}, 1, ["vendor"]),
        ({"independent": True, "vendor": False}, 2, []),
    ],
)
def test_attestation_counts_only_when_affirmed_other_booleans_once_answered(
    values: dict[str, Any], filled: int, missing: list[str]
) -> None:
    template_schema.validate_definition(ATTESTATION_TEMPLATE)
    result = template_schema.completeness(ATTESTATION_TEMPLATE, {"control": values})
    assert result.sections[0].filled == filled
    assert result.sections[0].missing == missing


def test_must_be_true_is_refused_on_a_non_boolean_field() -> None:
    bad = copy.deepcopy(ATTESTATION_TEMPLATE)
    bad["sections"][0]["fields"][1] = {
        "key": "vendor",
        "label": "Vendor",
        "type": "text",
        "must_be_true": True,
    }
    with pytest.raises(template_schema.SchemaError) as exc:
        template_schema.validate_definition(bad)
    assert exc.value.errors == {
        "sections.0.fields.1.must_be_true": ["Only a boolean field may require true."]
    }
