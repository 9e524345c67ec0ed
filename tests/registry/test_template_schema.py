"""Unit tests of registry.template_schema: pure, no database."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from registry import template_schema
from registry.template_schema import SchemaError


def definition(**overrides: Any) -> dict[str, Any]:
    """A small valid template with one field of each type."""
    base: dict[str, Any] = {
        "key": "tiny-template",
        "version": 1,
        "name": "Tiny template",
        "kind": "custom",
        "author_role": "model_developer",
        "sections": [
            {
                "key": "general",
                "title": "1. General",
                "fields": [
                    {
                        "key": "title",
                        "label": "Title",
                        "type": "text",
                        "required": True,
                    },
                    {"key": "body", "label": "Body", "type": "textarea"},
                    {
                        "key": "level",
                        "label": "Level",
                        "type": "choice",
                        "required": True,
                        "choices": ["low", "high"],
                    },
                    {
                        "key": "uses",
                        "label": "Uses",
                        "type": "multichoice",
                        "choices": ["a", "b", "c"],
                    },
                ],
            },
            {
                "key": "facts",
                "title": "2. Facts",
                "fields": [
                    {"key": "when", "label": "When", "type": "date", "required": True},
                    {"key": "count", "label": "Count", "type": "number"},
                    {"key": "ok", "label": "OK", "type": "boolean", "required": True},
                    {"key": "link", "label": "Link", "type": "url"},
                    {
                        "key": "vendor_notes",
                        "label": "Vendor notes",
                        "type": "textarea",
                        "required_if": "is_vendor",
                    },
                    {
                        "key": "fria",
                        "label": "FRIA",
                        "type": "text",
                        "required_if": "eu_ai_act_high_risk",
                    },
                ],
            },
        ],
    }
    base.update(overrides)
    return base


def errors_of(bad: dict[str, Any]) -> dict[str, list[str]]:
    with pytest.raises(SchemaError) as excinfo:
        template_schema.validate_definition(bad)
    return excinfo.value.errors


# --- validate_definition ---------------------------------------------------------


def test_validate_definition_accepts_a_well_formed_template() -> None:
    # given a definition with every field type and both conditions
    # when it is validated / then nothing is raised
    template_schema.validate_definition(definition())


@pytest.mark.parametrize(
    ("overrides", "path", "message"),
    [
        (
            {"key": "Bad_Key"},
            "key",
            "Must be lowercase letters, digits and hyphens, starting with a letter.",
        ),
        ({"version": 0}, "version", "Must be a positive integer."),
        ({"version": True}, "version", "Must be a positive integer."),
        ({"version": "1"}, "version", "Must be a positive integer."),
        ({"name": "  "}, "name", "Required."),
        (
            {"kind": "memo"},
            "kind",
            "Must be one of annex_iv, custom, development, materiality, model_card, "
            "validation.",
        ),
        (
            {"author_role": "auditor"},
            "author_role",
            "Must be one of model_developer, validator.",
        ),
    ],
)
def test_validate_definition_names_the_bad_top_level_key(
    overrides: dict[str, Any], path: str, message: str
) -> None:
    # given a definition with one bad top-level value
    bad = definition(**overrides)
    # when it is validated
    errors = errors_of(bad)
    # then exactly that key is reported, with its message
    assert errors == {path: [message]}


def test_validate_definition_stops_at_missing_sections() -> None:
    # given a definition whose sections are empty, and a bad kind as well
    bad = definition(sections=[], kind="memo")
    # when it is validated
    errors = errors_of(bad)
    # then both problems are reported and no section path is invented
    assert errors == {
        "kind": [
            "Must be one of annex_iv, custom, development, materiality, model_card, "
            "validation."
        ],
        "sections": ["Must be a non-empty list."],
    }


@pytest.mark.parametrize(
    ("mutate", "path", "message"),
    [
        (
            lambda d: d["sections"][0].update(key="General"),
            "sections.0.key",
            "Must be snake_case, starting with a letter.",
        ),
        (
            lambda d: d["sections"][1].update(key="general"),
            "sections.1.key",
            "Duplicate section key 'general'.",
        ),
        (
            lambda d: d["sections"][1].update(title=""),
            "sections.1.title",
            "Required.",
        ),
        (
            lambda d: d["sections"][0].update(fields=[]),
            "sections.0.fields",
            "Must be a non-empty list.",
        ),
        (
            lambda d: d["sections"][1]["fields"][1].update(type="integer"),
            "sections.1.fields.1.type",
            "Must be one of boolean, choice, date, multichoice, number, text, "
            "textarea, url.",
        ),
        (
            lambda d: d["sections"][0]["fields"][2].pop("choices"),
            "sections.0.fields.2.choices",
            "A choice field needs a list of strings.",
        ),
        (
            lambda d: d["sections"][0]["fields"][3].update(choices=["a", ""]),
            "sections.0.fields.3.choices",
            "A choice field needs a list of strings.",
        ),
        (
            lambda d: d["sections"][0]["fields"][0].update(required="yes"),
            "sections.0.fields.0.required",
            "Must be true or false.",
        ),
        (
            lambda d: d["sections"][1]["fields"][4].update(required_if="is_bank"),
            "sections.1.fields.4.required_if",
            "Must be one of eu_ai_act_high_risk, is_vendor.",
        ),
        (
            lambda d: d["sections"][0]["fields"][1].update(key="title"),
            "sections.0.fields.1.key",
            "Duplicate field key 'title'.",
        ),
        (
            lambda d: d["sections"][0]["fields"][1].update(label=" "),
            "sections.0.fields.1.label",
            "Required.",
        ),
    ],
)
def test_validate_definition_names_the_offending_path(
    mutate: Any, path: str, message: str
) -> None:
    # given a valid definition with one nested defect
    bad = copy.deepcopy(definition())
    mutate(bad)
    # when it is validated
    errors = errors_of(bad)
    # then the error names the dotted path of the defect, and nothing else
    assert errors == {path: [message]}


def test_validate_definition_reports_a_section_that_is_not_a_mapping() -> None:
    # given a section that is a string
    bad = definition()
    bad["sections"][1] = "facts"
    # when it is validated
    errors = errors_of(bad)
    # then its index is named
    assert errors == {"sections.1": ["Must be a mapping."]}


def test_schema_error_message_joins_every_path() -> None:
    # given two defects
    bad = definition(version=0, name="")
    # when it is validated
    with pytest.raises(SchemaError) as excinfo:
        template_schema.validate_definition(bad)
    # then the exception text lists both paths
    assert str(excinfo.value) == (
        "version: Must be a positive integer.; name: Required."
    )


# --- clean_section_values ----------------------------------------------------------


def section(key: str) -> dict[str, Any]:
    return template_schema.section_map(definition())[key]


def test_clean_section_values_normalises_valid_values() -> None:
    # given values of every type, some needing normalisation
    values = {
        "title": "Model card",
        "body": "line one\nline two",
        "level": "high",
        "uses": ["b", "a", "b"],
    }
    facts = {
        "when": "2026-04-17",
        "count": 2.5,
        "ok": False,
        "link": "s3://bucket/doc.pdf",
        "vendor_notes": None,
    }
    # when they are cleaned
    cleaned_general = template_schema.clean_section_values(section("general"), values)
    cleaned_facts = template_schema.clean_section_values(section("facts"), facts)
    # then duplicates are dropped in order and everything else is kept
    assert cleaned_general == {
        "title": "Model card",
        "body": "line one\nline two",
        "level": "high",
        "uses": ["b", "a"],
    }
    assert cleaned_facts == facts


def test_clean_section_values_allows_blank_choice_and_date() -> None:
    # given blank answers to a choice and a date (a draft)
    # when they are cleaned / then they stay blank
    assert template_schema.clean_section_values(section("general"), {"level": ""}) == {
        "level": ""
    }
    assert template_schema.clean_section_values(section("facts"), {"when": ""}) == {
        "when": ""
    }


def test_clean_section_values_rejects_unknown_keys() -> None:
    # given a value for a field the section does not have
    # when it is cleaned
    with pytest.raises(SchemaError) as excinfo:
        template_schema.clean_section_values(
            section("general"), {"title": "ok", "colour": "red"}
        )
    # then the unknown key is named, and the valid one is not
    assert excinfo.value.errors == {"colour": ["Unknown field for section 'general'."]}


@pytest.mark.parametrize(
    ("section_key", "field", "value", "message"),
    [
        ("general", "title", 3, "Must be a string."),
        ("general", "title", "two\nlines", "Must be a single line."),
        ("general", "body", "x" * 20_001, "At most 20000 characters."),
        ("general", "level", "medium", "Must be one of: low, high."),
        ("general", "uses", "a", "Must be a list drawn from: a, b, c."),
        ("general", "uses", ["a", "z"], "Must be a list drawn from: a, b, c."),
        ("facts", "when", "17/04/2026", "Must be a date as YYYY-MM-DD."),
        ("facts", "when", 20260417, "Must be a date as YYYY-MM-DD."),
        ("facts", "count", "3", "Must be a number."),
        ("facts", "count", True, "Must be a number."),
        ("facts", "ok", "yes", "Must be true or false."),
        ("facts", "link", "file:///etc/passwd", "Must be an http(s), s3 or gs URL."),
    ],
)
def test_clean_section_values_rejects_wrong_types_naming_the_field(
    section_key: str, field: str, value: Any, message: str
) -> None:
    # given a value of the wrong type for one field
    # when it is cleaned
    with pytest.raises(SchemaError) as excinfo:
        template_schema.clean_section_values(section(section_key), {field: value})
    # then the error is keyed by that field
    assert excinfo.value.errors == {field: [message]}


def test_clean_section_values_collects_every_bad_field() -> None:
    # given two bad fields and one good one
    # when they are cleaned
    with pytest.raises(SchemaError) as excinfo:
        template_schema.clean_section_values(
            section("facts"), {"count": "many", "ok": 1, "when": "2026-01-02"}
        )
    # then both bad fields are reported together
    assert excinfo.value.errors == {
        "count": ["Must be a number."],
        "ok": ["Must be true or false."],
    }


def test_clean_section_values_rejects_values_that_are_not_a_mapping() -> None:
    # given a list instead of an object
    # when it is cleaned
    with pytest.raises(SchemaError) as excinfo:
        template_schema.clean_section_values(section("facts"), ["x"])  # type: ignore[arg-type]
    # then the whole value is refused
    assert excinfo.value.errors == {
        "values": ["Must be an object mapping field keys to values."]
    }


# --- completeness --------------------------------------------------------------------


def test_completeness_counts_required_fields_per_section_and_lists_the_missing() -> (
    None
):
    # given a half-filled document: a blank title, an empty list, False answered
    values = {
        "general": {"title": "  ", "level": "low", "uses": []},
        "facts": {"ok": False},
    }
    # when completeness is scored without context flags
    result = template_schema.completeness(definition(), values)
    # then optional fields are ignored and False counts as an answer
    assert [(s.key, s.required, s.filled, s.missing) for s in result.sections] == [
        ("general", 2, 1, ["title"]),
        ("facts", 2, 1, ["when"]),
    ]
    assert (result.required, result.filled) == (4, 2)
    assert result.ratio == 0.5
    assert result.percent == 50
    assert result.is_complete is False


def test_completeness_makes_conditional_fields_required_by_context() -> None:
    # given a document with only the unconditional fields filled
    values = {
        "general": {"title": "T", "level": "low"},
        "facts": {"when": "2026-01-01", "ok": True},
    }
    # when it is scored for a non-vendor, a vendor and a high-risk vendor model
    plain = template_schema.completeness(definition(), values)
    vendor = template_schema.completeness(definition(), values, {"is_vendor": True})
    both = template_schema.completeness(
        definition(), values, {"is_vendor": True, "eu_ai_act_high_risk": True}
    )
    # then each flag adds exactly its field to what is required
    assert (plain.required, plain.filled, plain.is_complete) == (4, 4, True)
    assert (vendor.required, vendor.filled) == (5, 4)
    assert vendor.sections[1].missing == ["vendor_notes"]
    assert (both.required, both.filled) == (6, 4)
    assert both.sections[1].missing == ["vendor_notes", "fria"]


def test_completeness_of_an_empty_document_is_zero() -> None:
    # given no values at all
    # when it is scored
    result = template_schema.completeness(definition(), {})
    # then nothing is filled and every required field is missing
    assert result.ratio == 0.0
    assert result.as_dict() == {
        "required": 4,
        "filled": 0,
        "ratio": 0.0,
        "complete": False,
        "sections": [
            {
                "key": "general",
                "title": "1. General",
                "required": 2,
                "filled": 0,
                "ratio": 0.0,
                "complete": False,
                "missing": ["title", "level"],
            },
            {
                "key": "facts",
                "title": "2. Facts",
                "required": 2,
                "filled": 0,
                "ratio": 0.0,
                "complete": False,
                "missing": ["when", "ok"],
            },
        ],
    }


def test_completeness_of_a_section_without_required_fields_is_complete() -> None:
    # given a template whose only field is optional
    optional = definition(
        sections=[
            {
                "key": "notes",
                "title": "Notes",
                "fields": [{"key": "note", "label": "Note", "type": "textarea"}],
            }
        ]
    )
    # when an empty document is scored
    result = template_schema.completeness(optional, {})
    # then the ratio is 1 rather than a division by zero
    assert (result.required, result.ratio, result.is_complete) == (0, 1.0, True)
    assert result.sections[0].percent == 100


def test_completeness_rounds_ratios_in_as_dict() -> None:
    # given one of three required fields filled
    three = definition(
        sections=[
            {
                "key": "s",
                "title": "S",
                "fields": [
                    {"key": k, "label": k, "type": "text", "required": True}
                    for k in ("a", "b", "c")
                ],
            }
        ]
    )
    # when it is scored
    result = template_schema.completeness(three, {"s": {"b": "x"}})
    # then ratios are rounded to four places and percent truncates
    assert result.as_dict()["ratio"] == 0.3333
    assert result.percent == 33
    assert result.sections[0].missing == ["a", "c"]


# --- helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        ("", False),
        ("   ", False),
        ([], False),
        ({}, False),
        ("x", True),
        (0, True),
        (False, True),
        (["a"], True),
    ],
)
def test_is_filled(value: Any, expected: bool) -> None:
    assert template_schema.is_filled(value) is expected


def test_is_required_reads_required_and_the_context_flag() -> None:
    # given a required field, a conditional one and an optional one
    required = {"key": "a", "required": True}
    conditional = {"key": "b", "required_if": "is_vendor"}
    optional = {"key": "c"}
    # then each is required exactly when it should be
    assert template_schema.is_required(required, {}) is True
    assert template_schema.is_required(conditional, {}) is False
    assert template_schema.is_required(conditional, {"is_vendor": False}) is False
    assert template_schema.is_required(conditional, {"is_vendor": True}) is True
    assert template_schema.is_required(optional, {"is_vendor": True}) is False


def test_field_keys_and_section_map_keep_the_definition_order() -> None:
    assert list(template_schema.section_map(definition())) == ["general", "facts"]
    assert template_schema.field_keys(definition())[:3] == [
        ("general", "title"),
        ("general", "body"),
        ("general", "level"),
    ]
    assert len(template_schema.field_keys(definition())) == 10
