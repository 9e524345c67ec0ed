"""Pages of the governance app (API tokens), and the error handling every page shares."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views import defaults
from django.views.decorators.http import require_http_methods, require_POST

from governance import refusals, selectors, services
from governance.choices import TokenScope
from governance.roles import ROLE_SCOPES

View = Callable[..., HttpResponse]


def html_errors(view: View) -> View:
    """Render PermissionDenied as a 403 page and Http404 as a 404 page in the layout.

    Services raise PermissionDenied with a message meant for the user; a refused write
    goes on the refusal log once. A 404 never says whether the object exists (objects
    out of scope look missing).
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except PermissionDenied as exc:
            refusals.write_refusal_record(request=request, exc=exc)
            return render(
                request,
                "governance/error.html",
                {
                    "status": 403,
                    "title": "Access denied",
                    "message": str(exc) or "Your role does not allow this.",
                },
                status=403,
            )
        except Http404:
            return render(
                request,
                "governance/error.html",
                {
                    "status": 404,
                    "title": "Not found",
                    "message": "There is nothing here, or you may not see it.",
                },
                status=404,
            )

    return wrapper


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler403``: pages outside :func:`page` (the admin) record refused writes too."""
    refusals.write_refusal_record(request=request, exc=exception)
    return defaults.permission_denied(request, exception)


def page(view: View) -> View:
    """A signed-in HTML page with the shared error pages."""
    return login_required(html_errors(view))


def allowed_scopes(user: Any) -> list[str]:
    """The token scopes the user's roles allow, in the order of TokenScope."""
    allowed: set[str] = set()
    for role in services.user_roles(user):
        allowed.update(ROLE_SCOPES.get(role, []))
    return [value for value in TokenScope.values if value in allowed]


class TokenCreateForm(forms.Form):
    label_suffix = ""

    name = forms.CharField(
        max_length=100,
        help_text="What uses the token, e.g. “training pipeline” or “laptop CLI”.",
    )
    scopes = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        help_text="Only the scopes your role allows are offered.",
    )
    expires_on = forms.DateField(
        label="Expires on",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="The token stops working at the end of this day (UTC).",
    )

    def __init__(self, *args: Any, scopes: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        labels = dict(TokenScope.choices)
        field = self.fields["scopes"]
        field.choices = [(s, f"{s} — {labels[s]}") for s in scopes]  # type: ignore[attr-defined]
        field.initial = [s for s in scopes if s.endswith(":read")]
        ttl = min(
            settings.MODELGOV_TOKEN_DEFAULT_TTL_DAYS,
            settings.MODELGOV_TOKEN_MAX_TTL_DAYS,
        )
        expires_on = self.fields["expires_on"]
        expires_on.initial = timezone.now().date() + dt.timedelta(days=ttl)
        latest = services.api_token_latest_expiry().date()
        expires_on.widget.attrs["max"] = latest.isoformat()
        expires_on.help_text += f" At the latest {latest:%Y-%m-%d}."

    def expires_at(self) -> dt.datetime:
        day: dt.date = self.cleaned_data["expires_on"]
        return dt.datetime.combine(day, dt.time.max, tzinfo=dt.UTC)


def _add_token_errors(form: TokenCreateForm, exc: ValidationError) -> None:
    if not hasattr(exc, "error_dict"):
        for message in exc.messages:
            form.add_error(None, message)
        return
    fields = {"expires_at": "expires_on", "name": "name", "scopes": "scopes"}
    for key, errors in exc.message_dict.items():
        for message in errors:
            form.add_error(fields.get(key), message)


@page
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    scopes = allowed_scopes(user)
    issued = None
    if request.method == "POST":
        form = TokenCreateForm(request.POST, scopes=scopes)
        if form.is_valid():
            try:
                issued = services.api_token_create(
                    actor=user,
                    user=user,
                    name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                    expires_at=form.expires_at(),
                )
            except ValidationError as exc:
                _add_token_errors(form, exc)
            else:
                form = TokenCreateForm(scopes=scopes)
    else:
        form = TokenCreateForm(scopes=scopes)
    user_tokens = selectors.api_token_list_for_user(user=user)
    response = render(
        request,
        "governance/tokens.html",
        {
            "form": form,
            "issued": issued,
            "tokens": user_tokens,
            "can_hold_tokens": bool(scopes),
        },
    )
    if issued:
        # The raw token is on this page only; keep it out of every cache.
        response["Cache-Control"] = "no-store"
    return response


@page
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    token = selectors.api_token_get_for_user(user=user, pk=pk)
    token = services.api_token_revoke(actor=request.user, token=token)
    messages.success(request, f"Token “{token.name}” ({token.prefix}…) is revoked.")
    return redirect("tokens")
