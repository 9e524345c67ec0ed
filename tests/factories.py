"""Factories shared by the whole suite."""

from __future__ import annotations

import hashlib
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from registry.models import Model, ModelVersion

PASSWORD = "correct-horse-battery-staple"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")

    @factory.post_generation
    def password(self, create: bool, extracted: str | None, **kwargs: Any) -> None:
        self.set_password(extracted or PASSWORD)
        if create:
            self.save(update_fields=["password"])

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs: Any) -> None:
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))


class ModelFactory(factory.django.DjangoModelFactory):
    """An inventory entry; pass ``developers=[user, ...]`` to set its team."""

    class Meta:
        model = Model
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Credit scorecard {n}")
    slug = factory.Sequence(lambda n: f"credit-scorecard-{n}")
    purpose = "Estimate the probability of default of retail loan applicants."
    intended_use = "Underwriting of unsecured personal loans up to EUR 25,000."
    out_of_scope_uses = "Mortgages; business lending."
    business_unit = "Retail lending"
    risk_tier = 1
    materiality_exposure = "high"
    materiality_purpose = "high"
    regulations = factory.LazyFunction(lambda: ["sr_26_2", "eu_ai_act_high_risk"])

    @factory.post_generation
    def developers(
        self, create: bool, extracted: list[Any] | None, **kwargs: Any
    ) -> None:
        if create and extracted:
            self.developers.set(extracted)


INPUT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "amount": {"type": "number", "minimum": 0},
        "duration": {"type": "integer", "minimum": 1},
        "purpose": {"type": "string", "enum": ["car", "furniture", "business"]},
    },
    "required": ["amount", "duration", "purpose"],
    "additionalProperties": False,
}

BASELINE = {
    "n": 1000,
    "features": {
        "amount": {
            "type": "numeric",
            "edges": [1000.0, 3000.0],
            "proportions": [0.2, 0.5, 0.3],
        },
        "purpose": {
            "type": "categorical",
            "proportions": {"car": 0.5, "furniture": 0.3, "business": 0.2},
        },
    },
    "approval_rate": {
        "overall": 0.7,
        "by_group": {"age_group": {"<25": 0.58, "25+": 0.72}},
    },
    "performance": {"auc": 0.78, "gini": 0.56, "ks": 0.41},
}


def version_payload(version: str = "1.0.0", **overrides: Any) -> dict[str, Any]:
    """A valid registration payload (API and service ``data``)."""
    data: dict[str, Any] = {
        "version": version,
        "artifact_uri": f"s3://models/credit/{version}/model.pkl",
        "artifact_sha256": sha(f"artifact-{version}"),
        "training_data_uri": "s3://data/credit/train.parquet",
        "training_data_sha256": sha("training-data"),
        "code_commit": "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39",
        "feature_pipeline_version": "fp-2.3.1",
        "hyperparameters": {"C": 1.0, "penalty": "l2"},
        "metrics": {"auc": 0.78, "ks": 0.41},
        "input_schema": INPUT_SCHEMA,
        "protected_attributes": ["age_group"],
        "baseline": BASELINE,
    }
    data.update(overrides)
    return data


class ModelVersionFactory(factory.django.DjangoModelFactory):
    """A draft version *without* a model card; use the service for a full one."""

    class Meta:
        model = ModelVersion

    model = factory.SubFactory(ModelFactory)
    version = factory.Sequence(lambda n: f"1.{n}.0")
    artifact_uri = "s3://models/credit/model.pkl"
    artifact_sha256 = factory.Sequence(lambda n: sha(f"artifact-{n}"))
    input_schema = factory.LazyFunction(lambda: INPUT_SCHEMA)
