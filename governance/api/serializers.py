"""Shared serializer bases and the token serializers."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from governance.models import ApiToken


class StrictInputSerializer(serializers.Serializer):
    """An input serializer that refuses keys it does not declare, naming them."""

    def to_internal_value(self, data: Any) -> Any:
        unknown: dict[str, list[str]] = {}
        if isinstance(data, dict):
            unknown = {
                k: ["Unknown field."] for k in sorted(set(data) - set(self.fields))
            }
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            # Report every bad field at once, unknown ones included.
            if unknown and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **unknown}) from exc
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


class TokenCreateInputSerializer(StrictInputSerializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(child=serializers.CharField(), required=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class TokenOutputSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username")
    is_active = serializers.BooleanField()

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "user",
            "name",
            "prefix",
            "scopes",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "is_active",
        ]
