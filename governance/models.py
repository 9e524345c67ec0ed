"""Accounts-side models of the governance app: API tokens.

The approval workflow (policies, release requests, signatures) arrives with the gate
issue; this module holds what the foundation needs.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    """A bearer token. Only its SHA-256 is stored; the secret is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    # The public prefix identifies the token in logs and lists without revealing it.
    prefix = models.CharField(max_length=16, unique=True)
    key_sha256 = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    # The serving deployment a prediction-ingest key is bound to: predictions and
    # outcomes sent with it belong to this model in this environment, whatever the
    # body says. Only tokens with the predictions:write scope carry a binding.
    deployment_model = models.ForeignKey(
        "registry.Model",
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    deployment_environment = models.CharField(max_length=50, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("manage_accounts", "Manage accounts and tokens")]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(deployment_model__isnull=True, deployment_environment="")
                    | (
                        models.Q(deployment_model__isnull=False)
                        & ~models.Q(deployment_environment="")
                    )
                ),
                name="governance_apitoken_binding_complete",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def deployment_binding(self) -> tuple[int, str] | None:
        """(model id, environment) of an ingest key, None for other tokens."""
        if self.deployment_model_id is None:
            return None
        return self.deployment_model_id, self.deployment_environment

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class ApprovalPolicy(models.Model):
    """What a release of a model of one risk tier needs; versioned, one active per tier."""

    risk_tier = models.PositiveSmallIntegerField()
    version = models.PositiveIntegerField()
    is_active = models.BooleanField(default=True)
    name = models.CharField(max_length=200)
    requires_validation = models.BooleanField(default=True)
    approvals_required = models.PositiveSmallIntegerField(default=1)
    requires_committee = models.BooleanField(default=False)
    # Template keys whose documents must be complete before approval.
    required_documents = models.JSONField(default=list, blank=True)
    # Severities of open findings that block approval (and the gate).
    blocking_severities = models.JSONField(default=list, blank=True)
    # SR 26-2: validity is risk-based, not a fixed year.
    validity_days = models.PositiveIntegerField()
    # Overrides of the tier's monitoring defaults (audits.monitoring.config).
    monitoring = models.JSONField(default=dict, blank=True)
    environments = models.JSONField(default=list)
    # Whether the team may amend a document a live approval covers: the edit goes
    # through and puts the approval under review (ADR 0026). Otherwise it is refused.
    allows_amendments = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["risk_tier", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["risk_tier", "version"], name="governance_policy_unique_version"
            ),
            models.UniqueConstraint(
                fields=["risk_tier"],
                condition=models.Q(is_active=True),
                name="governance_policy_one_active_per_tier",
            ),
            models.CheckConstraint(
                condition=models.Q(approvals_required__gte=1)
                & models.Q(approvals_required__lte=2),
                name="governance_policy_one_or_two_approvers",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (tier {self.risk_tier}, v{self.version})"


class ReleaseRequest(models.Model):
    """A request to release one model version to one or more environments."""

    model_version = models.ForeignKey(
        "registry.ModelVersion",
        on_delete=models.PROTECT,
        related_name="release_requests",
    )
    policy = models.ForeignKey(
        ApprovalPolicy, on_delete=models.PROTECT, related_name="+"
    )
    environments = models.JSONField(default=list)
    state = models.CharField(max_length=20, default="draft")
    justification = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    validator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    validation_outcome = models.CharField(max_length=30, blank=True)
    conditions = models.TextField(blank=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # The digests the approval binds to (copied from the version at approval).
    approved_artifact_sha256 = models.CharField(max_length=64, blank=True)
    approved_content_digest = models.CharField(max_length=64, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    revocation_reason = models.TextField(blank=True)
    # Set by a monitoring breach: the approval stands but is under review.
    under_review_at = models.DateTimeField(null=True, blank=True)
    review_reason = models.TextField(blank=True)
    # Revocation names, per environment, the last still-approved version to roll back
    # to: {"production": "1.1.0"} (null when there is none).
    rollback_targets = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("validate_releaserequest", "Can validate release requests"),
            ("approve_releaserequest", "Can approve or reject release requests"),
            ("revoke_releaserequest", "Can revoke approvals"),
            ("committee_releaserequest", "Can sign for the model risk committee"),
        ]

    def __str__(self) -> str:
        return f"RR-{self.pk} {self.model_version} → {', '.join(self.environments)}"


class ReleaseTarget(models.Model):
    """One environment of a request; ``is_open`` enforces one open request per
    (version, environment) with a partial unique constraint."""

    request = models.ForeignKey(
        ReleaseRequest, on_delete=models.PROTECT, related_name="targets"
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="+"
    )
    environment = models.CharField(max_length=50)
    is_open = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "environment"],
                condition=models.Q(is_open=True),
                name="governance_one_open_request_per_version_environment",
            ),
            models.UniqueConstraint(
                fields=["request", "environment"], name="governance_target_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_version} → {self.environment}"


class Signature(models.Model):
    """An electronic signature (21 CFR Part 11 style); insert-only in the database.

    ``binding_sha256`` is the SHA-256 of the canonical JSON of what was signed
    (request, version, artifact digest, meaning, signer, time, comment, and the
    dossier: the digests of the card, the documents and the validation report and
    the latest monitoring state), so a row
    cannot be re-pointed at another version without the binding breaking.
    """

    request = models.ForeignKey(
        ReleaseRequest, on_delete=models.PROTECT, related_name="signatures"
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="+"
    )
    signer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    printed_name = models.CharField(max_length=300)
    meaning = models.CharField(max_length=20)
    comment = models.TextField(blank=True)
    signed_at = models.DateTimeField()
    artifact_sha256 = models.CharField(max_length=64)
    content_digest = models.CharField(max_length=64)
    environments = models.JSONField(default=list)
    binding_sha256 = models.CharField(max_length=64, unique=True)
    # What the signer saw (ADR 0026): the digest of the card, of each document and of
    # the validation report, and the latest monitoring state. Bound into
    # ``binding_sha256``; null on signatures made before the dossier was bound.
    dossier = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["signed_at", "id"]

    def __str__(self) -> str:
        return (
            f"{self.printed_name}: {self.meaning} {self.signed_at:%Y-%m-%d %H:%M} UTC"
        )


class Finding(models.Model):
    """A validation finding on a model version."""

    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="findings"
    )
    request = models.ForeignKey(
        ReleaseRequest,
        on_delete=models.PROTECT,
        related_name="findings",
        null=True,
        blank=True,
    )
    severity = models.CharField(max_length=10)
    title = models.CharField(max_length=300)
    description = models.TextField()
    sr_section = models.CharField(max_length=100, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    due_date = models.DateField(null=True, blank=True)
    remediation = models.TextField(blank=True)
    status = models.CharField(max_length=30, default="open")
    # Empty when monitoring raised it (a breach), not a person.
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    raised_at = models.DateTimeField(default=timezone.now)
    remediation_submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    closure_evidence = models.TextField(blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at", "-id"]
        permissions = [("raise_finding", "Can raise and close findings")]

    def __str__(self) -> str:
        return f"F-{self.pk} ({self.severity}) {self.title}"


class GateDecision(models.Model):
    """Every answer of the promotion gate, with its inputs; insert-only."""

    decision_id = models.UUIDField(unique=True)
    decided_at = models.DateTimeField()
    source = models.CharField(max_length=20)
    caller = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    caller_display = models.CharField(max_length=300, blank=True)
    model_slug = models.CharField(max_length=100, blank=True)
    version = models.CharField(max_length=64, blank=True)
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    environment = models.CharField(max_length=50)
    allowed = models.BooleanField()
    reason = models.TextField()
    reasons = models.JSONField(default=list)
    approval = models.ForeignKey(
        ReleaseRequest,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    correlation_id = models.CharField(max_length=200, blank=True)
    inputs = models.JSONField(default=dict)

    class Meta:
        ordering = ["-decided_at", "-id"]
        indexes = [models.Index(fields=["model_slug", "version", "environment"])]
        permissions = [("check_gate", "Can ask the promotion gate")]

    def __str__(self) -> str:
        verdict = "allowed" if self.allowed else "denied"
        return f"{self.decision_id} {verdict} {self.model_slug} {self.version} → {self.environment}"


class Deployment(models.Model):
    """What a deployment system reports it actually deployed; insert-only."""

    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="deployments"
    )
    environment = models.CharField(max_length=50)
    action = models.CharField(max_length=20, default="deployed")
    deployed_at = models.DateTimeField()
    reported_at = models.DateTimeField(default=timezone.now)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    approval = models.ForeignKey(
        ReleaseRequest,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    gate_decision = models.ForeignKey(
        GateDecision, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    target = models.CharField(
        max_length=300, blank=True, help_text="cluster/namespace/name"
    )
    external_id = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-deployed_at", "-id"]
        indexes = [models.Index(fields=["environment", "deployed_at"])]

    def __str__(self) -> str:
        return f"{self.model_version} {self.action} in {self.environment} at {self.deployed_at:%Y-%m-%d %H:%M}"
