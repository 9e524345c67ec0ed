"""Population drift (PSI, Jensen-Shannon) and performance drift from aggregated counts.

Pure: numpy, pandas, scipy and scikit-learn only, no Django. Nothing here reads a
prediction row: feature drift works on ``feature -> bin -> n`` counts and
performance on ``(score, outcome) -> n`` cells, as the hourly rollups store them.

The binning contract is the baseline's (``registry.baseline_stats``): a numeric
value ``x`` falls in bin ``bisect_right(edges, x)``, so a feature with ``k`` edges
has ``k + 1`` bins labelled ``"0"`` to ``str(k)``, the outer edges being minus and
plus infinity; a categorical value falls in the bin of its ``category_label``.
Missing values are counted apart and left out of every share (DOMAIN.md 5.1).
"""

from __future__ import annotations

import math
import numbers
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2
from sklearn.metrics import roc_auc_score, roc_curve

STATUSES = ("ok", "watch", "breach", "insufficient")
_CELL_COLUMNS = ("score", "outcome", "n", "score_sum")


def _category_label(value: Any) -> str | None:
    # Mirrors registry.baseline_stats.category_label without importing numpy or the
    # registry: numpy floats are numbers.Real and numpy integers numbers.Integral.
    if value is None:
        return None
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):  # bool included: "True" / "False"
        return str(value)
    if isinstance(value, float) or (
        isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral)
    ):
        as_float = float(value)
        if math.isnan(as_float):  # pandas' missing value; the baseline drops it too
            return None
        if as_float.is_integer():
            return str(int(as_float))
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    return str(value)


def bin_label(spec: Mapping[str, Any], value: Any) -> str | None:
    """The bin key of one feature value under a baseline feature ``spec``.

    Numeric: ``str(bisect_right(edges, float(value)))``, from ``"0"`` to
    ``str(len(edges))``; anything ``float()`` accepts counts as a number (as
    ``numpy.asarray(..., dtype=float)`` does when the baseline is built, so
    ``True`` is 1.0 and ``"2.5"`` is 2.5). Categorical: the baseline's category label
    (integral floats lose ``.0``; booleans are ``"True"``/``"False"``). Returns None
    for a missing value: None, NaN, an infinite or non-numeric value of a numeric
    feature. Called once per feature per prediction, so it avoids numpy.
    """
    if spec.get("type") == "numeric":
        if value is None:
            return None
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            return None
        if not math.isfinite(number):
            return None
        return str(bisect_right(spec["edges"], number))
    return _category_label(value)


