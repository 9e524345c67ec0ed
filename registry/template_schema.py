"""Documentation-template schema: validation of definitions and of filled values,
and completeness scoring. Pure: no Django, unit-tested without a database.

A template definition is a mapping::

    {"key": "sr11-7-development", "version": 1, "name": ..., "kind": ...,
     "author_role": "model_developer" | "validator",
     "sections": [
        {"key": "purpose", "title": "2. Purpose, scope and intended use",
         "citation": "SR 11-7 §IV", "guidance": "...",
         "fields": [{"key": "business_problem", "label": "...", "type": "textarea",
                     "required": true, "help": "..."}, ...]}, ...]}

A field is required when ``required`` is true, or when ``required_if`` names a
context flag (for example ``is_vendor``) that is true for the model at hand. A
boolean with ``must_be_true`` (an attestation) is complete only when affirmed;
other booleans are complete once answered, yes or no.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FIELD_TYPES = frozenset(
    {"text", "textarea", "choice", "multichoice", "date", "number", "boolean", "url"}
)
KINDS = frozenset(
    {"model_card", "development", "validation", "materiality", "annex_iv", "custom"}
)
AUTHOR_ROLES = frozenset({"model_developer", "validator"})
CONTEXT_FLAGS = frozenset({"is_vendor", "eu_ai_act_high_risk"})
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_TEMPLATE_KEY = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
MAX_TEXT = 20_000


class SchemaError(ValueError):
    """A template definition or a set of values is invalid.

    ``errors`` maps a dotted path (``sections.2.fields.0.type``) or a field key to
    a list of messages.
    """

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


def validate_definition(definition: Mapping[str, Any]) -> None:
    """Raise SchemaError unless ``definition`` is a well-formed template."""
    errors: dict[str, list[str]] = {}

    def add(path: str, message: str) -> None:
        errors.setdefault(path, []).append(message)

    if not isinstance(definition, Mapping):
        raise SchemaError({"definition": ["Must be a mapping of template keys."]})

    key = definition.get("key")
    if not isinstance(key, str) or not _TEMPLATE_KEY.match(key):
        add(
            "key",
            "Must be lowercase letters, digits and hyphens, starting with a letter.",
        )
    version = definition.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        add("version", "Must be a positive integer.")
    if not isinstance(definition.get("name"), str) or not definition["name"].strip():
        add("name", "Required.")
    if definition.get("kind") not in KINDS:
        add("kind", f"Must be one of {', '.join(sorted(KINDS))}.")
    if definition.get("author_role") not in AUTHOR_ROLES:
        add("author_role", f"Must be one of {', '.join(sorted(AUTHOR_ROLES))}.")
    sections = definition.get("sections")
    if not isinstance(sections, list) or not sections:
        add("sections", "Must be a non-empty list.")
        raise SchemaError(errors)
    seen_sections: set[str] = set()
    for i, section in enumerate(sections):
        path = f"sections.{i}"
        if not isinstance(section, Mapping):
            add(path, "Must be a mapping.")
            continue
        skey = section.get("key")
        if not isinstance(skey, str) or not _KEY.match(skey):
            add(f"{path}.key", "Must be snake_case, starting with a letter.")
        elif skey in seen_sections:
            add(f"{path}.key", f"Duplicate section key {skey!r}.")
        else:
            seen_sections.add(skey)
        if not isinstance(section.get("title"), str) or not section["title"].strip():
            add(f"{path}.title", "Required.")
        fields = section.get("fields")
        if not isinstance(fields, list) or not fields:
            add(f"{path}.fields", "Must be a non-empty list.")
            continue
        seen_fields: set[str] = set()
        for j, fdef in enumerate(fields):
            fpath = f"{path}.fields.{j}"
            if not isinstance(fdef, Mapping):
                add(fpath, "Must be a mapping.")
                continue
            fkey = fdef.get("key")
            if not isinstance(fkey, str) or not _KEY.match(fkey):
                add(f"{fpath}.key", "Must be snake_case, starting with a letter.")
            elif fkey in seen_fields:
                add(f"{fpath}.key", f"Duplicate field key {fkey!r}.")
            else:
                seen_fields.add(fkey)
            if not isinstance(fdef.get("label"), str) or not fdef["label"].strip():
                add(f"{fpath}.label", "Required.")
            ftype = fdef.get("type")
            if ftype not in FIELD_TYPES:
                add(
                    f"{fpath}.type", f"Must be one of {', '.join(sorted(FIELD_TYPES))}."
                )
            if ftype in {"choice", "multichoice"}:
                choices = fdef.get("choices")
                if (
                    not isinstance(choices, list)
                    or not choices
                    or not all(isinstance(c, str) and c for c in choices)
                ):
                    add(f"{fpath}.choices", "A choice field needs a list of strings.")
            if not isinstance(fdef.get("required", False), bool):
                add(f"{fpath}.required", "Must be true or false.")
            must_be_true = fdef.get("must_be_true", False)
            if not isinstance(must_be_true, bool) or (
                must_be_true and ftype != "boolean"
            ):
                add(f"{fpath}.must_be_true", "Only a boolean field may require true.")
            cond = fdef.get("required_if")
            if cond is not None and cond not in CONTEXT_FLAGS:
                add(
                    f"{fpath}.required_if",
                    f"Must be one of {', '.join(sorted(CONTEXT_FLAGS))}.",
                )
    if errors:
        raise SchemaError(errors)


def section_map(definition: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Sections of a definition by key, in order."""
    return {s["key"]: s for s in definition["sections"]}


def is_required(fdef: Mapping[str, Any], context: Mapping[str, bool]) -> bool:
    """Whether a field is required for a model with the given context flags."""
    if fdef.get("required", False):
        return True
    cond = fdef.get("required_if")
    return bool(cond and context.get(cond, False))


