"""A row's committed fields, as plain JSON values. Pure: no database access.

The same function makes the fields when a row is committed and when it is checked,
so that a row read back from PostgreSQL or SQLite gives the bytes it was committed
with: datetimes as UTC ISO 8601 with microseconds, dates ISO, decimals and UUIDs as
text, binary as hex, foreign keys as their id, JSON as it round-trips.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from audits.ledger import records

__all__ = ["committed_fields", "differing", "fields_digest", "value"]


def _json(payload: Any) -> Any:
    """JSON values as they read back from a JSONField (DjangoJSONEncoder on write).

    A value stored before the input boundary (issue 12) may hold what the leaves'
    JSON cannot: integers beyond 64 bits, NaN, infinities. Such a value is
    committed as its exact text instead (sorted keys), so that it is still
    compared, and no stored value can make a commit or a check fail.
    """
    text = json.dumps(payload, cls=DjangoJSONEncoder, sort_keys=True)
    value = json.loads(text)  # exact integers; NaN and infinities as floats
    try:
        # The leaf's own JSON must give the same value back: it does not for
        # integers beyond ±2^53 (refused here) or NaN (not equal to itself).
        same = orjson.loads(orjson.dumps(value, option=orjson.OPT_STRICT_INTEGER))
    except orjson.JSONEncodeError:
        return {"json_text": text}
    return value if same == value else {"json_text": text}


def value(field: models.Field, raw: Any) -> Any:
    """The plain JSON value of ``raw``, the attribute value of ``field``."""
    if raw is None:
        return None
    if isinstance(field, models.JSONField):
        return _json(raw)
    if isinstance(field, models.FileField):
        return str(getattr(raw, "name", raw) or "")
    if isinstance(raw, dt.datetime):
        if raw.tzinfo is None:
            raw = raw.replace(tzinfo=dt.UTC)
        return records.iso(raw)
    if isinstance(raw, dt.date | dt.time):
        return raw.isoformat()
    if isinstance(raw, bytes | memoryview | bytearray):
        return bytes(raw).hex()
    if isinstance(raw, uuid.UUID | decimal.Decimal):
        return str(raw)
    if isinstance(raw, float) and raw.is_integer():
        return raw  # orjson keeps 1.0 as 1.0: nothing to normalise
    return raw


def committed_fields(
    obj: models.Model, *, exclude: Iterable[str] = ()
) -> dict[str, Any]:
    """Every concrete field of ``obj`` but ``exclude``, by column name (``owner_id``)."""
    skip = set(exclude)
    out: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if field.name in skip or field.attname in skip:
            continue
        out[field.attname] = value(field, getattr(obj, field.attname))
    return out


def fields_digest(fields: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of committed fields."""
    return hashlib.sha256(records.dumps(fields)).hexdigest()


def differing(now: Mapping[str, Any], committed: Mapping[str, Any]) -> tuple[str, ...]:
    """The names, sorted, whose values differ between a row's fields now and the
    fields its leaf committed to (a name missing on one side differs)."""
    return tuple(
        sorted(
            k for k in now.keys() | committed.keys() if now.get(k) != committed.get(k)
        )
    )
