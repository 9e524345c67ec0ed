"""Token management needs a session or tokens:manage; token lifetimes have a maximum;
token misuse and refused writes (API and pages) are on the refusal log, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import resolve
from django.utils import timezone
from rest_framework.test import APIClient

from audits.models import AuditEvent, RefusalKind, RefusedAction
from governance import services
from governance.models import ApiToken
from tests.factories import ModelFactory

TOKENS = "/api/v1/tokens"
MAX_MESSAGE = "A token may live at most {days} days (MODELGOV_TOKEN_MAX_TTL_DAYS): expire it by {day} (UTC)."


def _bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def _session(user: Any) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _tokens() -> list[tuple[Any, ...]]:
    return list(
        ApiToken.objects.order_by("pk").values_list(
            "pk", "scopes", "expires_at", "revoked_at"
        )
    )


def _refusals() -> list[tuple[Any, ...]]:
    return list(
        RefusedAction.objects.order_by("pk").values_list(
            "kind", "actor_id", "action", "reason", "token_id"
        )
    )


def _latest_day() -> str:
    return f"{services.api_token_latest_expiry():%Y-%m-%d}"


@pytest.fixture
def deploy_bot_tokens(service: Any) -> dict[str, Any]:
    """The pipeline account's gate token and ingest key, and a tokens:manage token."""
    model = ModelFactory(slug="fraud")
    return {
        "gate": services.api_token_create(
            actor=service, user=service, name="gate", scopes=["gate:check"]
        ),
        "ingest": services.api_token_create(
            actor=service,
            user=service,
            name="ingest",
            deployment_model=model,
            deployment_environment="production",
        ),
        "manage": services.api_token_create(
            actor=service, user=service, name="rotation", scopes=["tokens:manage"]
        ),
    }


# Token management -----------------------------------------------------------------


@pytest.mark.parametrize("which", ["gate", "ingest"])
def test_a_gate_or_ingest_token_cannot_list_its_owners_tokens(
    service: Any, deploy_bot_tokens: dict[str, Any], which: str
) -> None:
    # given the deploy bot's gate token or ingest key
    issued = deploy_bot_tokens[which]
    before = _tokens()
    events = AuditEvent.objects.count()
    # when it lists the account's tokens
    response = _bearer(issued.raw).get(TOKENS)
    # then 403, nothing changed, and the refusal is on record with the token
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "This token does not carry the scope this operation needs."
    )
    assert _tokens() == before
    assert AuditEvent.objects.count() == events
    assert _refusals() == [
        (
            RefusalKind.TOKEN_SCOPE,
            service.pk,
            "GET api-tokens",
            f"Token {issued.token.prefix} carries {', '.join(issued.token.scopes)}; "
            "this operation needs tokens:manage.",
            issued.token.pk,
        )
    ]


@pytest.mark.parametrize("which", ["gate", "ingest"])
def test_a_gate_or_ingest_token_cannot_revoke_its_owners_other_tokens(
    service: Any, deploy_bot_tokens: dict[str, Any], which: str
) -> None:
    # given the bot's gate token or ingest key, and its rotation token
    issued = deploy_bot_tokens[which]
    target = deploy_bot_tokens["manage"].token
    before = _tokens()
    events = AuditEvent.objects.count()
    # when it revokes the other token
    response = _bearer(issued.raw).post(f"{TOKENS}/{target.pk}/revoke")
    # then 403; the other token still works; one TOKEN_SCOPE refusal
    assert response.status_code == 403
    assert _tokens() == before
    assert AuditEvent.objects.count() == events
    assert [(r[0], r[2], r[4]) for r in _refusals()] == [
        (RefusalKind.TOKEN_SCOPE, "POST api-token-revoke", issued.token.pk)
    ]
    assert _bearer(deploy_bot_tokens["manage"].raw).get(TOKENS).status_code == 200


def test_a_tokens_manage_token_lists_and_revokes_its_owners_tokens(
    service: Any, deploy_bot_tokens: dict[str, Any]
) -> None:
    # given the bot's rotation token (tokens:manage)
    client = _bearer(deploy_bot_tokens["manage"].raw)
    gate = deploy_bot_tokens["gate"].token
    # when it lists the tokens and revokes the gate token
    listed = client.get(TOKENS)
    revoked = client.post(f"{TOKENS}/{gate.pk}/revoke")
    # then both are served; the gate token is revoked; nothing was refused
    assert listed.status_code == 200
    assert [t["name"] for t in listed.json()] == ["rotation", "ingest", "gate"]
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    gate.refresh_from_db()
    assert gate.revoked_by == service
    assert not RefusedAction.objects.exists()


