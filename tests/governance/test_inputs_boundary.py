"""The hostile-JSON table: every write endpoint of the URLconf (walked, not listed)
refuses each hostile body with a 4xx naming the field, and writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient
from rest_framework.views import APIView

from audits.api.ingest_views import RawBodyParser
from governance import inputs
from governance import services as governance_services
from registry import selectors as registry_selectors
from registry import services as registry_services

WRITE_METHODS = ("post", "put", "patch")


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def write_endpoints() -> list[tuple[str, str, type[APIView]]]:
    """(method, URL pattern name, view class) of every DRF write in the URLconf."""
    found = []
    for _, pattern in _walk(get_resolver().url_patterns):
        view_class = getattr(pattern.callback, "cls", None)
        if isinstance(view_class, type) and issubclass(view_class, APIView):
            for method in WRITE_METHODS:
                if hasattr(view_class, method):
                    found.append((method, str(pattern.name), view_class))
    return found


ENDPOINTS = write_endpoints()
DEEP = b"[" * 3000 + b"]" * 3000


@dataclass(frozen=True)
class Case:
    body: bytes
    content_type: str
    status: int
    field: str  # the path named in errors (without the ingest's "records[0].")
    message: str


CASES = {
    "nesting-3000": Case(
        b'{"x": ' + DEEP + b"}",
        "application/json",
        400,
        "x" + "[0]" * 63,
        inputs.depth_message(64),
    ),
    "surrogate-in-key-at-depth": Case(
        b'{"a": {"b": {"\\ud800": 1}}}',
        "application/json",
        400,
        "a.b.\\ud800",
        inputs.SURROGATE_MESSAGE,
    ),
    "surrogate-in-value-at-depth": Case(
        b'{"a": {"b": ["ok", "\\udc00"]}}',
        "application/json",
        400,
        "a.b[1]",
        inputs.SURROGATE_MESSAGE,
    ),
    "nul": Case(
        b'{"a": {"b": "x\\u0000y"}}',
        "application/json",
        400,
        "a.b",
        inputs.NUL_MESSAGE,
    ),
    "2^64+1": Case(
        b'{"n": 18446744073709551617}', "application/json", 400, "n", "Integer"
    ),
    "-2^63-1": Case(
        b'{"n": -9223372036854775809}', "application/json", 400, "n", "Integer"
    ),
    "nan": Case(b'{"n": NaN}', "application/json", 400, "n", inputs.NON_FINITE_MESSAGE),
    "infinity": Case(
        b'{"n": Infinity}', "application/json", 400, "n", inputs.NON_FINITE_MESSAGE
    ),
    "1e309": Case(
        b'{"n": 1e309}', "application/json", 400, "n", inputs.NON_FINITE_MESSAGE
    ),
    "oversize": Case(
        b'{"x": "' + b"a" * inputs.MAX_BODY_BYTES + b'"}',
        "application/json",
        413,
        "body",
        "The body exceeds 1048576 bytes.",
    ),
    "wrong-content-type": Case(
        b'{"a": 1}', "text/plain", 415, "body", "application/json"
    ),
}


def _ingest_case(case: Case) -> Case:
    """The same hostile value inside a one-record batch: 422 names the record."""
    if case.status != 400:
        return case
    return Case(
        b"[" + case.body + b"]",
        case.content_type,
        422,
        "records[0]." + case.field.replace("[0]" * 63, "[0]" * 62),
        case.message,
    )


def row_counts() -> dict[str, int]:
    """The row count of every table (audit events, refusals, ledger queue...)."""
    tables = sorted(connection.introspection.table_names())
    sql = " UNION ALL ".join(
        f"SELECT %s, COUNT(*) FROM {connection.ops.quote_name(t)}" for t in tables
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, tables)
        return dict(cursor.fetchall())


@pytest.fixture
def objects(
    submitted_version: Any, developer: Any, validator: Any, service: Any
) -> dict[str, Any]:
    """Real objects for every path parameter of the write endpoints."""
    request = governance_services.release_request_create(
        actor=developer, version=submitted_version, environments=["production"]
    )
    finding = governance_services.finding_raise(
        actor=validator,
        version=submitted_version,
        severity="high",
        title="Thin segment",
        description="Few applicants under 25.",
    )
    template = registry_selectors.template_latest(key="sr11-7-development")
    assert template is not None
    document = registry_services.document_create(
        actor=developer, version=submitted_version, template=template
    )
    token = governance_services.api_token_create(
        actor=developer, user=developer, name="spare"
    )
    ingest_key = governance_services.api_token_create(
        actor=None,
        user=service,
        name="credit scorer",
        deployment_model=submitted_version.model,
        deployment_environment="production",
    )
    card_sections = submitted_version.card.template.definition["sections"]
    return {
        "slug": submitted_version.model.slug,
        "version": submitted_version.version,
        "pk": {
            "api-token-revoke": token.token.pk,
            "api-document-section": document.pk,
            "api-finding-remediation": finding.pk,
            "api-finding-close": finding.pk,
        },
        "request_pk": request.pk,
        "card_section": card_sections[0]["key"],
        "document_section": template.definition["sections"][0]["key"],
        "ingest_key": ingest_key.raw,
    }


def _kwargs(name: str, route_kwargs: list[str], objects: dict[str, Any]) -> dict:
    values: dict[str, Any] = {}
    for kwarg in route_kwargs:
        if kwarg in ("slug", "version"):
            values[kwarg] = objects[kwarg]
        elif kwarg == "pk":
            values[kwarg] = objects["pk"].get(name) or (
                objects["request_pk"]
                if name.startswith("api-release-request")
                else None
            )
        elif kwarg == "section":
            values[kwarg] = objects[
                "document_section" if "document" in name else "card_section"
            ]
        assert values.get(kwarg) is not None, f"No object for {kwarg} of {name}"
    return values


def _caller(
    view_class: type[APIView], name: str, objects: dict[str, Any], users: Any
) -> APIClient:
    client = APIClient()
    if RawBodyParser in view_class.parser_classes:  # the ingest: a bound key
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {objects['ingest_key']}")
    else:
        # A session of the role that writes there (sessions have no scopes).
        validator_steps = ("validation", "finding", "approve", "reject", "revoke-")
        signer = users.validator if any(s in name for s in validator_steps) else None
        client.force_login(signer or users.developer)
    return client


@dataclass
class Users:
    developer: Any
    validator: Any


@pytest.mark.parametrize(
    ("method", "name", "view_class"),
    ENDPOINTS,
    ids=[f"{method.upper()} {name}" for method, name, _ in ENDPOINTS],
)
def test_every_write_endpoint_refuses_hostile_json_and_writes_nothing(
    method: str,
    name: str,
    view_class: type[APIView],
    objects: dict[str, Any],
    developer: Any,
    validator: Any,
) -> None:
    # given a caller who may write there, and path parameters of real objects
    pattern = next(p for _, p in _walk(get_resolver().url_patterns) if p.name == name)
    url = reverse(name, kwargs=_kwargs(name, list(pattern.pattern.converters), objects))
    client = _caller(view_class, name, objects, Users(developer, validator))
    ingest = RawBodyParser in view_class.parser_classes
    failures = []
    for label, case in CASES.items():
        expected = _ingest_case(case) if ingest else case
        before = row_counts()
        # when
        response = getattr(client, method)(
            url, data=expected.body, content_type=expected.content_type
        )
        # then
        answer = orjson.loads(response.content) if response.content else {}
        messages = answer.get("errors", {}).get(expected.field, [])
        if (
            response.status_code != expected.status
            or not any(expected.message in m for m in messages)
            or row_counts() != before
        ):
            failures.append(
                (label, response.status_code, str(answer)[:300], row_counts() != before)
            )
    assert failures == []


def test_the_walk_finds_every_kind_of_write_endpoint() -> None:
    # given / when
    names = {name for _, name, _ in ENDPOINTS}
    # then (a sample of each app: the walk is not a hard-coded list)
    assert {
        "api-models",
        "api-card-section",
        "api-release-request-approve",
        "api-tokens",
        "api-gate-admission",
        "api-predictions",
        "api-outcomes",
        "api-evidence-pack-period",
    } <= names
    assert len(ENDPOINTS) >= 32


def test_a_valid_body_with_a_surrogate_pair_passes_the_boundary(
    developer: Any, credit_model: Any
) -> None:
    # given an escaped surrogate pair (one emoji), which is valid Unicode
    client = APIClient()
    client.force_login(developer)
    # when
    response = client.patch(
        f"/api/v1/models/{credit_model.slug}",
        data=b'{"purpose": "Scores \\ud83d\\ude00 applicants"}',
        content_type="application/json",
    )
    # then
    assert response.status_code == 200
    credit_model.refresh_from_db()
    assert credit_model.purpose == "Scores \U0001f600 applicants"


OVERFLOWING_AS_OF = "9999-12-31T23:59:59-14:00"
AS_OF_MESSAGE = (
    "Out of range: the date-time must lie between 0001-01-01 and 9999-12-31 in UTC."
)


def test_as_of_beyond_the_calendar_is_a_400_naming_as_of(
    objects: dict[str, Any], developer: Any
) -> None:
    # given
    client = APIClient()
    client.force_login(developer)
    base = f"/api/v1/models/{objects['slug']}/versions/{objects['version']}"
    document = objects["pk"]["api-document-section"]
    # when
    answers = [
        client.get(f"{base}/card", {"as_of": OVERFLOWING_AS_OF}),
        client.get(f"{base}/documents/{document}", {"as_of": OVERFLOWING_AS_OF}),
    ]
    # then
    assert [(a.status_code, a.json()["errors"]) for a in answers] == [
        (400, {"as_of": [AS_OF_MESSAGE]}),
        (400, {"as_of": [AS_OF_MESSAGE]}),
    ]


def test_as_of_beyond_the_calendar_is_explained_on_the_card_history_page(
    objects: dict[str, Any], developer: Any
) -> None:
    # given
    client = APIClient()
    client.force_login(developer)
    url = reverse("registry:card_history", args=[objects["slug"], objects["version"]])
    # when
    response = client.get(url, {"as_of": OVERFLOWING_AS_OF})
    # then
    assert response.status_code == 200
    assert AS_OF_MESSAGE in response.content.decode()


def test_the_schema_declares_the_boundary_answers_on_every_write() -> None:
    # given
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    # when
    missing = [
        (path, method)
        for path, item in schema["paths"].items()
        for method in WRITE_METHODS
        if method in item
        and not {"400", "413", "415"} <= set(item[method]["responses"])
    ]
    # then
    assert missing == []
