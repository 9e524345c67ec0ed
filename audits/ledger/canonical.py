"""Canonical JSON for ledger leaves: the exact bytes that are stored and hashed. Pure.

Sorted keys, no insignificant whitespace, UTF-8. Refused (``CanonicalError``): NaN
and infinities, integers outside ±2^53 (they would not survive a JSON reader in
another language), non-string keys, lone surrogates, and, when parsing, duplicate
keys. Floats use Python's shortest round-trip repr, so equal values serialise equally.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_SAFE_INTEGER = 2**53


class CanonicalError(ValueError):
    """The value has no canonical form (or the text is not canonical-safe JSON)."""


def _check(value: Any, path: str) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise CanonicalError(f"{path}: integer {value} is outside ±2^53")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CanonicalError(f"{path}: {value} is not a finite number")
        return
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise CanonicalError(f"{path}: not valid Unicode (lone surrogate)") from exc
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalError(f"{path}: key {key!r} is not a string")
            _check(key, f"{path}.<key>")
            _check(item, f"{path}.{key}")
        return
    raise CanonicalError(f"{path}: {type(value).__name__} is not a JSON value")


def canonical_bytes(value: Any) -> bytes:
    """The canonical UTF-8 bytes of ``value``; raises CanonicalError."""
    _check(value, "$")
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise CanonicalError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise CanonicalError(f"{name} is not a finite number")


def loads_strict(text: str | bytes) -> Any:
    """Parse JSON refusing duplicate keys and NaN/Infinity, then check the value."""
    try:
        value = json.loads(
            text, object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant
        )
    except CanonicalError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise CanonicalError(f"not valid JSON: {exc}") from exc
    _check(value, "$")
    return value