def test_a_session_lists_and_revokes_tokens(developer: Any) -> None:
    # given a developer signed in, with a token
    issued = services.api_token_create(actor=developer, user=developer, name="ci")
    client = _session(developer)
    # when the session lists and revokes
    listed = client.get(TOKENS)
    revoked = client.post(f"{TOKENS}/{issued.token.pk}/revoke")
    # then both are served
    assert listed.status_code == 200
    assert [t["prefix"] for t in listed.json()] == [issued.token.prefix]
    assert revoked.status_code == 200
    assert revoked.json()["is_active"] is False
    assert not RefusedAction.objects.exists()


def test_a_tokens_manage_token_cannot_mint_a_token(
    service: Any, deploy_bot_tokens: dict[str, Any]
) -> None:
    # given the bot's rotation token
    issued = deploy_bot_tokens["manage"]
    before = _tokens()
    # when it asks for a new token
    response = _bearer(issued.raw).post(TOKENS, {"name": "more"}, format="json")
    # then 403: tokens come from a session; recorded as token misuse
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Tokens are issued from a signed-in session, not by a token.",
        "code": "permission_denied",
        "errors": {},
    }
    assert _tokens() == before
    assert _refusals() == [
        (
            RefusalKind.TOKEN_MISUSE,
            service.pk,
            "POST api-tokens",
            f"Token {issued.token.prefix} used where a session is needed: "
            "Tokens are issued from a signed-in session, not by a token.",
            issued.token.pk,
        )
    ]


def test_default_scopes_leave_out_tokens_manage(developer: Any) -> None:
    # given a developer, whose role allows tokens:manage
    # when a token is issued without scopes, and one asking for tokens:manage
    default = services.api_token_create(actor=developer, user=developer, name="ci")
    asked = services.api_token_create(
        actor=developer, user=developer, name="rotate", scopes=["tokens:manage"]
    )
    # then only the one that asked carries it
    assert default.token.scopes == ["registry:read", "registry:write"]
    assert asked.token.scopes == ["tokens:manage"]


# Misuse of a known token ----------------------------------------------------------


def _revoke(token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())


def _expire(token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )


def _disable(token: ApiToken) -> None:
    get_user_model().objects.filter(pk=token.user_id).update(is_active=False)


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (_revoke, "Token has been revoked."),
        (_expire, "Token has expired."),
        (_disable, "Account is disabled."),
    ],
)
def test_using_a_revoked_expired_or_disabled_token_is_recorded_as_misuse(
    developer: Any, spoil: Any, reason: str
) -> None:
    # given a token that no longer works
    issued = services.api_token_create(actor=developer, user=developer, name="ci")
    spoil(issued.token)
    # when it is used, for a read
    response = _bearer(issued.raw).get("/api/v1/models")
    # then 401, and one TOKEN_MISUSE refusal names the token and its owner
    assert response.status_code == 401
    assert response.json()["detail"] == reason
    assert _refusals() == [
        (
            RefusalKind.TOKEN_MISUSE,
            developer.pk,
            "GET api-models",
            f"Token {issued.token.prefix} used: {reason}",
            issued.token.pk,
        )
    ]


def test_an_unknown_token_is_refused_without_a_record(db: Any) -> None:
    # given no such token / when one is tried
    response = _bearer("mg_00000000_guess").get("/api/v1/models")
    # then 401, and no row (there is no account to name)
    assert response.status_code == 401
    assert not RefusedAction.objects.exists()


# The maximum lifetime --------------------------------------------------------------


@pytest.mark.parametrize(
    "expires_at", ["9999-12-31T23:59:59Z", "9999-12-31T23:59:59-14:00", "+2d"]
)
def test_the_api_refuses_an_expiry_past_the_maximum(
    developer: Any, expires_at: str, settings: Any
) -> None:
    # given a session and an expiry past MODELGOV_TOKEN_MAX_TTL_DAYS
    settings.MODELGOV_TOKEN_MAX_TTL_DAYS = 90
    if expires_at == "+2d":
        expires_at = (
            services.api_token_latest_expiry() + timedelta(days=2)
        ).isoformat()
    before = _tokens()
    # when a token is asked for
    response = _session(developer).post(
        TOKENS, {"name": "forever", "expires_at": expires_at}, format="json"
    )
    # then 400 naming expires_at, and no token
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["errors"]) == ["expires_at"]
    assert _tokens() == before


def test_the_api_accepts_the_latest_allowed_expiry(
    developer: Any, settings: Any
) -> None:
    # given the maximum of 90 days
    settings.MODELGOV_TOKEN_MAX_TTL_DAYS = 90
    latest = services.api_token_latest_expiry()
    # when a token is asked for that expires at the end of the 90th day
    response = _session(developer).post(
        TOKENS, {"name": "quarter", "expires_at": latest.isoformat()}, format="json"
    )
    # then it is issued with that expiry
    assert response.status_code == 201
    assert ApiToken.objects.get().expires_at == latest