def psi(
    expected: Sequence[float], actual: Sequence[float], *, epsilon: float = 1e-6
) -> float:
    """Population stability index of two share vectors over the same bins.

    PSI = sum_i (A_i - E_i) * ln(A_i / E_i), where E are the baseline shares and A
    the current ones. Each share is floored at ``epsilon`` first (DOMAIN.md 5.1:
    "floor empty bins at epsilon, document epsilon"), so an empty bin adds a large
    but finite term; the floored shares are not renormalised. The shares are used
    as given (each vector should sum to 1). Raises ValueError on vectors of
    different or zero length, negative shares, or ``epsilon <= 0``.
    """
    if epsilon <= 0:
        raise ValueError("epsilon must be positive.")
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if e.ndim != 1 or e.shape != a.shape or e.size == 0:
        raise ValueError("expected and actual must be non-empty and of equal length.")
    if not (np.all(np.isfinite(e)) and np.all(np.isfinite(a))):
        raise ValueError("Shares must be finite.")
    if np.any(e < 0) or np.any(a < 0):
        raise ValueError("Shares must not be negative.")
    e = np.maximum(e, epsilon)
    a = np.maximum(a, epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def _format_edge(edge: float) -> str:
    if edge.is_integer() and abs(edge) < 1e15:
        return str(int(edge))
    text = f"{edge:.6g}"
    return f"{edge:.2f}" if "e+" in text else text


def numeric_bin_ranges(edges: Sequence[float]) -> list[str]:
    """Human labels of the ``len(edges) + 1`` bins: "< a", "a – b", ..., "≥ z".

    Bin ``i`` holds ``edges[i-1] <= x < edges[i]``; "a – b" is that half-open range.
    """
    if not edges:
        return ["all values"]
    shown = [_format_edge(float(e)) for e in edges]
    ranges = [f"< {shown[0]}"]
    ranges += [f"{lo} – {hi}" for lo, hi in zip(shown, shown[1:], strict=False)]
    ranges.append(f"≥ {shown[-1]}")
    return ranges


def _count(value: Any, where: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        number = -1
    if number != value or number < 0:
        raise ValueError(f"{where}: counts must be non-negative integers.")
    return number


def _feature_bins(
    name: str, spec: Mapping[str, Any], counts: Mapping[Any, Any]
) -> tuple[list[dict[str, Any]], int]:
    """The bins of one feature and its missing count.

    Each bin: ``label``, ``range`` (numeric only, else None), ``expected`` share,
    ``count`` and ``in_baseline``; ``feature_drift`` adds the ``actual`` share.
    """
    missing_n = 0
    observed: dict[str, int] = {}
    for key, value in counts.items():
        n = _count(value, f"{name}.{key}")
        # Keys are labels already; labelling again also folds 5.0 into "5". The
        # missing values' key is "" in the rollups, None in hand-built counts.
        label = _category_label(key)
        if label is None or label == "":
            missing_n += n
        else:
            observed[label] = observed.get(label, 0) + n
    bins: list[dict[str, Any]] = []
    if spec.get("type") == "numeric":
        edges = list(spec["edges"])
        labels = [str(i) for i in range(len(edges) + 1)]
        unknown = sorted(set(observed) - set(labels))
        if unknown:
            raise ValueError(
                f"{name}: bins {', '.join(unknown)} do not exist for "
                f"{len(edges)} edges; the counts were binned with other edges."
            )
        for label, expected, range_ in zip(
            labels, spec["proportions"], numeric_bin_ranges(edges), strict=True
        ):
            bins.append(
                {
                    "label": label,
                    "range": range_,
                    "expected": float(expected),
                    "count": observed.get(label, 0),
                    "in_baseline": True,
                }
            )
    else:
        proportions: Mapping[str, float] = spec["proportions"]
        for label, expected in proportions.items():
            bins.append(
                {
                    "label": str(label),
                    "range": None,
                    "expected": float(expected),
                    "count": observed.get(str(label), 0),
                    "in_baseline": True,
                }
            )
        # Categories the baseline never saw get a bin of their own, expected 0.
        for label in sorted(set(observed) - {str(k) for k in proportions}):
            bins.append(
                {
                    "label": label,
                    "range": None,
                    "expected": 0.0,
                    "count": observed[label],
                    "in_baseline": False,
                }
            )
    return bins, missing_n


def psi_p_value(
    value: float, *, n: int, bins: int, baseline_n: int | None = None
) -> float | None:
    """Sample-size-aware p-value of a PSI under "no shift" (Yurdakul 2018).

    Under H0, PSI is approximately (1/n + 1/m) * chi2 with ``bins - 1`` degrees of
    freedom, ``n`` being the current and ``m`` the baseline sample size; without
    ``baseline_n`` the baseline shares are treated as exact (1/m = 0). None when
    there are fewer than two bins or no current sample.
    """
    if bins < 2 or n <= 0:
        return None
    scale = 1.0 / n + (1.0 / baseline_n if baseline_n else 0.0)
    return float(chi2.sf(value / scale, bins - 1))


def _finding(band: str, feature: str, value: float, threshold: float) -> dict[str, Any]:
    return {
        "metric": "psi",
        "feature": feature,
        "value": value,
        "threshold": threshold,
        "message": (
            f"PSI of {feature} is {value:.3f}, at or above the {band} "
            f"threshold {threshold:g}."
        ),
    }


def feature_drift(
    baseline_features: Mapping[str, Mapping[str, Any]],
    counts: Mapping[str, Mapping[Any, int]],
    *,
    watch: float = 0.1,
    breach: float = 0.25,
    epsilon: float = 1e-6,
    min_samples: int = 100,
    baseline_n: int | None = None,
) -> dict[str, Any]:
    """PSI, Jensen-Shannon distance and a PSI p-value of every baselined feature.

    ``counts[feature][bin_label]`` is the number of current values in each bin
    (see ``bin_label``); absent bins count 0, and the keys None and "" hold the
    missing values (``missing_n``, left out of the shares). A category unseen at
    baseline gets a bin of its own with expected share 0, floored at ``epsilon`` in
    the PSI. The JS distance (base 2, in [0, 1]) uses the unfloored shares.
    ``psi_p_value`` follows Yurdakul (2018) with ``baseline_n`` as the reference
    sample size when given. Status per feature: "insufficient" when fewer than
    ``min_samples`` non-missing values (never a finding), else "breach" when
    PSI >= ``breach``, "watch" when PSI >= ``watch``, else "ok". Features in the
    counts but not in the baseline are ignored. The result is JSON-serialisable
    (no NaN or infinity). Raises ValueError on negative or non-integral counts and
    on numeric bins that do not exist under the baseline's edges.
    """
    if not 0 <= watch <= breach:
        raise ValueError("Thresholds must satisfy 0 <= watch <= breach.")
    features: list[dict[str, Any]] = []
    breaches: list[dict[str, Any]] = []
    watches: list[dict[str, Any]] = []
    for name, spec in baseline_features.items():
        bins, missing_n = _feature_bins(name, spec, counts.get(name) or {})
        n = sum(b["count"] for b in bins)
        expected = [b["expected"] for b in bins]
        for b in bins:
            b["actual"] = b["count"] / n if n else 0.0
        value: float | None = None
        js: float | None = None
        p_value: float | None = None
        if n:
            actual = [b["actual"] for b in bins]
            value = psi(expected, actual, epsilon=epsilon)
            js = float(jensenshannon(expected, actual, base=2))
            p_value = psi_p_value(value, n=n, bins=len(bins), baseline_n=baseline_n)
        if value is None or n < min_samples:
            status = "insufficient"
        elif value >= breach:
            status = "breach"
            breaches.append(_finding("breach", name, value, breach))
        elif value >= watch:
            status = "watch"
            watches.append(_finding("watch", name, value, watch))
        else:
            status = "ok"
        features.append(
            {
                "feature": name,
                "type": spec.get("type"),
                "n": n,
                "missing_n": missing_n,
                "psi": value,
                "js_distance": js,
                "psi_p_value": p_value,
                "status": status,
                "bins": bins,
            }
        )
    return {
        "features": features,
        "breaches": breaches,
        "watch": watches,
        "settings": {
            "watch": watch,
            "breach": breach,
            "epsilon": epsilon,
            "min_samples": min_samples,
            "baseline_n": baseline_n,
        },
    }


def _score_cells(cells: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in _CELL_COLUMNS if c not in cells.columns]
    if missing:
        raise ValueError(f"cells: missing columns {', '.join(missing)}.")
    frame = pd.DataFrame(
        {
            "score": pd.to_numeric(cells["score"]).astype(float),
            "outcome": pd.to_numeric(cells["outcome"]),
            "n": pd.to_numeric(cells["n"]),
            "score_sum": pd.to_numeric(cells["score_sum"]).astype(float),
        }
    )
    if not frame["outcome"].isin([0, 1]).all():
        raise ValueError("cells: outcome must be 1 (favourable) or 0.")
    if (frame["n"] < 0).any() or (frame["n"] != frame["n"].round()).any():
        raise ValueError("cells: n must be a non-negative integer.")
    if not np.isfinite(frame[["score", "score_sum"]].to_numpy()).all():
        raise ValueError("cells: score and score_sum must be finite.")
    frame["outcome"] = frame["outcome"].astype(int)
    frame["n"] = frame["n"].astype(np.int64)
    return frame[frame["n"] > 0].reset_index(drop=True)


def calibration_by_decile(
    cells: pd.DataFrame, *, deciles: int = 10
) -> list[dict[str, Any]]:
    """Mean predicted score against observed favourable rate per score decile.

    Cells are ordered by score and grouped by score value; a score value is never
    split between deciles: it goes, whole, to the decile that holds the midpoint of
    its cumulative weight (decile ``floor(deciles * (before + n/2) / total)``, in
    exact integer arithmetic). A decile can therefore be empty (it is then left
    out) or hold more than a tenth of the weight when one score value is frequent.
    ``mean_predicted`` uses the exact scores (sum of ``score_sum`` / sum of ``n``);
    ``score_min``/``score_max`` are the rounded cell scores.
    """
    if deciles < 1:
        raise ValueError("deciles must be at least 1.")
    frame = _score_cells(cells)
    if frame.empty:
        return []
    frame["favourable"] = frame["n"] * frame["outcome"]
    by_score = (
        frame.groupby("score", sort=True)[["n", "favourable", "score_sum"]]
        .sum()
        .reset_index()
    )
    weights = by_score["n"].to_numpy(dtype=np.int64)
    total = int(weights.sum())
    before = np.cumsum(weights) - weights
    bucket = np.minimum(((2 * before + weights) * deciles) // (2 * total), deciles - 1)
    by_score["decile"] = bucket + 1
    out: list[dict[str, Any]] = []
    for decile, group in by_score.groupby("decile", sort=True):
        n = int(group["n"].sum())
        favourable = int(group["favourable"].sum())
        out.append(
            {
                "decile": int(decile),
                "n": n,
                "positives": favourable,
                "mean_predicted": float(group["score_sum"].sum()) / n,
                "observed_rate": favourable / n,
                "score_min": float(group["score"].min()),
                "score_max": float(group["score"].max()),
            }
        )
    return out


def _discrimination(frame: pd.DataFrame) -> dict[str, float]:
    y = frame["outcome"].to_numpy()
    score = frame["score"].to_numpy()
    weight = frame["n"].to_numpy(dtype=float)
    # Weighted by cell counts, the ROC equals the one of the raw rows, ties included.
    auc = float(roc_auc_score(y, score, sample_weight=weight))
    fpr, tpr, _ = roc_curve(y, score, sample_weight=weight)
    return {"auc": auc, "gini": 2.0 * auc - 1.0, "ks": float(np.max(np.abs(tpr - fpr)))}


def _performance_breaches(
    changes: Mapping[str, Mapping[str, Any]],
    *,
    gini_drop_abs: float,
    gini_drop_rel: float,
    ks_drop_rel: float,
) -> list[dict[str, Any]]:
    """One finding per (metric, rule) whose drop exceeds its limit."""
    rules = [
        ("gini", "absolute_drop", gini_drop_abs),
        ("gini", "relative_drop", gini_drop_rel),
        ("ks", "relative_drop", ks_drop_rel),
    ]
    found: list[dict[str, Any]] = []
    for metric, rule, threshold in rules:
        change = changes.get(metric)
        if change is None:
            continue
        base, current = change["baseline"], change["current"]
        if rule == "absolute_drop":
            drop = base - current
            shown, limit = f"{drop:.3f}", f"{threshold:g}"
        elif base > 0:  # a relative drop only means something from a positive base
            drop = (base - current) / base
            shown, limit = f"{drop:.1%}", f"{threshold:.0%}"
        else:
            continue
        if not drop > threshold:
            continue
        kind = "an absolute" if rule == "absolute_drop" else "a relative"
        title = "KS" if metric == "ks" else metric.capitalize()
        found.append(
            {
                "metric": metric,
                "rule": rule,
                "value": current,
                "baseline": base,
                "drop": drop,
                "threshold": threshold,
                "message": (
                    f"{title} fell from {base:.3f} to {current:.3f}: {kind} drop "
                    f"of {shown}, more than the allowed {limit}."
                ),
            }
        )
    return found


def performance(
    cells: pd.DataFrame,
    *,
    baseline: Mapping[str, float] | None = None,
    gini_drop_abs: float = 0.05,
    gini_drop_rel: float = 0.10,
    ks_drop_rel: float = 0.10,
    deciles: int = 10,
    min_samples: int = 100,
) -> dict[str, Any]:
    """Discrimination and calibration of matured predictions from score cells.

    ``cells`` has one row per (rounded score, outcome) with columns ``score``,
    ``outcome`` (1 favourable, 0 not), ``n`` and ``score_sum`` (the sum of the exact
    scores). AUC is ``roc_auc_score`` weighted by ``n`` (equal to the raw rows' AUC,
    ties included), Gini = 2 AUC - 1, KS = max |TPR - FPR| over the weighted ROC.
    The Brier score needs each exact score and is not computed. Calibration: see
    ``calibration_by_decile``. Against ``baseline`` (any of "auc", "gini", "ks";
    a missing "gini" is derived from "auc"): a breach when Gini drops by more than
    ``gini_drop_abs`` absolute or ``gini_drop_rel`` relative, or KS by more than
    ``ks_drop_rel`` relative. Status "insufficient" (no breach) when fewer than
    ``min_samples`` matured predictions or a single outcome class; metrics are
    still reported when both classes are present. Raises ValueError on malformed
    cells.
    """
    frame = _score_cells(cells)
    n = int(frame["n"].sum())
    positives = int((frame["n"] * frame["outcome"]).sum())
    both_classes = 0 < positives < n
    metrics: dict[str, float | None] = {"auc": None, "gini": None, "ks": None}
    if both_classes:
        metrics.update(_discrimination(frame))
    reference: dict[str, float] | None = None
    if baseline is not None:
        reference = {
            k: float(v)
            for k, v in baseline.items()
            if k in metrics and v is not None and math.isfinite(v)
        }
        if "gini" not in reference and "auc" in reference:
            reference["gini"] = 2.0 * reference["auc"] - 1.0
    changes: dict[str, dict[str, Any]] = {}
    for metric, base in (reference or {}).items():
        current = metrics[metric]
        if current is None:
            continue
        change = current - base
        changes[metric] = {
            "baseline": base,
            "current": current,
            "change": change,
            "relative_change": change / abs(base) if base else None,
        }
    insufficient = n < min_samples or not both_classes
    breaches = (
        []
        if insufficient
        else _performance_breaches(
            changes,
            gini_drop_abs=gini_drop_abs,
            gini_drop_rel=gini_drop_rel,
            ks_drop_rel=ks_drop_rel,
        )
    )
    if insufficient:
        status = "insufficient"
    else:
        status = "breach" if breaches else "ok"
    return {
        "n": n,
        "positives": positives,
        "auc": metrics["auc"],
        "gini": metrics["gini"],
        "ks": metrics["ks"],
        "calibration": calibration_by_decile(frame, deciles=deciles),
        "baseline": reference,
        "changes": changes,
        "status": status,
        "breaches": breaches,
    }
