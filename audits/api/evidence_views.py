"""Evidence packs and the access log over the API.

- ``POST /api/v1/models/{slug}/versions/{version}/evidence-packs`` queues a
  model-version pack, ``POST /api/v1/models/{slug}/evidence-packs`` a period pack:
  202 with the pack's status URL (``Location``). Needs
  ``audits.request_evidencepack`` (auditors, risk officers).
- ``GET /api/v1/evidence-packs/{id}``: the status row; once done, the digests and
  the download URLs. ``GET /api/v1/evidence-packs/{id}/pack.pdf``, ``pack.zip``,
  ``pack.pdf.sig``: the files, each download recorded as an audit event. Needs
  ``audits.view_evidencepack`` and a model the user may see (else 404).
- ``GET /api/v1/access-log``: who viewed what, newest first, a page at a time
  (``next`` continues), with the page's filters as query parameters; needs
  ``audits.view_auditevent`` (auditors, administrators). Reading it is recorded.

Session or bearer auth; a token needs the ``audit:read`` scope.
"""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlencode

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audits import selectors as audit_selectors
from audits import services as audit_services
from audits.evidence import selectors, services
from audits.evidence.models import EvidencePack, PackStatus
from audits.integrity import marks, verify
from audits.integrity.api import IntegrityOutputSerializer
from audits.models import AuditEvent
from governance.choices import TokenScope
from governance.permissions import HasModelPermission
from registry import selectors as registry_selectors

FILES = {"pack.pdf": "pdf", "pack.zip": "zip", "pack.pdf.sig": "sig"}
CONTENT_TYPES = {
    "pdf": "application/pdf",
    "zip": "application/zip",
    "sig": "application/json",
}

_ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="Invalid input"),
    401: OpenApiResponse(OpenApiTypes.OBJECT, description="Not authenticated"),
    403: OpenApiResponse(OpenApiTypes.OBJECT, description="Not allowed"),
    404: OpenApiResponse(OpenApiTypes.OBJECT, description="Unknown or not visible"),
}


class PackRequestInputSerializer(serializers.Serializer[Any]):
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()


def pack_json(pack: EvidencePack, request: Request) -> dict[str, Any]:
    version = pack.model_version
    model = version.model if version is not None else pack.model
    done = pack.status == PackStatus.DONE
    files = (
        {
            name: request.build_absolute_uri(
                reverse("api-evidence-pack-file", kwargs={"pk": pack.pk, "name": name})
            )
            for name in FILES
        }
        if done
        else None
    )
    return {
        "id": pack.pk,
        "url": request.build_absolute_uri(
            reverse("api-evidence-pack", kwargs={"pk": pack.pk})
        ),
        "page_url": request.build_absolute_uri(
            reverse("audits:pack", kwargs={"pk": pack.pk})
        ),
        "kind": pack.kind,
        "model": model.slug if model is not None else None,
        "version": version.version if version is not None else None,
        "period_start": pack.period_start.isoformat(),
        "period_end": pack.period_end.isoformat(),
        "as_of": pack.as_of.isoformat(),
        "status": pack.status,
        "error": pack.error or None,
        "created_at": pack.created_at.isoformat(),
        "started_at": pack.started_at.isoformat() if pack.started_at else None,
        "finished_at": pack.finished_at.isoformat() if pack.finished_at else None,
        "pages": pack.pages if done else None,
        "bytes": pack.bytes if done else None,
        "pdf_sha256": pack.pdf_sha256 or None,
        "zip_sha256": pack.zip_sha256 or None,
        "manifest_sha256": pack.manifest_sha256 or None,
        "files": files,
    }


def _accepted(pack: EvidencePack, request: Request) -> Response:
    body = pack_json(pack, request)
    return Response(
        body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]}
    )


