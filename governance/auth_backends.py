"""The sign-in backend and the axes handler of the lockout (ADR 0021).

The backend is the only entry in ``AUTHENTICATION_BACKENDS``: it asks
:mod:`governance.services.lockout` before checking the password and tells it the
outcome, so every sign-in (the login page, the admin's, a test client's ``login()``)
is counted, refused while locked and on the record at one call site, without
signal receivers (STYLE.md).
"""

from __future__ import annotations

from typing import Any

from axes.backends import AxesBackend
from axes.handlers.database import AxesDatabaseHandler
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from governance.services import lockout


class LockoutBackend(AxesBackend):
    """Django's ModelBackend behind the lockout.

    A subclass of axes' backend (so axes' checks know the lockout is in place), but
    its own ``authenticate``: axes' refuses a call without ``request``, which every
    test client's ``login()`` is. Without a request the attempt is the request
    context's (per account only when no address is known).
    """

    def authenticate(  # type: ignore[override]
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        username = str(username)
        attempt = lockout.Attempt.of(request)
        if lockout.is_locked(username=username, attempt=attempt):
            lockout.sign_in_refused(username=username, attempt=attempt)
            return None
        user = ModelBackend.authenticate(
            self, request, username=username, password=password
        )
        if user is None:
            lockout.sign_in_failed(username=username, attempt=attempt)
            return None
        lockout.sign_in_succeeded(username=username)
        return user


class LockoutHandler(AxesDatabaseHandler):
    """axes' database handler, counting only when the lockout service says.

    axes connects its handler to Django's ``user_login_failed`` signal; the backend
    above already counts every failure, so the signal's entry point does nothing and
    :meth:`failure_count` is the service's.
    """

    def user_login_failed(
        self,
        sender: Any,
        credentials: dict[str, Any],
        request: Any = None,
        **kwargs: Any,
    ) -> None:
        return None

    def failure_count(self, request: HttpRequest, credentials: dict[str, Any]) -> None:
        """Count one failed password of ``credentials`` from ``request``."""
        super().user_login_failed(None, credentials, request)
