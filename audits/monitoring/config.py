"""Monitor defaults per risk tier, windows and thresholds. Pure: no Django.

A monitor's settings start from its tier's defaults, overlaid by the active
approval policy's ``monitoring`` overrides; risk officers then edit them per
monitor. Thresholds are practitioner conventions (DOMAIN.md sections 4 and 5), not
law, which is why they are configurable.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

KINDS = ("fairness", "drift", "performance")
WINDOWS = ("last_24_hours", "last_7_days", "last_30_days", "calendar_month")
ACTIONS = ("alert", "review", "revoke")

DEFAULT_THRESHOLDS: dict[str, float] = {
    "air": 0.8,  # four-fifths screening flag
    "air_watch": 0.9,
    "alpha": 0.05,
    "approval_relative_change": 0.15,
    "psi_watch": 0.1,
    "psi_breach": 0.25,
    "gini_drop_abs": 0.05,
    "gini_drop_rel": 0.10,
    "ks_drop_rel": 0.10,
}

# Higher tiers (1 is the most material) are watched more often and act harder.
TIER_DEFAULTS: dict[int, dict[str, Any]] = {
    1: {"schedule": "0 * * * *", "window": "last_24_hours", "action": "revoke"},
    2: {"schedule": "0 2 * * *", "window": "last_7_days", "action": "review"},
    3: {"schedule": "0 3 * * 1", "window": "last_30_days", "action": "alert"},
}

DEFAULT_FAVOURABLE_DECISIONS = ["approve", "approved", "accept", "accepted"]
DEFAULT_FAVOURABLE_OUTCOMES = ["good", "repaid", "performing", "no_default"]
# Finding severities by action: "review" must not block the gate by itself (the
# default policies block on high and critical); "revoke" denies anyway.
FINDING_SEVERITY = {"review": "medium", "revoke": "high"}


def monitor_defaults(
    *,
    risk_tier: int | None,
    protected_attributes: list[str],
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The settings of a new monitor for a version of ``risk_tier``.

    ``overrides`` (an approval policy's ``monitoring``) may replace any key; its
    ``thresholds`` are merged into the default thresholds.
    """
    tier = TIER_DEFAULTS.get(risk_tier or 3, TIER_DEFAULTS[3])
    settings: dict[str, Any] = {
        "kinds": list(KINDS),
        "schedule": tier["schedule"],
        "window": tier["window"],
        "action_on_breach": tier["action"],
        "protected_attributes": list(protected_attributes),
        "reference_groups": {},
        "favourable_decisions": list(DEFAULT_FAVOURABLE_DECISIONS),
        "favourable_outcomes": list(DEFAULT_FAVOURABLE_OUTCOMES),
        "thresholds": dict(DEFAULT_THRESHOLDS),
        "min_samples": 30,
        "expected_predictions": 1,
    }
    for key, value in (overrides or {}).items():
        if key == "thresholds" and isinstance(value, Mapping):
            settings["thresholds"].update(value)
        elif key in settings:
            settings[key] = value
    return settings


def threshold_errors(thresholds: Any) -> list[str]:
    """Messages for thresholds that are not known names with sensible values."""
    if not isinstance(thresholds, Mapping):
        return ["Must be an object."]
    errors = []
    for name, value in thresholds.items():
        if name not in DEFAULT_THRESHOLDS:
            errors.append(f"{name}: unknown threshold.")
        elif (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not 0 < value < 10
        ):
            errors.append(f"{name}: must be a number above 0.")
    return errors


def cron_errors(expression: str) -> list[str]:
    """Messages for a cron expression that is not five fields of digits, */, - and ,."""
    fields = expression.split()
    if len(fields) != 5:
        return ["Five fields: minute hour day-of-month month day-of-week."]
    allowed = set("0123456789*/,-")
    bad = [f for f in fields if not f or set(f) - allowed]
    return [f"Not a cron field: {f!r}." for f in bad]


def hour_floor(moment: datetime) -> datetime:
    """``moment`` in UTC, truncated to the hour."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def window_bounds(window: str, now: datetime) -> tuple[datetime, datetime]:
    """The last complete window of kind ``window`` before ``now``, in whole UTC hours.

    The hour in progress is never included: its counts are still growing.
    """
    end = hour_floor(now)
    if window == "last_24_hours":
        return end - timedelta(hours=24), end
    if window == "last_7_days":
        return end - timedelta(days=7), end
    if window == "last_30_days":
        return end - timedelta(days=30), end
    if window == "calendar_month":
        first_this = end.replace(day=1, hour=0)
        last_prev = first_this - timedelta(days=1)
        return last_prev.replace(day=1), first_this
    raise ValueError(f"unknown window {window!r}")


def previous_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The window of the same length just before [start, end) (a calendar month
    before a calendar month)."""
    if start.day == 1 and start.hour == 0 and end.day == 1 and end.hour == 0:
        months = (end.year - start.year) * 12 + end.month - start.month
        if months == 1:
            prev_end = start
            year, month = (
                (start.year, start.month - 1)
                if start.month > 1
                else (start.year - 1, 12)
            )
            days = calendar.monthrange(year, month)[1]
            return prev_end - timedelta(days=days), prev_end
    return start - (end - start), start
