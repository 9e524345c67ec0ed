"""Reads of the governance app, scoped to the user."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from governance.models import ApiToken


def api_token_list_for_user(*, user: Any) -> QuerySet[ApiToken]:
    """The user's own tokens, newest first (revoked and expired ones included)."""
    return (
        ApiToken.objects.filter(user_id=user.pk)
        .select_related("user")
        .order_by("-created_at", "-id")
    )


def api_token_get_for_user(*, user: Any, pk: int) -> ApiToken:
    """One of the user's own tokens; another user's token is reported missing (404)."""
    token = api_token_list_for_user(user=user).filter(pk=pk).first()
    if token is None:
        raise Http404("No such token.")
    return token
