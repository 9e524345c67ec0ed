"""Enumerations of the registry app."""

from django.db import models


class RiskTier(models.IntegerChoices):
    TIER_1 = 1, "Tier 1 (high)"
    TIER_2 = 2, "Tier 2 (medium)"
    TIER_3 = 3, "Tier 3 (low)"


class MaterialityLevel(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class ModelType(models.TextChoices):
    STATISTICAL = "statistical", "Statistical"
    ML = "ml", "Machine learning"
    EXPERT = "expert", "Expert / judgmental"
    VENDOR = "vendor", "Vendor"
    HYBRID = "hybrid", "Hybrid"


class ModelStatus(models.TextChoices):
    IN_DEVELOPMENT = "in_development", "In development"
    PENDING_VALIDATION = "pending_validation", "Pending validation"
    APPROVED = "approved", "Approved"
    APPROVED_WITH_CONDITIONS = "approved_with_conditions", "Approved with conditions"
    IN_USE = "in_use", "In use"
    SUSPENDED = "suspended", "Suspended"
    RETIRED = "retired", "Retired"


class Regulation(models.TextChoices):
    SR_26_2 = "sr_26_2", "SR 11-7 / SR 26-2 model risk management"
    EU_AI_ACT_HIGH_RISK = "eu_ai_act_high_risk", "EU AI Act high-risk (Annex III 5(b))"
    ECOA_REG_B = "ecoa_reg_b", "ECOA / Regulation B"
    FAIR_HOUSING_ACT = "fair_housing_act", "Fair Housing Act"
    HMDA = "hmda", "HMDA"
    GDPR_ART_22 = "gdpr_art_22", "GDPR Art. 22 automated decisions"
    PRA_SS1_23 = "pra_ss1_23", "PRA SS1/23"


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted for review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    RETIRED = "retired", "Retired"


class DocumentKind(models.TextChoices):
    MODEL_CARD = "model_card", "Model card"
    DEVELOPMENT = "development", "Development documentation"
    VALIDATION = "validation", "Validation report"
    MATERIALITY = "materiality", "Materiality and tiering assessment"
    ANNEX_IV = "annex_iv", "EU AI Act Annex IV technical documentation"
    CUSTOM = "custom", "Custom"


class AuthorRole(models.TextChoices):
    MODEL_DEVELOPER = "model_developer", "Model developer"
    VALIDATOR = "validator", "Validator"


class RegistryPermission(models.TextChoices):
    VIEW_ALL_MODELS = "registry.view_all_models", "See every model in the inventory"
    EXPORT_MODEL = "registry.export_model", "Export evidence for a model"
    SUBMIT_VERSION = "registry.submit_modelversion", "Submit a version for review"
    AUTHOR_DEVELOPMENT = (
        "registry.author_development_documents",
        "Write model cards and development documents",
    )
    AUTHOR_VALIDATION = (
        "registry.author_validation_documents",
        "Write validation reports",
    )
