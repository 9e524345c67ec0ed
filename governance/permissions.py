"""DRF permission classes: authentication, role and token scope."""

from __future__ import annotations

import logging
from typing import Any

from rest_framework import exceptions, permissions
from rest_framework.request import Request

from audits.models import RefusalKind
from governance import refusals
from governance.choices import TokenScope
from governance.models import ApiToken

logger = logging.getLogger(__name__)

# Declarations besides a TokenScope value (see TokenScopePermission).
ANY_TOKEN = "any-token"  # any valid token, whatever its scopes
SESSION_ONLY = "session-only"  # a signed-in session; no token at all
DECLARATIONS = frozenset({*TokenScope.values, ANY_TOKEN, SESSION_ONLY})
SESSION_ONLY_MESSAGE = "This operation needs a signed-in session, not a token."


class TokenScopePermission(permissions.BasePermission):
    """Every API operation declares what a token needs; undeclared ones are refused.

    Views declare ``required_scopes = {"GET": "registry:read", "POST": ...}`` (the
    keys ``"SAFE"`` and ``"WRITE"`` cover the methods not named) or a single
    ``required_scope``. A declaration is a ``TokenScope`` value, ``ANY_TOKEN`` or
    ``SESSION_ONLY``. HEAD follows GET; OPTIONS only describes, so any token may ask.

    - A token without the declared scope is refused (403, the view's
      ``scope_message`` if it has one) and the refusal is recorded as
      ``TOKEN_SCOPE``, for reads too.
    - A token on a ``SESSION_ONLY`` operation is refused (403, the view's
      ``session_only_message``) and recorded as ``TOKEN_MISUSE``.
    - An operation with no declaration, or an unknown one, is refused to everyone,
      sessions included: fail closed, and the URLconf test names the view.
    - Sessions are otherwise not limited by scope (roles and rules still apply).

    The exception it raises is marked as recorded, so no edge records it again.
    """

    message = "This token does not carry the scope this operation needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        needed = declared_scope(view, request.method or "")
        if needed not in DECLARATIONS:
            logger.error(
                "%s declares no token scope for %s; refused",
                type(view).__name__,
                request.method,
            )
            raise exceptions.PermissionDenied(
                "This operation declares no token scope, so it is refused."
            )
        token = request.auth
        if not isinstance(token, ApiToken) or needed == ANY_TOKEN:
            return True
        if needed == SESSION_ONLY:
            message = getattr(view, "session_only_message", SESSION_ONLY_MESSAGE)
            refusals.token_refusal_record(
                request=request,
                kind=RefusalKind.TOKEN_MISUSE,
                reason=f"Token {token.prefix} used where a session is needed: {message}",
                token=token,
            )
            raise refusals.mark_recorded(exceptions.PermissionDenied(message))
        if needed in token.scopes:
            return True
        refusals.token_refusal_record(
            request=request,
            kind=RefusalKind.TOKEN_SCOPE,
            reason=(
                f"Token {token.prefix} carries {', '.join(token.scopes) or 'no scope'}; "
                f"this operation needs {needed}."
            ),
            token=token,
        )
        message = getattr(view, "scope_message", self.message)
        raise refusals.mark_recorded(exceptions.PermissionDenied(message))


def declared_scope(view: Any, method: str) -> str | None:
    """What a token needs for ``method`` on ``view`` (a view or its class), if declared."""
    method = method.upper()
    if method == "HEAD":
        method = "GET"
    if method == "OPTIONS":
        return ANY_TOKEN
    by_method: dict[str, str] | None = getattr(view, "required_scopes", None)
    if by_method is not None:
        kind = "SAFE" if method in permissions.SAFE_METHODS else "WRITE"
        return by_method.get(method, by_method.get(kind))
    scope: str | None = getattr(view, "required_scope", None)
    return scope


def required_scope(request: Request, view: Any) -> str | None:
    """Return the scope ``view`` declares for ``request.method``, if any."""
    return declared_scope(view, request.method or "")


class HasModelPermission(permissions.BasePermission):
    """The user holds the Django permission the view names for this method.

    Views declare ``permission_by_method = {"GET": "registry.view_model", ...}``.
    A method that is not listed is refused.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        mapping: dict[str, str] = getattr(view, "permission_by_method", {})
        method = request.method or ""
        if method == "HEAD":
            method = "GET"
        if method == "OPTIONS" or not hasattr(view, method.lower()):
            # Not an operation of this view: let DRF answer 405 (or describe it).
            return True
        perm = mapping.get(method)
        if perm is None:
            return False
        return bool(request.user and request.user.has_perm(perm))