def test_the_service_refuses_an_expiry_past_the_maximum(
    developer: Any, settings: Any
) -> None:
    # given the maximum of 30 days
    settings.MODELGOV_TOKEN_MAX_TTL_DAYS = 30
    late = services.api_token_latest_expiry() + timedelta(microseconds=1)
    # when a token expiring a microsecond later is issued
    with pytest.raises(ValidationError) as info:
        services.api_token_create(
            actor=developer, user=developer, name="x", expires_at=late
        )
    # then the error names expires_at, and no token exists
    assert info.value.message_dict == {
        "expires_at": [MAX_MESSAGE.format(days=30, day=_latest_day())]
    }
    assert not ApiToken.objects.exists()
    assert not AuditEvent.objects.exists()


def test_the_default_lifetime_is_capped_by_the_maximum(
    developer: Any, settings: Any
) -> None:
    # given a default of 365 days and a maximum of 30
    settings.MODELGOV_TOKEN_DEFAULT_TTL_DAYS = 365
    settings.MODELGOV_TOKEN_MAX_TTL_DAYS = 30
    # when a token is issued without an expiry
    start = timezone.now()
    issued = services.api_token_create(actor=developer, user=developer, name="x")
    # then it expires 30 days on
    assert issued.token.expires_at is not None
    lifetime = issued.token.expires_at - start
    assert timedelta(days=30) <= lifetime < timedelta(days=30, seconds=5)


@pytest.mark.parametrize("days", ["366", "1000000000000"])
def test_issue_token_refuses_a_lifetime_past_the_maximum(
    service: Any, days: str
) -> None:
    # given the default maximum of 365 days
    # when the operator asks for a longer one
    with pytest.raises(CommandError) as info:
        call_command(
            "issue_token",
            "--username",
            service.username,
            "--expires-days",
            days,
            stdout=StringIO(),
        )
    # then the error names expires_at, and no token exists
    assert str(info.value) == "expires_at: " + MAX_MESSAGE.format(
        days=365, day=_latest_day()
    )
    assert not ApiToken.objects.exists()


def test_create_account_refuses_a_token_lifetime_past_the_maximum(db: Any) -> None:
    # given no account / when one is created with a token living 400 days
    with pytest.raises(CommandError) as info:
        call_command(
            "create_account",
            "--username",
            "bot",
            "--role",
            "service_account",
            "--token",
            "--token-expires-days",
            "400",
            stdout=StringIO(),
        )
    # then the error names expires_at, and neither account nor token exists
    assert str(info.value) == "expires_at: " + MAX_MESSAGE.format(
        days=365, day=_latest_day()
    )
    assert not get_user_model().objects.filter(username="bot").exists()
    assert not ApiToken.objects.exists()


def test_create_account_token_with_a_lifetime(db: Any) -> None:
    # given no account / when one is created with a token living 30 days
    out = StringIO()
    call_command(
        "create_account",
        "--username",
        "bot",
        "--role",
        "service_account",
        "--token",
        "--token-expires-days",
        "30",
        stdout=out,
    )
    # then its token expires in 30 days
    token = ApiToken.objects.get()
    assert token.expires_at is not None
    assert timedelta(days=29, hours=23) < token.expires_at - timezone.now()
    assert token.expires_at - timezone.now() <= timedelta(days=30)


def test_the_tokens_page_refuses_a_date_past_the_maximum(
    developer: Any, settings: Any
) -> None:
    # given the maximum of 30 days and a developer signed in
    settings.MODELGOV_TOKEN_MAX_TTL_DAYS = 30
    client = Client()
    client.force_login(developer)
    late = (services.api_token_latest_expiry() + timedelta(days=1)).date()
    # when the form asks for a day after the latest
    response = client.post(
        "/accounts/tokens/",
        {"name": "x", "scopes": ["registry:read"], "expires_on": late.isoformat()},
    )
    # then the form shows the error on its date, and no token exists
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "expires_on": [MAX_MESSAGE.format(days=30, day=_latest_day())]
    }
    assert f'max="{_latest_day()}"' in response.content.decode()
    assert not ApiToken.objects.exists()


# Refused writes, once -------------------------------------------------------------


def test_an_api_write_refused_by_role_is_recorded_once(developer: Any) -> None:
    # given a developer (no template permission) signed in
    client = _session(developer)
    # when the developer adds a template
    response = client.post("/api/v1/templates", {}, format="json")
    # then 403, and one PERMISSION refusal
    assert response.status_code == 403
    assert _refusals() == [
        (
            RefusalKind.PERMISSION,
            developer.pk,
            "POST api-templates",
            "You do not have permission to perform this action.",
            None,
        )
    ]


