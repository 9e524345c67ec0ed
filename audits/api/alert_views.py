"""Alerts over the API: one alert and every occurrence of it.

``GET /api/v1/alerts/{id}`` returns the alert (its counter and latest message) and
its occurrences, newest first, each with its own message, details (a report's
breaches) and report. Session or bearer auth; a token needs ``audit:read``; the user
needs ``audits.view_alert`` and a model they may see (else 404).
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audits.ledger.models import Alert, AlertOccurrence
from audits.monitoring import selectors
from governance.choices import TokenScope
from governance.permissions import HasModelPermission

OCCURRENCES_SHOWN = 500


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def occurrence_json(occurrence: AlertOccurrence, request: Request) -> dict[str, Any]:
    report = occurrence.report_id
    return {
        "id": occurrence.pk,
        "occurred_at": occurrence.occurred_at.isoformat(),
        "count": occurrence.count,
        "message": occurrence.message,
        "details": occurrence.details,
        "report": report,
        "report_url": request.build_absolute_uri(
            reverse("api-report", kwargs={"pk": report})
        )
        if report is not None
        else None,
    }


def alert_json(
    alert: Alert, occurrences: list[AlertOccurrence], recorded: int, request: Request
) -> dict[str, Any]:
    version = alert.model_version
    return {
        "id": alert.pk,
        "page_url": request.build_absolute_uri(
            reverse("audits:alert", kwargs={"pk": alert.pk})
        ),
        "kind": alert.kind,
        "severity": alert.severity,
        "model": alert.model.slug,
        "version": version.version if version is not None else None,
        "environment": alert.environment,
        "is_open": alert.is_open,
        "first_seen_at": alert.first_seen_at.isoformat(),
        "last_seen_at": alert.last_seen_at.isoformat(),
        "closed_at": _iso(alert.closed_at),
        "occurrences": alert.occurrences,
        "message": alert.message,
        "details": alert.details,
        "occurrences_recorded": recorded,
        "occurrence_log": [occurrence_json(o, request) for o in occurrences],
    }


class AlertDetailApi(APIView):
    permission_classes = [*APIView.permission_classes, HasModelPermission]
    permission_by_method = {"GET": "audits.view_alert"}
    required_scope = TokenScope.AUDIT_READ

    @extend_schema(
        operation_id="alert_detail",
        summary="An alert and every occurrence of it",
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT),
            401: OpenApiResponse(OpenApiTypes.OBJECT, description="Not authenticated"),
            403: OpenApiResponse(OpenApiTypes.OBJECT, description="Not allowed"),
            404: OpenApiResponse(
                OpenApiTypes.OBJECT, description="Unknown or not visible"
            ),
        },
        tags=["monitoring"],
    )
    def get(self, request: Request, pk: int) -> Response:
        try:
            alert = selectors.alert_get_for_user(user=request.user, pk=pk)
        except Alert.DoesNotExist:
            raise Http404 from None
        occurrences = list(
            alert.occurrence_records.order_by("-occurred_at", "-id")[:OCCURRENCES_SHOWN]
        )
        recorded = alert.occurrence_records.count()
        return Response(alert_json(alert, occurrences, recorded, request))
