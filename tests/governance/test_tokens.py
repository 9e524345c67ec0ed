"""API tokens: stored hashed, revocable at once, never minted by a token; accounts."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from audits.models import AuditEvent
from governance import services
from governance.models import ApiToken

ME = "/api/v1/me"
TOKENS = "/api/v1/tokens"


def _session_client(user: Any) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_token_is_stored_only_as_its_sha256(developer: Any) -> None:
    # given a freshly issued token
    issued = services.api_token_create(actor=developer, user=developer, name="ci")
    # when its row is read back
    row = ApiToken.objects.filter(pk=issued.token.pk).values().get()
    # then the row holds the SHA-256 of the secret, and the secret nowhere
    assert row["key_sha256"] == hashlib.sha256(issued.raw.encode()).hexdigest()
    assert issued.raw.startswith(f"mg_{row['prefix']}_")
    secret = issued.raw.split("_", 2)[2]
    for column, value in row.items():
        assert issued.raw not in str(value), column
        assert secret not in str(value), column
    assert row["scopes"] == ["registry:read", "registry:write"]


def test_token_creation_is_audited_without_the_secret(developer: Any) -> None:
    # given no events / when a token is issued
    issued = services.api_token_create(actor=developer, user=developer, name="ci")
    # then one event names the prefix and scopes, never the secret
    event = AuditEvent.objects.get()
    assert event.event_type == "governance.token.created"
    assert event.actor == developer
    assert event.object_id == str(issued.token.pk)
    assert event.payload == {
        "user": "dana",
        "scopes": ["registry:read", "registry:write"],
        "prefix": issued.token.prefix,
        "deployment": None,
    }
    assert issued.raw not in str(event.payload)


def test_me_returns_roles_and_token_scopes(developer: Any) -> None:
    # given a token of the developer limited to reading
    issued = services.api_token_create(
        actor=developer, user=developer, name="ro", scopes=["registry:read"]
    )
    # when /me is asked with it
    response = _bearer(issued.raw).get(ME)
    # then it names the user, roles and the token's scopes
    assert response.status_code == 200
    assert response.json() == {
        "username": "dana",
        "name": "Dana Developer",
        "roles": ["model_developer"],
        "token_scopes": ["registry:read"],
    }


def test_me_from_a_session_has_no_token_scopes(auditor: Any) -> None:
    response = _session_client(auditor).get(ME)
    assert response.status_code == 200
    assert response.json() == {
        "username": "audrey",
        "name": "Audrey Auditor",
        "roles": ["auditor"],
        "token_scopes": [],
    }


def test_revoked_token_fails_on_the_very_next_request(developer: Any) -> None:
    # given a working token
    issued = services.api_token_create(actor=developer, user=developer, name="ci")
    client = _bearer(issued.raw)
    assert client.get(ME).status_code == 200
    # when its owner revokes it from a signed-in session
    revoke = _session_client(developer).post(f"{TOKENS}/{issued.token.pk}/revoke")
    # then the revocation is answered, recorded and audited
    assert revoke.status_code == 200
    assert revoke.json()["is_active"] is False
    assert revoke.json()["prefix"] == issued.token.prefix
    issued.token.refresh_from_db()
    assert issued.token.revoked_by == developer
    assert issued.token.revoked_at is not None
    assert list(
        AuditEvent.objects.filter(event_type="governance.token.revoked").values_list(
            "object_id", "payload"
        )
    ) == [(str(issued.token.pk), {"prefix": issued.token.prefix})]
    # and the same client is refused on its very next request
    after = client.get(ME)
    assert after.status_code == 401
    assert after.json() == {
        "detail": "Token has been revoked.",
        "code": "authentication_failed",
        "errors": {},
    }


def test_revoking_twice_writes_one_event(developer: Any) -> None:
    # given a revoked token
    issued = services.api_token_create(actor=developer, user=developer, name="ci")
    client = _session_client(developer)
    client.post(f"{TOKENS}/{issued.token.pk}/revoke")
    revoked_at = ApiToken.objects.get(pk=issued.token.pk).revoked_at
    # when it is revoked again
    response = client.post(f"{TOKENS}/{issued.token.pk}/revoke")
    # then nothing changes
    assert response.status_code == 200
    assert ApiToken.objects.get(pk=issued.token.pk).revoked_at == revoked_at
    assert AuditEvent.objects.filter(event_type="governance.token.revoked").count() == 1


def test_a_user_cannot_revoke_someone_elses_token(
    developer: Any, validator: Any
) -> None:
    # given the validator's token
    issued = services.api_token_create(actor=validator, user=validator, name="v")
    events = AuditEvent.objects.count()
    # when the developer tries to revoke it
    response = _session_client(developer).post(f"{TOKENS}/{issued.token.pk}/revoke")
    # then it is not found for them, and still works
    assert response.status_code == 404
    assert ApiToken.objects.get(pk=issued.token.pk).revoked_at is None
    assert AuditEvent.objects.count() == events
    assert _bearer(issued.raw).get(ME).status_code == 200


def test_expired_token_is_refused(developer: Any) -> None:
    # given a token whose expiry has passed
    issued = services.api_token_create(
        actor=developer,
        user=developer,
        name="short",
        expires_at=timezone.now() + timedelta(hours=1),
    )
    client = _bearer(issued.raw)
    assert client.get(ME).status_code == 200
    ApiToken.objects.filter(pk=issued.token.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    # when it is used / then 401
    response = client.get(ME)
    assert response.status_code == 401
    assert response.json()["detail"] == "Token has expired."


def test_token_of_a_disabled_account_is_refused(developer: Any) -> None:
    # given a token of an account that is then disabled
    issued = services.api_token_create(actor=developer, user=developer, name="ci")
    developer.is_active = False
    developer.save(update_fields=["is_active"])
    # when it is used / then 401
    response = _bearer(issued.raw).get(ME)
    assert response.status_code == 401
    assert response.json() == {
        "detail": "Account is disabled.",
        "code": "authentication_failed",
        "errors": {},
    }


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        ("Bearer", "Malformed bearer token."),
        ("Bearer mg_a mg_b", "Malformed bearer token."),
        ("Bearer abcdef", "Malformed bearer token."),
        ("bearer mg_deadbeef_unknown", "Unknown token."),
    ],
)
def test_malformed_or_unknown_bearer_header_is_a_json_401(
    db: Any, header: str, detail: str
) -> None:
    # given a malformed Authorization header / when it is sent
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(ME)
    # then 401 with the JSON error shape and a Bearer challenge
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response["WWW-Authenticate"] == 'Bearer realm="modelgov"'
    assert response.json() == {
        "detail": detail,
        "code": "authentication_failed",
        "errors": {},
    }


def test_anonymous_request_is_a_json_401_not_a_redirect(db: Any) -> None:
    response = Client().get(ME)
    assert response.status_code == 401
    assert response.json() == {
        "detail": "Authentication credentials were not provided.",
        "code": "not_authenticated",
        "errors": {},
    }


def test_blank_authorization_header_is_a_json_401(db: Any) -> None:
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION="   ")
    response = client.get(ME)
    assert response.status_code == 401


def test_session_user_creates_a_token_and_sees_it_once(developer: Any) -> None:
    # given a signed-in developer
    client = _session_client(developer)
    # when a read-only token is requested
    response = client.post(
        TOKENS, {"name": "notebook", "scopes": ["registry:read"]}, format="json"
    )
    # then the secret is in the answer once, works, and is listed without it
    assert response.status_code == 201
    body = response.json()
    raw = body["token"]
    token = ApiToken.objects.get(pk=body["id"])
    assert token.key_sha256 == hashlib.sha256(raw.encode()).hexdigest()
    assert body["scopes"] == ["registry:read"]
    assert body["user"] == "dana"
    assert body["is_active"] is True
    assert _bearer(raw).get(ME).json()["token_scopes"] == ["registry:read"]
    listed = client.get(TOKENS).json()
    assert [t["prefix"] for t in listed] == [token.prefix]
    assert "token" not in listed[0]


def test_a_token_cannot_mint_tokens(developer: Any) -> None:
    # given a token with every scope of the developer
    issued = services.api_token_create(actor=developer, user=developer, name="ci")
    tokens, events = ApiToken.objects.count(), AuditEvent.objects.count()
    # when it asks for another token
    response = _bearer(issued.raw).post(TOKENS, {"name": "child"}, format="json")
    # then 403 and nothing is issued
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert ApiToken.objects.count() == tokens
    assert AuditEvent.objects.count() == events


def test_scopes_beyond_the_role_are_refused(auditor: Any) -> None:
    # given a signed-in auditor
    client = _session_client(auditor)
    # when a token with a write scope and an unknown scope is requested
    response = client.post(
        TOKENS,
        {"name": "too much", "scopes": ["registry:read", "registry:write", "root"]},
        format="json",
    )
    # then 400 naming the scopes, and nothing issued
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Invalid input.",
        "code": "invalid",
        "errors": {
            "scopes": [
                "The account's role does not allow the scope 'registry:write'.",
                "Unknown scope 'root'.",
            ]
        },
    }
    assert ApiToken.objects.count() == 0
    assert AuditEvent.objects.count() == 0


def test_account_without_a_role_gets_no_token(outsider: Any) -> None:
    response = _session_client(outsider).post(TOKENS, {"name": "x"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "scopes": ["A token needs at least one scope."]
    }
    assert ApiToken.objects.count() == 0


def test_token_create_refuses_unknown_input_fields(developer: Any) -> None:
    response = _session_client(developer).post(
        TOKENS, {"name": "x", "user": "adam"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"user": ["Unknown field."]}
    assert ApiToken.objects.count() == 0


def test_last_used_is_recorded(developer: Any) -> None:
    issued = services.api_token_create(actor=developer, user=developer, name="ci")
    assert issued.token.last_used_at is None
    _bearer(issued.raw).get(ME)
    issued.token.refresh_from_db()
    assert issued.token.last_used_at is not None


# --- create_account ------------------------------------------------------------


def test_create_account_gives_the_role_group_and_a_password_from_env(
    db: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a password in the environment
    monkeypatch.setenv("MG_TEST_PASSWORD", "a-long-unusual-passphrase-42")
    # when an account is created with it
    call_command(
        "create_account",
        "--username",
        "vic",
        "--role",
        "validator",
        "--password-from-env",
        "MG_TEST_PASSWORD",
        "--first-name",
        "Vic",
    )
    # then the user holds exactly the validator group and can sign in
    user = get_user_model().objects.get(username="vic")
    assert list(user.groups.values_list("name", flat=True)) == ["validator"]
    assert user.is_staff is False
    assert user.is_superuser is False
    assert user.check_password("a-long-unusual-passphrase-42")
    assert Client().login(username="vic", password="a-long-unusual-passphrase-42")
    assert capsys.readouterr().out == "created vic (validator)\n"
    event = AuditEvent.objects.get()
    assert event.event_type == "governance.account.created"
    assert event.actor is None
    assert event.actor_display == "system"
    assert event.payload == {"username": "vic", "role": "validator"}


def test_create_account_prints_a_token_that_authenticates(
    db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # given / when an administrator account is created with a token
    call_command(
        "create_account", "--username", "root-ish", "--role", "administrator", "--token"
    )
    # then the printed token works and carries the role's scopes
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "created root-ish (administrator)"
    assert out[1].startswith("token: mg_")
    raw = out[1].removeprefix("token: ")
    response = _bearer(raw).get(ME)
    assert response.status_code == 200
    assert response.json()["roles"] == ["administrator"]
    assert response.json()["token_scopes"] == [
        "audit:read",
        "registry:read",
        "registry:write",
    ]
    user = get_user_model().objects.get(username="root-ish")
    assert user.is_staff is True
    assert user.is_superuser is False
    assert user.has_usable_password() is False


def test_create_account_token_with_chosen_scopes(
    db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command(
        "create_account",
        "--username",
        "bot",
        "--role",
        "service_account",
        "--token",
        "--scope",
        "gate:check",
        "--scope",
        "registry:read",
    )
    raw = capsys.readouterr().out.splitlines()[1].removeprefix("token: ")
    assert _bearer(raw).get(ME).json()["token_scopes"] == [
        "gate:check",
        "registry:read",
    ]


def test_service_account_gets_an_unusable_password(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a password offered for a service account
    monkeypatch.setenv("MG_TEST_PASSWORD", "a-long-unusual-passphrase-42")
    # when it is created
    call_command(
        "create_account",
        "--username",
        "pipeline",
        "--role",
        "service_account",
        "--password-from-env",
        "MG_TEST_PASSWORD",
    )
    # then it cannot sign in with a password
    user = get_user_model().objects.get(username="pipeline")
    assert user.has_usable_password() is False
    assert (
        Client().login(username="pipeline", password="a-long-unusual-passphrase-42")
        is False
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--role", "superhero"],
            "Error: argument --role: invalid choice: 'superhero'",
        ),
        (
            ["--role", "validator", "--password-from-env", "MG_TEST_UNSET_VAR"],
            "Environment variable MG_TEST_UNSET_VAR is not set or empty.",
        ),
        (
            ["--role", "auditor", "--token", "--scope", "registry:write"],
            "scopes: The account's role does not allow the scope 'registry:write'.",
        ),
    ],
)
def test_create_account_failure_creates_nothing(
    db: Any, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    # given no such account and an unset variable
    monkeypatch.delenv("MG_TEST_UNSET_VAR", raising=False)
    users = get_user_model().objects.count()
    # when the command is called with a bad role, a missing variable or bad scope
    with pytest.raises(CommandError) as excinfo:
        call_command("create_account", "--username", "ghost", *args)
    # then it fails naming the problem and creates nothing
    assert str(excinfo.value).startswith(message)
    assert get_user_model().objects.count() == users
    assert not get_user_model().objects.filter(username="ghost").exists()
    assert ApiToken.objects.count() == 0
    assert AuditEvent.objects.count() == 0


def test_create_account_refuses_a_taken_username(developer: Any) -> None:
    with pytest.raises(CommandError) as excinfo:
        call_command("create_account", "--username", "dana", "--role", "auditor")
    assert str(excinfo.value) == "username: The username 'dana' is taken."
    assert list(developer.groups.values_list("name", flat=True)) == ["model_developer"]
    assert AuditEvent.objects.count() == 0


def test_roles_exist_as_groups(db: Any) -> None:
    assert sorted(Group.objects.values_list("name", flat=True)) == [
        "administrator",
        "auditor",
        "gatekeeper",
        "model_developer",
        "risk_officer",
        "service_account",
        "validator",
    ]


def test_issue_token_rotates_a_service_account_token(service: Any) -> None:
    # given a service account with an old token
    old = services.api_token_create(actor=service, user=service, name="old")
    out = StringIO()
    # when the operator issues a new one and revokes the old
    call_command(
        "issue_token",
        "--username",
        service.username,
        "--expires-days",
        "30",
        stdout=out,
    )
    raw = out.getvalue().split("token: ")[1].strip()
    services.api_token_revoke(actor=service, token=old.token)
    # then the new token works and the old one is refused
    assert client_for_raw(raw).get("/api/v1/me").status_code == 200
    assert client_for_raw(old.raw).get("/api/v1/me").status_code == 401
    new = ApiToken.objects.get(key_sha256=hashlib.sha256(raw.encode()).hexdigest())
    # (predictions:write only goes with a deployment binding: see test_ingest_keys)
    assert new.scopes == [
        "gate:check",
        "registry:read",
        "registry:write",
    ]
    assert 29 <= (new.expires_at - new.created_at).days <= 30


def client_for_raw(raw: str) -> Any:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_token_without_expiry_gets_the_default_lifetime(developer: Any) -> None:
    issued = services.api_token_create(actor=developer, user=developer, name="t")
    assert (issued.token.expires_at - issued.token.created_at).days == 365
