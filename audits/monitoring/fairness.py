"""Fairness report and approval-rate drift from aggregated prediction counts. Pure.

The input is *cells*, never raw rows: one row per combination of protected attribute
values (strings; None or NaN when the attribute is missing), ``decision`` (1 =
approve, the favourable decision), ``outcome`` (1.0 favourable, 0.0 unfavourable,
NaN not matured yet) and ``n``, the number of predictions in that cell. Callers
build them with SQL ``GROUP BY`` over hourly rollups, so memory is O(cells) whatever
the traffic. Rows sharing a key are summed.

Rates are fairlearn (``MetricFrame`` and the disparity functions) run on the cells
with ``sample_weight=n``, which is fairlearn run on the raw rows up to float
rounding. Where a denominator is zero the rate is None: fairlearn (through
scikit-learn's normalised confusion matrix) would report 0.0 instead.

AIR below the four-fifths threshold is a *screening flag* (29 CFR 1607.4(D), used in
lending by analogy), never a finding of discrimination; the wording of every note
says so. Thresholds are compared with a slack of 1e-12 so that a value that is on a
threshold in exact arithmetic (AIR 0.8, a 15 % drop) stays on it after rounding.
Every output is JSON-serialisable: plain ints, floats, strings and None, no NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from scipy.stats import norm

# The one label of the missing group: an attribute absent, null or "" in the
# prediction. Shown with its counts, never assessed (no AIR, not in DPD, DPR or
# EOD, never a reference, never a breach).
MISSING = "(missing)"
ATTRIBUTE_JOINER = " × "
GROUP_JOINER = " / "
DECISION = "decision"
OUTCOME = "outcome"
COUNT = "n"

_SLACK = 1e-12


# --- Statistics helpers -------------------------------------------------------------


def _check_successes(successes: int, n: int) -> None:
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"Need 0 <= successes <= n, got {successes} of {n}.")


def _check_probability(value: float, name: str) -> None:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be strictly between 0 and 1, got {value}.")


def wilson_interval(
    successes: int, n: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Two-sided Wilson score interval for the proportion ``successes / n``.

    Uses the normal quantile of ``confidence``; both bounds lie in [0, 1], the
    lower exactly 0 with no successes and the upper exactly 1 with all successes.
    Raises ValueError when ``n`` is below 1, ``successes`` is outside [0, n] or
    ``confidence`` is outside (0, 1).
    """
    _check_successes(successes, n)
    if n < 1:
        raise ValueError("A Wilson interval needs n >= 1.")
    _check_probability(confidence, "confidence")
    z = float(norm.ppf(0.5 + confidence / 2.0))
    z2 = z * z
    proportion = successes / n
    denominator = 1.0 + z2 / n
    centre = (proportion + z2 / (2.0 * n)) / denominator
    half_width = (
        z
        * math.sqrt(proportion * (1.0 - proportion) / n + z2 / (4.0 * n * n))
        / denominator
    )
    # At 0 or n successes a bound is 0 or 1 exactly; rounding would leave 1e-17.
    low = 0.0 if successes == 0 else max(0.0, centre - half_width)
    high = 1.0 if successes == n else min(1.0, centre + half_width)
    return low, high


def two_proportion_p_value(x1: int, n1: int, x2: int, n2: int) -> float | None:
    """Two-sided p-value of the pooled two-proportion z-test of x1/n1 against x2/n2.

    Returns None when either sample is empty. When the pooled proportion is 0 or 1
    both samples are identical (all 0 or all 1) and the p-value is 1.0, as Fisher's
    exact test gives. Raises ValueError when a count is outside [0, n].
    """
    _check_successes(x1, n1)
    _check_successes(x2, n2)
    if n1 == 0 or n2 == 0:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)
    if variance == 0.0:
        return 1.0
    z = (x1 / n1 - x2 / n2) / math.sqrt(variance)
    return float(2.0 * norm.sf(abs(z)))


def one_proportion_p_value(x: int, n: int, p0: float) -> float | None:
    """Two-sided p-value of the one-sample z-test of x/n against a fixed rate ``p0``.

    The standard error is taken under the null, sqrt(p0 (1 - p0) / n). Returns None
    when ``n`` is 0. For ``p0`` of exactly 0 or 1 the test degenerates: the p-value
    is 1.0 if x/n equals p0 and 0.0 otherwise (the observation is impossible under
    the null). Raises ValueError when ``x`` is outside [0, n] or ``p0`` outside
    [0, 1].
    """
    _check_successes(x, n)
    if not 0.0 <= p0 <= 1.0:
        raise ValueError(f"p0 must be within [0, 1], got {p0}.")
    if n == 0:
        return None
    proportion = x / n
    if p0 in (0.0, 1.0):
        return 1.0 if proportion == p0 else 0.0
    z = (proportion - p0) / math.sqrt(p0 * (1.0 - p0) / n)
    return float(2.0 * norm.sf(abs(z)))


