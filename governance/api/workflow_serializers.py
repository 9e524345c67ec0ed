"""Input and output serializers of the workflow API (release requests, findings)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from audits.integrity.api import IntegrityOutputSerializer, integrity_of
from governance.api.serializers import StrictInputSerializer
from governance.models import Finding, ReleaseRequest, Signature


class ReleaseRequestCreateInputSerializer(StrictInputSerializer):
    model = serializers.SlugField(max_length=100)
    version = serializers.CharField(max_length=64)
    environments = serializers.ListField(
        child=serializers.CharField(max_length=50), allow_empty=False
    )
    justification = serializers.CharField(required=False, allow_blank=True, default="")


class ReleaseRequestRevokeInputSerializer(StrictInputSerializer):
    reason = serializers.CharField(allow_blank=True)


class ReleaseRequestApproveInputSerializer(StrictInputSerializer):
    password = serializers.CharField(allow_blank=True, trim_whitespace=False)
    comment = serializers.CharField(required=False, allow_blank=True, default="")
    committee = serializers.BooleanField(required=False, default=False)


class ReleaseRequestRejectInputSerializer(StrictInputSerializer):
    password = serializers.CharField(allow_blank=True, trim_whitespace=False)
    comment = serializers.CharField(allow_blank=True)


class ReleaseRequestValidationInputSerializer(StrictInputSerializer):
    password = serializers.CharField(allow_blank=True, trim_whitespace=False)
    outcome = serializers.CharField(max_length=30)
    conditions = serializers.CharField(required=False, allow_blank=True, default="")
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class FindingRaiseInputSerializer(StrictInputSerializer):
    severity = serializers.CharField(max_length=10)
    title = serializers.CharField(max_length=300)
    description = serializers.CharField()
    owner = serializers.CharField(required=False, allow_null=True, default=None)
    due_date = serializers.DateField(required=False, allow_null=True, default=None)
    sr_section = serializers.CharField(
        required=False, allow_blank=True, max_length=100, default=""
    )
    request = serializers.IntegerField(required=False, allow_null=True, default=None)


class FindingRemediationInputSerializer(StrictInputSerializer):
    remediation = serializers.CharField(allow_blank=True)


class FindingCloseInputSerializer(StrictInputSerializer):
    evidence = serializers.CharField(allow_blank=True)


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


class _IntegrityMixin(serializers.Serializer):
    """Adds ``integrity``: the row's verdict against the ledger, looked up in the
    ``verdicts`` the view computed for the whole answer in one batch."""

    integrity = serializers.SerializerMethodField()

    @extend_schema_field(IntegrityOutputSerializer)
    def get_integrity(self, obj: Any) -> dict[str, Any]:
        return integrity_of(obj, self.context.get("verdicts"))


class SignatureOutputSerializer(_IntegrityMixin, serializers.ModelSerializer):
    signer = serializers.SerializerMethodField()

    class Meta:
        model = Signature
        fields = [
            "id",
            "signer",
            "printed_name",
            "meaning",
            "comment",
            "signed_at",
            "artifact_sha256",
            "content_digest",
            "environments",
            "binding_sha256",
            "integrity",
        ]

    def get_signer(self, obj: Signature) -> str | None:
        return _username(obj.signer)


class FindingOutputSerializer(_IntegrityMixin, serializers.ModelSerializer):
    model = serializers.CharField(source="model_version.model.slug")
    version = serializers.CharField(source="model_version.version")
    owner = serializers.SerializerMethodField()
    raised_by = serializers.SerializerMethodField()
    closed_by = serializers.SerializerMethodField()

    class Meta:
        model = Finding
        fields = [
            "id",
            "model",
            "version",
            "request",
            "severity",
            "title",
            "description",
            "sr_section",
            "owner",
            "due_date",
            "remediation",
            "status",
            "raised_by",
            "raised_at",
            "closure_evidence",
            "closed_by",
            "closed_at",
            "integrity",
        ]

    def get_owner(self, obj: Finding) -> str | None:
        return _username(obj.owner)

    def get_raised_by(self, obj: Finding) -> str | None:
        return _username(obj.raised_by)

    def get_closed_by(self, obj: Finding) -> str | None:
        return _username(obj.closed_by)


class ReleaseRequestOutputSerializer(_IntegrityMixin, serializers.ModelSerializer):
    model = serializers.CharField(source="model_version.model.slug")
    version = serializers.CharField(source="model_version.version")
    policy = serializers.CharField(source="policy.__str__")
    requested_by = serializers.SerializerMethodField()
    validator = serializers.SerializerMethodField()

    class Meta:
        model = ReleaseRequest
        fields = [
            "id",
            "model",
            "version",
            "environments",
            "state",
            "policy",
            "justification",
            "requested_by",
            "created_at",
            "submitted_at",
            "validator",
            "validation_outcome",
            "conditions",
            "validated_at",
            "decided_at",
            "approved_at",
            "expires_at",
            "approved_artifact_sha256",
            "approved_content_digest",
            "revoked_at",
            "revocation_reason",
            "rollback_targets",
            "integrity",
        ]

    def get_requested_by(self, obj: ReleaseRequest) -> str | None:
        return _username(obj.requested_by)

    def get_validator(self, obj: ReleaseRequest) -> str | None:
        return _username(obj.validator)


class ChecklistItemOutputSerializer(serializers.Serializer):
    item = serializers.CharField()
    satisfied = serializers.BooleanField()
    detail = serializers.CharField()


class ReleaseRequestDetailOutputSerializer(ReleaseRequestOutputSerializer):
    checklist = serializers.SerializerMethodField()
    signatures = SignatureOutputSerializer(many=True, read_only=True)
    findings = serializers.SerializerMethodField()

    class Meta(ReleaseRequestOutputSerializer.Meta):
        fields = [
            *ReleaseRequestOutputSerializer.Meta.fields,
            "checklist",
            "signatures",
            "findings",
        ]

    def get_checklist(self, obj: ReleaseRequest) -> list[dict[str, Any]]:
        return list(self.context.get("checklist", []))

    def get_findings(self, obj: ReleaseRequest) -> list[dict[str, Any]]:
        findings = self.context.get("findings", [])
        return list(
            FindingOutputSerializer(findings, many=True, context=self.context).data
        )
