"""Account pages: login, the layout around every page, and the API-token page."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.urls import reverse

from audits.models import AuditEvent
from governance import services
from governance.authentication import token_hash
from governance.models import ApiToken


def _in_30_days() -> str:
    return (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)).isoformat()


@pytest.mark.parametrize(
    ("name", "kwargs"), [("tokens", {}), ("token_revoke", {"pk": 1})]
)
def test_anonymous_is_redirected_to_login(client: Any, name: str, kwargs: Any) -> None:
    # given nobody logged in
    url = reverse(name, kwargs=kwargs)
    # when the token pages are asked for
    response = client.get(url)
    # then the visitor is sent to the login page
    assert response.status_code == 302
    assert response.url == f"/accounts/login/?next={url}"


def test_login_form_signs_in_and_lands_on_the_inventory(
    client: Any, developer: Any, password: str
) -> None:
    # given the login page, with labelled fields and autocomplete hints
    page = client.get(reverse("login")).content.decode()
    assert 'autocomplete="username"' in page
    assert 'autocomplete="current-password"' in page
    # when the developer logs in with their password
    response = client.post(
        reverse("login"), {"username": "dana", "password": password}, follow=True
    )
    # then they see the inventory, with their name and roles in the header
    assert response.redirect_chain[-1][0] == reverse("registry:inventory")
    body = response.content.decode()
    assert "dana" in body
    assert "model developer" in body
    assert 'aria-current="page">Inventory' in body


def test_an_auditor_lands_on_the_audit_trails_with_the_prediction_search(
    client: Any, auditor: Any, password: str
) -> None:
    # when the auditor logs in
    response = client.post(
        reverse("login"), {"username": "audrey", "password": password}, follow=True
    )
    # then their home is the audit trails page with the prediction search
    assert [url for url, _ in response.redirect_chain] == [
        reverse("home"),
        reverse("audits:home"),
    ]
    body = response.content.decode()
    assert 'role="search" aria-label="Find a prediction"' in body
    assert 'name="prediction_id"' in body


@pytest.mark.parametrize(
    ("fixture", "target"),
    [
        ("auditor", "audits:home"),
        ("risk_officer", "registry:inventory"),
        ("developer", "registry:inventory"),
        (None, "registry:inventory"),
    ],
)
def test_home_leads_each_role_to_its_start_page(
    client: Any, request: Any, fixture: str | None, target: str
) -> None:
    # given a user of that role signed in (or nobody)
    if fixture is not None:
        client.force_login(request.getfixturevalue(fixture))
    # when they open /
    response = client.get(reverse("home"))
    # then they are sent to their start page
    assert (response.status_code, response.url) == (302, reverse(target))


def test_login_with_a_wrong_password_shows_an_error(
    client: Any, developer: Any
) -> None:
    # given an existing account
    # when someone logs in with the wrong password
    response = client.post(
        reverse("login"), {"username": "dana", "password": "not-the-password"}
    )
    # then the form comes back with an alert and nobody is logged in
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_tokens_page_offers_only_the_scopes_of_the_role(
    client: Any, auditor: Any
) -> None:
    # given an auditor
    client.force_login(auditor)
    # when they open the token page
    response = client.get(reverse("tokens"))
    # then the form offers exactly the auditor's scopes
    assert response.status_code == 200
    choices = [value for value, _ in response.context["form"].fields["scopes"].choices]
    assert choices == ["registry:read", "audit:read", "tokens:manage"]


def test_created_token_is_shown_once(client: Any, developer: Any) -> None:
    # given the developer on the token page
    client.force_login(developer)
    # when they create a token
    response = client.post(
        reverse("tokens"),
        {
            "name": "laptop CLI",
            "scopes": ["registry:read"],
            "expires_on": _in_30_days(),
        },
    )
    # then the raw token is on that page, never stored, and gone on the next visit
    assert response.status_code == 200
    raw = response.context["issued"].raw
    assert raw in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    token = ApiToken.objects.get(user=developer)
    assert token.name == "laptop CLI"
    assert token.scopes == ["registry:read"]
    assert token.key_sha256 == token_hash(raw)
    assert token.expires_at.date().isoformat() == _in_30_days()
    assert raw not in client.get(reverse("tokens")).content.decode()


def test_token_with_a_scope_beyond_the_role_is_refused(
    client: Any, auditor: Any
) -> None:
    # given an auditor
    client.force_login(auditor)
    # when they ask for a write scope
    response = client.post(
        reverse("tokens"),
        {"name": "x", "scopes": ["registry:write"], "expires_on": _in_30_days()},
    )
    # then the form reports it and no token exists
    assert response.status_code == 200
    assert "scopes" in response.context["form"].errors
    assert response.context["issued"] is None
    assert not ApiToken.objects.exists()


def test_revoke_button_revokes_the_token(client: Any, developer: Any) -> None:
    # given a token of the developer
    issued = services.api_token_create(actor=developer, user=developer, name="ci")
    client.force_login(developer)
    # when they press its revoke button
    response = client.post(reverse("token_revoke", kwargs={"pk": issued.token.pk}))
    # then the token is revoked and the revocation audited
    assert response.status_code == 302
    assert response.url == reverse("tokens")
    issued.token.refresh_from_db()
    assert issued.token.revoked_at is not None
    assert issued.token.revoked_by == developer
    assert (
        AuditEvent.objects.filter(
            event_type="governance.token.revoked", object_id=str(issued.token.pk)
        ).count()
        == 1
    )


def test_nobody_revokes_another_users_token_from_their_page(
    client: Any, developer: Any, validator: Any
) -> None:
    # given a token of the validator
    issued = services.api_token_create(actor=validator, user=validator, name="ci")
    client.force_login(developer)
    # when the developer posts its revoke button
    response = client.post(reverse("token_revoke", kwargs={"pk": issued.token.pk}))
    # then it looks missing and nothing changes
    assert response.status_code == 404
    issued.token.refresh_from_db()
    assert issued.token.revoked_at is None
    assert not AuditEvent.objects.filter(event_type="governance.token.revoked").exists()


def test_api_docs_are_served_without_a_cdn(client: Any, developer: Any) -> None:
    client.force_login(developer)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn.jsdelivr.net" not in html


def test_openapi_schema_lists_the_registry_endpoints(
    client: Any, developer: Any
) -> None:
    client.force_login(developer)
    response = client.get(
        "/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
    )
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/models/{slug}/versions/{version}/card/sections/{section}" in paths
    assert "/api/v1/models/{slug}/versions/{version}/submit" in paths
    assert (
        response.json()["components"]["securitySchemes"]["bearerToken"]["scheme"]
        == "bearer"
    )
