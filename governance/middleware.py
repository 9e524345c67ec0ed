"""Request-scoped context: a request id that groups the audit events of one request;
and a busy database answered as 503 rather than 500."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

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


logger = logging.getLogger(__name__)

# Seconds a client is asked to wait before trying again.
BUSY_RETRY_AFTER = 5
# SQLite's messages when the database-wide lock was not obtained within the timeout.
_SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")
# PostgreSQL: lock_not_available, deadlock_detected, serialization_failure.
_PG_BUSY = {"55P03", "40P01", "40001"}


def database_busy(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not take a lock in time (worth a
    retry), as opposed to any other database error (a real 500)."""
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) in _PG_BUSY:
        return True
    return str(exc).strip().lower().startswith(_SQLITE_BUSY)


class DatabaseBusyMiddleware:
    """A write that waited for the database lock longer than its timeout is a 503
    with ``Retry-After``, never a 500 (ADR 0020). The transaction was rolled back,
    so nothing was written; the client may send the same request again."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(
        self, request: HttpRequest, exception: Exception
    ) -> HttpResponse | None:
        if not database_busy(exception):
            return None
        logger.warning(
            "database busy: %s %s answered 503 (%s)",
            request.method,
            request.path,
            exception,
        )
        message = "The database is busy; nothing was changed. Try again shortly."
        response: HttpResponse
        if request.path.startswith("/api/"):
            response = JsonResponse(
                {"detail": message, "code": "database_busy", "errors": {}},
                status=503,
            )
        else:
            # No base template: it would query the database for the navigation.
            response = HttpResponse(
                render_to_string("busy.html", {"message": message}), status=503
            )
        response["Retry-After"] = str(BUSY_RETRY_AFTER)
        return response
