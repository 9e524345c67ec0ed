"""Permission matrix of every registry endpoint: who may do what, and scopes."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from django.urls import resolve
from rest_framework.test import APIClient

from audits.models import AuditEvent
from governance import services as governance_services
from registry import selectors
from registry import services as registry_services
from registry.api import urls
from registry.models import Document, DocumentTemplate, Model, ModelCard, ModelVersion
from tests.conftest import client_for
from tests.factories import version_payload

V = "/api/v1/models/credit-risk/versions/1.0.0"


def _value(fdef: dict[str, Any]) -> Any:
    """A valid, filled value for a template field of any type."""
    return {
        "text": "Filled",
        "textarea": "Filled in.",
        "url": "https://example.com/doc",
        "date": "2026-01-15",
        "number": 1,
        "boolean": True,
        "choice": (fdef.get("choices") or [""])[0],
        "multichoice": (fdef.get("choices") or [])[:1],
    }[fdef["type"]]


def _first_section(template: DocumentTemplate) -> tuple[str, dict[str, Any]]:
    section = template.definition["sections"][0]
    field = section["fields"][0]
    return section["key"], {field["key"]: _value(field)}


CUSTOM_TEMPLATE = {
    "key": "bank-custom-notes",
    "version": 1,
    "name": "Bank notes",
    "kind": "custom",
    "author_role": "model_developer",
    "sections": [
        {
            "key": "notes",
            "title": "Notes",
            "fields": [
                {
                    "key": "summary",
                    "label": "Summary",
                    "type": "textarea",
                    "required": True,
                }
            ],
        }
    ],
}


@pytest.fixture
def world(credit_model: Any, draft_version: Any, developer: Any) -> SimpleNamespace:
    """credit_model with a draft 1.0.0, its card and a development document."""
    dev_template = selectors.template_latest(key="sr11-7-development")
    assert dev_template is not None
    document = registry_services.document_create(
        actor=developer, version=draft_version, template=dev_template
    )
    card = ModelCard.objects.select_related("template").get(model_version=draft_version)
    card_section, card_values = _first_section(card.template)
    doc_section, doc_values = _first_section(dev_template)
    return SimpleNamespace(
        model=credit_model,
        version=draft_version,
        card=card,
        card_section=card_section,
        card_values=card_values,
        document=document,
        doc_section=doc_section,
        doc_values=doc_values,
    )


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    right: str  # a persona allowed to do it
    ok: int
    event: str | None = None  # the audit event a successful write records

    def url(self, w: SimpleNamespace) -> str:
        return self.path.format(doc=w.document.pk, cs=w.card_section, ds=w.doc_section)

    def payload(self, w: SimpleNamespace) -> Any:
        return PAYLOADS.get(self.name, lambda w: None)(w)

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


ENDPOINTS = {
    "models.get": Endpoint("GET", "/api/v1/models", "developer", 200),
    "models.post": Endpoint(
        "POST", "/api/v1/models", "developer", 201, "registry.model.created"
    ),
    "model.get": Endpoint("GET", "/api/v1/models/credit-risk", "developer", 200),
    "model.patch": Endpoint(
        "PATCH",
        "/api/v1/models/credit-risk",
        "developer",
        200,
        "registry.model.updated",
    ),
    "versions.get": Endpoint(
        "GET", "/api/v1/models/credit-risk/versions", "developer", 200
    ),
    "versions.post": Endpoint(
        "POST",
        "/api/v1/models/credit-risk/versions",
        "developer",
        201,
        "registry.version.registered",
    ),
    "version.get": Endpoint("GET", V, "developer", 200),
    "version.patch": Endpoint("PATCH", V, "developer", 200, "registry.version.updated"),
    "version.put": Endpoint("PUT", V, "developer", 200, "registry.version.updated"),
    "version.submit": Endpoint(
        "POST", f"{V}/submit", "developer", 200, "registry.version.submitted"
    ),
    "card.get": Endpoint("GET", f"{V}/card", "developer", 200),
    "card.put": Endpoint(
        "PUT", f"{V}/card", "developer", 200, "registry.card.replaced"
    ),
    "card.history": Endpoint("GET", f"{V}/card/history", "developer", 200),
    "card.section": Endpoint(
        "PUT",
        f"{V}/card/sections/{{cs}}",
        "developer",
        200,
        "registry.card.section_updated",
    ),
    "documents.get": Endpoint("GET", f"{V}/documents", "developer", 200),
    "documents.post": Endpoint(
        "POST", f"{V}/documents", "validator", 201, "registry.document.created"
    ),
    "document.get": Endpoint("GET", f"{V}/documents/{{doc}}", "developer", 200),
    "document.history": Endpoint(
        "GET", f"{V}/documents/{{doc}}/history", "developer", 200
    ),
    "document.section": Endpoint(
        "PUT",
        f"{V}/documents/{{doc}}/sections/{{ds}}",
        "developer",
        200,
        "registry.document.section_updated",
    ),
    "templates.get": Endpoint("GET", "/api/v1/templates", "developer", 200),
    "templates.post": Endpoint(
        "POST", "/api/v1/templates", "administrator", 201, "registry.template.created"
    ),
    "template.get": Endpoint("GET", "/api/v1/templates/model-card/1", "developer", 200),
}

PAYLOADS: dict[str, Any] = {
    ENDPOINTS["models.post"].name: lambda w: {
        "name": "Fraud detector",
        "slug": "fraud-detector",
        "purpose": "Flag card fraud.",
    },
    ENDPOINTS["model.patch"].name: lambda w: {"intended_use": "Reviewed in Q1."},
    ENDPOINTS["versions.post"].name: lambda w: version_payload("2.0.0"),
    ENDPOINTS["version.patch"].name: lambda w: {"description": "Patched."},
    ENDPOINTS["version.put"].name: lambda w: version_payload(
        "1.0.0", description="Replaced."
    ),
    ENDPOINTS["card.put"].name: lambda w: {"content": {w.card_section: w.card_values}},
    ENDPOINTS["card.section"].name: lambda w: {"values": w.card_values},
    ENDPOINTS["documents.post"].name: lambda w: {"template": "validation-report"},
    ENDPOINTS["document.section"].name: lambda w: {"values": w.doc_values},
    ENDPOINTS["templates.post"].name: lambda w: {"definition": CUSTOM_TEMPLATE},
}

TEAM_SCOPED = {
    k for k in ENDPOINTS if not k.startswith(("models.", "templates.", "template."))
}

# Roles that hold no permission for the operation (or that the service refuses).
WRONG_ROLES = {
    "models.post": ["auditor", "validator", "risk_officer", "service"],
    "model.patch": ["auditor", "validator", "service"],
    "versions.post": ["auditor", "validator", "risk_officer", "administrator"],
    "version.patch": ["auditor", "validator", "service"],
    "version.put": ["auditor", "validator", "service"],
    "version.submit": ["auditor", "validator"],
    "card.put": ["validator", "service", "auditor", "risk_officer"],
    "card.section": ["validator", "service"],
    # a developer may not write the validation report: it must be independent
    "documents.post": ["auditor", "service", "developer"],
    "document.section": ["validator", "auditor", "service"],
    "templates.post": ["developer", "validator", "risk_officer"],
}
# Further personas allowed besides Endpoint.right.
ALSO_RIGHT = {
    "models.get": ["auditor", "service"],
    "models.post": ["administrator"],
    "model.get": ["auditor", "service"],
    "model.patch": ["risk_officer"],
    "versions.get": ["validator"],
    "versions.post": ["service"],
    "version.get": ["auditor"],
    "card.get": ["validator"],
    "card.history": ["auditor"],
    "documents.get": ["auditor"],
    "document.get": ["validator"],
    "document.history": ["validator"],
    "templates.get": ["service"],
    "template.get": ["auditor"],
}


def _cases() -> list[Any]:
    cases = []
    for key, ep in ENDPOINTS.items():
        cases.append(pytest.param(key, "anonymous", 401, id=f"{key}-anonymous"))
        cases.append(pytest.param(key, "outsider", 403, id=f"{key}-outsider"))
        for persona in WRONG_ROLES.get(key, []):
            cases.append(pytest.param(key, persona, 403, id=f"{key}-{persona}"))
        if key in TEAM_SCOPED:
            cases.append(
                pytest.param(key, "other_developer", 404, id=f"{key}-other_developer")
            )
        for persona in [ep.right, *ALSO_RIGHT.get(key, [])]:
            cases.append(pytest.param(key, persona, ep.ok, id=f"{key}-{persona}"))
    cases.append(
        pytest.param(
            "version.submit",
            "service",
            200,
            id="version.submit-service",
        )
    )
    return cases


def _client(request: pytest.FixtureRequest, persona: str) -> APIClient:
    if persona == "anonymous":
        return APIClient()
    user = request.getfixturevalue(persona)
    if persona == "outsider":
        # An account without a role cannot hold a token; it signs in instead.
        client = APIClient()
        client.force_login(user)
        return client
    return client_for(user)


def _call(client: APIClient, ep: Endpoint, w: SimpleNamespace) -> Any:
    payload = ep.payload(w)
    return getattr(client, ep.method.lower())(ep.url(w), payload, format="json")


def _snapshot() -> dict[str, Any]:
    """Every registry row and history row and every audit event, for comparison."""
    state: dict[str, Any] = {}
    for model in (Model, ModelVersion, ModelCard, Document, DocumentTemplate):
        state[model._meta.label] = list(model.objects.order_by("pk").values())
        state[f"{model._meta.label}.history"] = model.history.count()
    state["developers"] = sorted(
        Model.developers.through.objects.values_list("model_id", "user_id")
    )
    state["audit"] = list(AuditEvent.objects.order_by("pk").values())
    return state


def test_every_registry_route_and_method_is_in_the_matrix() -> None:
    # given the URL patterns of the registry API and the methods their views serve
    served = {
        (p.name, m.upper())
        for p in urls.urlpatterns
        for m in ("get", "post", "patch", "put", "delete")
        if hasattr(p.callback.view_class, m)  # type: ignore[attr-defined]
    }
    # when the matrix's endpoints are resolved to their patterns
    fake = SimpleNamespace(
        document=SimpleNamespace(pk=1), card_section="s", doc_section="s"
    )
    covered = {(resolve(ep.url(fake)).url_name, ep.method) for ep in ENDPOINTS.values()}
    # then the matrix covers exactly what is served
    assert covered == served
    assert len(served) == 22


@pytest.mark.parametrize(("key", "persona", "expected"), _cases())
def test_permission_matrix(
    request: pytest.FixtureRequest,
    world: SimpleNamespace,
    key: str,
    persona: str,
    expected: int,
) -> None:
    # given the persona's client and the state before the call
    ep = ENDPOINTS[key]
    client = _client(request, persona)
    before = _snapshot()
    # when the persona calls the endpoint
    response = _call(client, ep, world)
    # then the status is the matrix's, the answer JSON, never a redirect
    assert response.status_code == expected, response.content
    assert response["Content-Type"] == "application/json"
    assert "Location" not in response
    body = response.json()
    if expected >= 400:
        # and a denied call changes nothing and records nothing
        code = {401: "not_authenticated", 403: "permission_denied", 404: "not_found"}
        assert body["code"] == code[expected]
        assert isinstance(body["detail"], str) and body["detail"]
        assert _snapshot() == before
    elif ep.event is None:
        assert _snapshot() == before
    else:
        new = AuditEvent.objects.exclude(pk__in=[e["id"] for e in before["audit"]])
        user = request.getfixturevalue(persona)
        assert list(new.values_list("event_type", "actor")) == [(ep.event, user.pk)]


def test_anonymous_gets_401_with_detail_and_a_bearer_challenge(
    world: SimpleNamespace,
) -> None:
    response = APIClient().get("/api/v1/models")
    assert response.status_code == 401
    assert response.json() == {
        "detail": "Authentication credentials were not provided.",
        "code": "not_authenticated",
        "errors": {},
    }
    assert response["WWW-Authenticate"] == 'Bearer realm="modelgov"'


def test_model_list_of_a_developer_on_no_team_excludes_credit_model(
    world: SimpleNamespace, other_developer: Any, validator: Any
) -> None:
    # given another model that other_developer works on
    Model.objects.create(slug="olafs-model", name="Olaf's model", purpose="p")
    Model.objects.get(slug="olafs-model").developers.add(other_developer)
    # when each lists the inventory
    mine = client_for(other_developer).get("/api/v1/models").json()
    everyone = client_for(validator).get("/api/v1/models").json()
    # then other_developer sees only their own model, the validator both
    assert [m["slug"] for m in mine["results"]] == ["olafs-model"]
    assert mine["count"] == 1
    assert [m["slug"] for m in everyone["results"]] == ["credit-risk", "olafs-model"]


def _token_client(user: Any, scopes: list[str]) -> APIClient:
    issued = governance_services.api_token_create(
        actor=user, user=user, name="scoped", scopes=scopes
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw}")
    return client


@pytest.mark.parametrize("key", list(ENDPOINTS))
def test_read_only_token_reads_but_cannot_write(
    request: pytest.FixtureRequest, world: SimpleNamespace, key: str
) -> None:
    # given a token of the right persona that carries only registry:read
    ep = ENDPOINTS[key]
    client = _token_client(request.getfixturevalue(ep.right), ["registry:read"])
    before = _snapshot()
    # when it calls the endpoint
    response = _call(client, ep, world)
    # then reads succeed and writes are refused for the missing scope, changing nothing
    if ep.method == "GET":
        assert response.status_code == 200
    else:
        assert response.status_code == 403
        assert response.json() == {
            "detail": "This token does not carry the scope this operation needs.",
            "code": "permission_denied",
            "errors": {},
        }
    assert _snapshot() == before


@pytest.mark.parametrize(
    "key", [k for k, ep in ENDPOINTS.items() if ep.method == "GET"]
)
def test_write_only_token_cannot_read(
    request: pytest.FixtureRequest, world: SimpleNamespace, key: str
) -> None:
    ep = ENDPOINTS[key]
    client = _token_client(request.getfixturevalue(ep.right), ["registry:write"])
    response = _call(client, ep, world)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_a_session_is_not_limited_by_scopes(
    world: SimpleNamespace, developer: Any
) -> None:
    # given the developer signed in (no token)
    client = APIClient()
    client.force_login(developer)
    # when they patch their model / then it works
    response = client.patch(
        "/api/v1/models/credit-risk", {"intended_use": "Session edit."}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["intended_use"] == "Session edit."


def test_unsupported_method_is_405_for_a_permitted_user(
    world: SimpleNamespace, developer: Any
) -> None:
    client = client_for(developer)
    before = _snapshot()
    response = client.delete(f"{V}/card")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert _snapshot() == before
