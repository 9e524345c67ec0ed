"""Committed fields: the same plain values on write and on check, whatever is stored."""

from __future__ import annotations

from audits.integrity.canonical import _json


def test_plain_json_is_kept_as_values() -> None:
    value = {"b": [1, 2.5, "x", None, True], "a": {"n": -(2**53 - 1)}}
    assert _json(value) == value


def test_values_the_leaf_cannot_hold_are_committed_as_their_exact_text() -> None:
    # stored before the input boundary: beyond 64 bits, beyond 2^53, NaN
    assert _json({"big": 2**64 + 1}) == {"json_text": '{"big": 18446744073709551617}'}
    assert _json({"c": 2**53 + 1}) == {"json_text": '{"c": 9007199254740993}'}
    assert _json({"x": float("nan")}) == {"json_text": '{"x": NaN}'}
    # and a change to such a value is still a change
    assert _json({"big": 2**64 + 1}) != _json({"big": 2**64 + 2})
