"""Prediction and outcome ingest API.

No per-row serializer here: the body is read as bytes and handed to
:mod:`audits.ledger.ingest`, which validates the whole batch and COPYs it.
Only a key bound to a deployment (scope ``predictions:write``) may call these.
"""

from __future__ import annotations

from typing import Any

import orjson
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import permissions
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audits.ledger import ingest, records
from governance.authentication import BearerTokenAuthentication
from governance.choices import TokenScope
from governance.models import ApiToken
from governance.permissions import TokenScopePermission


class RawBodyParser(BaseParser):
    """Declares the accepted media types; the view reads the raw body itself."""

    media_type = "*/*"

    def parse(
        self, stream: Any, media_type: Any = None, parser_context: Any = None
    ) -> Any:
        return None


class IsBoundIngestKey(permissions.BasePermission):
    message = (
        "This operation needs an ingest key: a token with the predictions:write "
        "scope bound to a deployment (model and environment)."
    )

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        return (
            isinstance(token, ApiToken)
            and TokenScope.PREDICTIONS_WRITE.value in token.scopes
            and token.deployment_model_id is not None
        )


def _error(
    status: int, code: str, detail: str, errors: Any = None, **headers: str
) -> Response:
    response = Response(
        {"detail": detail, "code": code, "errors": errors or {}}, status=status
    )
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


