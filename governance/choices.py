"""Enumerations of the governance app."""

from django.db import models


class Role(models.TextChoices):
    MODEL_DEVELOPER = "model_developer", "Model developer"
    VALIDATOR = "validator", "Validator"
    RISK_OFFICER = "risk_officer", "Risk officer"
    AUDITOR = "auditor", "Auditor"
    ADMINISTRATOR = "administrator", "Administrator"
    SERVICE_ACCOUNT = "service_account", "Service account"


class TokenScope(models.TextChoices):
    REGISTRY_READ = "registry:read", "Read the registry"
    REGISTRY_WRITE = (
        "registry:write",
        "Register models and versions, edit documentation",
    )
    GATE_CHECK = "gate:check", "Ask the promotion gate"
    PREDICTIONS_WRITE = "predictions:write", "Send predictions and outcomes"
    AUDIT_READ = "audit:read", "Read audit trails and export evidence"


class GovernancePermission(models.TextChoices):
    MANAGE_ACCOUNTS = "governance.manage_accounts", "Manage accounts and tokens"
