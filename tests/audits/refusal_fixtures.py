"""Shared by the refusal tests: one refusal of each kind, recorded through
:func:`audits.services.refused_action_record` as a request from an address would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from audits import services as audit_services
from audits.models import RefusalKind, RefusedAction
from governance import context
from governance import services as governance_services
from governance.models import ApiToken


@contextmanager
def from_address(ip_address: str, method: str = "POST", path: str = "/") -> Iterator:
    token = context.origin.set(
        context.Origin(ip_address=ip_address, method=method, path=path)
    )
    try:
        yield
    finally:
        context.origin.reset(token)


def refuse(
    *, ip_address: str, method: str = "POST", path: str = "/", **kwargs: Any
) -> RefusedAction:
    with from_address(ip_address, method, path):
        return audit_services.refused_action_record(**kwargs)


@dataclass(frozen=True)
class Refusals:
    by_kind: dict[str, RefusedAction]  # one of each RefusalKind, in this order
    ingest_key: ApiToken  # bound to the model


@pytest.fixture
def refusals(
    settings: Any,
    submitted_version: Any,
    developer: Any,
    risk_officer: Any,
    outsider: Any,
    service: Any,
) -> Refusals:
    """Seven refusals, one of each kind, at distinct addresses (no alert)."""
    settings.MODELGOV_REFUSAL_ALERT_THRESHOLD = 0
    model = submitted_version.model
    key = governance_services.api_token_create(
        actor=service,
        user=service,
        name="scorer ingest",
        deployment_model=model,
        deployment_environment="production",
    ).token
    made = [
        refuse(
            ip_address="203.0.113.1",
            path="/accounts/login/",
            actor=None,
            action="auth.login",
            reason="Wrong user name or password.",
            kind=RefusalKind.LOGIN_FAILED,
            username=developer.username,
        ),
        refuse(
            ip_address="203.0.113.2",
            path="/accounts/login/",
            actor=None,
            action="auth.login",
            reason="Locked out after 5 failed sign-ins.",
            kind=RefusalKind.LOCKED_OUT,
            username=developer.username,
        ),
        refuse(
            ip_address="198.51.100.3",
            path=f"/governance/versions/{submitted_version.pk}/sign",
            actor=risk_officer,
            action="governance.request.approve",
            obj=submitted_version,
            reason="The password is not yours.",
            kind=RefusalKind.SIGNATURE_PASSWORD,
        ),
        refuse(
            ip_address="198.51.100.4",
            actor=developer,
            action="governance.request.validate",
            obj=submitted_version,
            reason="You developed this model; someone independent must validate.",
            kind=RefusalKind.SEPARATION_OF_DUTIES,
        ),
        refuse(
            ip_address="192.0.2.5",
            method="PATCH",
            path=f"/api/v1/models/{model.slug}",
            actor=outsider,
            action="registry.model.change",
            obj=model,
            reason="Your role may not change models.",
            kind=RefusalKind.PERMISSION,
        ),
        refuse(
            ip_address="192.0.2.6",
            method="POST",
            path="/api/v1/gate/check",
            actor=service,
            action="governance.gate.check",
            reason="The token lacks the scope gate:check.",
            kind=RefusalKind.TOKEN_SCOPE,
            token=key,
        ),
        refuse(
            ip_address="192.0.2.7",
            method="DELETE",
            path=f"/api/v1/tokens/{key.pk}",
            actor=service,
            action="governance.token.revoke",
            obj=key,
            reason="A token may not revoke tokens.",
            kind=RefusalKind.TOKEN_MISUSE,
            token=key,
        ),
    ]
    by_kind = {r.kind: r for r in made}
    assert list(by_kind) == list(RefusalKind.values)
    return Refusals(by_kind=by_kind, ingest_key=key)
