"""Serializers of the gate and deployment APIs: strict input, explicit output."""

from __future__ import annotations

import re
from typing import Any

from rest_framework import serializers

from governance.api.serializers import StrictInputSerializer
from governance.choices import SignatureMeaning
from governance.models import Deployment, GateDecision, ReleaseRequest
from governance.services import deployments

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SHA256_MESSAGE = "Must be 64 lowercase hexadecimal characters (a SHA-256)."


class GateContextInputSerializer(StrictInputSerializer):
    # "source" and "context" shadow Field attributes; the input keys need them.
    source = serializers.CharField(  # type: ignore[assignment]
        max_length=100, required=False, allow_blank=True
    )
    correlation_id = serializers.CharField(
        max_length=200, required=False, allow_blank=True
    )


class GateDecisionInputSerializer(StrictInputSerializer):
    """Either ``model`` + ``version`` or ``artifact_sha256``, and the environment."""

    model = serializers.CharField(max_length=100, required=False)
    version = serializers.CharField(max_length=64, required=False)
    artifact_sha256 = serializers.CharField(max_length=64, required=False)
    environment = serializers.CharField(max_length=50)
    context = GateContextInputSerializer(required=False)  # type: ignore[assignment]

    def validate_artifact_sha256(self, value: str) -> str:
        if not _SHA256.match(value):
            raise serializers.ValidationError(_SHA256_MESSAGE)
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        by_name = "model" in attrs or "version" in attrs
        by_digest = "artifact_sha256" in attrs
        message = (
            "Give either model and version, or artifact_sha256 (exactly one form)."
        )
        if by_name and by_digest:
            raise serializers.ValidationError(
                {f: [message] for f in ("model", "version", "artifact_sha256")}
            )
        if by_digest:
            return attrs
        missing = [f for f in ("model", "version") if f not in attrs]
        if missing:
            fields = missing if by_name else ["model", "version", "artifact_sha256"]
            raise serializers.ValidationError({f: [message] for f in fields})
        return attrs


class ApprovalOutputSerializer(serializers.Serializer):
    """A release request's approval as the gate reports it."""

    def to_representation(self, instance: ReleaseRequest) -> dict[str, Any]:
        signers = [
            s.printed_name
            for s in instance.signatures.all()
            if s.meaning in (SignatureMeaning.APPROVED, SignatureMeaning.COMMITTEE)
        ]
        return {
            "id": f"RR-{instance.pk}",
            "model": instance.model_version.model.slug,
            "version": instance.model_version.version,
            "environments": list(instance.environments),
            "approved_at": iso_datetime(instance.approved_at),
            "expires_at": iso_datetime(instance.expires_at),
            "revoked_at": iso_datetime(instance.revoked_at),
            "approvers": signers,
            "conditions": instance.conditions,
        }


def iso_datetime(value: Any) -> str | None:
    return serializers.DateTimeField().to_representation(value) if value else None


def approval_data(approval: ReleaseRequest | None) -> dict[str, Any] | None:
    return ApprovalOutputSerializer(approval).data if approval is not None else None


class GateDecisionOutputSerializer(serializers.Serializer):
    def to_representation(self, instance: GateDecision) -> dict[str, Any]:
        approval = instance.approval
        expires_at = approval.expires_at if instance.allowed and approval else None
        return {
            "allowed": instance.allowed,
            "reason": instance.reason,
            "reasons": list(instance.reasons) or [instance.reason],
            "decision_id": str(instance.decision_id),
            "approval": approval_data(approval),
            "expires_at": iso_datetime(expires_at),
            "decided_at": iso_datetime(instance.decided_at),
            "model": instance.model_slug,
            "version": instance.version,
            "artifact_sha256": instance.artifact_sha256,
            "environment": instance.environment,
            "source": instance.source,
            "correlation_id": instance.correlation_id,
            "caller": instance.caller_display,
        }


def gate_answer_data(
    result: Any, *, model: str, version: str, artifact_sha256: str
) -> dict[str, Any]:
    """The answer to the caller who asked: the stored decision, except about a model
    the caller may not see (``result.concealed``). Then it names only what the
    caller asked, exactly as the answer about a model that does not exist does."""
    data = dict(GateDecisionOutputSerializer(result.record).data)
    if result.concealed:
        data.update(
            model=model,
            version=version,
            artifact_sha256=artifact_sha256,
            reasons=list(result.decision.reasons),
        )
    return data


class DeploymentReportInputSerializer(StrictInputSerializer):
    model = serializers.CharField(max_length=100)
    version = serializers.CharField(max_length=64)
    environment = serializers.CharField(max_length=50)
    deployed_at = serializers.DateTimeField(required=False)
    action = serializers.ChoiceField(
        choices=list(deployments.ACTIONS), default=deployments.DEPLOYED
    )
    target = serializers.CharField(max_length=300, required=False, default="")
    external_id = serializers.CharField(max_length=200, required=False, default="")
    decision_id = serializers.UUIDField(required=False)


class DeploymentOutputSerializer(serializers.Serializer):
    def to_representation(self, instance: Deployment) -> dict[str, Any]:
        version = instance.model_version
        decision = instance.gate_decision
        return {
            "id": instance.pk,
            "model": version.model.slug,
            "version": version.version,
            "artifact_sha256": version.artifact_sha256,
            "environment": instance.environment,
            "action": instance.action,
            "deployed_at": iso_datetime(instance.deployed_at),
            "reported_at": iso_datetime(instance.reported_at),
            "target": instance.target,
            "external_id": instance.external_id,
            "decision_id": str(decision.decision_id) if decision else None,
            "approval": approval_data(instance.approval),
        }


class DeploymentsQueryInputSerializer(StrictInputSerializer):
    environment = serializers.CharField(max_length=50)
    at = serializers.DateTimeField(required=False)
