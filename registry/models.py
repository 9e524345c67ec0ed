"""Registry models: inventory entries, versions with lineage, model cards,
documentation templates and the documents filled from them.

Models hold fields and single-row invariants only; every change goes through
``registry.services``. All of them keep full history (django-simple-history), so any
card or document can be shown as it was on a given date.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from registry import template_schema
from registry.choices import (
    AuthorRole,
    DocumentKind,
    MaterialityLevel,
    ModelStatus,
    ModelType,
    RiskTier,
    VersionStatus,
)

sha256_validator = RegexValidator(
    r"^[0-9a-f]{64}$", "Must be a SHA-256 digest: 64 lowercase hexadecimal characters."
)
version_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$",
    "Letters, digits, dots, hyphens, plus and underscores; starting with a letter or digit.",
)
commit_validator = RegexValidator(
    r"^[0-9a-f]{7,64}$", "Must be a git commit hash (7 to 64 hexadecimal characters)."
)


class Model(models.Model):
    """An inventory entry (SR 11-7 §VI model inventory)."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    model_type = models.CharField(
        max_length=20, choices=ModelType.choices, default=ModelType.ML
    )
    methodology = models.CharField(max_length=300, blank=True)
    purpose = models.TextField(help_text="What the model is for (SR 11-7 §VI).")
    intended_use = models.TextField(blank=True, help_text="Actual or expected usage.")
    out_of_scope_uses = models.TextField(blank=True, help_text="Restrictions on use.")
    products = models.CharField(max_length=300, blank=True)
    business_unit = models.CharField(max_length=100, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="owned_models",
        null=True,
        blank=True,
        help_text="Business owner, accountable for model use and performance.",
    )
    developers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="developed_models",
        blank=True,
        help_text="Developers and service accounts that work on this model.",
    )
    is_vendor = models.BooleanField(default=False)
    vendor_name = models.CharField(max_length=200, blank=True)
    risk_tier = models.PositiveSmallIntegerField(
        choices=RiskTier.choices, default=RiskTier.TIER_2
    )
    tier_rationale = models.TextField(blank=True)
    materiality_exposure = models.CharField(
        max_length=10, choices=MaterialityLevel.choices, blank=True
    )
    materiality_purpose = models.CharField(
        max_length=10, choices=MaterialityLevel.choices, blank=True
    )
    regulations = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=30, choices=ModelStatus.choices, default=ModelStatus.IN_DEVELOPMENT
    )
    next_review_date = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    history = HistoricalRecords(excluded_fields=["updated_at"], m2m_fields=[developers])

    class Meta:
        ordering = ["name"]
        permissions = [
            ("view_all_models", "Can see every model in the inventory"),
            ("export_model", "Can export evidence for a model"),
            ("govern_model", "Can set risk tier, status and review date"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(risk_tier__gte=1) & Q(risk_tier__lte=3),
                name="registry_model_risk_tier_1_to_3",
            ),
            models.CheckConstraint(
                condition=Q(is_vendor=False) | ~Q(vendor_name=""),
                name="registry_model_vendor_named",
                violation_error_message="A vendor model needs the vendor's name.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_eu_ai_act_high_risk(self) -> bool:
        return "eu_ai_act_high_risk" in (self.regulations or [])

    @property
    def template_context(self) -> dict[str, bool]:
        """Flags that make conditional template fields required."""
        return {
            "is_vendor": self.is_vendor,
            "eu_ai_act_high_risk": self.is_eu_ai_act_high_risk,
        }


# The fields whose canonical JSON is a version's content digest. Once submitted,
# none of them may change (enforced by the service and by a database trigger).
VERSION_CONTENT_FIELDS = (
    "version",
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
)


class ModelVersion(models.Model):
    """One trained version of a model, with its lineage and baseline statistics."""

    model = models.ForeignKey(Model, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(max_length=64, validators=[version_validator])
    status = models.CharField(
        max_length=20, choices=VersionStatus.choices, default=VersionStatus.DRAFT
    )
    description = models.TextField(blank=True)
    artifact_uri = models.CharField(max_length=1000)
    artifact_sha256 = models.CharField(
        max_length=64, validators=[sha256_validator], db_index=True
    )
    training_data_uri = models.CharField(max_length=1000, blank=True)
    training_data_sha256 = models.CharField(
        max_length=64, validators=[sha256_validator], blank=True
    )
    code_commit = models.CharField(
        max_length=64, validators=[commit_validator], blank=True
    )
    feature_pipeline_version = models.CharField(max_length=64, blank=True)
    hyperparameters = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    input_schema = models.JSONField(default=dict, blank=True)
    protected_attributes = models.JSONField(default=list, blank=True)
    baseline = models.JSONField(default=dict, blank=True)
    content_digest = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    created_at = models.DateTimeField(default=timezone.now)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["model", "-created_at"]
        permissions = [("submit_modelversion", "Can submit a version for review")]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "version"], name="registry_version_unique_per_model"
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | ~Q(content_digest=""),
                name="registry_version_submitted_has_digest",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model.slug} {self.version}"

    @property
    def is_frozen(self) -> bool:
        return bool(self.content_digest)

    def content(self) -> dict[str, Any]:
        """The frozen content, as hashed into ``content_digest``."""
        data = {name: getattr(self, name) for name in VERSION_CONTENT_FIELDS}
        data["model"] = self.model.slug
        return data


class DocumentTemplate(models.Model):
    """A versioned documentation template; shipped ones come from templates_catalog/."""

    key = models.SlugField(max_length=64)
    version = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=20, choices=DocumentKind.choices)
    author_role = models.CharField(max_length=20, choices=AuthorRole.choices)
    definition = models.JSONField()
    definition_sha256 = models.CharField(max_length=64, validators=[sha256_validator])
    is_builtin = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    created_at = models.DateTimeField(default=timezone.now)
    history = HistoricalRecords()

    class Meta:
        ordering = ["key", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["key", "version"], name="registry_template_unique_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} (v{self.version})"

    @property
    def sections(self) -> list[dict[str, Any]]:
        sections: list[dict[str, Any]] = self.definition["sections"]
        return sections


class ModelCard(models.Model):
    """The model card of one version (Mitchell et al. 2019 sections plus bank fields)."""

    model_version = models.OneToOneField(
        ModelVersion, on_delete=models.PROTECT, related_name="card"
    )
    template = models.ForeignKey(
        DocumentTemplate, on_delete=models.PROTECT, related_name="+"
    )
    content = models.JSONField(default=dict, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    updated_at = models.DateTimeField(default=timezone.now)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"Model card of {self.model_version}"

    def completeness(self) -> template_schema.Completeness:
        return template_schema.completeness(
            self.template.definition,
            self.content,
            self.model_version.model.template_context,
        )


class Document(models.Model):
    """A document of one version, filled section by section from a template."""

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="documents"
    )
    template = models.ForeignKey(
        DocumentTemplate, on_delete=models.PROTECT, related_name="documents"
    )
    title = models.CharField(max_length=300)
    content = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    updated_at = models.DateTimeField(default=timezone.now)
    history = HistoricalRecords()

    class Meta:
        ordering = ["model_version", "template__key"]
        permissions = [
            (
                "author_development_documents",
                "Can write model cards and development documents",
            ),
            ("author_validation_documents", "Can write validation reports"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "template"],
                name="registry_document_one_per_template_version",
            )
        ]

    def __str__(self) -> str:
        return self.title

    def completeness(self) -> template_schema.Completeness:
        return template_schema.completeness(
            self.template.definition,
            self.content,
            self.model_version.model.template_context,
        )