# --- Cells --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tally:
    """Prediction counts of one group; ``positives`` and ``negatives`` are matured."""

    n: int
    approved: int
    matured_n: int
    positives: int
    negatives: int
    true_positives: int
    false_positives: int


_TALLY_FIELDS = (
    "n",
    "approved",
    "matured_n",
    "positives",
    "negatives",
    "true_positives",
    "false_positives",
)


def _attribute_label(value: Any) -> str | None:
    # "" is how the rollups store a missing value; it is never a group of its own.
    if isinstance(value, str):
        return value or None
    if value is None or bool(pd.isna(value)):
        return None
    return str(value)


def _normalise_cells(cells: pd.DataFrame, attributes: Sequence[str]) -> pd.DataFrame:
    """Validated cells, one row per key, attribute values as str (or None)."""
    attribute_list = list(attributes)
    if not attribute_list:
        raise ValueError("At least one protected attribute is needed.")
    if len(set(attribute_list)) != len(attribute_list):
        raise ValueError(f"Attributes repeat: {attribute_list}.")
    columns = [*attribute_list, DECISION, OUTCOME, COUNT]
    absent = [column for column in columns if column not in cells.columns]
    if absent:
        raise ValueError(f"Cells lack the columns {absent}.")
    frame = cells.loc[:, columns].copy()
    for attribute in attribute_list:
        values = frame[attribute].astype(object)
        frame[attribute] = [_attribute_label(v) for v in values]
    frame[OUTCOME] = pd.to_numeric(frame[OUTCOME]).astype(float)
    counts = pd.to_numeric(frame[COUNT])
    if not frame[DECISION].isin([0, 1]).all():
        raise ValueError("decision must be 0 or 1.")
    if not (frame[OUTCOME].isna() | frame[OUTCOME].isin([0.0, 1.0])).all():
        raise ValueError("outcome must be 1.0, 0.0 or NaN.")
    if not ((counts > 0) & (counts % 1 == 0)).all():
        raise ValueError("n must be a positive whole number in every cell.")
    frame[DECISION] = frame[DECISION].astype(np.int64)
    frame[COUNT] = counts.astype(np.int64)
    summed = frame.groupby(columns[:-1], dropna=False, sort=True)[COUNT].sum()
    result = summed.reset_index()
    for attribute in attribute_list:
        values = result[attribute].astype(object)
        result[attribute] = [None if pd.isna(v) else v for v in values]
    return result


def _count_parts(frame: pd.DataFrame) -> pd.DataFrame:
    count = frame[COUNT]
    approved = count * frame[DECISION]
    positive = frame[OUTCOME].eq(1.0)
    negative = frame[OUTCOME].eq(0.0)
    return pd.DataFrame(
        {
            "n": count,
            "approved": approved,
            "matured_n": count.where(positive | negative, 0),
            "positives": count.where(positive, 0),
            "negatives": count.where(negative, 0),
            "true_positives": approved.where(positive, 0),
            "false_positives": approved.where(negative, 0),
        }
    )


def _tally(sums: Mapping[str, Any]) -> _Tally:
    return _Tally(**{field: int(sums[field]) for field in _TALLY_FIELDS})


def _group_tallies(frame: pd.DataFrame, labels: np.ndarray) -> dict[str, _Tally]:
    sums = _count_parts(frame).groupby(labels, sort=True).sum()
    return {str(label): _tally(row) for label, row in sums.iterrows()}


def _labelled(
    frame: pd.DataFrame, attributes: Sequence[str]
) -> tuple[pd.DataFrame, np.ndarray]:
    """The cells where every attribute is present, and their group labels."""
    present = frame.loc[frame[list(attributes)].notna().all(axis=1)]
    if present.empty:
        return present, np.array([], dtype=object)
    parts = present[list(attributes)].to_numpy(dtype=object)
    labels = [GROUP_JOINER.join(row) for row in parts]
    # One row per (group, decision, outcome): fairlearn's cost grows with the rows it
    # is given, and the other attributes' splits add nothing to this key's metrics.
    collapsed = (
        pd.DataFrame(
            {
                "label": labels,
                DECISION: present[DECISION].to_numpy(),
                OUTCOME: present[OUTCOME].to_numpy(),
                COUNT: present[COUNT].to_numpy(),
            }
        )
        .groupby(["label", DECISION, OUTCOME], dropna=False, sort=True)[COUNT]
        .sum()
        .reset_index()
    )
    return (
        collapsed[[DECISION, OUTCOME, COUNT]].reset_index(drop=True),
        collapsed["label"].to_numpy(dtype=object),
    )