_ERROR = {
    "type": "object",
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["detail", "code", "errors"],
}
_PREDICTION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["prediction_id", "model", "version", "predicted_at", "score"],
    "properties": {
        "prediction_id": {"type": "string", "format": "uuid"},
        "model": {"type": "string"},
        "version": {"type": "string"},
        "predicted_at": {"type": "string", "format": "date-time"},
        "features": {"type": "object"},
        "input_commitment": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "score": {"type": "number"},
        "decision": {"type": ["string", "null"], "maxLength": 100},
        "protected_attributes": {"type": ["object", "null"]},
        "trace_id": {"type": ["string", "null"], "maxLength": 200},
    },
}
_OUTCOME = {
    "type": "object",
    "additionalProperties": False,
    "required": ["prediction_id", "outcome", "observed_at"],
    "properties": {
        "prediction_id": {"type": "string", "format": "uuid"},
        "outcome": {"type": ["string", "number", "boolean"]},
        "observed_at": {"type": "string", "format": "date-time"},
        "trace_id": {"type": ["string", "null"], "maxLength": 200},
    },
}
_RECEIPTS = {
    "type": "object",
    "properties": {
        "accepted": {"type": "integer"},
        "duplicates": {"type": "integer"},
        "records": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["accepted", "duplicates", "records"],
}


class _IngestApi(APIView):
    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [
        permissions.IsAuthenticated,
        TokenScopePermission,
        IsBoundIngestKey,
    ]
    required_scope = TokenScope.PREDICTIONS_WRITE
    scope_message = IsBoundIngestKey.message
    parser_classes = [RawBodyParser]
    # Ingest keys send many batches a second: their own rate (ADR 0021).
    throttle_scope = "ingest"
    ingest_function: Any = None

    def post(self, request: Request) -> HttpResponse:
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > records.MAX_BYTES:
            detail = f"The body exceeds {records.MAX_BYTES} bytes."
            return _error(413, "batch_too_large", detail, {"body": [detail]})
        body = request._request.body  # noqa: SLF001  the raw bytes, parsed in bulk
        assert isinstance(request.auth, ApiToken)
        try:
            result = type(self).ingest_function(
                token=request.auth,
                body=body,
                content_type=request.content_type or "",
            )
        except records.BatchError as exc:
            return _error(exc.status, exc.code, exc.detail, exc.errors)
        except ingest.Overloaded as exc:
            return _error(
                503,
                "overloaded",
                "The ledger is behind; retry after the indicated delay. "
                "Nothing of this batch was written.",
                Retry_After=str(exc.retry_after),
            )
        except ingest.UnknownPredictions as exc:
            return _error(
                404,
                "unknown_prediction",
                "Unknown prediction id(s); nothing was written.",
                exc.errors,
            )
        except ingest.ConflictingOutcomes as exc:
            return _error(
                409,
                "conflicting_outcome",
                "An outcome was already recorded with another value; nothing was written.",
                exc.errors,
            )
        except (OperationalError, InterfaceError) as exc:
            # The database is unreachable or restarting: never a 500, always retryable.
            return _error(
                503,
                "database_unavailable",
                f"The ledger database is unavailable ({type(exc).__name__}); retry.",
                Retry_After="1",
            )
        except DatabaseError as exc:
            if "deadlock" in str(exc) or "serialize" in str(exc):
                return _error(
                    503, "retry", "A concurrent write collided; retry.", Retry_After="1"
                )
            raise
        # Rendered by orjson: DRF's renderer (the stdlib json) cost more than the
        # COPY for a thousand receipts.
        return HttpResponse(
            orjson.dumps(result.body),
            status=result.status,
            content_type="application/json",
        )


_COMMON = {
    400: OpenApiResponse(_ERROR, description="Malformed JSON or empty batch"),
    401: OpenApiResponse(
        _ERROR, description="Missing, unknown, expired or revoked key"
    ),
    403: OpenApiResponse(_ERROR, description="Not an ingest key bound to a deployment"),
    413: OpenApiResponse(_ERROR, description="More than 1,000 records or 1 MB"),
    415: OpenApiResponse(_ERROR, description="Neither application/json nor NDJSON"),
    422: OpenApiResponse(
        _ERROR, description="Invalid records: every bad record and field"
    ),
    503: OpenApiResponse(
        _ERROR, description="Overloaded or database unavailable; Retry-After"
    ),
}


class PredictionIngestApi(_IngestApi):
    ingest_function = staticmethod(ingest.predictions_ingest)

    @extend_schema(
        operation_id="predictions_ingest",
        summary="Record a batch of predictions in the ledger",
        request={
            "application/json": {
                "type": "array",
                "items": _PREDICTION,
                "minItems": 1,
                "maxItems": 1000,
            },
            "application/x-ndjson": OpenApiTypes.STR,
        },
        responses={
            200: OpenApiResponse(_RECEIPTS, description="Durably recorded"),
            **_COMMON,
        },
        examples=[
            OpenApiExample(
                "one prediction",
                value=[
                    {
                        "prediction_id": "0193a0e2-7c1a-7cc3-9f7e-1d2c3b4a5f60",
                        "model": "credit-scorecard",
                        "version": "1.0.0",
                        "predicted_at": "2026-11-22T10:00:00Z",
                        "features": {"duration": 24, "amount": 3000},
                        "score": 0.71,
                        "decision": "approve",
                        "protected_attributes": {"sex": "female", "age_group": "25+"},
                        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
                    }
                ],
                request_only=True,
            )
        ],
        tags=["ledger"],
    )
    def post(self, request: Request) -> HttpResponse:
        return super().post(request)


class OutcomeIngestApi(_IngestApi):
    ingest_function = staticmethod(ingest.outcomes_ingest)

    @extend_schema(
        operation_id="outcomes_ingest",
        summary="Append observed outcomes to recorded predictions",
        request={
            "application/json": {
                "type": "array",
                "items": _OUTCOME,
                "minItems": 1,
                "maxItems": 1000,
            },
            "application/x-ndjson": OpenApiTypes.STR,
        },
        responses={
            200: OpenApiResponse(_RECEIPTS, description="Durably recorded"),
            404: OpenApiResponse(
                _ERROR, description="Unknown prediction for this deployment"
            ),
            409: OpenApiResponse(
                _ERROR, description="A different outcome is already recorded"
            ),
            **_COMMON,
        },
        tags=["ledger"],
    )
    def post(self, request: Request) -> HttpResponse:
        return super().post(request)
