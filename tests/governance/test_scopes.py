"""Token scopes everywhere: every API operation declares one, a token without it is
refused and recorded, token management needs a session or tokens:manage."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.apps import apps
from django.utils import timezone
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from audits.ledger import models as ledger_models
from audits.models import RefusalKind, RefusedAction
from governance.authentication import TOKEN_PREFIX, token_hash
from governance.choices import TokenScope
from governance.models import ApiToken
from governance.permissions import (
    ANY_TOKEN,
    DECLARATIONS,
    SESSION_ONLY,
    TokenScopePermission,
    declared_scope,
)
from tests.factories import ModelFactory
from tests.governance.api_walk import Operation, api_operations

SCOPE_REFUSED = "This token does not carry the scope this operation needs."
OPERATIONS = api_operations()
ALL_SCOPES = list(TokenScope.values)
# The ledger grows by the refusal's own leaf; everything else must stay as it was.
_LEDGER = {
    m
    for m in vars(ledger_models).values()
    if isinstance(m, type) and m.__module__ == ledger_models.__name__
}


def _snapshot() -> dict[str, Any]:
    """Row counts of every table but the refusal log and the ledger, and the tokens."""
    state: dict[str, Any] = {
        model._meta.label: model._default_manager.count()
        for model in apps.get_models()
        if model is not RefusedAction and model not in _LEDGER
    }
    state["tokens"] = list(
        ApiToken.objects.order_by("pk").values_list(
            "pk", "scopes", "expires_at", "revoked_at"
        )
    )
    return state


def _token(user: Any, scopes: list[str], **fields: Any) -> tuple[ApiToken, str]:
    """A token row with exactly ``scopes`` (written directly: the service would
    refuse some combinations, and the permission is what is under test)."""
    prefix = secrets.token_hex(4)
    raw = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        user=user,
        name=f"test {prefix}",
        prefix=prefix,
        key_sha256=token_hash(raw),
        scopes=scopes,
        expires_at=timezone.now() + timedelta(days=1),
        **fields,
    )
    return token, raw


def _bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def _call(client: APIClient, op: Operation) -> Any:
    call = getattr(client, op.method.lower())
    if op.method == "GET":
        return call(op.path)
    return call(op.path, {}, format="json")


def _refusals() -> list[tuple[Any, ...]]:
    return list(
        RefusedAction.objects.order_by("pk").values_list(
            "kind", "actor_id", "token_id", "method", "path"
        )
    )


def _with_scope() -> list[Operation]:
    return [op for op in OPERATIONS if declared_scope(op.view, op.method) in ALL_SCOPES]


def _declared(kind: str) -> list[Operation]:
    return [op for op in OPERATIONS if declared_scope(op.view, op.method) == kind]


def test_the_walk_finds_the_api() -> None:
    # given the URLconf / when it is walked / then it finds the operations of each app
    found = {str(op) for op in OPERATIONS}
    assert len(OPERATIONS) >= 60
    for op in (
        "GET /api/v1/me",
        "GET /api/v1/tokens",
        "POST /api/v1/tokens",
        "POST /api/v1/tokens/<int:pk>/revoke",
        "GET /api/schema/",
        "POST /api/v1/models",
        "POST /api/v1/gate/decisions",
        "POST /api/v1/predictions",
        "GET /api/v1/access-log",
    ):
        assert op in found, op


@pytest.mark.parametrize("op", OPERATIONS, ids=str)
def test_every_api_operation_declares_its_scope(op: Operation) -> None:
    # given an operation of the URLconf
    # when its permission classes and declaration are read
    declared = declared_scope(op.view, op.method)
    # then the scope permission applies and the declaration is a known one
    assert TokenScopePermission in op.view.permission_classes
    assert declared in DECLARATIONS


class _Undeclared(APIView):
    def post(self, request: Any) -> Any:  # pragma: no cover - never reached
        raise AssertionError("an undeclared operation ran")


@pytest.mark.parametrize("with_token", [True, False])
def test_an_operation_without_a_declaration_is_refused_to_tokens_and_sessions(
    developer: Any, with_token: bool
) -> None:
    # given a view that declares no scope, and a token carrying every scope
    token, _ = _token(developer, ALL_SCOPES)
    request = APIRequestFactory().post("/undeclared", {}, format="json")
    force_authenticate(request, user=developer, token=token if with_token else None)
    before = _snapshot()
    # when it is called with the token, or from a session
    response = _Undeclared.as_view()(request)
    # then it is refused, and nothing changed
    assert response.status_code == 403
    assert response.data == {
        "detail": "This operation declares no token scope, so it is refused.",
        "code": "permission_denied",
        "errors": {},
    }
    assert _snapshot() == before


@pytest.mark.parametrize("op", _with_scope(), ids=str)
def test_a_token_without_the_needed_scope_is_refused_and_recorded(
    service: Any, op: Operation
) -> None:
    # given a token carrying every scope but the one the operation declares
    needed = declared_scope(op.view, op.method)
    token, raw = _token(service, [s for s in ALL_SCOPES if s != needed])
    before = _snapshot()
    # when it calls the operation
    response = _call(_bearer(raw), op)
    # then 403 for the scope, nothing changed, one TOKEN_SCOPE refusal on record
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert _snapshot() == before
    assert _refusals() == [
        (RefusalKind.TOKEN_SCOPE, service.pk, token.pk, op.method, op.path)
    ]
    refusal = RefusedAction.objects.get()
    assert refusal.reason == (
        f"Token {token.prefix} carries {', '.join(token.scopes)}; "
        f"this operation needs {needed}."
    )


@pytest.mark.parametrize("op", _with_scope(), ids=str)
def test_a_token_with_the_needed_scope_passes_the_scope_check(
    service: Any, op: Operation
) -> None:
    # given a token carrying only the scope the operation declares (an ingest key
    # is bound to a deployment)
    needed = declared_scope(op.view, op.method)
    binding: dict[str, Any] = {}
    if needed == TokenScope.PREDICTIONS_WRITE:
        binding = {
            "deployment_model": ModelFactory(),
            "deployment_environment": "production",
        }
    _, raw = _token(service, [needed], **binding)
    # when it calls the operation
    response = _call(_bearer(raw), op)
    # then whatever the answer (a 404 for the sample path, a 400 for the empty
    # body, a role's 403), it is not the scope refusal
    assert response.status_code < 500
    if response.status_code == 403:
        assert response.json()["detail"] != SCOPE_REFUSED
    assert not RefusedAction.objects.filter(kind=RefusalKind.TOKEN_SCOPE).exists()


@pytest.mark.parametrize("op", _declared(SESSION_ONLY), ids=str)
def test_a_session_only_operation_refuses_every_token_as_misuse(
    service: Any, op: Operation
) -> None:
    # given a token carrying every scope
    token, raw = _token(service, ALL_SCOPES)
    before = _snapshot()
    # when it calls an operation only a signed-in session may perform
    response = _call(_bearer(raw), op)
    # then 403, nothing changed, one TOKEN_MISUSE refusal on record
    assert response.status_code == 403
    assert _snapshot() == before
    assert _refusals() == [
        (RefusalKind.TOKEN_MISUSE, service.pk, token.pk, op.method, op.path)
    ]


@pytest.mark.parametrize("op", _declared(ANY_TOKEN), ids=str)
def test_an_any_token_operation_serves_a_token_of_any_scope(
    service: Any, op: Operation, settings: Any
) -> None:
    # given a token with one scope that no operation of this kind names (and an
    # attestation key, for the public key's sake)
    key = Ed25519PrivateKey.from_private_bytes(b"\x11" * 32)
    settings.MODELGOV_ATTESTATION_KEY = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    _, raw = _token(service, [TokenScope.GATE_CHECK])
    # when it calls the operation
    response = _call(_bearer(raw), op)
    # then it is served, and nothing is refused
    assert response.status_code == 200
    assert not RefusedAction.objects.exists()


def test_session_only_covers_minting_tokens_and_signatures() -> None:
    # given the walk / when the session-only operations are listed
    session_only = sorted(str(op) for op in _declared(SESSION_ONLY))
    # then they are token issuance and the three e-signatures
    assert session_only == [
        "POST /api/v1/release-requests/<int:pk>/approve",
        "POST /api/v1/release-requests/<int:pk>/record-validation",
        "POST /api/v1/release-requests/<int:pk>/reject",
        "POST /api/v1/tokens",
    ]
