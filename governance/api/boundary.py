"""The input boundary in front of the API: DRF's default parser and renderer, and the
middleware that makes every write to a DRF view pass :mod:`governance.inputs`.

ADR 0019. The errors are the API's one error shape (governance/api/errors.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer as DrfJSONRenderer

from governance import inputs
from governance.inputs import InvalidInput, safe_text

_MISSING = object()
_PARSED = "_modelgov_json_body"
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})


class JSONParser(BaseParser):
    """DRF's default parser: the body through :func:`governance.inputs.loads`."""

    media_type = "application/json"

    def parse(
        self, stream: Any, media_type: Any = None, parser_context: Any = None
    ) -> Any:
        request = (parser_context or {}).get("request")
        django_request = getattr(request, "_request", None)
        parsed = getattr(django_request, _PARSED, _MISSING)
        if parsed is not _MISSING:
            return parsed
        return inputs.loads(
            stream.read(inputs.MAX_BODY_BYTES + 1) if stream is not None else b""
        )


class JSONRenderer(DrfJSONRenderer):
    """DRF's JSON renderer, which never fails on stored data written before the
    boundary: a value that does not serialise is rendered through :func:`governance.inputs.sanitize`."""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Any = None,
    ) -> bytes:
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except (ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
            return super().render(
                inputs.sanitize(data), accepted_media_type, renderer_context
            )


def _is_api_view(view_func: Callable[..., Any]) -> bool:
    # Imported here: DRF's views module loads this module's renderer and parser
    # (the DEFAULT_* settings) while it is itself being imported.
    from rest_framework.views import APIView

    view_class = getattr(view_func, "cls", None)
    return isinstance(view_class, type) and issubclass(view_class, APIView)


def _uses_boundary(view_func: Callable[..., Any]) -> bool:
    if not _is_api_view(view_func):
        return False
    view_class = view_func.cls  # type: ignore[attr-defined]
    return any(
        isinstance(parser, type) and issubclass(parser, JSONParser)
        for parser in view_class.parser_classes
    )


_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def _field_with_nul(request: HttpRequest, *, api_view: bool) -> str | None:
    """The first query parameter (or form field of a write to a page) whose name or
    value holds a NUL: PostgreSQL refuses NUL in text, so a filter on it would fail.
    An API view's body is not read as a form here: it reads the raw body (a form
    body to a JSON view gets its 415)."""
    sources = [request.GET]
    if (
        not api_view
        and request.method in _WRITE_METHODS
        and request.content_type in _FORM_TYPES
    ):
        try:
            sources.append(request.POST)
        except RequestDataTooBig:  # Django answers it when the view reads the form
            pass
    for data in sources:
        for name, values in data.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                return safe_text(name)[:100]
    return None


def _nul_refused(
    request: HttpRequest, view_func: Callable[..., Any], field: str
) -> HttpResponse:
    message = inputs.NUL_MESSAGE
    if getattr(view_func, "cls", None) is not None or request.path.startswith("/api/"):
        error = InvalidInput({field: [message]})
        return JsonResponse(error.as_dict(), status=400)
    return HttpResponse(
        f"Bad request: the field {field!r}: {message}".encode(),
        status=400,
        content_type="text/plain; charset=utf-8",
    )


class JSONBodyMiddleware:
    """Every write to a DRF view that uses :class:`JSONParser` passes the boundary
    before the view runs, whether or not the view reads its body: a view that
    ignores the body must not act on a request whose body was refused. And no
    view, page or API, gets a query parameter or form field holding a NUL (400
    naming it)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: Any,
        view_kwargs: Any,
    ) -> HttpResponse | None:
        field = _field_with_nul(request, api_view=_is_api_view(view_func))
        if field is not None:
            return _nul_refused(request, view_func, field)
        if request.method not in _WRITE_METHODS or not _uses_boundary(view_func):
            return None
        length = request.META.get("CONTENT_LENGTH") or ""
        too_large = InvalidInput(
            {"body": [f"The body exceeds {inputs.MAX_BODY_BYTES} bytes."]},
            status=413,
            code="too_large",
            detail=f"The body exceeds {inputs.MAX_BODY_BYTES} bytes.",
        )
        if length.isdigit() and int(length) > inputs.MAX_BODY_BYTES:
            return JsonResponse(too_large.as_dict(), status=too_large.status)
        try:
            body = request.body
        except RequestDataTooBig:  # no Content-Length, over Django's own limit
            return JsonResponse(too_large.as_dict(), status=too_large.status)
        if not body:
            return None
        media_type = (request.content_type or "").lower()
        if media_type != "application/json":
            shown = safe_text(request.META.get("CONTENT_TYPE", ""))[:100]
            detail = f'Unsupported media type "{shown}": send application/json.'
            error = InvalidInput(
                {"body": [detail]},
                status=415,
                code="unsupported_media_type",
                detail=detail,
            )
            return JsonResponse(error.as_dict(), status=error.status)
        try:
            setattr(request, _PARSED, inputs.loads(body))
        except InvalidInput as exc:
            return JsonResponse(exc.as_dict(), status=exc.status)
        return None


_ERROR_SCHEMA = {
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
_BOUNDARY_RESPONSES = {
    "400": "Invalid input: errors names each field the input limits refuse",
    "413": "The body exceeds 1 MiB",
    "415": "The body is not application/json",
}


def declare_boundary_responses(result: Any, generator: Any, **kwargs: Any) -> Any:
    """drf-spectacular postprocessing hook: every write operation declares the
    answers of the input boundary (400, 413, 415), unless it declares its own."""
    for item in result.get("paths", {}).values():
        for method in ("post", "put", "patch"):
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in _BOUNDARY_RESPONSES.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": _ERROR_SCHEMA}},
                    },
                )
    return result
