"""State changes of the governance app: accounts and API tokens.

Every function here writes its audit event in the same transaction.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from audits import services as audit_services
from governance.authentication import TOKEN_PREFIX, token_hash
from governance.choices import Role, TokenScope
from governance.models import ApiToken
from governance.roles import ROLE_SCOPES

# Scopes a token carries only when asked for: an ingest key's (it needs a binding)
# and managing the account's tokens (a leaked token must not revoke its siblings).
_NOT_BY_DEFAULT = frozenset(
    {TokenScope.PREDICTIONS_WRITE.value, TokenScope.TOKENS_MANAGE.value}
)


@dataclass(frozen=True)
class IssuedToken:
    """A freshly issued token: ``raw`` is shown once and never stored."""

    token: ApiToken
    raw: str


def user_roles(user: Any) -> set[str]:
    """The role names of ``user`` (its groups that are roles)."""
    if not getattr(user, "is_authenticated", False):
        return set()
    names = {g.name for g in user.groups.all()}
    return names & set(Role.values)


def user_has_role(user: Any, role: str) -> bool:
    return role in user_roles(user)


@transaction.atomic
def account_create(
    *,
    actor: Any,
    username: str,
    role: str,
    password: str | None = None,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
) -> AbstractUser:
    """Create an account with exactly one role.

    Service accounts and gatekeepers never get a usable password (they authenticate
    by token).
    Administrators are staff (Django admin) but never superusers. Audited as
    ``governance.account.created``. Raises ValidationError on a bad role,
    a taken username or a weak password.
    """
    if role not in Role.values:
        raise ValidationError(
            {"role": [f"Unknown role {role!r}; one of {', '.join(Role.values)}."]}
        )
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise ValidationError({"username": [f"The username {username!r} is taken."]})
    user = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        is_staff=role == Role.ADMINISTRATOR,
    )
    tokens_only = role in (Role.SERVICE_ACCOUNT, Role.GATEKEEPER)
    if tokens_only or not password:
        if not tokens_only and password == "":
            raise ValidationError({"password": ["A password must not be empty."]})
        user.set_unusable_password()
    else:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from exc
        user.set_password(password)
    user.full_clean()
    user.save()
    user.groups.add(Group.objects.get(name=role))
    audit_services.audit_event_record(
        actor=actor,
        event_type="governance.account.created",
        obj=user,
        payload={"username": username, "role": role},
    )
    return user


def api_token_latest_expiry(*, now: datetime | None = None) -> datetime:
    """The latest expiry a token issued now may have: the end of the UTC day
    ``MODELGOV_TOKEN_MAX_TTL_DAYS`` days from today (a day's grace, so that a date
    picked in a form, which ends at midnight, fits)."""
    today = (now or timezone.now()).astimezone(UTC).date()
    last_day = today + timedelta(days=settings.MODELGOV_TOKEN_MAX_TTL_DAYS)
    return datetime.combine(last_day, time.max, tzinfo=UTC)


def _too_late_message(now: datetime) -> str:
    days = settings.MODELGOV_TOKEN_MAX_TTL_DAYS
    return (
        f"A token may live at most {days} days (MODELGOV_TOKEN_MAX_TTL_DAYS): "
        f"expire it by {api_token_latest_expiry(now=now):%Y-%m-%d} (UTC)."
    )


def api_token_expiry(*, days: int) -> datetime:
    """The expiry of a token that lives ``days`` days from now (the commands' option).

    Raises ValidationError on ``expires_at`` for less than one day or more than
    ``MODELGOV_TOKEN_MAX_TTL_DAYS`` days (before any date arithmetic can overflow).
    """
    now = timezone.now()
    if days < 1:
        raise ValidationError({"expires_at": ["A token must live at least one day."]})
    if days > settings.MODELGOV_TOKEN_MAX_TTL_DAYS:
        raise ValidationError({"expires_at": [_too_late_message(now)]})
    return now + timedelta(days=days)


@transaction.atomic
def api_token_create(
    *,
    actor: Any,
    user: Any,
    name: str,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
    deployment_model: Any = None,
    deployment_environment: str = "",
) -> IssuedToken:
    """Issue a token for ``user``; only its SHA-256 is stored.

    A user may issue tokens for themselves; issuing for someone else needs
    ``governance.manage_accounts``. Scopes default to everything the user's roles
    allow (but ``tokens:manage``, which must be asked for) and may never exceed
    it. Without an expiry the token expires after ``MODELGOV_TOKEN_DEFAULT_TTL_DAYS``
    (at most the maximum); an expiry past :func:`api_token_latest_expiry` is a
    ValidationError on ``expires_at``. Audited as ``governance.token.created``.

    A prediction-ingest key (scope ``predictions:write``) must be bound to one
    serving deployment (``deployment_model`` in ``deployment_environment``) and
    carries no other scope; only such keys are bound.
    """
    # actor=None is the operator at the server's shell (management commands).
    if (
        actor is not None
        and actor != user
        and not actor.has_perm("governance.manage_accounts")
    ):
        raise PermissionDenied(
            "Only an administrator may issue tokens for another account."
        )
    allowed: set[str] = set()
    for role in user_roles(user):
        allowed.update(ROLE_SCOPES.get(role, []))
    bound = deployment_model is not None or bool(deployment_environment)
    if scopes is None:
        scopes = (
            [TokenScope.PREDICTIONS_WRITE.value]
            if bound
            else sorted(allowed - _NOT_BY_DEFAULT)
        )
    requested = list(dict.fromkeys(scopes))
    errors = []
    for scope in requested:
        if scope not in TokenScope.values:
            errors.append(f"Unknown scope {scope!r}.")
        elif scope not in allowed:
            errors.append(f"The account's role does not allow the scope {scope!r}.")
    if not requested:
        errors.append("A token needs at least one scope.")
    if errors:
        raise ValidationError({"scopes": errors})
    binding_errors: dict[str, list[str]] = {}
    if bound:
        if deployment_model is None:
            binding_errors["deployment_model"] = ["An ingest key needs a model."]
        if deployment_environment not in settings.MODELGOV_ENVIRONMENTS:
            binding_errors["deployment_environment"] = [
                f"Unknown environment {deployment_environment!r}; one of "
                f"{', '.join(settings.MODELGOV_ENVIRONMENTS)}."
            ]
        if requested != [TokenScope.PREDICTIONS_WRITE.value]:
            binding_errors["scopes"] = [
                "A key bound to a deployment carries only predictions:write."
            ]
    elif TokenScope.PREDICTIONS_WRITE.value in requested:
        binding_errors["scopes"] = [
            "predictions:write needs a deployment binding (model and environment)."
        ]
    if binding_errors:
        raise ValidationError(binding_errors)
    if not name.strip():
        raise ValidationError({"name": ["A token needs a name."]})
    now = timezone.now()
    if expires_at is None:
        # No token lives forever by accident: MODELGOV_TOKEN_DEFAULT_TTL_DAYS applies
        # (capped by the maximum).
        days = min(
            settings.MODELGOV_TOKEN_DEFAULT_TTL_DAYS,
            settings.MODELGOV_TOKEN_MAX_TTL_DAYS,
        )
        expires_at = now + timedelta(days=days)
    elif expires_at <= now:
        raise ValidationError({"expires_at": ["The expiry must be in the future."]})
    elif expires_at > api_token_latest_expiry(now=now):
        raise ValidationError({"expires_at": [_too_late_message(now)]})
    secret = secrets.token_urlsafe(32)
    prefix = secrets.token_hex(4)
    raw = f"{TOKEN_PREFIX}{prefix}_{secret}"
    token = ApiToken(
        user=user,
        name=name.strip(),
        prefix=prefix,
        key_sha256=token_hash(raw),
        scopes=requested,
        created_at=now,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        expires_at=expires_at,
        deployment_model=deployment_model,
        deployment_environment=deployment_environment if bound else "",
    )
    token.full_clean()
    token.save()
    audit_services.audit_event_record(
        actor=actor,
        event_type="governance.token.created",
        obj=token,
        payload={
            "user": user.get_username(),
            "scopes": requested,
            "prefix": prefix,
            "deployment": (
                {"model": deployment_model.slug, "environment": deployment_environment}
                if bound
                else None
            ),
        },
    )
    return IssuedToken(token=token, raw=raw)


@transaction.atomic
def api_token_revoke(*, actor: Any, token: ApiToken) -> ApiToken:
    """Revoke a token; it stops working on the very next request.

    The owner or an administrator may revoke. Revoking twice is a no-op that
    writes no second event. Audited as ``governance.token.revoked``.
    """
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if actor != token.user and not actor.has_perm("governance.manage_accounts"):
        raise PermissionDenied(
            "Only the token's owner or an administrator may revoke it."
        )
    if token.revoked_at is not None:
        return token
    token.revoked_at = timezone.now()
    token.revoked_by = actor
    token.save(update_fields=["revoked_at", "revoked_by"])
    audit_services.audit_event_record(
        actor=actor,
        event_type="governance.token.revoked",
        obj=token,
        payload={"prefix": token.prefix},
    )
    return token


def health_check() -> dict[str, Any]:
    """Round-trip the database and report what this process runs on."""
    import django
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        (one,) = cursor.fetchone()
    return {
        "ok": one == 1,
        "database": connection.vendor,
        "django": django.get_version(),
        "checked_at": timezone.now().isoformat(),
    }
