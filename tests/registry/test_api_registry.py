"""Registry API: creating models and versions, validation errors, lists and filters."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.fields import DateTimeField

from audits.models import AuditEvent
from registry.models import DocumentTemplate, Model, ModelCard, ModelVersion
from registry.services import document_create
from tests.conftest import client_for
from tests.factories import BASELINE, ModelFactory, version_payload

MODELS = "/api/v1/models"
VERSIONS = "/api/v1/models/credit-risk/versions"


def _iso(value: Any) -> str:
    return DateTimeField().to_representation(value)


def test_developer_creates_a_model_and_joins_its_team(
    developer: Any, risk_officer: Any
) -> None:
    # given a developer's client
    client = client_for(developer)
    # when they add a model to the inventory
    response = client.post(
        MODELS,
        {
            "name": "Fraud detector",
            "slug": "fraud-detector",
            "purpose": "Flag card fraud.",
            "owner": "rita",
            "risk_tier": 2,
            "materiality_exposure": "high",
            "materiality_purpose": "low",
            "regulations": ["ecoa_reg_b", "ecoa_reg_b", "gdpr_art_22"],
        },
        format="json",
    )
    # then the model is stored, the creator is on its team, and it is audited
    assert response.status_code == 201
    model = Model.objects.get(slug="fraud-detector")
    assert response.json() == {
        "slug": "fraud-detector",
        "name": "Fraud detector",
        "url": "/api/v1/models/fraud-detector",
        "model_type": "ml",
        "methodology": "",
        "purpose": "Flag card fraud.",
        "intended_use": "",
        "out_of_scope_uses": "",
        "products": "",
        "business_unit": "",
        "owner": "rita",
        "developers": ["dana"],
        "is_vendor": False,
        "vendor_name": "",
        "risk_tier": 2,
        "tier_rationale": "",
        "materiality_exposure": "high",
        "materiality_purpose": "low",
        "suggested_tier": 2,
        "regulations": ["ecoa_reg_b", "gdpr_art_22"],
        "status": "in_development",
        "next_review_date": None,
        "created_at": _iso(model.created_at),
        "updated_at": _iso(model.updated_at),
    }
    assert model.created_by == developer
    assert list(model.developers.all()) == [developer]
    event = AuditEvent.objects.get(event_type="registry.model.created")
    assert event.actor == developer
    assert event.actor_display == "Dana Developer (dana)"
    assert event.object_type == "registry.model"
    assert event.object_id == str(model.pk)
    assert event.payload == {"slug": "fraud-detector", "risk_tier": 2}


def test_administrator_creating_a_model_is_not_put_on_its_team(
    administrator: Any, developer: Any
) -> None:
    response = client_for(administrator).post(
        MODELS,
        {"name": "Fraud", "slug": "fraud", "purpose": "p", "developers": ["dana"]},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["developers"] == ["dana"]
    assert response.json()["owner"] is None


def test_model_errors_name_every_bad_field_with_unknown_ones(developer: Any) -> None:
    # given a payload with a bad slug and an unknown field
    client = client_for(developer)
    events = AuditEvent.objects.count()
    # when it is posted
    response = client.post(
        MODELS,
        {"name": "X", "slug": "Not a slug!", "purpose": "p", "foo": 1},
        format="json",
    )
    # then 400 naming both fields at once, and nothing stored
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Invalid input.",
        "code": "invalid",
        "errors": {
            "slug": [
                'Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.'
            ],
            "foo": ["Unknown field."],
        },
    }
    assert Model.objects.count() == 0
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"slug": "m", "purpose": "p"}, {"name": ["This field is required."]}),
        (
            {"name": "M", "slug": "m", "purpose": "p", "risk_tier": 4},
            {"risk_tier": ['"4" is not a valid choice.']},
        ),
        (
            {"name": "M", "slug": "m", "purpose": "p", "regulations": ["mifid"]},
            {
                "regulations": [
                    "Must be a list drawn from: sr_26_2, eu_ai_act_high_risk, "
                    "ecoa_reg_b, fair_housing_act, hmda, gdpr_art_22, pra_ss1_23."
                ]
            },
        ),
        (
            {"name": "M", "slug": "m", "purpose": "p", "owner": "nobody"},
            {"owner": ["Unknown users: nobody."]},
        ),
        (
            {"name": "M", "slug": "m", "purpose": "p", "is_vendor": True},
            {"non_field_errors": ["A vendor model needs the vendor's name."]},
        ),
    ],
)
def test_model_create_validation_errors(
    developer: Any, payload: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    response = client_for(developer).post(MODELS, payload, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == errors
    assert Model.objects.count() == 0
    assert not AuditEvent.objects.filter(event_type__startswith="registry.").exists()


def test_duplicate_slug_is_refused(credit_model: Any, developer: Any) -> None:
    client = client_for(developer)
    events = AuditEvent.objects.count()
    response = client.post(
        MODELS, {"name": "Again", "slug": "credit-risk", "purpose": "p"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "slug": ["Model with this Slug already exists."]
    }
    assert Model.objects.get(slug="credit-risk").name == "Credit risk PD"
    assert Model.objects.count() == 1
    assert AuditEvent.objects.count() == events


def test_register_version_creates_a_draft_with_its_card(
    credit_model: Any, service: Any
) -> None:
    # given the pipeline's service account on the model's team
    client = client_for(service)
    # when it registers a version
    response = client.post(VERSIONS, version_payload("1.0.0"), format="json")
    # then a draft with its lineage and an empty card exist, and it is audited
    assert response.status_code == 201
    body = response.json()
    version = ModelVersion.objects.get(model=credit_model, version="1.0.0")
    payload = version_payload("1.0.0")
    assert body == {
        "model": "credit-risk",
        "version": "1.0.0",
        "url": "/api/v1/models/credit-risk/versions/1.0.0",
        "status": "draft",
        "description": "",
        **{k: v for k, v in payload.items() if k != "version"},
        "frozen": False,
        "content_digest": "",
        "created_by": "pipeline-bot",
        "created_at": _iso(version.created_at),
        "submitted_by": None,
        "submitted_at": None,
    }
    card = ModelCard.objects.get(model_version=version)
    assert card.content == {}
    assert card.template.key == "model-card"
    event = AuditEvent.objects.get(event_type="registry.version.registered")
    assert event.payload == {
        "model": "credit-risk",
        "version": "1.0.0",
        "artifact_sha256": payload["artifact_sha256"],
        "training_data_sha256": payload["training_data_sha256"],
        "code_commit": payload["code_commit"],
    }


def _bad_baseline_sum() -> dict[str, Any]:
    baseline = copy.deepcopy(BASELINE)
    baseline["features"]["purpose"]["proportions"]["business"] = 0.1
    return baseline


def _undeclared_group() -> dict[str, Any]:
    baseline = copy.deepcopy(BASELINE)
    baseline["approval_rate"]["by_group"]["gender"] = {"f": 0.7, "m": 0.7}
    return baseline


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        (
            {"artifact_sha256": "ABC123"},
            {
                "artifact_sha256": [
                    "Must be a SHA-256 digest: 64 lowercase hexadecimal characters."
                ]
            },
        ),
        (
            {"artifact_sha256": "xyz", "foo": "bar"},
            {"foo": ["Unknown field."]},
        ),
        (
            {"code_commit": "main"},
            {
                "code_commit": [
                    "Must be a git commit hash (7 to 64 hexadecimal characters)."
                ]
            },
        ),
        (
            {"version": "-1"},
            {
                "version": [
                    "Letters, digits, dots, hyphens, plus and underscores; "
                    "starting with a letter or digit."
                ]
            },
        ),
        (
            {"input_schema": {"type": "array", "items": {}}},
            {
                "input_schema": [
                    'Must describe an object: "type": "object" with "properties".'
                ]
            },
        ),
        (
            {"input_schema": {"type": "object", "properties": {}, "minProperties": -1}},
            {
                "input_schema": [
                    "Not a valid JSON Schema: -1 is less than the minimum of 0"
                ]
            },
        ),
        (
            {"baseline": _bad_baseline_sum()},
            {
                "baseline": [
                    "features.purpose: proportions: must sum to 1 (they sum to 0.900000)."
                ]
            },
        ),
        (
            {"baseline": _undeclared_group()},
            {
                "baseline": [
                    "approval_rate.by_group: attributes not declared as protected: "
                    "gender"
                ]
            },
        ),
        (
            {"protected_attributes": [""]},
            {"protected_attributes": {"0": ["This field may not be blank."]}},
        ),
        (
            {"metrics": []},
            {"metrics": ['Expected a dictionary of items but got type "list".']},
        ),
    ],
)
def test_version_validation_errors_name_the_field(
    credit_model: Any,
    developer: Any,
    overrides: dict[str, Any],
    errors: dict[str, list[str]],
) -> None:
    # given a registration payload wrong in one place
    client = client_for(developer)
    events = AuditEvent.objects.count()
    # when it is posted
    payload = {**version_payload("1.0.0"), **overrides}
    response = client.post(VERSIONS, payload, format="json")
    # then 400 naming the field, and nothing stored
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Invalid input.",
        "code": "invalid",
        "errors": errors,
    }
    assert ModelVersion.objects.count() == 0
    assert ModelCard.objects.count() == 0
    assert AuditEvent.objects.count() == events


def test_version_errors_name_all_bad_fields_together(
    credit_model: Any, developer: Any
) -> None:
    response = client_for(developer).post(
        VERSIONS,
        version_payload(
            "1.0.0",
            artifact_sha256="xyz",
            input_schema={"type": "array"},
            baseline={"n": 0},
        ),
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "artifact_sha256": [
            "Must be a SHA-256 digest: 64 lowercase hexadecimal characters."
        ]
    }


def test_approval_rate_that_is_not_an_object_is_a_400(
    credit_model: Any, developer: Any
) -> None:
    client = client_for(developer)
    client.raise_request_exception = False
    response = client.post(
        VERSIONS,
        version_payload("1.0.0", baseline={"approval_rate": [0.7]}),
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "baseline": ["approval_rate: must be an object."]
    }
    assert ModelVersion.objects.count() == 0


def test_duplicate_version_is_a_409(draft_version: Any, developer: Any) -> None:
    # given version 1.0.0 exists
    client = client_for(developer)
    events = AuditEvent.objects.count()
    # when it is registered again with other content
    response = client.post(
        VERSIONS,
        version_payload("1.0.0", artifact_uri="s3://elsewhere/model.pkl"),
        format="json",
    )
    # then 409 duplicate, and the existing version is untouched
    assert response.status_code == 409
    assert response.json() == {
        "detail": "Version 1.0.0 of credit-risk already exists.",
        "code": "duplicate",
        "errors": {},
    }
    assert (
        ModelVersion.objects.get().artifact_uri == "s3://models/credit/1.0.0/model.pkl"
    )
    assert AuditEvent.objects.count() == events


def test_developer_patches_their_model_and_it_is_audited(developer: Any) -> None:
    # given a model the developer registered
    client = client_for(developer)
    client.post(
        MODELS, {"name": "Fraud", "slug": "fraud", "purpose": "p"}, format="json"
    )
    # when they change two fields
    response = client.patch(
        f"{MODELS}/fraud",
        {"business_unit": "Cards", "materiality_exposure": "low"},
        format="json",
    )
    # then both change and the event names them
    assert response.status_code == 200
    assert response.json()["business_unit"] == "Cards"
    assert response.json()["suggested_tier"] is None
    event = AuditEvent.objects.get(event_type="registry.model.updated")
    assert event.payload == {"fields": ["business_unit", "materiality_exposure"]}


def test_model_patch_refuses_unknown_fields_and_slug(developer: Any) -> None:
    client = client_for(developer)
    client.post(
        MODELS, {"name": "Fraud", "slug": "fraud", "purpose": "p"}, format="json"
    )
    response = client.patch(f"{MODELS}/fraud", {"slug": "other"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"slug": ["Unknown field."]}
    assert Model.objects.filter(slug="fraud").exists()
    assert not AuditEvent.objects.filter(event_type="registry.model.updated").exists()


def test_model_without_a_recorded_creator_can_be_updated(
    credit_model: Any, developer: Any
) -> None:
    # given an inventory entry whose creator was never recorded (imported)
    assert credit_model.created_by is None
    # when its developer changes it
    response = client_for(developer).patch(
        f"{MODELS}/credit-risk", {"intended_use": "Reviewed."}, format="json"
    )
    # then it changes
    assert response.status_code == 200
    assert Model.objects.get(pk=credit_model.pk).intended_use == "Reviewed."


def test_model_list_is_paginated(validator: Any) -> None:
    # given three models
    for slug in ("alpha", "bravo", "charlie"):
        ModelFactory(slug=slug, name=slug.title())
    client = client_for(validator)
    # when the first page of two is asked, then the second
    first = client.get(MODELS, {"limit": 2}).json()
    second = client.get(MODELS, {"limit": 2, "offset": 2}).json()
    # then the page shape carries the count and links
    assert list(first) == ["count", "next", "previous", "results"]
    assert first["count"] == 3
    assert first["next"] == "http://testserver/api/v1/models?limit=2&offset=2"
    assert first["previous"] is None
    assert [m["slug"] for m in first["results"]] == ["alpha", "bravo"]
    assert second["count"] == 3
    assert second["next"] is None
    assert second["previous"] == "http://testserver/api/v1/models?limit=2"
    assert [m["slug"] for m in second["results"]] == ["charlie"]


@pytest.fixture
def inventory(developer: Any) -> None:
    ModelFactory(
        slug="pd-retail",
        name="PD retail",
        purpose="Default probability of retail loans.",
        risk_tier=1,
        regulations=["sr_26_2", "ecoa_reg_b"],
    )
    ModelFactory(
        slug="lgd-mortgage",
        name="LGD mortgages",
        purpose="Loss given default.",
        risk_tier=2,
        regulations=["sr_26_2"],
    )
    ModelFactory(
        slug="aml-alerts",
        name="AML alert scoring",
        purpose="Rank alerts for review.",
        risk_tier=3,
        regulations=[],
        business_unit="Compliance",
    )


@pytest.mark.parametrize(
    ("params", "slugs"),
    [
        ({}, ["aml-alerts", "lgd-mortgage", "pd-retail"]),
        ({"q": "default"}, ["lgd-mortgage", "pd-retail"]),
        ({"q": "AML"}, ["aml-alerts"]),
        ({"q": "mortgage"}, ["lgd-mortgage"]),
        ({"risk_tier": "1"}, ["pd-retail"]),
        ({"risk_tier": "3"}, ["aml-alerts"]),
        pytest.param(
            {"regulation": "sr_26_2"},
            ["lgd-mortgage", "pd-retail"],
        ),
        pytest.param({"regulation": "ecoa_reg_b"}, ["pd-retail"]),
        pytest.param({"regulation": "hmda"}, []),
        pytest.param(
            {"regulation": "sr_26_2", "risk_tier": "2"},
            ["lgd-mortgage"],
        ),
        ({"business_unit": "compliance"}, ["aml-alerts"]),
        ({"status": "in_development", "q": "retail"}, ["pd-retail"]),
        ({"status": "retired"}, []),
    ],
)
def test_model_list_filters(
    inventory: None, auditor: Any, params: dict[str, str], slugs: list[str]
) -> None:
    response = client_for(auditor).get(MODELS, params)
    assert response.status_code == 200
    assert [m["slug"] for m in response.json()["results"]] == slugs
    assert response.json()["count"] == len(slugs)


@pytest.mark.parametrize("tier", ["0", "4", "high", "1.0"])
def test_invalid_risk_tier_filter_is_a_400_naming_it(
    inventory: None, auditor: Any, tier: str
) -> None:
    response = client_for(auditor).get(MODELS, {"risk_tier": tier})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Invalid input.",
        "code": "invalid",
        "errors": {"risk_tier": ["Must be 1, 2 or 3."]},
    }


def test_model_list_query_count_does_not_grow_with_the_inventory(
    auditor: Any, developer: Any
) -> None:
    # given a client, and the queries a one-model list needs
    client = client_for(auditor)
    ModelFactory(slug="m-0", developers=[developer])
    client.get(MODELS)  # warm up: token last_used_at, permission caches
    with CaptureQueriesContext(connection) as one:
        assert client.get(MODELS).status_code == 200
    # when the inventory grows to six models with owners and teams
    for i in range(1, 6):
        ModelFactory(slug=f"m-{i}", owner=developer, developers=[developer])
    with CaptureQueriesContext(connection) as six:
        response = client.get(MODELS)
    # then listing them takes the same number of queries
    assert response.json()["count"] == 6
    assert len(six) == len(one)


def test_version_list_is_newest_first_and_paginated(
    credit_model: Any, developer: Any
) -> None:
    client = client_for(developer)
    for v in ("1.0.0", "1.1.0", "2.0.0"):
        assert (
            client.post(VERSIONS, version_payload(v), format="json").status_code == 201
        )
    body = client.get(VERSIONS, {"limit": 2}).json()
    assert body["count"] == 3
    assert [v["version"] for v in body["results"]] == ["2.0.0", "1.1.0"]
    assert body["next"] == (
        "http://testserver/api/v1/models/credit-risk/versions?limit=2&offset=2"
    )


def test_unknown_model_or_version_is_404(credit_model: Any, developer: Any) -> None:
    client = client_for(developer)
    assert client.get(f"{MODELS}/nope").json() == {
        "detail": "Not found.",
        "code": "not_found",
        "errors": {},
    }
    assert client.get(f"{VERSIONS}/9.9.9").status_code == 404


def test_document_list_query_count_does_not_grow_with_documents(
    draft_version: Any, developer: Any
) -> None:
    # given a version with one document, and the queries listing it takes
    client = client_for(developer)
    url = "/api/v1/models/credit-risk/versions/1.0.0/documents"
    keys = ["sr11-7-development", "sr26-2-materiality", "eu-ai-act-annex-iv"]
    templates = [DocumentTemplate.objects.get(key=k, version=1) for k in keys]
    document_create(actor=developer, version=draft_version, template=templates[0])
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        assert len(client.get(url).json()) == 1
    # when two more documents exist
    for template in templates[1:]:
        document_create(actor=developer, version=draft_version, template=template)
    with CaptureQueriesContext(connection) as three:
        assert len(client.get(url).json()) == 3
    # then listing them takes the same number of queries
    assert len(three) == len(one)


def test_developer_cannot_change_governed_fields_of_their_model(
    developer: Any, risk_officer: Any, credit_model: Any
) -> None:
    # given a developer on the model's team
    client = client_for(developer)
    before = Model.objects.values().get(pk=credit_model.pk)
    events = AuditEvent.objects.count()
    # when they try to lower its risk tier
    response = client.patch(
        "/api/v1/models/credit-risk", {"risk_tier": 3}, format="json"
    )
    # then it is refused and nothing changed
    assert response.status_code == 403
    assert "risk_tier" in response.json()["detail"]
    assert Model.objects.values().get(pk=credit_model.pk) == before
    assert AuditEvent.objects.count() == events
    # and the risk officer may
    officer = client_for(risk_officer)
    response = officer.patch(
        "/api/v1/models/credit-risk",
        {"risk_tier": 2, "tier_rationale": "Exposure reassessed"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["risk_tier"] == 2
    assert AuditEvent.objects.filter(event_type="registry.model.updated").count() == 1


def test_developer_cannot_create_a_model_in_an_approved_state(developer: Any) -> None:
    # given a developer
    client = client_for(developer)
    events = AuditEvent.objects.count()
    # when they try to create an entry already "approved"
    response = client.post(
        MODELS,
        {"name": "Shortcut", "slug": "shortcut", "purpose": "x", "status": "approved"},
        format="json",
    )
    # then it is refused and nothing is created
    assert response.status_code == 403
    assert not Model.objects.filter(slug="shortcut").exists()
    assert AuditEvent.objects.count() == events


def test_reserved_slug_is_refused(developer: Any) -> None:
    response = client_for(developer).post(
        MODELS, {"name": "New", "slug": "new", "purpose": "x"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "slug": ["'new' is reserved; choose another slug."]
    }
