"""Input serializers (validation of shape) and output serializers of the registry API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from governance.api.serializers import StrictInputSerializer
from registry import tiering
from registry.choices import MaterialityLevel, ModelStatus, ModelType, RiskTier
from registry.models import Document, DocumentTemplate, Model, ModelCard, ModelVersion


class ModelInputSerializer(StrictInputSerializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=100)
    model_type = serializers.ChoiceField(choices=ModelType.choices, required=False)
    methodology = serializers.CharField(
        max_length=300, required=False, allow_blank=True
    )
    purpose = serializers.CharField()
    intended_use = serializers.CharField(required=False, allow_blank=True)
    out_of_scope_uses = serializers.CharField(required=False, allow_blank=True)
    products = serializers.CharField(max_length=300, required=False, allow_blank=True)
    business_unit = serializers.CharField(
        max_length=100, required=False, allow_blank=True
    )
    owner = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    developers = serializers.ListField(child=serializers.CharField(), required=False)
    is_vendor = serializers.BooleanField(required=False)
    vendor_name = serializers.CharField(
        max_length=200, required=False, allow_blank=True
    )
    risk_tier = serializers.ChoiceField(choices=RiskTier.choices, required=False)
    tier_rationale = serializers.CharField(required=False, allow_blank=True)
    materiality_exposure = serializers.ChoiceField(
        choices=MaterialityLevel.choices, required=False, allow_blank=True
    )
    materiality_purpose = serializers.ChoiceField(
        choices=MaterialityLevel.choices, required=False, allow_blank=True
    )
    regulations = serializers.ListField(child=serializers.CharField(), required=False)
    status = serializers.ChoiceField(choices=ModelStatus.choices, required=False)
    next_review_date = serializers.DateField(required=False, allow_null=True)


class ModelUpdateInputSerializer(ModelInputSerializer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields.pop("slug")
        for f in self.fields.values():
            f.required = False


class ModelOutputSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", default=None)
    developers = serializers.SerializerMethodField()
    suggested_tier = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = Model
        fields = [
            "slug",
            "name",
            "url",
            "model_type",
            "methodology",
            "purpose",
            "intended_use",
            "out_of_scope_uses",
            "products",
            "business_unit",
            "owner",
            "developers",
            "is_vendor",
            "vendor_name",
            "risk_tier",
            "tier_rationale",
            "materiality_exposure",
            "materiality_purpose",
            "suggested_tier",
            "regulations",
            "status",
            "next_review_date",
            "created_at",
            "updated_at",
        ]

    def get_developers(self, obj: Model) -> list[str]:
        return sorted(u.username for u in obj.developers.all())

    def get_suggested_tier(self, obj: Model) -> int | None:
        return tiering.suggested_tier(obj.materiality_exposure, obj.materiality_purpose)

    def get_url(self, obj: Model) -> str:
        return f"/api/v1/models/{obj.slug}"


class VersionInputSerializer(StrictInputSerializer):
    version = serializers.CharField(max_length=64)
    description = serializers.CharField(required=False, allow_blank=True)
    artifact_uri = serializers.CharField(max_length=1000)
    artifact_sha256 = serializers.CharField(max_length=64)
    training_data_uri = serializers.CharField(
        max_length=1000, required=False, allow_blank=True
    )
    training_data_sha256 = serializers.CharField(
        max_length=64, required=False, allow_blank=True
    )
    code_commit = serializers.CharField(max_length=64, required=False, allow_blank=True)
    feature_pipeline_version = serializers.CharField(
        max_length=64, required=False, allow_blank=True
    )
    hyperparameters = serializers.DictField(required=False)
    metrics = serializers.DictField(required=False)
    input_schema = serializers.DictField()
    protected_attributes = serializers.ListField(
        child=serializers.CharField(), required=False
    )
    baseline = serializers.DictField(required=False)


class VersionUpdateInputSerializer(VersionInputSerializer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for f in self.fields.values():
            f.required = False


class VersionOutputSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.slug")
    created_by = serializers.CharField(source="created_by.username", default=None)
    submitted_by = serializers.CharField(source="submitted_by.username", default=None)
    frozen = serializers.BooleanField(source="is_frozen")
    url = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "model",
            "version",
            "url",
            "status",
            "description",
            "artifact_uri",
            "artifact_sha256",
            "training_data_uri",
            "training_data_sha256",
            "code_commit",
            "feature_pipeline_version",
            "hyperparameters",
            "metrics",
            "input_schema",
            "protected_attributes",
            "baseline",
            "frozen",
            "content_digest",
            "created_by",
            "created_at",
            "submitted_by",
            "submitted_at",
        ]

    def get_url(self, obj: ModelVersion) -> str:
        return f"/api/v1/models/{obj.model.slug}/versions/{obj.version}"


class SectionValuesInputSerializer(StrictInputSerializer):
    values = serializers.DictField()


class ContentInputSerializer(StrictInputSerializer):
    content = serializers.DictField()


class DocumentCreateInputSerializer(StrictInputSerializer):
    template = serializers.CharField(help_text="Template key, e.g. sr11-7-development.")
    template_version = serializers.IntegerField(
        required=False, help_text="Defaults to the newest active version."
    )
    title = serializers.CharField(max_length=300, required=False, allow_blank=True)
    content = serializers.DictField(required=False)


def _completeness(obj: ModelCard | Document, content: dict[str, Any]) -> dict[str, Any]:
    from registry import template_schema

    return template_schema.completeness(
        obj.template.definition, content, obj.model_version.model.template_context
    ).as_dict()


class CardOutputSerializer(serializers.Serializer):
    """A card (or its historical record): content plus completeness."""

    def to_representation(self, instance: Any) -> dict[str, Any]:
        live: ModelCard = self.context["card"]
        return {
            "model": live.model_version.model.slug,
            "version": live.model_version.version,
            "template": {"key": live.template.key, "version": live.template.version},
            "content": instance.content,
            "completeness": _completeness(live, instance.content),
            "updated_by": getattr(instance.updated_by, "username", None),
            "updated_at": instance.updated_at,
            "as_of": self.context.get("as_of"),
        }


class DocumentOutputSerializer(serializers.Serializer):
    def to_representation(self, instance: Any) -> dict[str, Any]:
        live: Document = self.context.get("document") or instance
        return {
            "id": live.pk,
            "model": live.model_version.model.slug,
            "version": live.model_version.version,
            "title": instance.title,
            "template": {
                "key": live.template.key,
                "version": live.template.version,
                "kind": live.template.kind,
                "author_role": live.template.author_role,
            },
            "content": instance.content,
            "completeness": _completeness(live, instance.content),
            "created_by": getattr(live.created_by, "username", None),
            "created_at": live.created_at,
            "updated_by": getattr(instance.updated_by, "username", None),
            "updated_at": instance.updated_at,
            "as_of": self.context.get("as_of"),
            "url": (
                f"/api/v1/models/{live.model_version.model.slug}/versions/"
                f"{live.model_version.version}/documents/{live.pk}"
            ),
        }


class HistoryRecordOutputSerializer(serializers.Serializer):
    def to_representation(self, instance: Any) -> dict[str, Any]:
        return {
            "history_id": instance.history_id,
            "at": instance.history_date,
            "type": {"+": "created", "~": "changed", "-": "deleted"}[
                instance.history_type
            ],
            "by": getattr(instance.history_user, "username", None),
        }


class TemplateInputSerializer(StrictInputSerializer):
    definition = serializers.DictField()


class TemplateOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = DocumentTemplate
        fields = [
            "key",
            "version",
            "name",
            "description",
            "kind",
            "author_role",
            "is_builtin",
            "is_active",
            "definition_sha256",
            "definition",
            "created_at",
        ]
