"""Baseline statistics of a trained model, in the shape ``registry.baseline`` validates.

Pure: numpy, pandas and scikit-learn only, no Django. Monitoring compares production
data against these numbers, so the binning rule is part of the contract: numeric
features are binned at the baseline's inner decile cut points with outer edges at
minus and plus infinity, and a value ``x`` falls in bin
``np.searchsorted(edges, x, side="right")`` (bin ``i`` holds
``edges[i-1] <= x < edges[i]``). Missing values are left out of every share; monitor
the missing rate separately. Nothing is rounded, so shares sum to 1 within float error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve

ArrayLike: TypeAlias = Sequence[Any] | np.ndarray | pd.Series


def _numeric_array(values: ArrayLike) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    finite: np.ndarray = array[np.isfinite(array)]
    return finite


def numeric_feature_baseline(values: ArrayLike, bins: int = 10) -> dict[str, Any]:
    """Quantile bins of a numeric feature and the share of values in each.

    The edges are the inner cut points of ``bins`` equal-frequency bins (deciles by
    default, linear interpolation, 12 significant digits), de-duplicated so that
    they increase strictly; a feature with few distinct values therefore gets fewer
    bins. Non-finite values are ignored.
    Raises ValueError when no finite value is left or ``bins`` is below 2.
    """
    if bins < 2:
        raise ValueError("bins must be at least 2.")
    array = _numeric_array(values)
    if array.size == 0:
        raise ValueError("No finite values to build a baseline from.")
    probabilities = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    # Interpolation noise (1 + 4e-16 between two tied values) would make a spurious
    # edge and an empty bin; 12 significant digits remove it and nothing real.
    cut_points = [float(f"{q:.12g}") for q in np.quantile(array, probabilities)]
    edges = np.unique(cut_points)
    counts = np.bincount(
        np.searchsorted(edges, array, side="right"), minlength=edges.size + 1
    )
    return {
        "type": "numeric",
        "edges": [float(e) for e in edges],
        "proportions": [float(c) / array.size for c in counts],
    }


def category_label(value: Any) -> str:
    """The string key of a category: integral floats lose their ``.0`` (5.0 -> "5")."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def categorical_feature_baseline(values: ArrayLike) -> dict[str, Any]:
    """Share of each category of a feature, keyed by its string label.

    Missing values are ignored. Categories keep the order of their first sorted
    original values. Raises ValueError when no value is left.
    """
    series = pd.Series(values)
    series = series[series.notna()]
    if series.empty:
        raise ValueError("No values to build a baseline from.")
    counts = series.value_counts(sort=False)
    try:
        counts = counts.sort_index()
    except TypeError:  # mixed types cannot be ordered; keep first-seen order
        pass
    merged: dict[str, int] = {}
    for category, count in counts.items():
        # 5 and 5.0 are the same category once labelled; count them together.
        label = category_label(category)
        merged[label] = merged.get(label, 0) + int(count)
    total = sum(merged.values())
    return {
        "type": "categorical",
        "proportions": {label: count / total for label, count in merged.items()},
    }


def approval_rates(
    decisions: ArrayLike, groups: Mapping[str, ArrayLike]
) -> dict[str, Any]:
    """Overall approval rate and the rate per group of each protected attribute.

    ``decisions`` are 1 (approve) and 0 (decline); each array of ``groups`` gives the
    group of every decision. Rows whose group is missing count in the overall rate
    only. Raises ValueError on an empty input or on arrays of different lengths.
    """
    decided = np.asarray(decisions, dtype=float)
    if decided.size == 0:
        raise ValueError("No decisions.")
    by_group: dict[str, dict[str, float]] = {}
    for attribute, labels in groups.items():
        series = pd.Series(labels)
        if len(series) != decided.size:
            raise ValueError(
                f"{attribute}: {len(series)} group labels for {decided.size} decisions."
            )
        present = series.notna().to_numpy()
        frame = pd.DataFrame(
            {
                "decision": decided[present],
                "group": series[present].map(category_label).to_numpy(),
            }
        )
        rates = frame.groupby("group", sort=True)["decision"].mean()
        by_group[attribute] = {str(group): float(rate) for group, rate in rates.items()}
    return {"overall": float(decided.mean()), "by_group": by_group}


def performance(y_true: ArrayLike, score: ArrayLike) -> dict[str, float]:
    """Discrimination of a score: AUC, Gini (2 x AUC - 1) and KS.

    KS is the largest gap between the true- and false-positive rates over the ROC
    curve, which equals the largest distance between the score distributions of the
    two classes. ``y_true`` is 1 for the positive class (for example good credit).
    """
    truth: np.ndarray = np.asarray(y_true)
    scores = np.asarray(score, dtype=float)
    auc = float(roc_auc_score(truth, scores))
    fpr, tpr, _ = roc_curve(truth, scores)
    return {
        "auc": auc,
        "gini": 2.0 * auc - 1.0,
        "ks": float(np.max(np.abs(tpr - fpr))),
    }


def _column(df: pd.DataFrame, value: str | ArrayLike) -> Any:
    return df[value] if isinstance(value, str) else value


def build_baseline(
    df: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    decision: str | ArrayLike | None = None,
    groups: Mapping[str, str | ArrayLike] | None = None,
    y_true: str | ArrayLike | None = None,
    score: str | ArrayLike | None = None,
    *,
    bins: int = 10,
) -> dict[str, Any]:
    """The baseline of a version: feature distributions, approval rates, performance.

    ``numeric`` and ``categorical`` name feature columns of ``df``. ``decision``,
    the values of ``groups`` (protected attribute -> groups), ``y_true`` and
    ``score`` are either column names of ``df`` or arrays aligned with it. The
    approval-rate and performance parts are left out when their inputs are not
    given. The result passes ``registry.baseline.validate_baseline``.
    """
    features: dict[str, Any] = {}
    for name in numeric:
        features[name] = numeric_feature_baseline(df[name], bins=bins)
    for name in categorical:
        features[name] = categorical_feature_baseline(df[name])
    baseline: dict[str, Any] = {"n": int(len(df)), "features": features}
    if decision is not None:
        baseline["approval_rate"] = approval_rates(
            _column(df, decision),
            {attr: _column(df, labels) for attr, labels in (groups or {}).items()},
        )
    if y_true is not None and score is not None:
        baseline["performance"] = performance(_column(df, y_true), _column(df, score))
    return baseline
