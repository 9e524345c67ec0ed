from __future__ import annotations

from typing import Any

from axes.models import AccessAttempt
from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from governance import services
from governance.account_forms import LockoutAdminAuthenticationForm
from governance.admin_mixins import ReadOnlyAdminMixin
from governance.choices import GovernancePermission
from governance.models import (
    ApiToken,
    ApprovalPolicy,
    Deployment,
    Finding,
    GateDecision,
    ReleaseRequest,
    Signature,
)
from governance.services import lockout


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "user",
        "prefix",
        "scopes",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    actions = ["revoke"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Needed for the revoke action; the form itself stays read-only.
        return obj is None and request.user.has_perm("governance.manage_accounts")

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            services.api_token_revoke(actor=request.user, token=token)
        self.message_user(
            request, f"Revoked {queryset.count()} token(s).", messages.SUCCESS
        )


# The admin's sign-in says when the account or the address is locked (ADR 0021).
admin.site.login_form = LockoutAdminAuthenticationForm


@admin.register(AccessAttempt)
class AccessAttemptAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Failed password attempts (django-axes' rows): read-only, and unlocked only
    through the service, whose unlock is an audit event (ADR 0021)."""

    list_display = [
        "username",
        "ip_address",
        "failures_since_start",
        "attempt_time",
        "path_info",
    ]
    search_fields = ["username", "ip_address"]
    ordering = ["-attempt_time"]
    fields = ["username", "ip_address", "failures_since_start", "attempt_time"]
    readonly_fields = ["username", "ip_address", "failures_since_start", "attempt_time"]
    actions = ["unlock_accounts", "unlock_addresses"]

    def _manages(self, request: HttpRequest) -> bool:
        return request.user.has_perm(GovernancePermission.MANAGE_ACCOUNTS)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._manages(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._manages(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Needed for the unlock actions; the form itself stays read-only.
        return obj is None and self._manages(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Unlock the accounts of the selected attempts")
    def unlock_accounts(
        self, request: HttpRequest, queryset: QuerySet[AccessAttempt]
    ) -> None:
        names = sorted({a.username for a in queryset if a.username})
        for name in names:
            lockout.account_unlock(actor=request.user, username=name)
        self.message_user(
            request, f"Unlocked {len(names)} account(s).", messages.SUCCESS
        )

    @admin.action(description="Unlock the addresses of the selected attempts")
    def unlock_addresses(
        self, request: HttpRequest, queryset: QuerySet[AccessAttempt]
    ) -> None:
        addresses = sorted({a.ip_address for a in queryset if a.ip_address})
        for address in addresses:
            lockout.account_unlock(actor=request.user, ip_address=address)
        self.message_user(
            request, f"Unlocked {len(addresses)} address(es).", messages.SUCCESS
        )


class PolicyForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = ApprovalPolicy
        fields = [
            "risk_tier",
            "name",
            "requires_validation",
            "approvals_required",
            "requires_committee",
            "required_documents",
            "blocking_severities",
            "validity_days",
            "environments",
            "allows_amendments",
        ]


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Policies are never edited in place: saving publishes a new version."""

    form = PolicyForm
    list_display = [
        "risk_tier",
        "version",
        "is_active",
        "approvals_required",
        "requires_committee",
        "validity_days",
        "created_at",
    ]
    list_filter = ["risk_tier", "is_active"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: Any, form: Any, change: bool
    ) -> None:
        data = {k: v for k, v in form.cleaned_data.items() if k != "risk_tier"}
        published = services.approval_policy_publish(
            actor=request.user, risk_tier=form.cleaned_data["risk_tier"], data=data
        )
        obj.pk = published.pk
        obj.refresh_from_db()


@admin.register(ReleaseRequest)
class ReleaseRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["__str__", "state", "approved_at", "expires_at", "revoked_at"]
    list_filter = ["state"]


@admin.register(Signature)
class SignatureAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "printed_name",
        "meaning",
        "signed_at",
        "model_version",
        "artifact_sha256",
    ]


@admin.register(Finding)
class FindingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["__str__", "model_version", "status", "due_date"]
    list_filter = ["severity", "status"]


@admin.register(GateDecision)
class GateDecisionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "decided_at",
        "allowed",
        "model_slug",
        "version",
        "environment",
        "source",
    ]
    list_filter = ["allowed", "environment", "source"]


@admin.register(Deployment)
class DeploymentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["deployed_at", "environment", "model_version", "action", "approval"]
