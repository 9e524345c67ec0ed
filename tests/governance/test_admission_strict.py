"""Strict admission (MODELGOV_ADMISSION_STRICT, ADR 0025): in namespaces mapped to a
listed environment, only CREATE/UPDATE of workloads that name their model pass."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from governance.models import GateDecision, ReleaseRequest
from tests.conftest import client_for
from tests.governance.test_admission import (
    ANNOTATED,
    UID,
    deployment,
    post,
    review,
    seldon_model,
)
from tests.governance.test_gate_api import approve

ROOT = Path(__file__).resolve().parents[2]
UNANNOTATED = (
    "strict admission admits only workloads that name their model: annotate "
    "modelgov.io/artifact-sha256 (or modelgov.io/model + modelgov.io/version), or "
    "run workloads that serve no model in a namespace the gate does not watch"
)


@pytest.fixture(autouse=True)
def strict(settings: Any) -> None:
    settings.MODELGOV_NAMESPACE_ENVIRONMENTS = {
        "credit-prod": "production",
        "credit-staging": "staging",
    }
    settings.MODELGOV_ADMISSION_STRICT = ["production"]


@pytest.fixture
def webhook(service: Any) -> APIClient:
    return client_for(service)


@pytest.mark.parametrize("operation", ["DELETE", "CONNECT", "PATCH", "create-ish"])
def test_strict_namespace_denies_operations_other_than_create_and_update(
    webhook: APIClient, operation: str
) -> None:
    # when the webhook receives another operation for a production namespace
    response = post(
        webhook, review(seldon_model("s3://x/y"), operation=operation, uid="op-1")
    )
    # then it is denied, naming the operation, and no decision is recorded
    assert response.status_code == 200
    assert response.json()["response"] == {
        "uid": "op-1",
        "allowed": False,
        "warnings": [],
        "status": {
            "code": 403,
            "reason": "Forbidden",
            "message": (
                f"modelgov denied {operation.upper()} of Model credit-prod/credit in "
                "production: strict admission gates only CREATE and UPDATE, and the "
                "webhook configuration sends no other operation"
            ),
        },
    }
    assert GateDecision.objects.count() == 0


def test_other_operations_outside_strict_environments_pass_as_today(
    webhook: APIClient,
) -> None:
    # when a DELETE arrives for a staging namespace (not listed as strict)
    response = post(
        webhook,
        review(
            seldon_model("s3://x/y"),
            namespace="credit-staging",
            operation="DELETE",
            uid="del-1",
        ),
    )
    # then
    assert response.json()["response"] == {
        "uid": "del-1",
        "allowed": True,
        "warnings": ["modelgov: DELETE is not gated"],
    }
    assert GateDecision.objects.count() == 0


@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
def test_strict_namespace_denies_a_deployment_that_names_no_model(
    webhook: APIClient, operation: str
) -> None:
    # when
    response = post(webhook, review(deployment(), operation=operation))
    # then
    assert response.json()["response"] == {
        "uid": UID,
        "allowed": False,
        "warnings": [],
        "status": {
            "code": 403,
            "reason": "Forbidden",
            "message": (
                "modelgov denied Deployment credit-prod/credit-scorer in production: "
                + UNANNOTATED
            ),
        },
    }
    assert GateDecision.objects.count() == 0


def test_unannotated_deployment_outside_strict_environments_passes_with_a_warning(
    webhook: APIClient,
) -> None:
    # when
    response = post(webhook, review(deployment(), namespace="credit-staging"))
    # then
    assert response.json()["response"] == {
        "uid": UID,
        "allowed": True,
        "warnings": [
            "modelgov: no modelgov.io/ annotation, so this Deployment is not gated"
        ],
    }


def test_strict_namespace_still_admits_an_approved_annotated_model(
    submitted_version: Any,
    developer: Any,
    validator: Any,
    risk_officer: Any,
    webhook: APIClient,
) -> None:
    # given an approval for production
    approval: ReleaseRequest = approve(
        version=submitted_version,
        developer=developer,
        validator=validator,
        risk_officer=risk_officer,
        environments=["production"],
    )
    # when
    response = post(webhook, review(deployment(ANNOTATED), operation="UPDATE"))
    # then
    record = GateDecision.objects.get()
    assert response.json()["response"]["allowed"] is True
    assert record.approval == approval


def test_strict_mode_is_off_by_default() -> None:
    # given the settings module as shipped (no MODELGOV_ADMISSION_STRICT)
    env = {k: v for k, v in os.environ.items() if k != "MODELGOV_ADMISSION_STRICT"}
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
        "'governance.settings'); from django.conf import settings; "
        "print(settings.MODELGOV_ADMISSION_STRICT)"
    )
    # when
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT
    )
    # then
    assert out.stdout.strip() == "[]"


def test_a_misspelt_strict_environment_stops_the_start() -> None:
    # given
    env = {**os.environ, "MODELGOV_ADMISSION_STRICT": "prod"}
    code = (
        "import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
        "'governance.settings'); from django.conf import settings; "
        "settings.MODELGOV_ADMISSION_STRICT"
    )
    # when
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT
    )
    # then
    assert out.returncode == 1
    assert (
        "ImproperlyConfigured: MODELGOV_ADMISSION_STRICT names ['prod'], but the "
        "environments are ['staging', 'production'] (MODELGOV_ENVIRONMENTS)"
    ) in out.stderr