class VersionPackRequestApi(APIView):
    permission_classes = [*APIView.permission_classes, HasModelPermission]
    permission_by_method = {"POST": services.PERM_REQUEST}
    required_scope = TokenScope.AUDIT_READ

    @extend_schema(
        operation_id="evidence_pack_version_request",
        summary="Request the evidence pack of a model version",
        description=(
            "Queues the model-version pack over [period_start, period_end) as of "
            "now. Answers 202 with the pack's URL; poll it until status is done "
            "or failed."
        ),
        request=PackRequestInputSerializer,
        responses={202: OpenApiResponse(OpenApiTypes.OBJECT), **_ERRORS},
        tags=["evidence"],
    )
    def post(self, request: Request, slug: str, version: str) -> Response:
        found = registry_selectors.model_version_get_for_user(
            user=request.user, slug=slug, version=version
        )
        data = PackRequestInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        pack = services.evidence_pack_request(
            actor=request.user,
            version=found,
            period_start=data.validated_data["period_start"],
            period_end=data.validated_data["period_end"],
        )
        return _accepted(pack, request)


class PeriodPackRequestApi(APIView):
    permission_classes = [*APIView.permission_classes, HasModelPermission]
    permission_by_method = {"POST": services.PERM_REQUEST}
    required_scope = TokenScope.AUDIT_READ

    @extend_schema(
        operation_id="evidence_pack_period_request",
        summary="Request the period evidence pack of a model",
        request=PackRequestInputSerializer,
        responses={202: OpenApiResponse(OpenApiTypes.OBJECT), **_ERRORS},
        tags=["evidence"],
    )
    def post(self, request: Request, slug: str) -> Response:
        model = registry_selectors.model_get_for_user(user=request.user, slug=slug)
        data = PackRequestInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        pack = services.evidence_pack_request(
            actor=request.user,
            model=model,
            period_start=data.validated_data["period_start"],
            period_end=data.validated_data["period_end"],
        )
        return _accepted(pack, request)


def _pack_get(request: Request, pk: int) -> EvidencePack:
    try:
        return selectors.evidence_pack_get_for_user(user=request.user, pk=pk)
    except EvidencePack.DoesNotExist:
        raise Http404 from None


class PackDetailApi(APIView):
    permission_classes = [*APIView.permission_classes, HasModelPermission]
    permission_by_method = {"GET": services.PERM_VIEW}
    required_scope = TokenScope.AUDIT_READ

    @extend_schema(
        operation_id="evidence_pack_detail",
        summary="An evidence pack: status, digests and download URLs",
        description=(
            "`integrity` says whether the pack row (its status and digests) "
            "matches its ledger leaf: state verified, altered or not_verified, "
            "seq, label, detail, fields."
        ),
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT), **_ERRORS},
        tags=["evidence"],
    )
    def get(self, request: Request, pk: int) -> Response:
        pack = _pack_get(request, pk)
        return Response(
            {**pack_json(pack, request), "integrity": verify.verdict(pack).as_dict()}
        )


class PackFileApi(APIView):
    permission_classes = [*APIView.permission_classes, HasModelPermission]
    permission_by_method = {"GET": services.PERM_VIEW}
    required_scope = TokenScope.AUDIT_READ

    @extend_schema(
        operation_id="evidence_pack_file",
        summary="Download a built pack's PDF, ZIP or detached signature",
        description="Each download is recorded as audits.evidence_pack.downloaded. "
        "404 while the pack is not built.",
        responses={200: OpenApiResponse(OpenApiTypes.BINARY), **_ERRORS},
        tags=["evidence"],
    )
    def get(self, request: Request, pk: int, name: str) -> FileResponse:
        file_kind = FILES.get(name)
        if file_kind is None:
            raise Http404
        pack = _pack_get(request, pk)
        if pack.status != PackStatus.DONE:
            raise Http404
        if file_kind == "sig":
            handle: Any = io.BytesIO(pack.signature.encode("ascii"))
        else:
            stored = pack.pdf if file_kind == "pdf" else pack.zip
            if not stored.name or not default_storage.exists(stored.name):
                raise Http404
            handle = default_storage.open(stored.name, "rb")
        services.evidence_pack_download_record(
            actor=request.user, pack=pack, file_kind=file_kind
        )
        return FileResponse(
            handle,
            as_attachment=True,
            filename=services.file_name(pack, file_kind).rsplit("/", 1)[-1],
            content_type=CONTENT_TYPES[file_kind],
        )


