"""Bearer-token authentication for the API."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from audits.models import RefusalKind
from governance import refusals
from governance.models import ApiToken

TOKEN_PREFIX = "mg_"
# Recording every use would turn each read into a write; a minute is precise enough.
_LAST_USED_GRANULARITY = timedelta(minutes=1)


def token_hash(raw: str) -> str:
    """Return the stored form of a raw token."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer mg_…``; a revoked or expired token fails at once.

    Using a known token that is revoked, expired or of a disabled account is recorded
    as ``TOKEN_MISUSE`` (an unknown one is not: there is nobody to name).

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
            # Not recorded: no account to name, and anyone could fill the log with
            # guesses (stopping guessing is throttling's job).
            raise exceptions.AuthenticationFailed("Unknown token.")
        now = timezone.now()
        refused = ""
        if token.revoked_at is not None:
            refused = "Token has been revoked."
        elif token.expires_at is not None and token.expires_at <= now:
            refused = "Token has expired."
        elif not token.user.is_active:
            refused = "Account is disabled."
        if refused:
            # A known token that no longer works: a leaked or forgotten secret.
            refusals.token_refusal_record(
                request=request,
                kind=RefusalKind.TOKEN_MISUSE,
                reason=f"Token {token.prefix} used: {refused}",
                token=token,
            )
            raise exceptions.AuthenticationFailed(refused)
        if (
            token.last_used_at is None
            or now - token.last_used_at > _LAST_USED_GRANULARITY
        ):
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) to unauthenticated API calls.
        return 'Bearer realm="modelgov"'
