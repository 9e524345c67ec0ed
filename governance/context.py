"""Context variables shared by services: the request id that groups the audit events
of one request, and where the request came from (recorded with refusals)."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    """Where the current HTTP request came from, as refusals record it."""

    ip_address: str | None = None
    method: str = ""
    path: str = ""


request_id: ContextVar[str] = ContextVar("request_id", default="")
NO_ORIGIN = Origin()  # outside a request: a task, a command, a test
# Frozen, so the shared default cannot be mutated.
origin: ContextVar[Origin] = ContextVar("origin", default=NO_ORIGIN)  # noqa: B039
