"""The input boundary: one parser and validator for every JSON body.

Every JSON value that enters modelgov passes :func:`loads` (request bodies) or
:func:`check` (values parsed elsewhere: form fields, the ingest's orjson records).
Refused, each with the JSON path of the offending field (``sections.purpose.value``,
``hyperparameters.C``, ``body`` for the body as a whole):

- nesting deeper than :data:`MAX_DEPTH` objects and arrays;
- a NUL character or a lone UTF-16 surrogate in any string, key or value;
- an integer outside the signed 64-bit range, a non-finite number (``NaN``,
  ``Infinity``, or a literal such as ``1e309`` that overflows a double);
- a body over :data:`MAX_BODY_BYTES` (413), or not ``application/json`` (415).

Depth is measured before the stdlib parser runs (it recurses, and raises
RecursionError near a thousand levels), by a scan that never recurses. Stored data
written before this boundary existed may still hold such values: :func:`sanitize`
makes a copy that renders and serialises (see ADR 0019).

Pure (no Django, no settings), so the ingest's pure record module can use it; the
DRF parser, renderer and middleware that put it in front of every endpoint are in
:mod:`governance.api.boundary`. Shared code: nothing here imports registry or audits.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from itertools import accumulate
from typing import Any

__all__ = [
    "INT_MAX",
    "INT_MIN",
    "MAX_BODY_BYTES",
    "MAX_DEPTH",
    "InvalidInput",
    "check",
    "deeper_than",
    "loads",
    "problems",
    "repaired",
    "safe_text",
    "sanitize",
]

MAX_DEPTH = 64
MAX_BODY_BYTES = 1024 * 1024
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
# At most this many fields are named in one answer: the answer stays small.
MAX_PROBLEMS = 50

_SURROGATE = re.compile("[\ud800-\udfff]")
_UNSAFE = re.compile("[\x00\ud800-\udfff]")
# A JSON string literal, exactly as the JSON grammar lexes it (unrolled loop).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS_ONLY = bytes(range(256)).translate(None, b"[]{}")
_DEPTH_STEP = [0] * 256
for _c in b"[{":
    _DEPTH_STEP[_c] = 1
for _c in b"]}":
    _DEPTH_STEP[_c] = -1
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]', re.DOTALL)

NUL_MESSAGE = "Contains a NUL character (\\u0000), which is not accepted."
SURROGATE_MESSAGE = (
    "Contains a lone surrogate (\\ud800-\\udfff), which is not valid Unicode."
)
NON_FINITE_MESSAGE = (
    "Must be a finite number (NaN, Infinity and numbers beyond the range of a "
    "double, such as 1e309, are not accepted)."
)


def depth_message(max_depth: int) -> str:
    return f"Nested deeper than {max_depth} levels of objects and arrays."


def integer_message(int_min: int, int_max: int) -> str:
    if (int_min, int_max) == (INT_MIN, INT_MAX):
        return "Integer outside the accepted range (-2^63 to 2^63-1)."
    if int_min == -int_max and int_max.bit_count() == 1:
        return f"Integer outside the accepted range (±2^{int_max.bit_length() - 1})."
    return f"Integer outside the accepted range ({int_min} to {int_max})."


class InvalidInput(Exception):
    """The input is refused as a whole; ``errors`` maps JSON paths to messages."""

    def __init__(
        self,
        errors: dict[str, list[str]],
        *,
        status: int = 400,
        code: str = "invalid",
        detail: str = "Invalid input.",
    ) -> None:
        super().__init__(detail)
        self.errors = errors
        self.status = status
        self.code = code
        self.detail = detail

    def as_dict(self) -> dict[str, Any]:
        """The API's one error shape (governance/api/errors.py)."""
        return {"detail": self.detail, "code": self.code, "errors": self.errors}


# --- paths and display ----------------------------------------------------------


