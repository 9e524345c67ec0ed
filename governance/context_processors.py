"""Template context shared by every page: the navigation and the user's roles."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from governance import services


def navigation(request: HttpRequest) -> dict[str, Any]:
    roles = sorted(services.user_roles(request.user))
    return {
        "organisation": settings.MODELGOV_ORGANISATION,
        "eu_ai_act_high_risk_from": settings.MODELGOV_EU_AI_ACT_HIGH_RISK_FROM,
        "user_roles": roles,
        "user_role_labels": [r.replace("_", " ") for r in roles],
    }
