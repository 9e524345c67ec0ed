"""Lockout of password attempts: sign-ins and signature passwords alike (ADR 0021).

django-axes keeps the count, in the database, per account name and per address
(``AXES_LOCKOUT_PARAMETERS``), and applies its rules (``AXES_FAILURE_LIMIT``,
``AXES_COOLOFF_TIME``, allow and deny lists). This module decides when a failure is
counted and puts every refusal on the record; it is the one place that both the
sign-in path (:class:`governance.auth_backends.LockoutBackend`) and the e-signature
(:func:`governance.services.workflow._check_password`) ask and tell. Services do not
get the HTTP request: the address is the request context's
(:data:`governance.context.origin`); outside a request, attempts count per account.

- A failed sign-in is recorded as a ``login_failed`` refusal with the name tried.
- An attempt while locked (sign-in or signature, right password or not) is refused
  and recorded as ``locked_out``.
- The failure that locks records a ``locked_out`` refusal too, and a notice goes to
  the account (if it has an email address) and to every administrator.
- A successful sign-in clears the account's own failures (not the address's: an
  attacker signing in to an account of their own must not clear their guesses at
  other accounts).
- An administrator unlocks an account or an address; the unlock is the audit event
  ``governance.account.unlocked``.
"""

from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q, Sum
from django.http import HttpRequest

from audits import services as audit_services
from audits.models import RefusalKind
from governance import context
from governance.choices import GovernancePermission, Role

logger = logging.getLogger(__name__)

SIGN_IN = "governance.account.sign_in"
SIGNATURE = "governance.account.signature_password"
UNLOCK = "governance.account.unlock"
UNLOCKED_EVENT = "governance.account.unlocked"

# One message for a locked account and a locked address, whether or not the name
# exists: the answer tells nobody which names are real.
LOCKED_MESSAGE = (
    "Too many failed password attempts for this account or from this address: "
    "sign-in and signatures are locked until an administrator unlocks them."
)
SIGN_IN_FAILED_REASON = "Sign-in failed: wrong username or password."
SIGN_IN_LOCKED_REASON = "Sign-in refused: the account or the address is locked."
SIGNATURE_LOCKED_REASON = "Signature refused: the account or the address is locked."


class AccountLockedError(PermissionDenied):
    """The account, or the address the attempt comes from, is locked."""


@dataclass(frozen=True)
class Attempt:
    """Where a password attempt comes from."""

    ip_address: str | None
    path: str = ""
    user_agent: str = ""

    @classmethod
    def of(cls, request: HttpRequest | None) -> Attempt:
        """The attempt of an HTTP request, or of the request context without one
        (a test client's ``login()``, a service called by a view, a command)."""
        if request is not None:
            return cls(
                ip_address=request.META.get("REMOTE_ADDR") or None,
                path=request.path[:255],
                user_agent=request.META.get("HTTP_USER_AGENT", "")[:255],
            )
        origin = context.origin.get()
        return cls(ip_address=origin.ip_address, path=origin.path[:255])


def lockout_parameters(request_or_attempt: Any, credentials: Any = None) -> list[str]:
    """``AXES_LOCKOUT_PARAMETERS``: per account and per address; per account only
    where the address is unknown (else every address-less attempt would share one
    counter) or ``MODELGOV_LOCKOUT_PER_ADDRESS`` is off."""
    address = getattr(request_or_attempt, "axes_ip_address", None) or getattr(
        request_or_attempt, "ip_address", None
    )
    per_address = getattr(settings, "MODELGOV_LOCKOUT_PER_ADDRESS", True)
    return ["username", "ip_address"] if address and per_address else ["username"]


def _axes_request(attempt: Attempt) -> HttpRequest:
    """The request axes reads its parameters from (address, path, user agent)."""
    request = HttpRequest()
    request.method = "POST"
    if attempt.ip_address:
        request.META["REMOTE_ADDR"] = attempt.ip_address
    request.META["PATH_INFO"] = attempt.path or "<none>"
    request.META["HTTP_USER_AGENT"] = attempt.user_agent or "<unknown>"
    AxesProxyHandler.update_request(request)
    return request


def _credentials(username: str) -> dict[str, str]:
    return {"username": username}


def is_locked(*, username: str, attempt: Attempt) -> bool:
    """Whether ``username`` may not try a password from ``attempt`` now."""
    request = _axes_request(attempt)
    return not bool(AxesProxyHandler.is_allowed(request, _credentials(username)))


def failures(*, username: str, attempt: Attempt) -> int:
    """The failures counted against ``username`` or the address (the larger)."""
    request = _axes_request(attempt)
    return int(AxesProxyHandler.get_failures(request, _credentials(username)))


def _user(username: str) -> Any:
    return get_user_model().objects.filter(username=username).first()


def _count_failure(*, username: str, attempt: Attempt) -> bool:
    """Count one failed password; True when this failure locked the account or the
    address (it was not locked before and is now)."""
    request = _axes_request(attempt)
    credentials = _credentials(username)
    was_allowed = bool(AxesProxyHandler.is_allowed(request, credentials))
    # The handler's own entry point; governance.auth_backends.LockoutHandler turns
    # the signal-driven one off so that nothing is counted twice.
    AxesProxyHandler.get_implementation().failure_count(request, credentials)
    return was_allowed and not AxesProxyHandler.is_allowed(request, credentials)


