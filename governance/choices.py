"""Enumerations of the governance app."""

from django.db import models


class Role(models.TextChoices):
    MODEL_DEVELOPER = "model_developer", "Model developer"
    VALIDATOR = "validator", "Validator"
    RISK_OFFICER = "risk_officer", "Risk officer"
    AUDITOR = "auditor", "Auditor"
    ADMINISTRATOR = "administrator", "Administrator"
    SERVICE_ACCOUNT = "service_account", "Service account"
    # Asks the gate about any model (admission webhook, deploy pipelines); nothing else.
    GATEKEEPER = "gatekeeper", "Gatekeeper"


class TokenScope(models.TextChoices):
    REGISTRY_READ = "registry:read", "Read the registry"
    REGISTRY_WRITE = (
        "registry:write",
        "Register models and versions, edit documentation",
    )
    GATE_CHECK = "gate:check", "Ask the promotion gate"
    PREDICTIONS_WRITE = "predictions:write", "Send predictions and outcomes"
    AUDIT_READ = "audit:read", "Read audit trails and export evidence"
    TOKENS_MANAGE = "tokens:manage", "List and revoke the account's own tokens"


class GovernancePermission(models.TextChoices):
    MANAGE_ACCOUNTS = "governance.manage_accounts", "Manage accounts and tokens"


class RequestState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    IN_VALIDATION = "in_validation", "In validation"
    VALIDATED = "validated", "Validated"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"


# States in which a request still occupies its (version, environment) slot.
OPEN_STATES = (
    RequestState.DRAFT,
    RequestState.SUBMITTED,
    RequestState.IN_VALIDATION,
    RequestState.VALIDATED,
    RequestState.APPROVED,
)


class ValidationOutcome(models.TextChoices):
    APPROVE = "approve", "Approve"
    APPROVE_WITH_CONDITIONS = "approve_with_conditions", "Approve with conditions"
    REJECT = "reject", "Reject / redevelop"


class SignatureMeaning(models.TextChoices):
    VALIDATED = "validated", "Independently validated"
    APPROVED = "approved", "Approved for use in the named environments"
    COMMITTEE = "committee", "Approved by the model risk committee"
    REJECTED = "rejected", "Rejected"


class FindingSeverity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class FindingStatus(models.TextChoices):
    OPEN = "open", "Open"
    REMEDIATION_SUBMITTED = "remediation_submitted", "Remediation submitted"
    CLOSED = "closed", "Closed"


class GateSource(models.TextChoices):
    API = "api", "REST API"
    CLI = "cli", "modelgov check"
    ADMISSION = "admission", "Kubernetes admission"
    BROWSER = "browser", "Browser"