def safe_text(text: str) -> str:
    """``text`` with NUL and lone surrogates written as visible ``\\uXXXX`` escapes:
    always encodable as UTF-8, so it can be rendered, logged and stored."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _key_path(path: str, key: str) -> str:
    key = safe_text(key)
    return f"{path}.{key}" if path else key


def _index_path(path: str, index: int) -> str:
    return f"{path or 'body'}[{index}]"


# --- validation of parsed values --------------------------------------------------


def problems(
    value: Any,
    *,
    path: str = "",
    max_depth: int = MAX_DEPTH,
    int_min: int = INT_MIN,
    int_max: int = INT_MAX,
) -> list[tuple[str, str]]:
    """Every (path, message) that the boundary refuses in ``value``, in document
    order, at most :data:`MAX_PROBLEMS`. Iterative: safe at any depth.

    ``path`` names ``value`` itself (empty for a body: its fields are named alone,
    the body as a whole is ``body``).
    """
    found: list[tuple[str, str]] = []

    def text(where: str, item: str) -> None:
        if "\x00" in item:
            found.append((where or "body", NUL_MESSAGE))
        if _SURROGATE.search(item) is not None:
            found.append((where or "body", SURROGATE_MESSAGE))

    stack: list[tuple[Any, str, int]] = [(value, path, 1)]
    while stack and len(found) < MAX_PROBLEMS:
        item, where, depth = stack.pop()
        kind = type(item)
        if kind is str:
            text(where, item)
        elif kind is bool or item is None:
            continue
        elif isinstance(item, int):
            if not int_min <= item <= int_max:
                found.append((where or "body", integer_message(int_min, int_max)))
        elif isinstance(item, float):
            if not math.isfinite(item):
                found.append((where or "body", NON_FINITE_MESSAGE))
        elif isinstance(item, dict):
            if depth > max_depth:
                found.append((where or "body", depth_message(max_depth)))
                continue
            children = []
            for key, child in item.items():
                child_path = _key_path(where, str(key))
                if isinstance(key, str):
                    text(child_path, key)
                children.append((child, child_path, depth + 1))
            stack.extend(reversed(children))
        elif isinstance(item, list | tuple):
            if depth > max_depth:
                found.append((where or "body", depth_message(max_depth)))
                continue
            stack.extend(
                (child, _index_path(where, i), depth + 1)
                for i, child in reversed(list(enumerate(item)))
            )
    return found[:MAX_PROBLEMS]


def _grouped(found: list[tuple[str, str]]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for where, message in found:
        messages = errors.setdefault(where, [])
        if message not in messages:
            messages.append(message)
    return errors


def check(
    value: Any,
    *,
    path: str = "",
    max_depth: int = MAX_DEPTH,
    int_min: int = INT_MIN,
    int_max: int = INT_MAX,
) -> None:
    """Raise :class:`InvalidInput` (400) naming every field of ``value`` that the
    boundary refuses; return quietly when there is none."""
    found = problems(
        value, path=path, max_depth=max_depth, int_min=int_min, int_max=int_max
    )
    if found:
        raise InvalidInput(_grouped(found))


def deeper_than(value: Any, max_depth: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests more than ``max_depth`` containers. Iterative, and
    cheap on flat values (about a microsecond for a prediction record)."""
    if type(value) is not dict and type(value) is not list:
        return False
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        for child in item.values() if type(item) is dict else item:
            kind = type(child)
            if kind is dict or kind is list:
                if depth >= max_depth:
                    return True
                stack.append((child, depth + 1))
    return False


# --- parsing ----------------------------------------------------------------------


def _max_depth_of(data: bytes) -> int:
    """The nesting depth of a JSON text, strings skipped, without recursion."""
    brackets = _STRING.sub(b"", data).translate(None, _BRACKETS_ONLY)
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def _deep_path(text: str, max_depth: int) -> str:
    """The path of the first container nested deeper than ``max_depth``: a token
    scan with an explicit stack (only on the refusal path, so its cost is moot)."""
    stack: list[list[Any]] = []  # [is_object, key or index, expecting a key]
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            if len(stack) >= max_depth:
                break
            stack.append([token == "{", None if token == "{" else 0, token == "{"])
        elif token in "]}":
            if stack:
                stack.pop()
        elif token == ",":
            if stack:
                if stack[-1][0]:
                    stack[-1][2] = True
                else:
                    stack[-1][1] += 1
        elif stack and stack[-1][0] and stack[-1][2]:
            try:
                stack[-1][1] = json.loads(token)
            except ValueError:
                stack[-1][1] = token[1:-1]
            stack[-1][2] = False
    where = ""
    for is_object, key, _ in stack:
        where = (
            _key_path(where, str(key))
            if is_object
            else _index_path(where, int(key or 0))
        )
    return where or "body"