def _locked(*, username: str, attempt: Attempt, actor: Any, action: str) -> None:
    """The failure that locked: on the record, and a notice."""
    limit = settings.AXES_FAILURE_LIMIT
    audit_services.refused_action_record(
        actor=actor,
        action=action,
        reason=(
            f"Locked after {limit} failed password attempts for the account "
            f"{username!r} or from the address {attempt.ip_address or 'unknown'}."
        ),
        kind=RefusalKind.LOCKED_OUT,
        username=username,
    )
    lockout_notice_send(username=username, attempt=attempt)


def sign_in_refused(*, username: str, attempt: Attempt) -> None:
    """Record a sign-in refused because the account or the address is locked."""
    audit_services.refused_action_record(
        actor=None,
        action=SIGN_IN,
        reason=SIGN_IN_LOCKED_REASON,
        kind=RefusalKind.LOCKED_OUT,
        username=username,
    )


def sign_in_failed(*, username: str, attempt: Attempt) -> bool:
    """Record and count a failed sign-in; True when it locked."""
    audit_services.refused_action_record(
        actor=None,
        action=SIGN_IN,
        reason=SIGN_IN_FAILED_REASON,
        kind=RefusalKind.LOGIN_FAILED,
        username=username,
    )
    locked = _count_failure(username=username, attempt=attempt)
    if locked:
        _locked(username=username, attempt=attempt, actor=None, action=SIGN_IN)
    return locked


def sign_in_succeeded(*, username: str) -> None:
    """Clear the account's own failures (from any address)."""
    AccessAttempt.objects.filter(username=username).delete()


def signature_allowed_check(*, actor: Any) -> None:
    """Raise :class:`AccountLockedError` if ``actor`` may not sign now (checked
    before the password, so the right password does not sign while locked)."""
    attempt = Attempt.of(None)
    if is_locked(username=actor.get_username(), attempt=attempt):
        raise AccountLockedError(f"{LOCKED_MESSAGE} The signature was not applied.")


def signature_failed(*, actor: Any) -> bool:
    """Count a wrong signature password (its refusal is already on the record,
    kind ``signature_password``); True when it locked."""
    attempt = Attempt.of(None)
    username = actor.get_username()
    locked = _count_failure(username=username, attempt=attempt)
    if locked:
        _locked(username=username, attempt=attempt, actor=actor, action=SIGNATURE)
    return locked


def _emails(users: Any) -> list[str]:
    return sorted({u.email.strip() for u in users if u.is_active and u.email.strip()})


def lockout_notice_send(*, username: str, attempt: Attempt) -> None:
    """Email the account (if it exists and has an address) and the administrators.

    Sent at once: a lockout is rare and must not wait for a worker. A delivery
    failure is logged, never raised into the refusal's answer."""
    address = attempt.ip_address or "an unknown address"
    limit = settings.AXES_FAILURE_LIMIT
    user = _user(username)
    notices: list[tuple[list[str], str, str]] = []
    if user is not None:
        notices.append(
            (
                _emails([user]),
                "[modelgov] Your account is locked",
                (
                    f"After {limit} failed password attempts (sign-in or signature) "
                    f"for your account {username!r} or from {address}, signing in "
                    "and signing are locked.\n\nIf these attempts were not yours, "
                    "tell your administrator. An administrator unlocks the account.\n"
                ),
            )
        )
    admins = get_user_model().objects.filter(groups__name=Role.ADMINISTRATOR)
    notices.append(
        (
            _emails(admins),
            f"[modelgov] Locked: {username!r} from {address}",
            (
                f"{limit} failed password attempts for the account {username!r} "
                f"(which {'exists' if user is not None else 'does not exist'}) or "
                f"from {address} locked sign-in and signatures.\n\nUnlock in the "
                "admin (Axes > Access attempts) or with\n"
                # Quoted: the name is whatever was typed, and may be copied.
                f"  manage.py unlock_account --username {shlex.quote(username)}\n"
                + (
                    f"  manage.py unlock_account --ip-address {attempt.ip_address}\n"
                    if attempt.ip_address
                    else ""
                )
            ),
        )
    )
    for recipients, subject, body in notices:
        if not recipients:
            continue
        try:
            send_mail(
                subject=subject,
                message=body,
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=recipients,
            )
        except Exception:
            logger.exception("lockout notice %r was not sent", subject)


def account_unlock(*, actor: Any, username: str = "", ip_address: str = "") -> int:
    """Clear the failures of an account, of an address, or of both; return how many
    failures were cleared. Needs an administrator (``actor`` None: a command run
    by the operator). Audited as ``governance.account.unlocked``."""
    if not username and not ip_address:
        raise ValueError("Unlock an account (username), an address, or both.")
    if actor is not None and not actor.has_perm(GovernancePermission.MANAGE_ACCOUNTS):
        audit_services.refused_action_record(
            actor=actor,
            action=UNLOCK,
            reason="Only an administrator may unlock accounts.",
            kind=RefusalKind.PERMISSION,
        )
        raise PermissionDenied("Only an administrator may unlock accounts.")
    condition = Q()
    if username:
        condition |= Q(username=username)
    if ip_address:
        condition |= Q(ip_address=ip_address)
    with transaction.atomic():
        attempts = AccessAttempt.objects.filter(condition)
        cleared = int(attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0)
        attempts.delete()
        audit_services.audit_event_record(
            actor=actor,
            event_type=UNLOCKED_EVENT,
            obj=_user(username) if username else None,
            payload={
                "username": username,
                "ip_address": ip_address,
                "failures_cleared": cleared,
            },
        )
    return cleared
