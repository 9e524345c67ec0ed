"""API throttles: per token, per signed-in user, per address (ADR 0021).

Rates come from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (set from the
environment), read on every request so that a settings override applies at once
(DRF's own classes read them once, at import). A view may name its own token rate
with ``throttle_scope`` (the ingest endpoints: ``ingest``). A throttled call gets
429 with ``Retry-After`` in the one error shape.

The counts live in the default cache: one process's memory unless
``MODELGOV_CACHE_URL`` points at Redis, which every multi-process deployment needs.
"""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from governance.models import ApiToken


class _RateFromSettings(SimpleRateThrottle):
    scope = ""

    def __init__(self) -> None:
        # The rate is resolved per request (allow_request), not at construction.
        pass

    def scope_for(self, view: Any) -> str:
        return self.scope

    def get_rate(self) -> str | None:
        rates = api_settings.DEFAULT_THROTTLE_RATES or {}
        rate = rates.get(self.scope)
        return str(rate) if rate else None

    def allow_request(self, request: Request, view: Any) -> bool:
        self.scope = self.scope_for(view)
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return bool(super().allow_request(request, view))


class TokenRateThrottle(_RateFromSettings):
    """Per API token: ``token``, or the view's ``throttle_scope`` rate."""

    scope = "token"

    def scope_for(self, view: Any) -> str:
        own = getattr(view, "throttle_scope", None)
        rates = api_settings.DEFAULT_THROTTLE_RATES or {}
        return str(own) if own and own in rates else "token"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not isinstance(request.auth, ApiToken):
            return None
        return f"throttle_{self.scope}_token_{request.auth.pk}"


class SessionUserRateThrottle(_RateFromSettings):
    """Per signed-in user of a browser session (no token)."""

    scope = "user"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if request.auth is not None or not request.user.is_authenticated:
            return None
        return f"throttle_user_{request.user.pk}"


class AddressRateThrottle(_RateFromSettings):
    """Per address, for anonymous calls."""

    scope = "anon"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if request.user.is_authenticated:
            return None
        return f"throttle_anon_{self.get_ident(request)}"
