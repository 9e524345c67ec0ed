"""DRF permission classes: authentication, role and token scope."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from governance.models import ApiToken


class TokenScopePermission(permissions.BasePermission):
    """A token may only do what its scopes allow; sessions are not limited by scope.

    Views declare ``required_scopes = {"GET": "registry:read", "POST": ...}`` or a
    single ``required_scope``. A view that declares nothing needs no scope beyond
    authentication.
    """

    message = "This token does not carry the scope this operation needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return True
        needed = required_scope(request, view)
        return needed is None or needed in token.scopes


def required_scope(request: Request, view: Any) -> str | None:
    """Return the scope ``view`` needs for ``request.method``, if any."""
    by_method: dict[str, str] | None = getattr(view, "required_scopes", None)
    if by_method is not None:
        safe = request.method in permissions.SAFE_METHODS
        return by_method.get(
            request.method or "", by_method.get("SAFE" if safe else "WRITE")
        )
    scope: str | None = getattr(view, "required_scope", None)
    return scope


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