def test_an_api_write_refused_by_a_workflow_service_is_recorded_once(
    validator: Any, submitted_version: Any
) -> None:
    # given a validator signed in (validators do not request releases)
    client = _session(validator)
    # when the validator asks for a release through the API
    response = client.post(
        "/api/v1/release-requests",
        {"model": "credit-risk", "version": "1.0.0", "environments": ["staging"]},
        format="json",
    )
    # then 403, and exactly the service's own refusal (not a second from the API)
    assert response.status_code == 403
    assert _refusals() == [
        (
            RefusalKind.PERMISSION,
            validator.pk,
            "governance.request.create",
            "Your role may not request releases.",
            None,
        )
    ]


def test_an_api_read_refused_is_not_recorded(developer: Any) -> None:
    # given a developer signed in / when the developer reads the access log
    response = _session(developer).get("/api/v1/access-log")
    # then 403, and no refusal row (reads are answered, not recorded)
    assert response.status_code == 403
    assert not RefusedAction.objects.exists()


def test_a_page_form_refused_is_recorded_once(validator: Any) -> None:
    # given a validator signed in (validators do not add models)
    client = Client()
    client.force_login(validator)
    # when the validator posts the new-model form
    response = client.post("/registry/new/", {"name": "Shadow model"})
    # then the 403 page, and one PERMISSION refusal naming the page
    assert response.status_code == 403
    assert _refusals() == [
        (
            RefusalKind.PERMISSION,
            validator.pk,
            f"POST {resolve('/registry/new/').view_name}",
            "Your role may not add models to the inventory.",
            None,
        )
    ]
    refusal = RefusedAction.objects.get()
    assert (refusal.method, refusal.path) == ("POST", "/registry/new/")


def test_a_page_refused_to_a_reader_is_not_recorded(validator: Any) -> None:
    # given a validator signed in / when the validator opens the new-model form
    client = Client()
    client.force_login(validator)
    response = client.get("/registry/new/")
    # then the 403 page, and no row
    assert response.status_code == 403
    assert not RefusedAction.objects.exists()


def test_a_workflow_refusal_on_a_page_is_recorded_once(
    validator: Any, submitted_version: Any, developer: Any
) -> None:
    # given a draft release request of the developer's model
    rr = services.release_request_create(
        actor=developer, version=submitted_version, environments=["staging"]
    )
    client = Client()
    client.force_login(validator)
    # when the validator (not on the team) submits it from its page
    response = client.post(f"/governance/requests/{rr.pk}/submit/")
    # then 403, and exactly the service's refusal
    assert response.status_code == 403
    assert [(r[0], r[1], r[2]) for r in _refusals()] == [
        (RefusalKind.PERMISSION, validator.pk, "governance.request.submit")
    ]


def test_latest_expiry_is_the_end_of_the_utc_day(settings: Any) -> None:
    # given a maximum of 10 days / when the latest expiry is asked at a fixed instant
    settings.MODELGOV_TOKEN_MAX_TTL_DAYS = 10
    now = datetime(2026, 12, 4, 23, 30, tzinfo=UTC)
    # then it is the end of 14 December (UTC)
    assert services.api_token_latest_expiry(now=now) == datetime(
        2026, 12, 14, 23, 59, 59, 999999, tzinfo=UTC
    )


def test_an_api_write_refused_by_role_records_the_token(developer: Any) -> None:
    # given a developer's token carrying registry:write (no template permission)
    issued = services.api_token_create(actor=developer, user=developer, name="ci")
    # when it adds a template
    response = _bearer(issued.raw).post("/api/v1/templates", {}, format="json")
    # then 403 by role, recorded once with the token
    assert response.status_code == 403
    assert _refusals() == [
        (
            RefusalKind.PERMISSION,
            developer.pk,
            "POST api-templates",
            "You do not have permission to perform this action.",
            issued.token.pk,
        )
    ]


def test_an_admin_write_refused_is_recorded_once(administrator: Any) -> None:
    # given an administrator (staff, as create_account makes them) signed in; tokens
    # are issued, never added in the admin
    administrator.is_staff = True
    administrator.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(administrator)
    before = list(ApiToken.objects.values_list("pk", flat=True))
    # when the administrator posts the admin's add-token form
    response = client.post("/admin/governance/apitoken/add/", {"name": "x"})
    # then 403, no token, and one PERMISSION refusal through handler403
    assert response.status_code == 403
    assert list(ApiToken.objects.values_list("pk", flat=True)) == before
    assert [(r[0], r[1], r[2]) for r in _refusals()] == [
        (RefusalKind.PERMISSION, administrator.pk, "POST admin:governance_apitoken_add")
    ]
