"""Request-scoped context: a request id that groups the audit events of one request."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from governance import context


class RequestIdMiddleware:
    """Give every request an id (or take a well-formed ``X-Request-ID``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.headers.get("X-Request-ID", "")
        try:
            request_id = str(uuid.UUID(supplied))
        except ValueError:
            request_id = str(uuid.uuid4())
        token = context.request_id.set(request_id)
        origin_token = context.origin.set(
            context.Origin(
                ip_address=request.META.get("REMOTE_ADDR") or None,
                method=request.method or "",
                path=request.path[:300],
            )
        )
        try:
            response = self.get_response(request)
        finally:
            context.origin.reset(origin_token)
            context.request_id.reset(token)
        response["X-Request-ID"] = request_id
        return response