class AccessLogQuerySerializer(serializers.Serializer[Any]):
    who = serializers.CharField(required=False, max_length=150)
    prediction = serializers.UUIDField(required=False)
    pack = serializers.IntegerField(required=False, min_value=1)
    kind = serializers.ChoiceField(
        required=False, choices=sorted(audit_selectors.AccessKind.FILTERS)
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


class AccessRowOutputSerializer(serializers.Serializer[Any]):
    event_id = serializers.IntegerField()
    occurred_at = serializers.DateTimeField()
    who = serializers.CharField()
    username = serializers.CharField(allow_null=True)
    event_type = serializers.CharField()
    access = serializers.CharField()
    prediction_id = serializers.UUIDField(allow_null=True)
    pack_id = serializers.IntegerField(allow_null=True)
    detail = serializers.CharField(allow_null=True)
    request_id = serializers.CharField(allow_null=True)
    seq = serializers.IntegerField(allow_null=True)
    integrity = IntegrityOutputSerializer(
        help_text="Whether the audit event matches its ledger leaf."
    )


class AccessLogPageSerializer(serializers.Serializer[Any]):
    results = AccessRowOutputSerializer(many=True)
    next = serializers.URLField(allow_null=True)


def _access_row(
    row: audit_selectors.AccessRow, verdict: verify.Verdict | None
) -> dict[str, Any]:
    if verdict is None:
        verdict = verify.Verdict(verify.NOT_VERIFIED, detail="not checked")
    return {
        "event_id": row.event_id,
        "occurred_at": row.occurred_at.isoformat(),
        "who": row.who,
        "username": row.username or None,
        "event_type": row.event_type,
        "access": row.action,
        "prediction_id": row.prediction_id,
        "pack_id": row.pack_id,
        "detail": row.detail or None,
        "request_id": row.request_id or None,
        "seq": row.seq,
        "integrity": verdict.as_dict(),
    }


class AccessLogApi(APIView):
    permission_classes = [*APIView.permission_classes, HasModelPermission]
    permission_by_method = {"GET": audit_selectors.PERM_ACCESS_LOG}
    required_scope = TokenScope.AUDIT_READ

    @extend_schema(
        operation_id="access_log",
        summary="Who viewed what: trail views, pack requests and downloads",
        description=(
            "Newest first; `next` is the URL of the older rows, or null. Each row "
            "is an insert-only audit event and a ledger leaf (`seq`, null while "
            "queued); `integrity` says whether it matches that leaf (only "
            "`verified` vouches for it). Reading the log is itself recorded."
        ),
        parameters=[
            OpenApiParameter("who", str, description="user name or part of a name"),
            OpenApiParameter("prediction", OpenApiTypes.UUID),
            OpenApiParameter("pack", int),
            OpenApiParameter(
                "kind", str, enum=sorted(audit_selectors.AccessKind.FILTERS)
            ),
            OpenApiParameter("start", OpenApiTypes.DATETIME),
            OpenApiParameter("end", OpenApiTypes.DATETIME),
            OpenApiParameter("before", int, description="event id to continue before"),
            OpenApiParameter("limit", int, description="rows per page, 1 to 500"),
        ],
        responses={200: AccessLogPageSerializer, **_ERRORS},
        tags=["evidence"],
    )
    def get(self, request: Request) -> Response:
        query = AccessLogQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        filters: dict[str, Any] = {
            "who": (data.get("who") or "").strip() or None,
            "prediction_id": data.get("prediction"),
            "pack_id": data.get("pack"),
            "kind": data.get("kind"),
            "start": data.get("start"),
            "end": data.get("end"),
        }
        log = audit_selectors.access_log_for_user(
            user=request.user,
            before=data.get("before"),
            limit=data["limit"],
            **filters,
        )
        audit_services.access_log_view_record(
            actor=request.user,
            filters={
                key: value.isoformat() if hasattr(value, "isoformat") else value
                for key, value in {**filters, "before": data.get("before")}.items()
            },
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
                f"{reverse('api-access-log')}?{urlencode(params)}"
            )
        verdicts = marks.verdicts_by_pk(AuditEvent, [row.event_id for row in log.rows])
        return Response(
            {
                "results": [
                    _access_row(row, verdicts.get(row.event_id)) for row in log.rows
                ],
                "next": next_url,
            }
        )
