"""Presentation helpers of the registry pages: badges, progress bars, digests, JSON."""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.core.serializers.json import DjangoJSONEncoder

from registry.choices import ModelStatus, RiskTier, VersionStatus

register = template.Library()

_STATUS_LABELS = {**dict(ModelStatus.choices), **dict(VersionStatus.choices)}


@register.inclusion_tag("registry/_tier_badge.html")
def tier_badge(tier: Any) -> dict[str, Any]:
    try:
        number = int(tier)
    except (TypeError, ValueError):
        return {"tier": None, "label": "Not tiered"}
    return {"tier": number, "label": RiskTier(number).label if 1 <= number <= 3 else ""}


@register.inclusion_tag("registry/_status_badge.html")
def status_badge(status: str, label: str = "") -> dict[str, Any]:
    return {"status": status, "label": label or _STATUS_LABELS.get(status, status)}


@register.inclusion_tag("registry/_progress.html")
def progress(completeness: Any, label: str = "Completeness") -> dict[str, Any]:
    """A completeness bar with its number in text (never colour alone)."""
    return {
        "percent": completeness.percent,
        "filled": completeness.filled,
        "required": completeness.required,
        "complete": completeness.is_complete,
        "label": label,
    }


@register.filter
def short_sha(value: str | None, length: int = 12) -> str:
    return (value or "")[:length]


@register.filter
def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, cls=DjangoJSONEncoder)


@register.filter
def scalar(value: Any) -> str:
    """A JSON value for a table cell: scalars as text, structures as compact JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, cls=DjangoJSONEncoder)
    return str(value)


@register.filter
def rate(value: Any) -> str:
    """A rate in [0, 1] as a percentage with one decimal."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "–"
    return f"{value * 100:.1f} %"
