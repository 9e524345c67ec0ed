"""Personas and shared fixtures.

Personas (as Healthchecks has Alice, Bob and Charlie): ``developer`` is on the team of
``credit_model``; ``other_developer`` is a developer on no team; ``validator``,
``risk_officer``, ``auditor``, ``administrator`` and ``service`` hold those roles;
``outsider`` is an authenticated account with no role.
"""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from governance import services as governance_services
from registry import services as registry_services
from tests.factories import PASSWORD, ModelFactory, UserFactory, version_payload


@pytest.fixture
def developer(db: Any) -> Any:
    return UserFactory(
        username="dana",
        first_name="Dana",
        last_name="Developer",
        role="model_developer",
    )


@pytest.fixture
def other_developer(db: Any) -> Any:
    return UserFactory(
        username="olaf", first_name="Olaf", last_name="Other", role="model_developer"
    )


@pytest.fixture
def validator(db: Any) -> Any:
    return UserFactory(
        username="vera", first_name="Vera", last_name="Validator", role="validator"
    )


@pytest.fixture
def risk_officer(db: Any) -> Any:
    return UserFactory(
        username="rita", first_name="Rita", last_name="Risk", role="risk_officer"
    )


@pytest.fixture
def auditor(db: Any) -> Any:
    return UserFactory(
        username="audrey", first_name="Audrey", last_name="Auditor", role="auditor"
    )


@pytest.fixture
def administrator(db: Any) -> Any:
    return UserFactory(
        username="adam", first_name="Adam", last_name="Admin", role="administrator"
    )


@pytest.fixture
def service(db: Any) -> Any:
    return UserFactory(username="pipeline-bot", role="service_account")


@pytest.fixture
def outsider(db: Any) -> Any:
    return UserFactory(username="otto", first_name="Otto", last_name="Outsider")


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def credit_model(developer: Any, service: Any) -> Any:
    return ModelFactory(
        slug="credit-risk", name="Credit risk PD", developers=[developer, service]
    )


@pytest.fixture
def draft_version(credit_model: Any, developer: Any) -> Any:
    """A draft version registered through the service (it has its model card)."""
    return registry_services.model_version_register(
        actor=developer, model=credit_model, data=version_payload("1.0.0")
    )


@pytest.fixture
def submitted_version(draft_version: Any, developer: Any) -> Any:
    return registry_services.model_version_submit(
        actor=developer, version=draft_version
    )


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def client_for(user: Any) -> APIClient:
    """An API client authenticated by a fresh bearer token of ``user``."""
    client = APIClient()
    if user is not None:
        issued = governance_services.api_token_create(
            actor=user, user=user, name="test"
        )
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw}")
    return client


@pytest.fixture
def as_user() -> Any:
    return client_for


@pytest.fixture
def ledger_key(settings: Any) -> Any:
    """A fresh Ed25519 ledger signing key and the test origin."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    settings.MODELGOV_LEDGER_KEY = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    settings.MODELGOV_LEDGER_ORIGIN = "modelgov.test/ledger"
    return key
