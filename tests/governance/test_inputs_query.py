"""NUL in a query parameter or a form field, on pages and the API: a 400 that names
the parameter, before any view runs (PostgreSQL refuses NUL in text, so a filter on
it failed: GET /api/v1/gate/decisions?model=%00 answered 500), and nothing written."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from audits.models import AuditEvent, RefusedAction
from registry.models import Model

NUL = "Contains a NUL character (\\u0000), which is not accepted."

API = [
    ("/api/v1/gate/decisions?model=%00", "model"),
    ("/api/v1/refusals?username=x%00y", "username"),
    ("/api/v1/access-log?person=%00", "person"),
    ("/api/v1/models?x%00=1", "x\\u0000"),
]
PAGES = [
    ("/registry/?q=%00", "q"),
    ("/audits/refusals?username=%00", "username"),
    ("/audits/?trace_id=%00", "trace_id"),
]


def _counts() -> tuple[int, int, int]:
    return (
        AuditEvent.objects.count(),
        RefusedAction.objects.count(),
        Model.objects.count(),
    )


@pytest.mark.parametrize(("url", "field"), API)
def test_a_nul_in_an_api_query_is_a_400_naming_it(
    administrator: Any, submitted_version: Any, url: str, field: str
) -> None:
    client = Client()
    client.force_login(administrator)
    before = _counts()
    response = client.get(url)
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Invalid input.",
        "code": "invalid",
        "errors": {field: [NUL]},
    }
    assert _counts() == before


@pytest.mark.parametrize(("url", "field"), PAGES)
def test_a_nul_in_a_page_query_is_a_400_naming_it(
    auditor: Any, url: str, field: str
) -> None:
    client = Client()
    client.force_login(auditor)
    before = _counts()
    response = client.get(url)
    assert response.status_code == 400
    assert response.content.decode() == f"Bad request: the field {field!r}: {NUL}"
    assert _counts() == before


def test_a_nul_in_a_form_field_is_a_400_and_nothing_is_written(
    developer: Any,
) -> None:
    client = Client()
    client.force_login(developer)
    before = _counts()
    response = client.post(
        "/registry/new/", {"slug": "nul-model", "name": "Bad\x00name"}
    )
    assert response.status_code == 400
    assert response.content.decode() == f"Bad request: the field 'name': {NUL}"
    assert _counts() == before


@pytest.mark.parametrize(
    "path", ["/api/v1/models", "/api/v1/predictions", "/api/v1/release-requests"]
)
def test_a_form_body_with_a_nul_to_the_api_is_refused_not_a_500(
    developer: Any, path: str
) -> None:
    # given a multipart form (with a NUL in a field) where the API takes JSON
    client = Client()
    client.force_login(developer)
    before = _counts()
    # when
    response = client.post(path, {"slug": "x\x00y"})
    # then it is refused as a media type (the ingest: only a bearer key), never
    # read as a form by the boundary, which would leave the view no body to read
    expected = 401 if path == "/api/v1/predictions" else 415
    assert response.status_code == expected, response.content
    assert _counts() == before
