"""Refused actions over the API.

``GET /api/v1/refusals``: refused attempts (failed sign-ins, lockouts, wrong
signature passwords, separation-of-duties, permission and token refusals), newest
first, a page at a time (``next`` continues), with the page's filters as query
parameters. Needs ``audits.view_refusedaction`` (auditors, administrators);
session or bearer auth, a token needs the ``audit:read`` scope. Reading is
recorded as an access (it shows in the access log).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audits import selectors as audit_selectors
from audits import services as audit_services
from audits.integrity import marks, verify
from audits.integrity.api import IntegrityOutputSerializer
from audits.models import RefusalKind, RefusedAction
from governance.choices import TokenScope
from governance.permissions import HasModelPermission

_ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="Invalid input"),
    401: OpenApiResponse(OpenApiTypes.OBJECT, description="Not authenticated"),
    403: OpenApiResponse(OpenApiTypes.OBJECT, description="Not allowed"),
}


class RefusalListQuerySerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(required=False, choices=RefusalKind.values)
    who = serializers.CharField(required=False, max_length=150)
    address = serializers.IPAddressField(required=False)
    object = serializers.RegexField(
        audit_selectors.REFUSAL_OBJECT_PATTERN,
        required=False,
        max_length=200,
        error_messages={
            "invalid": "Enter an object as app.model or app.model:id, "
            "e.g. governance.releaserequest:12."
        },
    )
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)
    before = serializers.IntegerField(required=False, min_value=1)
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=500, default=100
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("start"), attrs.get("end")
        if start is not None and end is not None and end <= start:
            raise serializers.ValidationError(
                {"end": ["The range must end after it starts."]}
            )
        return attrs


class RefusalOutputSerializer(serializers.Serializer[Any]):
    refusal_id = serializers.IntegerField()
    occurred_at = serializers.DateTimeField()
    kind = serializers.ChoiceField(choices=RefusalKind.values)
    kind_label = serializers.CharField()
    who = serializers.CharField()
    username = serializers.CharField(allow_null=True)
    action = serializers.CharField()
    object_type = serializers.CharField(allow_null=True)
    object_id = serializers.CharField(allow_null=True)
    reason = serializers.CharField()
    ip_address = serializers.CharField(allow_null=True)
    method = serializers.CharField(allow_null=True)
    path = serializers.CharField(allow_null=True)
    token_id = serializers.IntegerField(allow_null=True)
    request_id = serializers.CharField(allow_null=True)
    seq = serializers.IntegerField(allow_null=True)
    integrity = IntegrityOutputSerializer(
        help_text="Whether the row matches its ledger leaf."
    )


class RefusalPageSerializer(serializers.Serializer[Any]):
    results = RefusalOutputSerializer(many=True)
    next = serializers.URLField(allow_null=True)


def _refusal_row(
    row: audit_selectors.RefusalRow, verdict: verify.Verdict | None
) -> dict[str, Any]:
    if verdict is None:
        verdict = verify.Verdict(verify.NOT_VERIFIED, detail="not checked")
    return {
        "refusal_id": row.refusal_id,
        "occurred_at": row.occurred_at.isoformat(),
        "kind": row.kind,
        "kind_label": row.kind_label,
        "who": row.who,
        "username": row.username or None,
        "action": row.action,
        "object_type": row.object_type or None,
        "object_id": row.object_id or None,
        "reason": row.reason,
        "ip_address": row.ip_address,
        "method": row.method or None,
        "path": row.path or None,
        "token_id": row.token_id,
        "request_id": row.request_id or None,
        "seq": row.seq,
        "integrity": verdict.as_dict(),
    }


class RefusalListApi(APIView):
    # The defaults (authenticated, token scope) and the model permission.
    permission_classes = [*APIView.permission_classes, HasModelPermission]
    permission_by_method = {"GET": audit_selectors.PERM_REFUSALS}
    required_scope = TokenScope.AUDIT_READ

    @extend_schema(
        operation_id="refusals_list",
        summary="Refused actions: failed sign-ins, lockouts, refused signatures, "
        "separation-of-duties, permission and token refusals",
        description=(
            "Newest first; `next` is the URL of the older rows, or null. Each row "
            "is insert-only and a ledger leaf (`seq`, null while queued); "
            "`integrity` says whether it matches that leaf (only `verified` "
            "vouches for it). Reading is itself recorded in the access log."
        ),
        parameters=[
            OpenApiParameter("kind", str, enum=RefusalKind.values),
            OpenApiParameter(
                "who", str, description="account name tried, or part of a name"
            ),
            OpenApiParameter("address", str, description="client IP address"),
            OpenApiParameter("object", str, description="app.model or app.model:id"),
            OpenApiParameter("start", OpenApiTypes.DATETIME),
            OpenApiParameter("end", OpenApiTypes.DATETIME),
            OpenApiParameter(
                "before", int, description="refusal id to continue before"
            ),
            OpenApiParameter("limit", int, description="rows per page, 1 to 500"),
        ],
        responses={200: RefusalPageSerializer, **_ERRORS},
        tags=["evidence"],
    )
    def get(self, request: Request) -> Response:
        query = RefusalListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        log = audit_selectors.refusal_list_for_user(
            user=request.user,
            before=data.get("before"),
            limit=data["limit"],
            **audit_selectors.refusal_filters(data),
        )
        audit_services.refusals_view_record(
            actor=request.user, filters=audit_selectors.refusal_recorded_filters(data)
        )
        next_url = None
        if log.older is not None:
            params = {
                key: value
                for key, value in request.query_params.items()
                if key != "before"
            }
            params["before"] = str(log.older)
            next_url = request.build_absolute_uri(
                f"{reverse('api-refusals')}?{urlencode(params)}"
            )
        verdicts = marks.verdicts_by_pk(
            RefusedAction, [row.refusal_id for row in log.rows]
        )
        return Response(
            {
                "results": [
                    _refusal_row(row, verdicts.get(row.refusal_id)) for row in log.rows
                ],
                "next": next_url,
            }
        )
