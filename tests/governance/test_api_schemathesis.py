"""Schemathesis over the whole API: every operation of the OpenAPI schema, with token
and with session authentication, answers without a 5xx.

The schema is the one drf-spectacular serves at /api/schema/, generated in-process.
Cases go to the WSGI app in-process, inside the test's transaction (as in
tests/audits/test_schemathesis.py, which goes deeper into the ingest with valid
records). The caller holds every role, so that most operations get past the role
checks and reach their services; half of the generated path parameters are set to
objects that exist (the credit model, its submitted version, a release request, a
finding, a document), so that the accepting paths are exercised as well as the
404s. Session calls carry a CSRF token, as a browser would.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import Group
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from governance import services as governance_services
from governance.choices import Role
from registry.models import DocumentTemplate
from tests.factories import UserFactory

# 5 per operation and authentication keeps `make test` short (about 50 operations);
# a deeper run: SCHEMATHESIS_API_MAX_EXAMPLES=500.
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_API_MAX_EXAMPLES", "5"))


def _openapi() -> dict[str, Any]:
    return dict(SchemaGenerator().get_schema(request=None, public=True))


schema = schemathesis.openapi.from_dict(_openapi())
schema.app = get_wsgi_application()
# Bodies that break the schema too (wrong types, missing fields, NUL in strings),
# not only the ones it describes.
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
    allow_x00=True,
)


@schemathesis.serializer("application/x-ndjson")
def _ndjson(context: Any, value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps(value).encode()


# Path parameters of existing objects, filled in by the ``world`` fixture.
KNOWN: dict[str, list[Any]] = {}


@schema.hook
def flatmap_path_parameters(
    context: Any, path_parameters: dict[str, Any] | None
) -> Any:
    if not path_parameters or not KNOWN:
        return st.just(path_parameters)
    known = {
        name: st.sampled_from(KNOWN[name])
        for name in path_parameters
        if KNOWN.get(name)
    }
    if not known:
        return st.just(path_parameters)
    return st.one_of(
        st.just(path_parameters),
        st.fixed_dictionaries(known).map(lambda fixed: {**path_parameters, **fixed}),
    )


@pytest.fixture
def world(
    db: Any, developer: Any, validator: Any, submitted_version: Any
) -> Iterator[dict[str, Any]]:
    """A caller with every role, their token (every scope their roles allow) and
    session, and existing objects for path parameters."""
    from governance.services import workflow
    from registry import services as registry_services

    caller = UserFactory(username="schemathesis", first_name="Schema", last_name="T")
    caller.groups.add(*Group.objects.filter(name__in=[r.value for r in Role]))
    token = governance_services.api_token_create(
        actor=caller, user=caller, name="schemathesis"
    )
    rr = workflow.release_request_create(
        actor=developer, version=submitted_version, environments=["production"]
    )
    finding = workflow.finding_raise(
        actor=validator,
        version=submitted_version,
        title="Thin validation sample",
        description="The holdout set has 40 defaults.",
        severity="medium",
    )
    document = registry_services.document_create(
        actor=developer,
        version=submitted_version,
        template=DocumentTemplate.objects.filter(key="sr11-7-development")
        .order_by("-version")
        .first(),
    )
    KNOWN.clear()
    KNOWN.update(
        {
            "slug": [submitted_version.model.slug],
            "version": [submitted_version.version],
            "pk": [rr.pk, finding.pk, document.pk, token.token.pk],
            "section": ["intended_use", "purpose_scope", "model_details"],
        }
    )
    client = Client()
    client.force_login(caller)
    csrf = _get_new_csrf_string()
    try:
        yield {
            "token": token.raw,
            "cookies": {
                "sessionid": client.cookies["sessionid"].value,
                "csrftoken": csrf,
            },
            "csrf": csrf,
        }
    finally:
        KNOWN.clear()


@pytest.fixture
def in_process_requests(world: dict[str, Any]) -> Iterator[None]:
    """Keep the test's connection open across WSGI requests (as Django's test
    client does): closing it would end the test transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@schema.parametrize()
@SETTINGS
def test_every_operation_with_a_token_never_answers_5xx(
    case: Any, world: dict[str, Any], in_process_requests: None
) -> None:
    # given a token of a caller with every role
    headers = {"Authorization": f"Bearer {world['token']}"}
    # when / then
    case.call_and_validate(headers=headers, checks=[not_a_server_error])


@schema.parametrize()
@SETTINGS
def test_every_operation_with_a_session_never_answers_5xx(
    case: Any, world: dict[str, Any], in_process_requests: None
) -> None:
    # given the signed-in session of a caller with every role, with its CSRF token
    headers = {"X-CSRFToken": world["csrf"]}
    # when / then
    case.call_and_validate(
        headers=headers, cookies=world["cookies"], checks=[not_a_server_error]
    )


def test_the_credentials_of_the_schemathesis_runs_reach_the_api(
    world: dict[str, Any],
) -> None:
    # given the token, and the session cookie with its CSRF token, that the runs use
    token_client = Client()
    session_client = Client(enforce_csrf_checks=True)
    for name, value in world["cookies"].items():
        session_client.cookies[name] = value
    # when
    by_token = token_client.get(
        "/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {world['token']}"
    )
    by_session = session_client.post(
        "/api/v1/tokens",
        data={"name": "made in a session"},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=world["csrf"],
    )
    # then both are the caller with every role: the runs are not all 401 or 403
    assert by_token.status_code == 200
    assert by_token.json()["username"] == "schemathesis"
    assert by_token.json()["roles"] == sorted(r.value for r in Role)
    assert by_session.status_code == 201, by_session.content
    assert by_session.json()["name"] == "made in a session"