# --- fairlearn on counts ------------------------------------------------------------


def _selection_rates(frame: pd.DataFrame, labels: np.ndarray) -> dict[str, float]:
    decision = frame[DECISION].to_numpy()
    metric_frame = MetricFrame(
        metrics={"selection_rate": selection_rate},
        y_true=decision,
        y_pred=decision,
        sensitive_features=labels,
        sample_params={"selection_rate": {"sample_weight": frame[COUNT].to_numpy()}},
    )
    by_group = metric_frame.by_group["selection_rate"]
    return {str(label): float(rate) for label, rate in by_group.items()}


def _error_rates(
    frame: pd.DataFrame, labels: np.ndarray
) -> dict[str, tuple[float, float]]:
    """TPR and FPR per group over the matured cells (0.0 where undefined)."""
    matured = frame[OUTCOME].notna().to_numpy()
    if not matured.any():
        return {}
    weights = frame[COUNT].to_numpy()[matured]
    metric_frame = MetricFrame(
        metrics={"tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=frame[OUTCOME].to_numpy()[matured].astype(np.int64),
        y_pred=frame[DECISION].to_numpy()[matured],
        sensitive_features=labels[matured],
        sample_params={
            "tpr": {"sample_weight": weights},
            "fpr": {"sample_weight": weights},
        },
    )
    by_group = metric_frame.by_group
    return {
        str(label): (float(row["tpr"]), float(row["fpr"]))
        for label, row in by_group.iterrows()
    }


def _assessable_for_eod(tally: _Tally, min_samples: int) -> bool:
    """At least ``min_samples`` matured predictions, with both outcomes."""
    return (
        tally.matured_n >= min_samples and tally.positives > 0 and tally.negatives > 0
    )


def _missing_note() -> str:
    return (
        "Predictions without a value of this attribute (absent, null or empty): "
        "shown, never assessed."
    )


def _disparities(
    frame: pd.DataFrame,
    labels: np.ndarray,
    tallies: Mapping[str, _Tally],
    min_samples: int,
) -> dict[str, float | None]:
    """DPD and DPR over groups with n >= min_samples; EOD over matured ones.

    EOD keeps only groups with at least ``min_samples`` matured predictions and
    both outcomes among them: without one outcome a group's TPR or FPR is
    undefined, and fairlearn would silently count it as 0.0.
    """
    sufficient = [label for label, t in tallies.items() if t.n >= min_samples]
    result: dict[str, float | None] = {
        "demographic_parity_difference": None,
        "demographic_parity_ratio": None,
        "equalized_odds_difference": None,
    }
    if len(sufficient) >= 2:
        keep = np.isin(labels, sufficient)
        decision = frame[DECISION].to_numpy()[keep]
        weights = frame[COUNT].to_numpy()[keep]
        arguments: dict[str, Any] = {
            "sensitive_features": labels[keep],
            "sample_weight": weights,
        }
        result["demographic_parity_difference"] = _finite(
            demographic_parity_difference(decision, decision, **arguments)
        )
        result["demographic_parity_ratio"] = _finite(
            demographic_parity_ratio(decision, decision, **arguments)
        )
    assessable = [
        label for label, t in tallies.items() if _assessable_for_eod(t, min_samples)
    ]
    if len(assessable) >= 2:
        keep = np.isin(labels, assessable) & frame[OUTCOME].notna().to_numpy()
        result["equalized_odds_difference"] = _finite(
            equalized_odds_difference(
                frame[OUTCOME].to_numpy()[keep].astype(np.int64),
                frame[DECISION].to_numpy()[keep],
                sensitive_features=labels[keep],
                sample_weight=frame[COUNT].to_numpy()[keep],
            )
        )
    return result


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _precision(tally: _Tally) -> float | None:
    return _ratio(tally.true_positives, tally.true_positives + tally.false_positives)


# --- Fairness report ----------------------------------------------------------------


def _four_fifths_words(air_threshold: float) -> str:
    if math.isclose(air_threshold, 0.8):
        return "four-fifths"
    return f"{air_threshold:g} times"


def _flag_note(air_threshold: float, alpha: float) -> str:
    return (
        f"Selection rate is below {_four_fifths_words(air_threshold)} of the "
        "reference group's and the difference is statistically significant "
        f"(p < {alpha:g}): a screening flag for adverse impact under the "
        "four-fifths rule (29 CFR 1607.4(D)), used in lending by analogy; it is not "
        "a finding of discrimination."
    )


def _insufficient_note(min_samples: int) -> str:
    return (
        f"Fewer than {min_samples} predictions: reported as insufficient, not assessed."
    )


@dataclass(frozen=True)
class _Thresholds:
    min_samples: int
    air_threshold: float
    air_watch: float
    alpha: float
    confidence: float


def _assess_air(
    air: float | None, p_value: float | None, thresholds: _Thresholds
) -> tuple[str, str]:
    """Status and note of a sufficient, non-reference group."""
    if air is None:
        return "ok", (
            "The reference group's selection rate is 0, so AIR is undefined; "
            "no group can be selected less often than it."
        )
    if air < thresholds.air_threshold - _SLACK:
        if p_value is not None and p_value < thresholds.alpha:
            return "flag", _flag_note(thresholds.air_threshold, thresholds.alpha)
        shown = "n/a" if p_value is None else f"{p_value:.3g}"
        return "watch", (
            f"Selection rate is below {_four_fifths_words(thresholds.air_threshold)} "
            "of the reference group's but the difference is not statistically "
            f"significant (p = {shown}, alpha {thresholds.alpha:g}): watch."
        )
    if air < thresholds.air_watch - _SLACK:
        return "watch", (
            f"AIR is between {thresholds.air_threshold:g} and "
            f"{thresholds.air_watch:g}: watch or escalate."
        )
    return "ok", f"AIR is at least {thresholds.air_watch:g}."


@dataclass(frozen=True)
class _Reference:
    """The reference group of one attribute key; ``tally`` None when it has no rows."""

    label: str | None
    source: str
    tally: _Tally | None
    rate: float | None
    min_samples: int

    @property
    def sufficient(self) -> bool:
        return self.tally is not None and self.tally.n >= self.min_samples


def _choose_reference(
    attributes: Sequence[str],
    tallies: Mapping[str, _Tally],
    rates: Mapping[str, float],
    configured: Mapping[str, str] | None,
    min_samples: int,
) -> _Reference:
    label: str | None
    if configured is not None and all(a in configured for a in attributes):
        label = GROUP_JOINER.join(str(configured[a]) for a in attributes)
        source = "configured"
    else:
        source = "most_favoured"
        eligible = [key for key in sorted(tallies) if tallies[key].n >= min_samples]
        # Exact fractions, so that equal rates tie and the first sorted label wins.
        label = max(
            eligible,
            key=lambda key: Fraction(tallies[key].approved, tallies[key].n),
            default=None,
        )
    if label is None:
        return _Reference(None, source, None, None, min_samples)
    return _Reference(label, source, tallies.get(label), rates.get(label), min_samples)


def _reference_note(reference: _Reference) -> str | None:
    if reference.label is None:
        return (
            f"No group has {reference.min_samples} or more predictions: "
            "no reference group, AIR is not assessed."
        )
    if reference.tally is None:
        return (
            f"The configured reference group {reference.label!r} has no predictions: "
            "every AIR is left out."
        )
    if not reference.sufficient:
        return (
            f"The configured reference group {reference.label!r} has fewer than "
            f"{reference.min_samples} predictions: every AIR is left out."
        )
    return None


def _group_entry(
    label: str,
    tally: _Tally,
    rate: float,
    error_rates: tuple[float, float] | None,
    reference: _Reference,
    thresholds: _Thresholds,
) -> dict[str, Any]:
    ci_low, ci_high = wilson_interval(tally.approved, tally.n, thresholds.confidence)
    tpr = fpr = None
    if error_rates is not None:
        tpr = error_rates[0] if tally.positives else None
        fpr = error_rates[1] if tally.negatives else None
    air: float | None = None
    p_value: float | None = None
    if label == reference.label:
        status = "reference"
        if reference.sufficient and rate > 0:
            air = 1.0
        note = (
            "Reference group (configured)."
            if reference.source == "configured"
            else "Reference group: the most favoured (highest selection rate among "
            f"groups with at least {thresholds.min_samples} predictions)."
        )
        if not reference.sufficient:
            note += (
                f" {_insufficient_note(thresholds.min_samples)} AIR is not reported."
            )
    elif tally.n < thresholds.min_samples:
        status, note = "insufficient", _insufficient_note(thresholds.min_samples)
    elif reference.tally is None or reference.rate is None or not reference.sufficient:
        status = "insufficient"
        note = (
            f"The reference group {reference.label!r} has fewer than "
            f"{thresholds.min_samples} predictions: AIR is not assessed."
        )
    else:
        air = rate / reference.rate if reference.rate > 0 else None
        p_value = two_proportion_p_value(
            tally.approved, tally.n, reference.tally.approved, reference.tally.n
        )
        status, note = _assess_air(air, p_value, thresholds)
    return {
        "group": label,
        "n": tally.n,
        "approved": tally.approved,
        "selection_rate": _finite(rate),
        "ci_low": _finite(ci_low),
        "ci_high": _finite(ci_high),
        "matured_n": tally.matured_n,
        "tpr": _finite(tpr),
        "fpr": _finite(fpr),
        "precision": _finite(_precision(tally)),
        "air": _finite(air),
        "air_p_value": _finite(p_value),
        "status": status,
        "note": note,
    }


def _attribute_entry(
    frame: pd.DataFrame,
    attributes: Sequence[str],
    reference: Mapping[str, str] | None,
    thresholds: _Thresholds,
) -> dict[str, Any]:
    present, labels = _labelled(frame, attributes)
    missing_n = int(frame[COUNT].sum()) - int(present[COUNT].sum())
    absent = frame.loc[frame[list(attributes)].isna().any(axis=1)]
    missing_approved = int((absent[COUNT] * absent[DECISION]).sum())
    tallies = _group_tallies(present, labels) if len(labels) else {}
    rates = _selection_rates(present, labels) if len(labels) else {}
    error_rates = _error_rates(present, labels) if len(labels) else {}
    chosen = _choose_reference(
        attributes, tallies, rates, reference, thresholds.min_samples
    )
    groups = [
        _group_entry(
            label,
            tallies[label],
            rates[label],
            error_rates.get(label),
            chosen,
            thresholds,
        )
        for label in sorted(tallies)
    ]
    return {
        "attributes": list(attributes),
        "reference": chosen.label,
        "reference_source": chosen.source,
        "note": _reference_note(chosen),
        "missing_n": missing_n,
        "missing": {
            "group": MISSING,
            "n": missing_n,
            "approved": missing_approved,
            "selection_rate": _ratio(missing_approved, missing_n),
            "status": "not_assessed",
            "note": _missing_note(),
        },
        "groups": groups,
        **_disparities(present, labels, tallies, thresholds.min_samples),
        "insufficient_groups": [
            label
            for label in sorted(tallies)
            if tallies[label].n < thresholds.min_samples
        ],
        "eod_left_out_groups": [
            label
            for label in sorted(tallies)
            if not _assessable_for_eod(tallies[label], thresholds.min_samples)
        ],
    }


def _overall(frame: pd.DataFrame) -> dict[str, Any]:
    sums = _count_parts(frame).sum()
    tally = _tally(sums)
    decision = frame[DECISION].to_numpy()
    weights = frame[COUNT].to_numpy()
    rate = (
        selection_rate(decision, decision, sample_weight=weights) if tally.n else None
    )
    tpr = fpr = None
    matured = frame[OUTCOME].notna().to_numpy()
    if tally.matured_n:
        outcome = frame[OUTCOME].to_numpy()[matured].astype(np.int64)
        arguments = (outcome, decision[matured])
        if tally.positives:
            tpr = true_positive_rate(*arguments, sample_weight=weights[matured])
        if tally.negatives:
            fpr = false_positive_rate(*arguments, sample_weight=weights[matured])
    return {
        "n": tally.n,
        "approved": tally.approved,
        "selection_rate": _finite(rate),
        "matured_n": tally.matured_n,
        "tpr": _finite(tpr),
        "fpr": _finite(fpr),
        "precision": _finite(_precision(tally)),
    }


def _check_report_parameters(thresholds: _Thresholds) -> None:
    if thresholds.min_samples < 1:
        raise ValueError("min_samples must be at least 1.")
    if not 0.0 < thresholds.air_threshold <= thresholds.air_watch:
        raise ValueError("Need 0 < air_threshold <= air_watch.")
    _check_probability(thresholds.alpha, "alpha")
    _check_probability(thresholds.confidence, "confidence")


def fairness_report(
    cells: pd.DataFrame,
    *,
    attributes: Sequence[str],
    reference: Mapping[str, str] | None = None,
    min_samples: int = 30,
    air_threshold: float = 0.8,
    air_watch: float = 0.9,
    alpha: float = 0.05,
    confidence: float = 0.95,
    intersections: bool = True,
) -> dict[str, Any]:
    """Selection rates, error rates, AIR and disparities per protected group.

    Works on aggregated cells (see the module docstring), so memory is O(cells).
    Reports every single attribute and, when ``intersections`` is set, every
    combination of two or more attributes (key ``"sex × age_group"``, in the order
    of ``attributes``; labels ``"female / <25"``). Cells missing a value of an
    attribute are left out of its groups and counted in ``missing_n`` and
    ``missing`` (the :data:`MISSING` group: counts only, never assessed).

    Guarantees: groups with fewer than ``min_samples`` predictions are
    ``"insufficient"``, have no AIR and are never breaches; the reference is the
    configured group (for an intersection, only if every part is configured) or
    else the most favoured sufficient group (ties go to the first label in sorted
    order); a ``"flag"`` needs AIR below ``air_threshold`` *and* a two-sided pooled
    z-test p-value below ``alpha``, and every flag is listed in ``"breaches"``.
    Demographic parity and equalized odds come from fairlearn with
    ``sample_weight=n`` over sufficient groups only, and are None with fewer than
    two such groups. The result is JSON-serialisable (NaN and inf become None).
    Raises ValueError for malformed cells or parameters.
    """
    thresholds = _Thresholds(min_samples, air_threshold, air_watch, alpha, confidence)
    _check_report_parameters(thresholds)
    frame = _normalise_cells(cells, attributes)
    keys: list[tuple[str, ...]] = [(attribute,) for attribute in attributes]
    if intersections:
        for size in range(2, len(attributes) + 1):
            keys.extend(combinations(attributes, size))
    by_attribute = {
        ATTRIBUTE_JOINER.join(key): _attribute_entry(frame, key, reference, thresholds)
        for key in keys
    }
    breaches = [
        {
            "metric": "air",
            "attribute": key,
            "group": group["group"],
            "value": group["air"],
            "threshold": air_threshold,
            "p_value": group["air_p_value"],
            "message": (
                f"{key} = {group['group']}: AIR {group['air']:.3f} against "
                f"{entry['reference']}. {group['note']}"
            ),
        }
        for key, entry in by_attribute.items()
        for group in entry["groups"]
        if group["status"] == "flag"
    ]
    return {
        "parameters": {
            "attributes": list(attributes),
            "min_samples": min_samples,
            "air_threshold": air_threshold,
            "air_watch": air_watch,
            "alpha": alpha,
            "confidence": confidence,
            "intersections": intersections,
        },
        "overall": _overall(frame),
        "by_attribute": by_attribute,
        "breaches": breaches,
    }


# --- Approval-rate drift ------------------------------------------------------------


def _approval_counts(frame: pd.DataFrame, attributes: Sequence[str]) -> dict[str, Any]:
    def entry(n: int, approved: int) -> dict[str, Any]:
        return {"n": n, "approved": approved, "rate": _ratio(approved, n)}

    approved_column = frame[COUNT] * frame[DECISION]
    by_group: dict[str, dict[str, dict[str, Any]]] = {}
    missing: dict[str, dict[str, Any]] = {}
    for attribute in attributes:
        present = frame[attribute].notna()
        missing[attribute] = entry(
            int(frame[COUNT][~present].sum()), int(approved_column[~present].sum())
        )
        sums = (
            pd.DataFrame(
                {"n": frame[COUNT][present], "approved": approved_column[present]}
            )
            .groupby(frame[attribute][present].to_numpy(), sort=True)
            .sum()
        )
        by_group[attribute] = {
            str(label): entry(int(row["n"]), int(row["approved"]))
            for label, row in sums.iterrows()
        }
    return {
        "overall": entry(int(frame[COUNT].sum()), int(approved_column.sum())),
        "by_group": by_group,
        "missing": missing,
    }


@dataclass(frozen=True)
class _DriftLimits:
    relative_threshold: float
    min_samples: int
    alpha: float


def _drift_assessment(
    *,
    n: int,
    rate: float | None,
    reference_rate: float | None,
    reference_n: int | None,
    relative_change: float | None,
    p_value: float | None,
    against: str,
    limits: _DriftLimits,
) -> tuple[str, str]:
    """Status and message of one drift row (``reference_n`` None for a baseline)."""
    insufficient = "reported as insufficient, not assessed."
    if n == 0:
        return "insufficient", f"No predictions in this window: {insufficient}"
    if n < limits.min_samples:
        return "insufficient", (
            f"Fewer than {limits.min_samples} predictions in this window: "
            f"{insufficient}"
        )
    if reference_rate is None or rate is None:
        return "insufficient", f"No approval rate in {against}: not assessed."
    if reference_n is not None and reference_n < limits.min_samples:
        return "insufficient", (
            f"Fewer than {limits.min_samples} predictions in {against}: {insufficient}"
        )
    moved = f"Approval rate {rate:.4f} against {reference_rate:.4f} in {against}"
    if relative_change is None:
        return "ok", (
            f"{moved}; the reference rate is 0, so the relative change is undefined."
        )
    limit = f"limit {limits.relative_threshold * 100:g}%"
    shown = "n/a" if p_value is None else f"{p_value:.3g}"
    if (
        abs(relative_change) >= limits.relative_threshold - _SLACK
        and p_value is not None
        and p_value < limits.alpha
    ):
        return "breach", (
            f"{moved}: a relative change of {relative_change:+.1%} ({limit}) that is "
            f"statistically significant (p = {shown} < {limits.alpha:g}): breach."
        )
    return "ok", (
        f"{moved}: a relative change of {relative_change:+.1%} ({limit}, "
        f"p = {shown}): within limits."
    )


def _drift_row(
    *,
    comparison: str,
    scope: str,
    group: str | None,
    n: int,
    approved: int,
    reference_rate: float | None,
    reference_n: int | None,
    p_value: float | None,
    limits: _DriftLimits,
) -> dict[str, Any]:
    rate = _ratio(approved, n)
    absolute_change = (
        rate - reference_rate
        if rate is not None and reference_rate is not None
        else None
    )
    relative_change = (
        absolute_change / reference_rate
        if absolute_change is not None and reference_rate
        else None
    )
    against = "the baseline" if comparison == "baseline" else "the previous window"
    status, message = _drift_assessment(
        n=n,
        rate=rate,
        reference_rate=reference_rate,
        reference_n=reference_n,
        relative_change=relative_change,
        p_value=p_value,
        against=against,
        limits=limits,
    )
    where = "Overall" if group is None else f"{scope} = {group}"
    return {
        "comparison": comparison,
        "scope": scope,
        "group": group,
        "n": n,
        "rate": _finite(rate),
        "reference_n": reference_n,
        "reference_rate": _finite(reference_rate),
        "absolute_change": _finite(absolute_change),
        "relative_change": _finite(relative_change),
        "p_value": _finite(p_value),
        "status": status,
        "message": f"{where}: {message}",
    }


def _missing_row(
    *,
    comparison: str,
    attribute: str,
    counts: Mapping[str, Any],
    reference: Mapping[str, Any] | None,
) -> dict[str, Any] | None:
    """The missing group's row: its counts beside the reference's, never assessed;
    None when neither side has a prediction without a value."""
    n, approved = _window_counts(counts)
    reference_n = reference_approved = None
    if reference is not None:
        reference_n, reference_approved = _window_counts(reference)
    if n == 0 and not reference_n:
        return None
    rate = _ratio(approved, n)
    reference_rate = (
        _ratio(reference_approved, reference_n)
        if reference_n is not None and reference_approved is not None
        else None
    )
    return {
        "comparison": comparison,
        "scope": attribute,
        "group": MISSING,
        "n": n,
        "rate": _finite(rate),
        "reference_n": reference_n,
        "reference_rate": _finite(reference_rate),
        "absolute_change": None,
        "relative_change": None,
        "p_value": None,
        "status": "not_assessed",
        "message": f"{attribute} = {MISSING}: {_missing_note()}",
    }


def _baseline_rate(value: Any) -> float | None:
    if value is None:
        return None
    rate = float(value)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(
            f"A baseline approval rate must be within [0, 1], got {value}."
        )
    return rate


def _window_counts(value: Mapping[str, Any]) -> tuple[int, int]:
    n, approved = int(value["n"]), int(value["approved"])
    _check_successes(approved, n)
    return n, approved


_NO_COUNTS: Mapping[str, Any] = {"n": 0, "approved": 0}


def _baseline_rows(
    current: Mapping[str, Any],
    baseline: Mapping[str, Any],
    attributes: Sequence[str],
    limits: _DriftLimits,
) -> list[dict[str, Any]]:
    scopes: list[tuple[str, str | None, Mapping[str, Any], float | None]] = []
    overall_rate = _baseline_rate(baseline.get("overall"))
    if overall_rate is not None:
        scopes.append(("overall", None, current["overall"], overall_rate))
    baseline_groups: Mapping[str, Any] = baseline.get("by_group") or {}
    for attribute in attributes:
        if attribute not in baseline_groups:
            continue
        rates = {
            str(k): _baseline_rate(v) for k, v in baseline_groups[attribute].items()
        }
        now = current["by_group"][attribute]
        for label in sorted(set(rates) | set(now)):
            scopes.append(
                (attribute, label, now.get(label, _NO_COUNTS), rates.get(label))
            )
    rows = []
    for scope, group, counts, rate in scopes:
        n, approved = _window_counts(counts)
        rows.append(
            _drift_row(
                comparison="baseline",
                scope=scope,
                group=group,
                n=n,
                approved=approved,
                reference_rate=rate,
                reference_n=None,
                p_value=None
                if rate is None
                else one_proportion_p_value(approved, n, rate),
                limits=limits,
            )
        )
    for attribute in attributes:
        if attribute not in baseline_groups:
            continue
        row = _missing_row(
            comparison="baseline",
            attribute=attribute,
            counts=current["missing"][attribute],
            reference=None,
        )
        if row is not None:
            rows.append(row)
    return rows


def _previous_rows(
    current: Mapping[str, Any],
    window: Mapping[str, Any],
    attributes: Sequence[str],
    limits: _DriftLimits,
) -> list[dict[str, Any]]:
    scopes: list[tuple[str, str | None, Mapping[str, Any], Mapping[str, Any]]] = []
    if window.get("overall") is not None:
        scopes.append(("overall", None, current["overall"], window["overall"]))
    previous_groups: Mapping[str, Any] = window.get("by_group") or {}
    for attribute in attributes:
        if attribute not in previous_groups:
            continue
        before = {str(k): v for k, v in previous_groups[attribute].items()}
        now = current["by_group"][attribute]
        for label in sorted(set(before) | set(now)):
            scopes.append(
                (
                    attribute,
                    label,
                    now.get(label, _NO_COUNTS),
                    before.get(label, _NO_COUNTS),
                )
            )
    rows = []
    for scope, group, counts, previous_counts in scopes:
        n, approved = _window_counts(counts)
        previous_n, previous_approved = _window_counts(previous_counts)
        rows.append(
            _drift_row(
                comparison="previous",
                scope=scope,
                group=group,
                n=n,
                approved=approved,
                reference_rate=_ratio(previous_approved, previous_n),
                reference_n=previous_n,
                p_value=two_proportion_p_value(
                    approved, n, previous_approved, previous_n
                ),
                limits=limits,
            )
        )
    previous_missing: Mapping[str, Any] = window.get("missing") or {}
    for attribute in attributes:
        if attribute not in previous_groups:
            continue
        row = _missing_row(
            comparison="previous",
            attribute=attribute,
            counts=current["missing"][attribute],
            reference=previous_missing.get(attribute, _NO_COUNTS),
        )
        if row is not None:
            rows.append(row)
    return rows


def approval_drift(
    cells: pd.DataFrame,
    *,
    attributes: Sequence[str],
    baseline: Mapping[str, Any] | None,
    previous: Sequence[Mapping[str, Any]] = (),
    relative_threshold: float = 0.15,
    min_samples: int = 30,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Approval rates of this window against the baseline and the previous window.

    ``baseline`` holds rates only (``{"overall": 0.71, "by_group": {attr: {group:
    rate}}}``) and is treated as fixed: one-sample two-sided z-test. ``previous``
    lists earlier windows in the shape of this function's ``"current"`` (counts);
    only the last is compared, by the pooled two-proportion z-test. Single
    attributes only; cells missing an attribute's value are left out of its groups,
    counted in ``current["missing"]`` and shown as a :data:`MISSING` row that is
    never assessed (``"not_assessed"``).
    Rows cover every group in the current window or the reference, for each
    attribute the reference covers; a group absent now has ``n`` 0.

    Guarantees: a row is a ``"breach"`` only when |relative change| reaches
    ``relative_threshold`` *and* the p-value is below ``alpha``, with at least
    ``min_samples`` predictions on both sides (else ``"insufficient"``); every
    breach is also listed in ``"breaches"``. The result is JSON-serialisable.
    Raises ValueError for malformed cells, counts, rates or parameters.
    """
    if relative_threshold <= 0.0:
        raise ValueError("relative_threshold must be positive.")
    if min_samples < 1:
        raise ValueError("min_samples must be at least 1.")
    _check_probability(alpha, "alpha")
    limits = _DriftLimits(relative_threshold, min_samples, alpha)
    frame = _normalise_cells(cells, attributes)
    current = _approval_counts(frame, attributes)
    vs_baseline = (
        []
        if baseline is None
        else _baseline_rows(current, baseline, attributes, limits)
    )
    latest = previous[-1] if previous else None
    vs_previous = (
        [] if latest is None else _previous_rows(current, latest, attributes, limits)
    )
    return {
        "parameters": {
            "attributes": list(attributes),
            "relative_threshold": relative_threshold,
            "min_samples": min_samples,
            "alpha": alpha,
        },
        "current": current,
        "previous_window": None
        if latest is None
        else {
            "window_start": latest.get("window_start"),
            "window_end": latest.get("window_end"),
        },
        "vs_baseline": vs_baseline,
        "vs_previous": vs_previous,
        "breaches": [
            row for row in [*vs_baseline, *vs_previous] if row["status"] == "breach"
        ],
    }
