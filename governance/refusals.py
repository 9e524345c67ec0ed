"""Refusals at the edge (API and pages) go on the record exactly once.

A refusal is recorded where it is decided when that place knows most (the workflow
services record their own; the scope check records a token's missing scope). Whoever
records one marks the exception, and the edges (the API's exception handler, the
pages' error wrapper, the 403 handler) record only the exceptions nobody marked, and
only for writes: refused reads are answered, not recorded (except a token's scope or
misuse, which the permission records itself).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from audits import services as audit_services
from audits.models import RefusalKind
from governance.models import ApiToken

_RECORDED = "modelgov_refusal_recorded"
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def mark_recorded(exc: BaseException) -> BaseException:
    """Mark ``exc`` as already on the refusal log; return it."""
    setattr(exc, _RECORDED, True)
    return exc


def is_recorded(exc: BaseException) -> bool:
    """Whether a refusal was already recorded for ``exc``."""
    return bool(getattr(exc, _RECORDED, False))


def action_name(request: Any) -> str:
    """``"POST api-tokens"``: the method and the URL name of the refused operation."""
    match = getattr(request, "resolver_match", None)
    name = match.view_name if match is not None else ""
    return f"{request.method} {name or request.path}"[:100]


def token_refusal_record(*, request: Any, kind: str, reason: str, token: Any) -> None:
    """Record that ``token`` was refused (its scope, or a use no token may make)."""
    audit_services.refused_action_record(
        actor=token.user,
        action=action_name(request),
        reason=reason,
        kind=kind,
        token=token,
    )


def write_refusal_record(*, request: HttpRequest | Any, exc: BaseException) -> bool:
    """Record a PermissionDenied answered to a write, unless already recorded.

    Reads are not recorded; neither is a refusal of someone not signed in (that is a
    401 or a sign-in redirect, and sign-in failures have their own record). Returns
    whether a row was written; marks ``exc`` either way so no edge records it again.
    """
    if request is None or is_recorded(exc):
        return False
    mark_recorded(exc)
    user = getattr(request, "user", None)
    if request.method in _READS or not getattr(user, "is_authenticated", False):
        return False
    auth = getattr(request, "auth", None)
    audit_services.refused_action_record(
        actor=user,
        action=action_name(request),
        reason=str(exc) or "Permission denied.",
        kind=RefusalKind.PERMISSION,
        token=auth if isinstance(auth, ApiToken) else None,
    )
    return True
