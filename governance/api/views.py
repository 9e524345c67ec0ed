"""API of the governance app: who am I, and my tokens."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance import selectors, services
from governance.api.serializers import TokenCreateInputSerializer, TokenOutputSerializer
from governance.choices import TokenScope
from governance.models import ApiToken
from governance.permissions import ANY_TOKEN, SESSION_ONLY


class MeApi(APIView):
    required_scope = ANY_TOKEN

    @extend_schema(
        responses=inline_serializer(
            "Me",
            {
                "username": serializers.CharField(),
                "name": serializers.CharField(),
                "roles": serializers.ListField(child=serializers.CharField()),
                "token_scopes": serializers.ListField(child=serializers.CharField()),
            },
        )
    )
    def get(self, request: Request) -> Response:
        user: Any = request.user
        token = request.auth if isinstance(request.auth, ApiToken) else None
        return Response(
            {
                "username": user.get_username(),
                "name": user.get_full_name(),
                "roles": sorted(services.user_roles(request.user)),
                "token_scopes": token.scopes if token else [],
            }
        )


class TokenListCreateApi(APIView):
    """The caller's own tokens. Creating one returns the secret once."""

    # Listing needs a session or tokens:manage. A token must not mint tokens: a
    # leaked token could otherwise outlive its own revocation.
    required_scopes = {"GET": TokenScope.TOKENS_MANAGE, "POST": SESSION_ONLY}
    session_only_message = "Tokens are issued from a signed-in session, not by a token."

    @extend_schema(responses=TokenOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        tokens = selectors.api_token_list_for_user(user=request.user)
        return Response(TokenOutputSerializer(tokens, many=True).data)

    @extend_schema(
        request=TokenCreateInputSerializer, responses={201: TokenOutputSerializer}
    )
    def post(self, request: Request) -> Response:
        data = TokenCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        issued = services.api_token_create(
            actor=request.user,
            user=request.user,
            name=data.validated_data["name"],
            scopes=data.validated_data.get("scopes"),
            expires_at=data.validated_data.get("expires_at"),
        )
        body = dict(TokenOutputSerializer(issued.token).data)
        body["token"] = issued.raw
        return Response(body, status=status.HTTP_201_CREATED)


class TokenRevokeApi(APIView):
    required_scope = TokenScope.TOKENS_MANAGE

    @extend_schema(request=None, responses=TokenOutputSerializer)
    def post(self, request: Request, pk: int) -> Response:
        token = selectors.api_token_get_for_user(user=request.user, pk=pk)
        token = services.api_token_revoke(actor=request.user, token=token)
        return Response(TokenOutputSerializer(token).data)


class SchemaApi(SpectacularAPIView):
    """The OpenAPI schema, for every signed-in client and every token."""

    permission_classes = [*APIView.permission_classes]
    required_scope = ANY_TOKEN


class SchemaDocsPage(SpectacularSwaggerSplitView):
    """Swagger UI, its start-up script served as a file (CSP; ADR 0023)."""

    template_name = "governance/swagger_ui.html"
    permission_classes = [*APIView.permission_classes]
    required_scope = ANY_TOKEN
