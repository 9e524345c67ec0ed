"""The input boundary's parser and validator (governance/inputs.py), the renderer and
template backend that keep stored values readable, without a database."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from django.template import engines

from governance import inputs
from governance.api.boundary import JSONRenderer
from registry import forms as registry_forms
from registry import selectors, template_schema

INT_MESSAGE = "Integer outside the accepted range (-2^63 to 2^63-1)."


def refused(body: bytes | str) -> inputs.InvalidInput:
    with pytest.raises(inputs.InvalidInput) as caught:
        inputs.loads(body)
    return caught.value


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            b'{"sections": {"purpose": {"value": "a\\u0000b"}}}',
            {"sections.purpose.value": [inputs.NUL_MESSAGE]},
        ),
        (
            b'{"hyperparameters": {"\\ud800": 1}}',
            {"hyperparameters.\\ud800": [inputs.SURROGATE_MESSAGE]},
        ),
        (b'{"m": [1, "\\udfff"]}', {"m[1]": [inputs.SURROGATE_MESSAGE]}),
        (
            b'{"hyperparameters": {"C": 18446744073709551617}}',
            {"hyperparameters.C": [INT_MESSAGE]},
        ),
        (b'{"n": -9223372036854775809}', {"n": [INT_MESSAGE]}),
        (b'{"n": NaN}', {"n": [inputs.NON_FINITE_MESSAGE]}),
        (b'{"n": -Infinity}', {"n": [inputs.NON_FINITE_MESSAGE]}),
        (b'{"n": 1e309}', {"n": [inputs.NON_FINITE_MESSAGE]}),
        (b"[1, 2, NaN]", {"body[2]": [inputs.NON_FINITE_MESSAGE]}),
        (b'"\\u0000"', {"body": [inputs.NUL_MESSAGE]}),
        (
            b'{"x": "]]]]]]", "y": ' + b"{}" * 0 + b"[" * 65 + b"]" * 65 + b"}",
            {"y" + "[0]" * 63: [inputs.depth_message(64)]},
        ),
        (
            b'{"a": ' + b'{"k": ' * 3000 + b"1" + b"}" * 3000 + b"}",
            {"a" + ".k" * 63: [inputs.depth_message(64)]},
        ),
    ],
    ids=[
        "nul-at-depth",
        "surrogate-key",
        "surrogate-value",
        "2^64+1",
        "-2^63-1",
        "nan",
        "-infinity",
        "1e309",
        "non-finite-in-a-body-array",
        "nul-body",
        "brackets-in-strings-do-not-hide-depth",
        "3000-levels",
    ],
)
def test_loads_refuses_naming_the_field(body: bytes, errors: dict[str, list[str]]):
    # when
    error = refused(body)
    # then
    assert (error.status, error.code, error.errors) == (400, "invalid", errors)


def test_loads_accepts_the_edges_of_the_ranges():
    # given
    body = (
        b'{"max": 9223372036854775807, "min": -9223372036854775808, '
        b'"big": 1.7976931348623157e308, "pair": "\\ud83d\\ude00", "deep": '
        + b"[" * 63
        + b"]" * 63
        + b"}"
    )
    # when
    value = inputs.loads(body)
    # then
    assert value["max"] == 2**63 - 1
    assert value["min"] == -(2**63)
    assert value["big"] == 1.7976931348623157e308
    assert value["pair"] == "\U0001f600"


def test_loads_refuses_a_body_over_the_limit_with_413():
    # when
    error = refused(b'"' + b"a" * inputs.MAX_BODY_BYTES + b'"')
    # then
    assert (error.status, error.code, error.errors) == (
        413,
        "too_large",
        {"body": ["The body exceeds 1048576 bytes."]},
    )


@pytest.mark.parametrize(
    ("body", "start"),
    [(b"\xff", "Not UTF-8"), (b'{"a": 1', "Not valid JSON: ")],
)
def test_loads_refuses_what_is_not_json_naming_the_body(body: bytes, start: str):
    # when
    error = refused(body)
    # then
    assert (error.status, error.code, list(error.errors)) == (
        400,
        "parse_error",
        ["body"],
    )
    assert error.errors["body"][0].startswith(start)


def test_problems_walks_values_too_deep_for_recursion():
    # given a value nested 100,000 levels, built without recursion
    value: Any = 1
    for _ in range(100_000):
        value = {"k": value}
    # when
    found = inputs.problems(value, path="card")
    # then
    assert found == [("card" + ".k" * 64, inputs.depth_message(64))]


def test_sanitize_and_repaired_make_stored_values_portable():
    # given
    stored = {"a\ud800": [math.inf, "x\x00", {"n": math.nan}], "big": 2**64 + 1}
    # when
    shown = inputs.sanitize(stored)
    fixed = inputs.repaired(stored)
    # then
    assert shown == {
        "a\\ud800": ["Infinity", "x\\u0000", {"n": "NaN"}],
        "big": 2**64 + 1,
    }
    assert fixed == {**shown, "big": "18446744073709551617"}
    assert inputs.problems(fixed) == []
    assert inputs.sanitize({"ok": [1, 2.5, "é"]}) == {"ok": [1, 2.5, "é"]}


def test_json_renderer_renders_stored_surrogates_and_non_finite_numbers():
    # when
    rendered = JSONRenderer().render({"v": "a\ud800", "n": -math.inf, "ok": 1})
    # then
    assert json.loads(rendered) == {"v": "a\\ud800", "n": "-Infinity", "ok": 1}


def test_json_renderer_leaves_good_data_as_drf_renders_it():
    # when
    rendered = JSONRenderer().render({"v": "é", "n": 1.5})
    # then
    assert rendered == '{"v":"é","n":1.5}'.encode()


def test_pages_render_stored_surrogates_and_nul_escaped():
    # given
    template = engines["django"].from_string("<p>{{ value }}</p>")
    # when
    html = template.render({"value": "a\ud800b\x00<"})
    # then
    assert html == "<p>a\\ud800b\\u0000&lt;</p>"
    assert html.encode("utf-8")


def test_number_fields_of_forms_refuse_integers_beyond_64_bits():
    # given
    field = registry_forms._form_field(
        {"key": "n", "type": "number", "label": "N"}, required=False
    )
    # when
    with pytest.raises(Exception) as caught:
        field.clean("18446744073709551617")
    # then
    assert caught.value.messages == [INT_MESSAGE]
    assert field.clean("9223372036854775807") == 2**63 - 1


@pytest.mark.parametrize(
    "value",
    ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"],
)
def test_parse_as_of_refuses_instants_beyond_the_calendar_in_utc(value: str):
    # when
    with pytest.raises(ValueError) as caught:
        selectors.parse_as_of(value)
    # then
    assert str(caught.value) == (
        "Out of range: the date-time must lie between 0001-01-01 and 9999-12-31 in UTC."
    )


def test_template_number_fields_refuse_integers_beyond_64_bits_in_services_too():
    # given
    section = {"key": "perf", "fields": [{"key": "n", "type": "number", "label": "N"}]}
    # when
    with pytest.raises(template_schema.SchemaError) as caught:
        template_schema.clean_section_values(section, {"n": 2**64 + 1})
    # then
    assert caught.value.errors == {"n": [INT_MESSAGE]}


def test_the_admin_template_form_parses_through_the_boundary():
    # given
    from registry.admin import TemplateAddForm

    form = TemplateAddForm(
        data={"definition_json": '{"version": 18446744073709551617}'}
    )
    # when
    valid = form.is_valid()
    # then
    assert not valid
    assert form.errors["definition_json"] == [f"version: {INT_MESSAGE}"]
