"""Registry API views: parse input, call a selector or a service, serialize output."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.permissions import HasModelPermission
from registry import selectors, services
from registry.api import serializers as s
from registry.models import DocumentTemplate, ModelCard

_REGISTRY_SCOPES = {"SAFE": "registry:read", "WRITE": "registry:write"}
AS_OF = OpenApiParameter(
    "as_of",
    OpenApiTypes.STR,
    description="ISO date (end of that day, UTC) or date-time: show the object as it was then.",
)


class RegistryApi(APIView):
    permission_classes = [*APIView.permission_classes, HasModelPermission]
    required_scopes = _REGISTRY_SCOPES

    def paginate(self, request: Request, queryset: Any, serializer: Any) -> Response:
        paginator = LimitOffsetPagination()
        page: Any = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(serializer(page, many=True).data)

    def as_of(self, request: Request) -> Any:
        raw = request.query_params.get("as_of")
        if not raw:
            return None
        try:
            return selectors.parse_as_of(raw)
        except ValueError as exc:
            raise ValidationError({"as_of": [str(exc)]}) from exc


def _parse(serializer_class: Any, request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class ModelListCreateApi(RegistryApi):
    permission_by_method = {"GET": "registry.view_model", "POST": "registry.add_model"}

    @extend_schema(
        parameters=[
            OpenApiParameter(name, OpenApiTypes.STR)
            for name in ("q", "risk_tier", "status", "business_unit", "regulation")
        ],
        responses=s.ModelOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        filters = {
            k: request.query_params.get(k)
            for k in ("q", "risk_tier", "status", "business_unit", "regulation")
        }
        if filters["risk_tier"] and filters["risk_tier"] not in {"1", "2", "3"}:
            raise ValidationError({"risk_tier": ["Must be 1, 2 or 3."]})
        qs = selectors.model_list_for_user(user=request.user, filters=filters)
        qs = qs.prefetch_related(Prefetch("developers"))
        return self.paginate(request, qs, s.ModelOutputSerializer)

    @extend_schema(
        request=s.ModelInputSerializer, responses={201: s.ModelOutputSerializer}
    )
    def post(self, request: Request) -> Response:
        data = _parse(s.ModelInputSerializer, request)
        model = services.model_create(actor=request.user, data=data)
        return Response(
            s.ModelOutputSerializer(model).data, status=status.HTTP_201_CREATED
        )


class ModelDetailApi(RegistryApi):
    permission_by_method = {
        "GET": "registry.view_model",
        "PATCH": "registry.change_model",
    }

    @extend_schema(responses=s.ModelOutputSerializer)
    def get(self, request: Request, slug: str) -> Response:
        model = selectors.model_get_for_user(user=request.user, slug=slug)
        return Response(s.ModelOutputSerializer(model).data)

    @extend_schema(
        request=s.ModelUpdateInputSerializer, responses=s.ModelOutputSerializer
    )
    def patch(self, request: Request, slug: str) -> Response:
        model = selectors.model_get_for_user(user=request.user, slug=slug)
        data = _parse(s.ModelUpdateInputSerializer, request)
        model = services.model_update(actor=request.user, model=model, data=data)
        return Response(s.ModelOutputSerializer(model).data)


class VersionListCreateApi(RegistryApi):
    permission_by_method = {
        "GET": "registry.view_modelversion",
        "POST": "registry.add_modelversion",
    }

    @extend_schema(responses=s.VersionOutputSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        model = selectors.model_get_for_user(user=request.user, slug=slug)
        qs = selectors.model_version_list_for_user(user=request.user, model=model)
        return self.paginate(request, qs, s.VersionOutputSerializer)

    @extend_schema(
        request=s.VersionInputSerializer, responses={201: s.VersionOutputSerializer}
    )
    def post(self, request: Request, slug: str) -> Response:
        model = selectors.model_get_for_user(user=request.user, slug=slug)
        data = _parse(s.VersionInputSerializer, request)
        version = services.model_version_register(
            actor=request.user, model=model, data=data
        )
        return Response(
            s.VersionOutputSerializer(version).data, status=status.HTTP_201_CREATED
        )


class VersionDetailApi(RegistryApi):
    permission_by_method = {
        "GET": "registry.view_modelversion",
        "PATCH": "registry.change_modelversion",
        "PUT": "registry.change_modelversion",
    }

    @extend_schema(responses=s.VersionOutputSerializer)
    def get(self, request: Request, slug: str, version: str) -> Response:
        mv = selectors.model_version_get_for_user(
            user=request.user, slug=slug, version=version
        )
        return Response(s.VersionOutputSerializer(mv).data)

    @extend_schema(
        request=s.VersionUpdateInputSerializer, responses=s.VersionOutputSerializer
    )
    def patch(self, request: Request, slug: str, version: str) -> Response:
        mv = selectors.model_version_get_for_user(
            user=request.user, slug=slug, version=version
        )
        data = _parse(s.VersionUpdateInputSerializer, request)
        mv = services.model_version_update(actor=request.user, version=mv, data=data)
        return Response(s.VersionOutputSerializer(mv).data)

    @extend_schema(
        request=s.VersionInputSerializer, responses=s.VersionOutputSerializer
    )
    def put(self, request: Request, slug: str, version: str) -> Response:
        mv = selectors.model_version_get_for_user(
            user=request.user, slug=slug, version=version
        )
        data = _parse(s.VersionInputSerializer, request)
        mv = services.model_version_update(actor=request.user, version=mv, data=data)
        return Response(s.VersionOutputSerializer(mv).data)


class VersionSubmitApi(RegistryApi):
    permission_by_method = {"POST": "registry.submit_modelversion"}

    @extend_schema(request=None, responses=s.VersionOutputSerializer)
    def post(self, request: Request, slug: str, version: str) -> Response:
        mv = selectors.model_version_get_for_user(
            user=request.user, slug=slug, version=version
        )
        mv = services.model_version_submit(actor=request.user, version=mv)
        return Response(s.VersionOutputSerializer(mv).data)


def _historical_or_404(obj: Any, at: Any) -> Any:
    record = selectors.historical_as_of(obj, at)
    if record is None:
        raise Http404("It did not exist at that time.")
    return record


class _CardMixin:
    def _card(self, request: Request, slug: str, version: str) -> ModelCard:
        return selectors.model_card_get_for_user(
            user=request.user, slug=slug, version=version
        )


class CardApi(_CardMixin, RegistryApi):
    permission_by_method = {
        "GET": "registry.view_modelcard",
        "PUT": "registry.change_modelcard",
    }

    @extend_schema(parameters=[AS_OF], responses=s.CardOutputSerializer)
    def get(self, request: Request, slug: str, version: str) -> Response:
        card = self._card(request, slug, version)
        at = self.as_of(request)
        shown = _historical_or_404(card, at) if at else card
        ctx = {"card": card, "as_of": at}
        return Response(s.CardOutputSerializer(shown, context=ctx).data)

    @extend_schema(request=s.ContentInputSerializer, responses=s.CardOutputSerializer)
    def put(self, request: Request, slug: str, version: str) -> Response:
        card = self._card(request, slug, version)
        data = _parse(s.ContentInputSerializer, request)
        card = services.model_card_replace(
            actor=request.user, card=card, content=data["content"]
        )
        return Response(s.CardOutputSerializer(card, context={"card": card}).data)


class CardSectionApi(_CardMixin, RegistryApi):
    permission_by_method = {"PUT": "registry.change_modelcard"}

    @extend_schema(
        request=s.SectionValuesInputSerializer, responses=s.CardOutputSerializer
    )
    def put(self, request: Request, slug: str, version: str, section: str) -> Response:
        card = self._card(request, slug, version)
        data = _parse(s.SectionValuesInputSerializer, request)
        card = services.model_card_section_update(
            actor=request.user, card=card, section_key=section, values=data["values"]
        )
        return Response(s.CardOutputSerializer(card, context={"card": card}).data)


class CardHistoryApi(_CardMixin, RegistryApi):
    permission_by_method = {"GET": "registry.view_modelcard"}

    @extend_schema(responses=s.HistoryRecordOutputSerializer(many=True))
    def get(self, request: Request, slug: str, version: str) -> Response:
        card = self._card(request, slug, version)
        records = selectors.history_for(card)
        return Response(s.HistoryRecordOutputSerializer(records, many=True).data)


class DocumentListCreateApi(RegistryApi):
    permission_by_method = {
        "GET": "registry.view_document",
        "POST": "registry.add_document",
    }

    @extend_schema(responses=s.DocumentOutputSerializer(many=True))
    def get(self, request: Request, slug: str, version: str) -> Response:
        docs = selectors.document_list_for_user(
            user=request.user, slug=slug, version=version
        )
        return Response(s.DocumentOutputSerializer(docs, many=True).data)

    @extend_schema(
        request=s.DocumentCreateInputSerializer,
        responses={201: s.DocumentOutputSerializer},
    )
    def post(self, request: Request, slug: str, version: str) -> Response:
        mv = selectors.model_version_get_for_user(
            user=request.user, slug=slug, version=version
        )
        data = _parse(s.DocumentCreateInputSerializer, request)
        templates = selectors.template_list().filter(key=data["template"])
        if "template_version" in data:
            templates = templates.filter(version=data["template_version"])
        template = templates.first()
        if template is None:
            raise ValidationError(
                {"template": ["No active template with this key and version."]}
            )
        document = services.document_create(
            actor=request.user,
            version=mv,
            template=template,
            title=data.get("title", ""),
            content=data.get("content"),
        )
        return Response(
            s.DocumentOutputSerializer(document).data, status=status.HTTP_201_CREATED
        )


class DocumentDetailApi(RegistryApi):
    permission_by_method = {"GET": "registry.view_document"}

    @extend_schema(parameters=[AS_OF], responses=s.DocumentOutputSerializer)
    def get(self, request: Request, slug: str, version: str, pk: int) -> Response:
        document = selectors.document_get_for_user(
            user=request.user, slug=slug, version=version, pk=pk
        )
        at = self.as_of(request)
        shown = _historical_or_404(document, at) if at else document
        ctx = {"document": document, "as_of": at}
        return Response(s.DocumentOutputSerializer(shown, context=ctx).data)


class DocumentSectionApi(RegistryApi):
    permission_by_method = {"PUT": "registry.change_document"}

    @extend_schema(
        request=s.SectionValuesInputSerializer, responses=s.DocumentOutputSerializer
    )
    def put(
        self, request: Request, slug: str, version: str, pk: int, section: str
    ) -> Response:
        document = selectors.document_get_for_user(
            user=request.user, slug=slug, version=version, pk=pk
        )
        data = _parse(s.SectionValuesInputSerializer, request)
        document = services.document_section_update(
            actor=request.user,
            document=document,
            section_key=section,
            values=data["values"],
        )
        return Response(s.DocumentOutputSerializer(document).data)


class DocumentHistoryApi(RegistryApi):
    permission_by_method = {"GET": "registry.view_document"}

    @extend_schema(responses=s.HistoryRecordOutputSerializer(many=True))
    def get(self, request: Request, slug: str, version: str, pk: int) -> Response:
        document = selectors.document_get_for_user(
            user=request.user, slug=slug, version=version, pk=pk
        )
        records = selectors.history_for(document)
        return Response(s.HistoryRecordOutputSerializer(records, many=True).data)


class TemplateListCreateApi(RegistryApi):
    permission_by_method = {
        "GET": "registry.view_documenttemplate",
        "POST": "registry.add_documenttemplate",
    }

    @extend_schema(responses=s.TemplateOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        return self.paginate(
            request, selectors.template_list(), s.TemplateOutputSerializer
        )

    @extend_schema(
        request=s.TemplateInputSerializer, responses={201: s.TemplateOutputSerializer}
    )
    def post(self, request: Request) -> Response:
        data = _parse(s.TemplateInputSerializer, request)
        template = services.template_create(
            actor=request.user, definition=data["definition"]
        )
        return Response(
            s.TemplateOutputSerializer(template).data, status=status.HTTP_201_CREATED
        )


class TemplateDetailApi(RegistryApi):
    permission_by_method = {"GET": "registry.view_documenttemplate"}

    @extend_schema(responses=s.TemplateOutputSerializer)
    def get(self, request: Request, key: str, version: int) -> Response:
        template = DocumentTemplate.objects.filter(key=key, version=version).first()
        if template is None:
            raise Http404("No such template.")
        return Response(s.TemplateOutputSerializer(template).data)
