"""Sign-in forms that say when the account or the address is locked (ADR 0021).

The message is the same for an unknown name: a name is locked by its failures,
whether or not an account has it, so the answer reveals nothing about which names
exist.
"""

from __future__ import annotations

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from governance.services import lockout


class _LockoutMixin:
    def get_invalid_login_error(self) -> ValidationError:
        username = str(self.cleaned_data.get("username") or "")  # type: ignore[attr-defined]
        attempt = lockout.Attempt.of(self.request)  # type: ignore[attr-defined]
        if username and lockout.is_locked(username=username, attempt=attempt):
            return ValidationError(lockout.LOCKED_MESSAGE, code="locked")
        return super().get_invalid_login_error()  # type: ignore[misc,no-any-return]


class LockoutAuthenticationForm(_LockoutMixin, AuthenticationForm):
    """The login page's form."""


class LockoutAdminAuthenticationForm(_LockoutMixin, AdminAuthenticationForm):
    """The admin's login form."""
