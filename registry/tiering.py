"""SR 26-2 materiality (exposure x purpose) and the risk tier it suggests. Pure.

SR 26-2 frames materiality as model exposure combined with model purpose; it does not
prescribe tiers. This matrix is the shipped default (docs/adr/0005); the tier a model
carries is a decision of the risk function, recorded with its rationale.
"""

from __future__ import annotations

LEVELS = ("low", "medium", "high")

# (exposure, purpose) -> suggested tier (1 high risk ... 3 low risk)
_MATRIX: dict[tuple[str, str], int] = {
    ("high", "high"): 1,
    ("high", "medium"): 1,
    ("medium", "high"): 1,
    ("high", "low"): 2,
    ("medium", "medium"): 2,
    ("low", "high"): 2,
    ("medium", "low"): 3,
    ("low", "medium"): 3,
    ("low", "low"): 3,
}


def suggested_tier(exposure: str, purpose: str) -> int | None:
    """The tier the materiality inputs suggest, or None when either is unset."""
    if exposure not in LEVELS or purpose not in LEVELS:
        return None
    return _MATRIX[(exposure, purpose)]
