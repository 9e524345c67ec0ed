"""Every API operation in the URLconf, found by walking it (not from a list)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView

METHODS = ("get", "post", "put", "patch", "delete")
# A value for each path converter: the scope check runs before any lookup.
_SAMPLES = {
    "int": "1",
    "slug": "no-such-slug",
    "str": "no-such-thing",
    "path": "no-such-thing",
    "uuid": str(uuid.UUID(int=1)),
}
_PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


@dataclass(frozen=True)
class Operation:
    method: str  # "GET", "POST", ...
    route: str  # "api/v1/tokens/<int:pk>/revoke"
    view: type[APIView]

    @property
    def path(self) -> str:
        """The route with a sample value for each parameter, as a URL path."""
        return "/" + _PARAMETER.sub(
            lambda m: _SAMPLES[m.group("converter") or "str"], self.route
        )

    def __str__(self) -> str:
        return f"{self.method} /{self.route}"


def _walk(patterns: list[Any], prefix: str = "") -> Any:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern


def api_operations() -> list[Operation]:
    """Each (method, route) served by a DRF view anywhere in the URLconf."""
    found = []
    for route, pattern in _walk(get_resolver().url_patterns):
        view = getattr(pattern.callback, "cls", None)
        if not (isinstance(view, type) and issubclass(view, APIView)):
            continue
        for method in METHODS:
            if hasattr(view, method):
                found.append(Operation(method.upper(), route, view))
    return found
