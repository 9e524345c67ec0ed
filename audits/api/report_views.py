"""Monitoring reports over the API: run one on demand, read its status and metrics.

``POST /api/v1/models/{slug}/versions/{version}/reports`` queues a report (202 with
its URL); ``GET /api/v1/reports/{id}`` returns the status row and, once done, the
metrics. Session or bearer auth; a token needs ``audit:read``. Running a report
needs ``audits.change_monitoring`` (risk officers); reading one needs
``audits.view_monitoringreport`` and a version the user may see (else 404).
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audits.monitoring import selectors, services
from audits.monitoring.models import MonitoringReport, ReportKind
from governance.choices import TokenScope
from governance.permissions import HasModelPermission
from registry import selectors as registry_selectors


class ReportRunInputSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=ReportKind.values)
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()
    environment = serializers.CharField(max_length=50, default="production")


def report_json(report: MonitoringReport, request: Request) -> dict[str, Any]:
    version = report.model_version
    return {
        "id": report.pk,
        "url": request.build_absolute_uri(
            reverse("api-report", kwargs={"pk": report.pk})
        ),
        "page_url": request.build_absolute_uri(
            reverse("audits:report", kwargs={"pk": report.pk})
        ),
        "model": version.model.slug,
        "version": version.version,
        "environment": report.environment,
        "kind": report.kind,
        "window_start": report.window_start.isoformat(),
        "window_end": report.window_end.isoformat(),
        "trigger": report.trigger,
        "status": report.status,
        "error": report.error or None,
        "created_at": report.created_at.isoformat(),
        "started_at": report.started_at.isoformat() if report.started_at else None,
        "finished_at": report.finished_at.isoformat() if report.finished_at else None,
        "predictions": report.predictions,
        "as_of_seq": report.as_of_seq,
        "config": report.config,
        "metrics": report.metrics if report.status == "done" else None,
        "breaches": report.breaches if report.status == "done" else None,
        # Predictions of the window left out for failing an integrity check; None
        # while not done, or for a report computed before inputs were checked.
        "failed_integrity_check": (
            (report.metrics.get("integrity") or {}).get("failed")
            if report.status == "done" and isinstance(report.metrics, dict)
            else None
        ),
    }


_ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="Invalid input"),
    401: OpenApiResponse(OpenApiTypes.OBJECT, description="Not authenticated"),
    403: OpenApiResponse(OpenApiTypes.OBJECT, description="Not allowed"),
    404: OpenApiResponse(OpenApiTypes.OBJECT, description="Unknown or not visible"),
}


class ReportRunApi(APIView):
    permission_classes = [*APIView.permission_classes, HasModelPermission]
    permission_by_method = {"POST": "audits.change_monitoring"}
    required_scope = TokenScope.AUDIT_READ

    @extend_schema(
        operation_id="report_run",
        summary="Run a monitoring report on demand",
        description=(
            "Queues a fairness, drift or performance report of the version over "
            "[window_start, window_end), whole UTC hours. Answers 202 with the "
            "report's URL; poll it until status is done or failed."
        ),
        request=ReportRunInputSerializer,
        responses={202: OpenApiResponse(OpenApiTypes.OBJECT), **_ERRORS},
        tags=["monitoring"],
    )
    def post(self, request: Request, slug: str, version: str) -> Response:
        found = registry_selectors.model_version_get_for_user(
            user=request.user, slug=slug, version=version
        )
        data = ReportRunInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = services.report_request(
            actor=request.user,
            version=found,
            environment=data.validated_data["environment"],
            kind=data.validated_data["kind"],
            window_start=data.validated_data["window_start"],
            window_end=data.validated_data["window_end"],
            trigger="api",
        )
        body = report_json(report, request)
        return Response(
            body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]}
        )


class ReportDetailApi(APIView):
    permission_classes = [*APIView.permission_classes, HasModelPermission]
    permission_by_method = {"GET": "audits.view_monitoringreport"}
    # Whoever may see the model reads its monitoring (developers and validators
    # too): a registry read, not an audit one.
    required_scope = TokenScope.REGISTRY_READ

    @extend_schema(
        operation_id="report_detail",
        summary="A monitoring report: status and metrics",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT), **_ERRORS},
        tags=["monitoring"],
    )
    def get(self, request: Request, pk: int) -> Response:
        try:
            report = selectors.report_get_for_user(user=request.user, pk=pk)
        except MonitoringReport.DoesNotExist:
            raise Http404 from None
        return Response(report_json(report, request))
