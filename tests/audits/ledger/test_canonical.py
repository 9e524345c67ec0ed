"""Canonical ledger bytes: stable across key order; non-canonical inputs refused."""

from __future__ import annotations

import random
from typing import Any

import pytest

from audits.ledger.canonical import CanonicalError, canonical_bytes, loads_strict


def _record(rng: random.Random) -> dict[str, Any]:
    return {
        "prediction_id": f"{rng.getrandbits(128):032x}",
        "score": rng.random(),
        "tiny": rng.random() * 1e-6,
        "decision": rng.choice(["approve", "decline", "refer"]),
        "features": {f"f{i}": rng.randint(-(2**53), 2**53) for i in range(5)},
        "flags": [rng.random() < 0.5 for _ in range(3)],
        "note": "Größe ≥ 5 — ok",
    }


def _shuffled(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    return value


def test_ten_thousand_records_serialise_identically_in_any_key_order() -> None:
    rng = random.Random(7)
    for _ in range(10_000):
        record = _record(rng)
        once = canonical_bytes(record)
        assert canonical_bytes(_shuffled(record, rng)) == once
        assert loads_strict(once) == record


def test_exact_canonical_form() -> None:
    assert canonical_bytes({"b": 1, "a": [1.5, "é", None, True]}) == (
        '{"a":[1.5,"é",null,true],"b":1}'.encode()
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"x": float("nan")}, r"\$\.x: nan is not a finite number"),
        ({"x": float("inf")}, r"\$\.x: inf is not a finite number"),
        ({"x": 2**53 + 1}, r"\$\.x: integer 9007199254740993 is outside ±2\^53"),
        ({"x": "\ud800"}, r"\$\.x: not valid Unicode"),
        ({1: "x"}, r"\$: key 1 is not a string"),
        ({"x": {1, 2}}, r"\$\.x: set is not a JSON value"),
    ],
)
def test_values_without_a_canonical_form_are_refused(value: Any, message: str) -> None:
    with pytest.raises(CanonicalError, match=message):
        canonical_bytes(value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1, "a": 2}', "duplicate key 'a'"),
        ('{"a": NaN}', "NaN is not a finite number"),
        ('{"a": Infinity}', "Infinity is not a finite number"),
        ('{"a": 9007199254740993}', "outside ±2\\^53"),
        ('{"a": ', "not valid JSON"),
    ],
)
def test_strict_parsing_refuses_ambiguous_json(text: str, message: str) -> None:
    with pytest.raises(CanonicalError, match=message):
        loads_strict(text)
