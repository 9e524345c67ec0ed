"""Context variables shared by services (request id for grouping audit events)."""

from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("request_id", default="")