def loads(
    data: bytes | str,
    *,
    max_bytes: int = MAX_BODY_BYTES,
    max_depth: int = MAX_DEPTH,
    int_min: int = INT_MIN,
    int_max: int = INT_MAX,
) -> Any:
    """Parse a JSON text through the boundary, or raise :class:`InvalidInput`:
    413 over ``max_bytes``, 400 naming the field for anything else refused."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise InvalidInput(
            {"body": [f"The body exceeds {max_bytes} bytes."]},
            status=413,
            code="too_large",
            detail=f"The body exceeds {max_bytes} bytes.",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            {"body": [f"Not UTF-8 (byte {exc.start}): send JSON encoded as UTF-8."]},
            code="parse_error",
            detail="The body is not valid JSON.",
        ) from exc
    if _max_depth_of(raw) > max_depth:
        raise InvalidInput({_deep_path(text, max_depth): [depth_message(max_depth)]})
    try:
        value = json.loads(text)
    except RecursionError as exc:  # a backstop: the scan above caught it first
        raise InvalidInput({"body": [depth_message(max_depth)]}) from exc
    except ValueError as exc:
        raise InvalidInput(
            {"body": [f"Not valid JSON: {safe_text(str(exc))}"]},
            code="parse_error",
            detail="The body is not valid JSON.",
        ) from exc
    check(value, max_depth=max_depth, int_min=int_min, int_max=int_max)
    return value


# --- stored data written before the boundary --------------------------------------


def _non_finite_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def sanitize(value: Any) -> Any:
    """A copy of ``value`` that always serialises and renders: lone surrogates and
    NUL as visible ``\\uXXXX`` text, non-finite numbers as the strings ``"NaN"``,
    ``"Infinity"``, ``"-Infinity"`` (as protobuf's JSON mapping writes them).
    Values without such content come back equal. Iterative: safe at any depth."""
    if type(value) is str:
        return safe_text(value)
    if type(value) is float:
        return value if math.isfinite(value) else _non_finite_text(value)
    if not isinstance(value, dict | list | tuple):
        return value
    root: list[Any] = [None]
    stack: list[tuple[Any, Callable[[Any], None]]] = [
        (value, lambda made: root.__setitem__(0, made))
    ]
    while stack:
        item, place = stack.pop()
        if isinstance(item, dict):
            made_dict: dict[Any, Any] = {}
            place(made_dict)
            for key, child in item.items():
                new_key = safe_text(key) if isinstance(key, str) else key
                made_dict[new_key] = None
                stack.append((child, _setter(made_dict, new_key)))
        elif isinstance(item, list | tuple):
            made_list: list[Any] = [None] * len(item)
            place(made_list)
            for i, child in enumerate(item):
                stack.append((child, _setter(made_list, i)))
        elif type(item) is str:
            place(safe_text(item))
        elif type(item) is float and not math.isfinite(item):
            place(_non_finite_text(item))
        else:
            place(item)
    return root[0]


def _setter(container: Any, key: Any) -> Callable[[Any], None]:
    def place(made: Any) -> None:
        container[key] = made

    return place


def repaired(value: Any, *, max_depth: int = MAX_DEPTH) -> Any:
    """A copy of ``value`` that passes the boundary and keeps every bit of it as
    text: lone surrogates and NUL as ``\\uXXXX`` escapes, integers beyond 64 bits
    as their digits, non-finite numbers as ``"NaN"``/``"Infinity"``, and whatever
    is nested deeper than ``max_depth`` as its compact JSON text. For the drafts
    ``manage.py input_scan --repair`` may change (ADR 0019)."""

    def fix(item: Any, depth: int) -> Any:
        if isinstance(item, dict | list) and depth > max_depth:
            text = json.dumps(sanitize(item), separators=(",", ":"), ensure_ascii=False)
            return safe_text(text)
        if isinstance(item, dict):
            return {
                safe_text(str(key)): fix(child, depth + 1)
                for key, child in item.items()
            }
        if isinstance(item, list):
            return [fix(child, depth + 1) for child in item]
        if type(item) is int and not INT_MIN <= item <= INT_MAX:
            return str(item)
        return sanitize(item)

    return fix(value, 1)
