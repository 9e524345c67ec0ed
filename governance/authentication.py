"""Bearer-token authentication for the API."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from governance.models import ApiToken

TOKEN_PREFIX = "mg_"
# Recording every use would turn each read into a write; a minute is precise enough.
_LAST_USED_GRANULARITY = timedelta(minutes=1)


def token_hash(raw: str) -> str:
    """Return the stored form of a raw token."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer mg_…``; a revoked or expired token fails at once.

    The token row is read on every request (no cache), so revocation takes effect
    on the next request.
    """

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if not parts:
            raise exceptions.AuthenticationFailed("Empty Authorization header.")
        if parts[0].lower() != self.keyword.lower():
            return None
        if len(parts) != 2 or not parts[1].startswith(TOKEN_PREFIX):
            raise exceptions.AuthenticationFailed("Malformed bearer token.")
        token = (
            ApiToken.objects.select_related("user")
            .filter(key_sha256=token_hash(parts[1]))
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed("Unknown token.")
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("Token has been revoked.")
        now = timezone.now()
        if token.expires_at is not None and token.expires_at <= now:
            raise exceptions.AuthenticationFailed("Token has expired.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("Account is disabled.")
        if (
            token.last_used_at is None
            or now - token.last_used_at > _LAST_USED_GRANULARITY
        ):
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) to unauthenticated API calls.
        return 'Bearer realm="modelgov"'