def is_filled(value: Any) -> bool:
    """Whether a value counts as an answer (blank strings and empty lists do not)."""
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | dict):
        return bool(value)
    return True


def clean_section_values(
    section: Mapping[str, Any], values: Mapping[str, Any]
) -> dict[str, Any]:
    """Validate and normalise the values of one section.

    Unknown keys and values of the wrong type raise SchemaError keyed by field.
    A missing required field is *not* an error here: drafts may be incomplete;
    completeness reports it.
    """
    if not isinstance(values, Mapping):
        raise SchemaError(
            {"values": ["Must be an object mapping field keys to values."]}
        )
    fields = {f["key"]: f for f in section["fields"]}
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for key, value in values.items():
        fdef = fields.get(key)
        if fdef is None:
            errors.setdefault(key, []).append(
                f"Unknown field for section {section['key']!r}."
            )
            continue
        try:
            cleaned[key] = _clean_value(fdef, value)
        except ValueError as exc:
            errors.setdefault(key, []).append(str(exc))
    if errors:
        raise SchemaError(errors)
    return cleaned


def _clean_value(fdef: Mapping[str, Any], value: Any) -> Any:
    ftype = fdef["type"]
    if value is None:
        return None
    if ftype in {"text", "textarea", "url"}:
        if not isinstance(value, str):
            raise ValueError("Must be a string.")
        if len(value) > MAX_TEXT:
            raise ValueError(f"At most {MAX_TEXT} characters.")
        if ftype == "text" and "\n" in value.strip():
            raise ValueError("Must be a single line.")
        if (
            ftype == "url"
            and value.strip()
            and not re.match(r"^(https?|s3|gs)://", value)
        ):
            raise ValueError("Must be an http(s), s3 or gs URL.")
        return value
    if ftype == "choice":
        if value == "":
            return ""
        if value not in fdef["choices"]:
            raise ValueError(f"Must be one of: {', '.join(fdef['choices'])}.")
        return value
    if ftype == "multichoice":
        if not isinstance(value, list) or not all(v in fdef["choices"] for v in value):
            raise ValueError(
                f"Must be a list drawn from: {', '.join(fdef['choices'])}."
            )
        return list(dict.fromkeys(value))
    if ftype == "date":
        if value == "":
            return ""
        if not isinstance(value, str):
            raise ValueError("Must be a date as YYYY-MM-DD.")
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError as exc:
            raise ValueError("Must be a date as YYYY-MM-DD.") from exc
    if ftype == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("Must be a number.")
        if not math.isfinite(value):
            raise ValueError("Must be a finite number.")
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            # The input boundary's range (governance.inputs, ADR 0019).
            raise ValueError("Integer outside the accepted range (-2^63 to 2^63-1).")
        return value
    if ftype == "boolean":
        if not isinstance(value, bool):
            raise ValueError("Must be true or false.")
        return value
    raise ValueError(f"Unsupported field type {ftype!r}.")  # pragma: no cover


@dataclass(frozen=True)
class SectionCompleteness:
    key: str
    title: str
    required: int
    filled: int
    missing: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return 1.0 if self.required == 0 else self.filled / self.required

    @property
    def percent(self) -> int:
        return 100 if self.required == 0 else self.filled * 100 // self.required

    @property
    def is_complete(self) -> bool:
        return self.filled == self.required


@dataclass(frozen=True)
class Completeness:
    sections: list[SectionCompleteness]

    @property
    def required(self) -> int:
        return sum(s.required for s in self.sections)

    @property
    def filled(self) -> int:
        return sum(s.filled for s in self.sections)

    @property
    def ratio(self) -> float:
        return 1.0 if self.required == 0 else self.filled / self.required

    @property
    def percent(self) -> int:
        return 100 if self.required == 0 else self.filled * 100 // self.required

    @property
    def is_complete(self) -> bool:
        return self.filled == self.required

    def as_dict(self) -> dict[str, Any]:
        return {
            "required": self.required,
            "filled": self.filled,
            "ratio": round(self.ratio, 4),
            "complete": self.is_complete,
            "sections": [
                {
                    "key": s.key,
                    "title": s.title,
                    "required": s.required,
                    "filled": s.filled,
                    "ratio": round(s.ratio, 4),
                    "complete": s.is_complete,
                    "missing": s.missing,
                }
                for s in self.sections
            ],
        }


def completeness(
    definition: Mapping[str, Any],
    values: Mapping[str, Mapping[str, Any]],
    context: Mapping[str, bool] | None = None,
) -> Completeness:
    """Score required fields filled, per section and overall.

    ``values`` maps section key to field values. ``context`` holds the model's flags
    (``is_vendor``, ``eu_ai_act_high_risk``) that make ``required_if`` fields required.
    """
    context = context or {}
    result: list[SectionCompleteness] = []
    for section in definition["sections"]:
        svalues = values.get(section["key"], {}) or {}
        required = [f for f in section["fields"] if is_required(f, context)]
        missing = [
            f["key"]
            for f in required
            if not is_filled(svalues.get(f["key"]))
            # An attestation counts only when it is affirmed.
            or (f.get("must_be_true") and svalues.get(f["key"]) is not True)
        ]
        result.append(
            SectionCompleteness(
                key=section["key"],
                title=section["title"],
                required=len(required),
                filled=len(required) - len(missing),
                missing=missing,
            )
        )
    return Completeness(sections=result)


def field_keys(definition: Mapping[str, Any]) -> Sequence[tuple[str, str]]:
    """Every (section key, field key) pair of a definition, in order."""
    return [(s["key"], f["key"]) for s in definition["sections"] for f in s["fields"]]
