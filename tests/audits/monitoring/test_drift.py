"""Unit tests of audits.monitoring.drift: pure, no database.

Every metric is checked against an independent computation on the raw rows of real
data (South German Credit, the HMDA sample): numpy's searchsorted for the bins, a
numpy Jensen-Shannon, rank-sum AUC and empirical-CDF KS, besides scikit-learn.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2, rankdata
from sklearn.metrics import roc_auc_score, roc_curve

from audits.monitoring import drift
from registry import baseline_stats

DATA = Path(__file__).resolve().parents[3] / "data"
TOL = 1e-9


# --- data and independent reference computations ------------------------------------


@pytest.fixture(scope="module")
def sgc() -> pd.DataFrame:
    return pd.read_csv(DATA / "south_german_credit_decoded.csv")


@pytest.fixture(scope="module")
def hmda() -> pd.DataFrame:
    return pd.read_csv(DATA / "hmda_sample.csv")


def _numpy_shares_numeric(values: np.ndarray, edges: list[float]) -> np.ndarray:
    bins = np.searchsorted(np.asarray(edges), values, side="right")
    return np.bincount(bins, minlength=len(edges) + 1) / values.size


def _numpy_psi(expected: np.ndarray, actual: np.ndarray, eps: float = 1e-6) -> float:
    e, a = np.maximum(expected, eps), np.maximum(actual, eps)
    return float(np.sum((a - e) * np.log(a / e)))


def _numpy_js(p: np.ndarray, q: np.ndarray) -> float:
    m = (p + q) / 2

    def kl(x: np.ndarray) -> float:
        mask = x > 0
        return float(np.sum(x[mask] * np.log2(x[mask] / m[mask])))

    return math.sqrt((kl(p) + kl(q)) / 2)


def _counts(spec: dict[str, Any], values: Any) -> dict[Any, int]:
    """What the rollup stores: bin label -> n, "" for missing values."""
    labels = (drift.bin_label(spec, v) for v in values)
    return dict(Counter("" if label is None else label for label in labels))


def _sgc_score(df: pd.DataFrame) -> np.ndarray:
    z = 1.2 - 0.04 * df["duration"] - 0.0001 * df["amount"] + 0.02 * df["age"]
    return (1 / (1 + np.exp(-z))).to_numpy()


def _hmda_score(df: pd.DataFrame) -> np.ndarray:
    income = np.log1p(df["income"].clip(lower=0))
    z = -1.0 + 0.6 * income - 0.25 * np.log(df["loan_amount"] / 1e5)
    return (1 / (1 + np.exp(-z))).to_numpy()


def _raw_rows(exact: np.ndarray, outcome: Any) -> pd.DataFrame:
    return pd.DataFrame(
        {"exact": exact, "score": np.round(exact, 3), "outcome": np.asarray(outcome)}
    )


def _cells(rows: pd.DataFrame) -> pd.DataFrame:
    """The rollup's score cells of raw rows: (rounded score, outcome) -> n, sum."""
    return (
        rows.groupby(["score", "outcome"])
        .agg(n=("exact", "size"), score_sum=("exact", "sum"))
        .reset_index()
    )


def _numpy_auc(score: np.ndarray, y: np.ndarray) -> float:
    # Mann-Whitney: ties get average ranks, i.e. count one half.
    ranks = rankdata(score)
    pos = int(y.sum())
    neg = y.size - pos
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def _numpy_ks(score: np.ndarray, y: np.ndarray) -> float:
    thresholds = np.unique(score)
    good = np.sort(score[y == 1])
    bad = np.sort(score[y == 0])
    cdf_good = np.searchsorted(good, thresholds, side="right") / good.size
    cdf_bad = np.searchsorted(bad, thresholds, side="right") / bad.size
    return float(np.max(np.abs(cdf_good - cdf_bad)))


def _numpy_calibration(rows: pd.DataFrame, deciles: int = 10) -> pd.DataFrame:
    # Row by row: a row's decile is the one holding the midpoint of its score
    # value's cumulative weight.
    score = rows["score"].to_numpy()
    ordered = np.sort(score)
    before = np.searchsorted(ordered, score, side="left")
    tied = np.searchsorted(ordered, score, side="right") - before
    total = score.size
    decile = np.minimum((2 * before + tied) * deciles // (2 * total), deciles - 1) + 1
    return (
        rows.assign(decile=decile)
        .groupby("decile")
        .agg(
            n=("score", "size"),
            mean_predicted=("exact", "mean"),
            observed_rate=("outcome", "mean"),
            score_min=("score", "min"),
            score_max=("score", "max"),
        )
        .reset_index()
    )


def _sgc_rows(sgc: pd.DataFrame) -> pd.DataFrame:
    return _raw_rows(_sgc_score(sgc), sgc["credit_risk"])


def _hmda_rows(hmda: pd.DataFrame) -> pd.DataFrame:
    return _raw_rows(_hmda_score(hmda), hmda["approved"])


# --- bin_label ------------------------------------------------------------------------


def test_bin_label_numeric_follows_searchsorted_right() -> None:
    # given edges and values below, on, between and above them
    spec = {"type": "numeric", "edges": [700.0, 1200.0, 5000.0]}
    values = [-1e9, 0, 699.99, 700, 700.01, 1199, 1200, 4999.5, 5000, 5000.1, 1e12]
    # when each value is binned
    labels = [drift.bin_label(spec, v) for v in values]
    # then the bin is numpy's searchsorted(side="right"): a value on an edge goes up
    expected = np.searchsorted(spec["edges"], values, side="right")
    assert labels == [str(i) for i in expected]
    assert labels == ["0", "0", "0", "1", "1", "1", "2", "2", "3", "3", "3"]


def test_bin_label_numeric_accepts_what_the_baseline_builder_accepts() -> None:
    spec = {"type": "numeric", "edges": [1.0, 2.0]}
    assert drift.bin_label(spec, "2.5") == "2"
    assert drift.bin_label(spec, True) == "1"
    assert drift.bin_label(spec, np.float32(0.5)) == "0"
    assert drift.bin_label(spec, np.int64(2)) == "2"


@pytest.mark.parametrize(
    "value",
    [None, float("nan"), float("inf"), -float("inf"), "abc", "", [1], {}, 10**400],
)
def test_bin_label_numeric_missing_or_unusable_value_is_none(value: Any) -> None:
    assert drift.bin_label({"type": "numeric", "edges": [1.0]}, value) is None


@pytest.mark.parametrize(
    "value",
    [
        5,
        5.0,
        -3.0,
        5.5,
        "car",
        "5.0",
        True,
        False,
        np.int64(3),
        np.float64(3.0),
        np.float32(4.0),
        np.float32(2.5),
        np.bool_(True),
        1e20,
    ],
)
def test_bin_label_categorical_matches_the_baseline_category_label(value: Any) -> None:
    spec = {"type": "categorical", "proportions": {"a": 1.0}}
    assert drift.bin_label(spec, value) == baseline_stats.category_label(value)


def test_bin_label_categorical_missing_value_is_none() -> None:
    spec = {"type": "categorical", "proportions": {"a": 1.0}}
    assert drift.bin_label(spec, None) is None
    assert drift.bin_label(spec, float("nan")) is None


# --- psi ------------------------------------------------------------------------------


def test_psi_of_south_german_amount_matches_numpy(sgc: pd.DataFrame) -> None:
    # given the baseline of rows 1-700 and the raw amounts of rows 701-1000
    amount = sgc["amount"].to_numpy(dtype=float)
    spec = baseline_stats.numeric_feature_baseline(amount[:700])
    counts = _counts(spec, amount[700:])
    actual = [counts.get(str(i), 0) / 300 for i in range(len(spec["edges"]) + 1)]
    # when PSI is computed from the counts
    value = drift.psi(spec["proportions"], actual, epsilon=1e-6)
    # then it equals numpy on the raw rows
    expected = _numpy_psi(
        _numpy_shares_numeric(amount[:700], spec["edges"]),
        _numpy_shares_numeric(amount[700:], spec["edges"]),
    )
    assert value == pytest.approx(expected, abs=TOL)
    # DOMAIN.md's published fixture (UCI German credit_amount, rows 1-700 against
    # 701-1000, epsilon 1e-6 -> 0.021083) cannot be checked on this file: the South
    # German Credit rows are in another order (rows 1-700 are 94 % good credits
    # here, 70 % overall), so its "rows 1-700" are another split, giving 0.190729,
    # and the UCI order cannot be recovered from it (german.data is not in the
    # repository). Checked once outside the suite: UCI german.csv
    # (jbrownlee/Datasets@f430307f, column 5) through numeric_feature_baseline and
    # this PSI gives 0.0210832, the published value.
    assert value == pytest.approx(0.190729, abs=5e-7)


def test_psi_floors_empty_bins_at_epsilon() -> None:
    # given a bin empty at baseline and one empty now
    expected, actual = [0.5, 0.5, 0.0], [0.5, 0.0, 0.5]
    # when PSI is computed with epsilon 1e-4
    value = drift.psi(expected, actual, epsilon=1e-4)
    # then each empty share counts as 1e-4
    term = (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    assert value == pytest.approx(2 * term, abs=TOL)


def test_psi_of_identical_shares_is_zero() -> None:
    assert drift.psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0


@pytest.mark.parametrize(
    ("expected", "actual", "epsilon"),
    [
        ([0.5, 0.5], [1.0], 1e-6),
        ([], [], 1e-6),
        ([0.5, 0.5], [1.5, -0.5], 1e-6),
        ([0.5, 0.5], [0.5, 0.5], 0.0),
        ([0.5, 0.5], [float("nan"), 0.5], 1e-6),
    ],
)
def test_psi_rejects_malformed_input(
    expected: list[float], actual: list[float], epsilon: float
) -> None:
    with pytest.raises(ValueError):
        drift.psi(expected, actual, epsilon=epsilon)


# --- feature_drift on real data -------------------------------------------------------


def _numpy_categorical(
    baseline_values: pd.Series, current_values: pd.Series
) -> tuple[np.ndarray, np.ndarray]:
    base = baseline_values.dropna().map(baseline_stats.category_label).to_numpy()
    current = current_values.dropna().map(baseline_stats.category_label).to_numpy()
    categories = np.unique(np.concatenate([base, current]))
    expected = np.array([(base == c).mean() for c in categories])
    actual = np.array([(current == c).mean() for c in categories])
    return expected, actual


NUMERIC_CASES = [
    ("sgc", "amount", 700),
    ("sgc", "duration", 700),
    ("hmda", "income", 30_000),
    ("hmda", "loan_amount", 30_000),
]


@pytest.mark.parametrize(("dataset", "feature", "split"), NUMERIC_CASES)
def test_feature_drift_numeric_matches_numpy_on_raw_rows(
    dataset: str, feature: str, split: int, request: pytest.FixtureRequest
) -> None:
    # given a baseline of the first rows and the rollup counts of the others
    df: pd.DataFrame = request.getfixturevalue(dataset)
    values = df[feature].to_numpy(dtype=float)
    spec = baseline_stats.numeric_feature_baseline(values[:split])
    counts = _counts(spec, values[split:])
    # when feature drift is computed from the counts
    result = drift.feature_drift({feature: spec}, {feature: counts})
    # then PSI, JS and the bin counts equal numpy on the raw rows
    (found,) = result["features"]
    expected = _numpy_shares_numeric(values[:split], spec["edges"])
    actual = _numpy_shares_numeric(values[split:], spec["edges"])
    assert found["psi"] == pytest.approx(_numpy_psi(expected, actual), abs=TOL)
    assert found["js_distance"] == pytest.approx(_numpy_js(expected, actual), abs=TOL)
    assert [b["count"] for b in found["bins"]] == list(
        np.bincount(
            np.searchsorted(spec["edges"], values[split:], side="right"),
            minlength=len(spec["edges"]) + 1,
        )
    )
    assert [b["expected"] for b in found["bins"]] == pytest.approx(expected, abs=TOL)
    assert found["n"] == values.size - split
    assert found["missing_n"] == 0


@pytest.mark.parametrize(
    ("dataset", "feature", "split"),
    [("sgc", "purpose", 700), ("hmda", "loan_purpose", 30_000)],
)
def test_feature_drift_categorical_matches_numpy_on_raw_rows(
    dataset: str, feature: str, split: int, request: pytest.FixtureRequest
) -> None:
    # given a categorical baseline of the first rows and counts of the others
    df: pd.DataFrame = request.getfixturevalue(dataset)
    spec = baseline_stats.categorical_feature_baseline(df[feature][:split])
    counts = _counts(spec, df[feature][split:].tolist())
    # when feature drift is computed
    result = drift.feature_drift({feature: spec}, {feature: counts})
    # then PSI and JS equal numpy over the union of categories
    (found,) = result["features"]
    expected, actual = _numpy_categorical(df[feature][:split], df[feature][split:])
    assert found["psi"] == pytest.approx(_numpy_psi(expected, actual), abs=TOL)
    assert found["js_distance"] == pytest.approx(_numpy_js(expected, actual), abs=TOL)
    assert found["n"] == len(df) - split


def test_feature_drift_counts_missing_values_apart(hmda: pd.DataFrame) -> None:
    # given property values with blanks and "Exempt" among the numbers
    raw = hmda["property_value"]
    numbers = pd.to_numeric(raw, errors="coerce")
    spec = baseline_stats.numeric_feature_baseline(numbers[:30_000])
    counts = _counts(spec, raw[30_000:].tolist())
    # when drift is computed
    (found,) = drift.feature_drift(
        {"property_value": spec}, {"property_value": counts}
    )["features"]
    # then the missing values are counted, and left out of the shares
    current = numbers[30_000:]
    assert found["missing_n"] == int(current.isna().sum())
    blank_or_exempt = raw[30_000:].isna() | (raw[30_000:] == "Exempt")
    assert found["missing_n"] == int(blank_or_exempt.sum()) == 973
    assert found["n"] == int(current.notna().sum())
    expected = _numpy_shares_numeric(
        numbers[:30_000].dropna().to_numpy(), spec["edges"]
    )
    actual = _numpy_shares_numeric(current.dropna().to_numpy(), spec["edges"])
    assert found["psi"] == pytest.approx(_numpy_psi(expected, actual), abs=TOL)


def test_feature_drift_treats_none_key_as_missing() -> None:
    spec = {"type": "categorical", "proportions": {"a": 0.5, "b": 0.5}}
    result = drift.feature_drift(
        {"f": spec}, {"f": {"a": 60, "b": 60, None: 7, "": 3}}, min_samples=1
    )
    (found,) = result["features"]
    assert (found["n"], found["missing_n"], found["psi"]) == (120, 10, 0.0)


# --- feature_drift statuses and findings ----------------------------------------------

TWO_BINS = {"type": "categorical", "proportions": {"a": 0.5, "b": 0.5}}


def _two_bin_psi(share_a: float) -> float:
    return (share_a - 0.5) * math.log(2 * share_a) + (0.5 - share_a) * math.log(
        2 * (1 - share_a)
    )


@pytest.mark.parametrize(
    ("a", "status"), [(600, "ok"), (700, "watch"), (800, "breach"), (500, "ok")]
)
def test_feature_drift_status_follows_default_thresholds(a: int, status: str) -> None:
    # given 1,000 current values of which ``a`` are "a" (baseline 50/50)
    counts = {"f": {"a": a, "b": 1000 - a}}
    # when drift is computed with the default 0.1 / 0.25 thresholds
    result = drift.feature_drift({"f": TWO_BINS}, counts)
    # then the status is the band of the PSI
    (found,) = result["features"]
    assert found["psi"] == pytest.approx(_two_bin_psi(a / 1000), abs=TOL)
    assert found["status"] == status
    assert [f["feature"] for f in result["breaches"]] == (
        ["f"] if status == "breach" else []
    )
    assert [f["feature"] for f in result["watch"]] == (
        ["f"] if status == "watch" else []
    )


def test_feature_drift_thresholds_are_inclusive() -> None:
    # given a PSI exactly equal to the thresholds
    counts = {"f": {"a": 700, "b": 300}}
    value = drift.feature_drift({"f": TWO_BINS}, counts)["features"][0]["psi"]
    # then "at or above" counts: PSI == watch is watch, PSI == breach is breach
    at_watch = drift.feature_drift({"f": TWO_BINS}, counts, watch=value, breach=1.0)
    at_breach = drift.feature_drift({"f": TWO_BINS}, counts, watch=0.0, breach=value)
    above = drift.feature_drift({"f": TWO_BINS}, counts, watch=value + 1e-9, breach=1)
    assert at_watch["features"][0]["status"] == "watch"
    assert at_breach["features"][0]["status"] == "breach"
    assert above["features"][0]["status"] == "ok"


def test_feature_drift_breach_finding_names_feature_value_and_threshold() -> None:
    result = drift.feature_drift({"f": TWO_BINS}, {"f": {"a": 800, "b": 200}})
    value = _two_bin_psi(0.8)
    assert result["breaches"] == [
        {
            "metric": "psi",
            "feature": "f",
            "value": pytest.approx(value, abs=TOL),
            "threshold": 0.25,
            "message": (
                f"PSI of f is {value:.3f}, at or above the breach threshold 0.25."
            ),
        }
    ]
    assert result["watch"] == []


@pytest.mark.parametrize(("n", "status"), [(99, "insufficient"), (100, "breach")])
def test_feature_drift_below_min_samples_is_insufficient_not_a_breach(
    n: int, status: str
) -> None:
    # given a shift far past the breach threshold on ``n`` values
    counts = {"f": {"a": n, "": 500}}
    # when drift is computed with min_samples 100 (missing values do not count)
    result = drift.feature_drift({"f": TWO_BINS}, counts, min_samples=100)
    # then too few values give "insufficient" and no finding
    (found,) = result["features"]
    assert found["status"] == status
    assert found["psi"] > 0.25
    assert len(result["breaches"]) == (1 if status == "breach" else 0)


def test_feature_drift_without_counts_reports_nothing_measurable() -> None:
    # given a baselined feature with no current value at all
    result = drift.feature_drift({"f": TWO_BINS, "g": TWO_BINS}, {"g": {"": 4}})
    # then PSI, JS and p-value are None and the feature is insufficient
    for found, missing in zip(result["features"], (0, 4), strict=True):
        assert found["n"] == 0
        assert found["missing_n"] == missing
        assert found["psi"] is None
        assert found["js_distance"] is None
        assert found["psi_p_value"] is None
        assert found["status"] == "insufficient"
        assert [b["actual"] for b in found["bins"]] == [0.0, 0.0]
    json.dumps(result, allow_nan=False)


def test_feature_drift_unseen_category_gets_its_own_bin_floored_at_epsilon() -> None:
    # given 10 % of current values in a category the baseline never saw
    counts = {"f": {"a": 450, "b": 450, "__other__": 100}}
    # when drift is computed
    (found,) = drift.feature_drift({"f": TWO_BINS}, counts, epsilon=1e-6)["features"]
    # then the category is a bin with expected share 0, floored at epsilon for PSI
    assert found["bins"][-1] == {
        "label": "__other__",
        "range": None,
        "expected": 0.0,
        "actual": 0.1,
        "count": 100,
        "in_baseline": False,
    }
    expected = np.array([0.5, 0.5, 0.0])
    actual = np.array([0.45, 0.45, 0.1])
    assert found["psi"] == pytest.approx(_numpy_psi(expected, actual, 1e-6), abs=TOL)
    # and JS uses the unfloored shares
    assert found["js_distance"] == pytest.approx(_numpy_js(expected, actual), abs=TOL)
    assert found["status"] == "breach"


def test_feature_drift_numeric_bins_carry_human_ranges() -> None:
    spec = {
        "type": "numeric",
        "edges": [700.0, 1200.0, 5000.0],
        "proportions": [0.25, 0.25, 0.25, 0.25],
    }
    (found,) = drift.feature_drift({"amount": spec}, {"amount": {"1": 3}})["features"]
    assert [(b["label"], b["range"]) for b in found["bins"]] == [
        ("0", "< 700"),
        ("1", "700 – 1200"),
        ("2", "1200 – 5000"),
        ("3", "≥ 5000"),
    ]


def test_numeric_bin_ranges_keep_fractional_edges_short() -> None:
    assert drift.numeric_bin_ranges([931.9, 1244.8]) == [
        "< 931.9",
        "931.9 – 1244.8",
        "≥ 1244.8",
    ]
    assert drift.numeric_bin_ranges([0.123456789]) == ["< 0.123457", "≥ 0.123457"]
    assert drift.numeric_bin_ranges([]) == ["all values"]


def test_feature_drift_rejects_bins_that_the_edges_do_not_have() -> None:
    spec = {"type": "numeric", "edges": [1.0], "proportions": [0.5, 0.5]}
    with pytest.raises(ValueError, match="bins 7 do not exist"):
        drift.feature_drift({"f": spec}, {"f": {"0": 1, "7": 2}})


@pytest.mark.parametrize("bad", [-1, 2.5, None, "3", float("nan")])
def test_feature_drift_rejects_negative_or_fractional_counts(bad: Any) -> None:
    with pytest.raises(ValueError, match="non-negative integers"):
        drift.feature_drift({"f": TWO_BINS}, {"f": {"a": bad}})


def test_feature_drift_ignores_counts_of_features_without_baseline() -> None:
    result = drift.feature_drift({"f": TWO_BINS}, {"f": {"a": 5}, "g": {"x": 9}})
    assert [f["feature"] for f in result["features"]] == ["f"]


# --- PSI p-value ----------------------------------------------------------------------


@pytest.mark.parametrize("baseline_n", [None, 2_000])
def test_psi_p_value_follows_yurdakul(baseline_n: int | None) -> None:
    # given a moderate shift over 3 bins in 500 current values
    spec = {"type": "categorical", "proportions": {"a": 0.5, "b": 0.3, "c": 0.2}}
    counts = {"f": {"a": 230, "b": 160, "c": 110}}
    # when drift is computed, with or without the baseline sample size
    (found,) = drift.feature_drift({"f": spec}, counts, baseline_n=baseline_n)[
        "features"
    ]
    # then p = chi2.sf(PSI / (1/n + 1/m), B - 1), 1/m = 0 without the baseline n
    scale = 1 / 500 + (1 / baseline_n if baseline_n else 0)
    assert found["psi_p_value"] == pytest.approx(
        chi2.sf(found["psi"] / scale, 2), abs=TOL
    )


def test_psi_p_value_shrinks_as_the_sample_grows_for_the_same_shift() -> None:
    small = drift.feature_drift({"f": TWO_BINS}, {"f": {"a": 55, "b": 45}})
    large = drift.feature_drift({"f": TWO_BINS}, {"f": {"a": 5500, "b": 4500}})
    (s,), (g,) = small["features"], large["features"]
    assert s["psi"] == pytest.approx(g["psi"], abs=TOL)
    assert s["psi_p_value"] > 0.3
    assert g["psi_p_value"] < 1e-20


def test_feature_drift_result_is_json_serialisable(sgc: pd.DataFrame) -> None:
    # given numeric, categorical, unseen, missing and empty features together
    numeric = baseline_stats.numeric_feature_baseline(sgc["amount"][:700])
    categorical = baseline_stats.categorical_feature_baseline(sgc["purpose"][:700])
    counts = {
        "amount": {**_counts(numeric, sgc["amount"][700:]), "": 12},
        "purpose": {**_counts(categorical, sgc["purpose"][700:]), "__other__": 40},
    }
    baseline_features = {"amount": numeric, "purpose": categorical, "empty": TWO_BINS}
    # when drift is computed
    result = drift.feature_drift(baseline_features, counts, baseline_n=700)
    # then it survives strict JSON (no NaN or infinity) unchanged
    assert json.loads(json.dumps(result, allow_nan=False)) == result
    assert [f["status"] for f in result["features"]] == [
        "watch",
        "breach",
        "insufficient",
    ]


# --- performance ----------------------------------------------------------------------


@pytest.mark.parametrize("dataset", ["sgc", "hmda"])
def test_performance_matches_raw_rows(
    dataset: str, request: pytest.FixtureRequest
) -> None:
    # given raw rows with a score rounded to 3 decimals, and their rollup cells
    df: pd.DataFrame = request.getfixturevalue(dataset)
    rows = _sgc_rows(df) if dataset == "sgc" else _hmda_rows(df)
    cells = _cells(rows)
    assert len(cells) < len(rows)
    # when performance is computed from the cells
    result = drift.performance(cells)
    # then AUC, Gini and KS equal scikit-learn and numpy on the raw rows
    y, score = rows["outcome"].to_numpy(), rows["score"].to_numpy()
    raw_auc = roc_auc_score(y, score)
    fpr, tpr, _ = roc_curve(y, score)
    assert result["auc"] == pytest.approx(raw_auc, abs=TOL)
    assert result["auc"] == pytest.approx(_numpy_auc(score, y), abs=TOL)
    assert result["gini"] == pytest.approx(2 * raw_auc - 1, abs=TOL)
    assert result["ks"] == pytest.approx(np.max(np.abs(tpr - fpr)), abs=TOL)
    assert result["ks"] == pytest.approx(_numpy_ks(score, y), abs=TOL)
    assert (result["n"], result["positives"]) == (len(rows), int(y.sum()))
    # and the calibration deciles equal the row-by-row computation
    expected = _numpy_calibration(rows)
    got = pd.DataFrame(result["calibration"])
    assert got["decile"].tolist() == expected["decile"].tolist()
    assert got["n"].tolist() == expected["n"].tolist()
    for column in ("mean_predicted", "observed_rate", "score_min", "score_max"):
        assert got[column].to_numpy() == pytest.approx(
            expected[column].to_numpy(), abs=TOL
        ), column
    assert result["status"] == "ok"
    assert "brier" not in result


def test_performance_matches_the_baseline_builder(sgc: pd.DataFrame) -> None:
    # the monitoring and the baseline define AUC, Gini and KS the same way
    rows = _sgc_rows(sgc)
    reference = baseline_stats.performance(rows["outcome"], rows["score"])
    result = drift.performance(_cells(rows))
    for metric in ("auc", "gini", "ks"):
        assert result[metric] == pytest.approx(reference[metric], abs=TOL)


def test_calibration_never_splits_a_score_value() -> None:
    # given 1,000 rows of which 350 share one score value
    scores = np.r_[
        np.linspace(0.01, 0.3, 300), np.full(350, 0.5), np.linspace(0.6, 0.9, 350)
    ]
    rows = _raw_rows(scores, (np.arange(scores.size) % 3 == 0).astype(int))
    # when calibration deciles are computed from cells
    calibration = drift.performance(_cells(rows))["calibration"]
    # then the frequent value sits whole in the decile holding its midpoint
    # (300 + 350 / 2 = 475 of 1,000: the 5th), and deciles 4 and 6 stay empty
    by_decile = {c["decile"]: c for c in calibration}
    assert sorted(by_decile) == [1, 2, 3, 5, 7, 8, 9, 10]
    assert by_decile[5]["n"] == 350
    assert by_decile[5]["score_min"] == by_decile[5]["score_max"] == 0.5
    assert sum(c["n"] for c in calibration) == 1000
    assert pd.DataFrame(calibration)[["decile", "n"]].to_dict("list") == (
        _numpy_calibration(rows)[["decile", "n"]].to_dict("list")
    )


@pytest.fixture(scope="module")
def sgc_result(sgc: pd.DataFrame) -> dict[str, Any]:
    return drift.performance(_cells(_sgc_rows(sgc)))


@pytest.mark.parametrize(
    ("baseline_offset", "thresholds", "rules"),
    [
        # 0.06 above: the absolute rule fires (relative switched off)
        ({"gini": 0.06}, {"gini_drop_rel": 1.0}, [("gini", "absolute_drop")]),
        ({"gini": 0.04}, {"gini_drop_rel": 1.0}, []),
        # relative only (absolute switched off): a drop of 11 % versus 9 %
        ({"gini": "11%"}, {"gini_drop_abs": 1.0}, [("gini", "relative_drop")]),
        ({"gini": "9%"}, {"gini_drop_abs": 1.0}, []),
        ({"ks": "11%"}, {}, [("ks", "relative_drop")]),
        ({"ks": "9%"}, {}, []),
        # an improvement is never a breach
        ({"gini": -0.2, "ks": -0.2}, {}, []),
        # both Gini rules at once
        ({"gini": 0.2}, {}, [("gini", "absolute_drop"), ("gini", "relative_drop")]),
    ],
)
def test_performance_breaches_against_baseline(
    sgc: pd.DataFrame,
    sgc_result: dict[str, Any],
    baseline_offset: dict[str, Any],
    thresholds: dict[str, float],
    rules: list[tuple[str, str]],
) -> None:
    # given a validation baseline above (or below) the current Gini / KS
    baseline: dict[str, float] = {}
    for metric, offset in baseline_offset.items():
        current = sgc_result[metric]
        if isinstance(offset, str):  # a relative drop of ``offset`` from the baseline
            baseline[metric] = current / (1 - float(offset.rstrip("%")) / 100)
        else:
            baseline[metric] = current + offset
    # when performance is compared with it
    result = drift.performance(_cells(_sgc_rows(sgc)), baseline=baseline, **thresholds)
    # then exactly the expected rules fire
    assert [(b["metric"], b["rule"]) for b in result["breaches"]] == rules
    assert result["status"] == ("breach" if rules else "ok")
    for metric, value in baseline.items():
        change = result["changes"][metric]
        assert change["baseline"] == value
        assert change["change"] == pytest.approx(sgc_result[metric] - value, abs=TOL)
        assert change["relative_change"] == pytest.approx(
            (sgc_result[metric] - value) / value, abs=TOL
        )


def test_performance_breach_message_reads_as_a_sentence(
    sgc: pd.DataFrame, sgc_result: dict[str, Any]
) -> None:
    gini = sgc_result["gini"]
    result = drift.performance(
        _cells(_sgc_rows(sgc)), baseline={"gini": gini + 0.1}, gini_drop_rel=1.0
    )
    (breach,) = result["breaches"]
    assert breach["message"] == (
        f"Gini fell from {gini + 0.1:.3f} to {gini:.3f}: an absolute drop of 0.100, "
        "more than the allowed 0.05."
    )


def test_performance_derives_baseline_gini_from_auc(
    sgc: pd.DataFrame, sgc_result: dict[str, Any]
) -> None:
    baseline = {"auc": sgc_result["auc"] + 0.05}
    result = drift.performance(_cells(_sgc_rows(sgc)), baseline=baseline)
    assert result["baseline"] == {
        "auc": baseline["auc"],
        "gini": pytest.approx(2 * baseline["auc"] - 1, abs=TOL),
    }
    assert [(b["metric"], b["rule"]) for b in result["breaches"]] == [
        ("gini", "absolute_drop"),
        ("gini", "relative_drop"),
    ]
    assert "ks" not in result["changes"]


def test_performance_below_min_samples_is_insufficient_without_breach(
    sgc: pd.DataFrame,
) -> None:
    # given 99 matured predictions and a baseline far above them
    rows = _sgc_rows(sgc).iloc[:99]
    # when performance is computed
    result = drift.performance(_cells(rows), baseline={"gini": 0.99, "ks": 0.99})
    # then the metrics are shown but nothing breaches
    assert result["n"] == 99
    assert result["status"] == "insufficient"
    assert result["breaches"] == []
    assert result["auc"] == pytest.approx(
        roc_auc_score(rows["outcome"], rows["score"]), abs=TOL
    )


def test_performance_with_one_outcome_class_is_insufficient(sgc: pd.DataFrame) -> None:
    # given only good credits
    rows = _sgc_rows(sgc)
    rows = rows[rows["outcome"] == 1]
    # when performance is computed
    result = drift.performance(_cells(rows), baseline={"gini": 0.5})
    # then discrimination is undefined, calibration is still there, no breach
    assert (result["auc"], result["gini"], result["ks"]) == (None, None, None)
    assert result["status"] == "insufficient"
    assert result["breaches"] == []
    assert result["changes"] == {}
    assert {c["observed_rate"] for c in result["calibration"]} == {1.0}
    json.dumps(result, allow_nan=False)


def test_performance_of_no_cells() -> None:
    cells = pd.DataFrame(columns=["score", "outcome", "n", "score_sum"])
    result = drift.performance(cells)
    assert result == {
        "n": 0,
        "positives": 0,
        "auc": None,
        "gini": None,
        "ks": None,
        "calibration": [],
        "baseline": None,
        "changes": {},
        "status": "insufficient",
        "breaches": [],
    }


def test_performance_result_is_json_serialisable(sgc: pd.DataFrame) -> None:
    result = drift.performance(
        _cells(_sgc_rows(sgc)), baseline={"auc": 0.9, "gini": 0.8, "ks": 0.7}
    )
    assert json.loads(json.dumps(result, allow_nan=False)) == result


@pytest.mark.parametrize(
    "cells",
    [
        pd.DataFrame({"score": [0.5], "outcome": [2], "n": [1], "score_sum": [0.5]}),
        pd.DataFrame({"score": [0.5], "outcome": [1], "n": [-1], "score_sum": [0.5]}),
        pd.DataFrame({"score": [0.5], "outcome": [1], "n": [1.5], "score_sum": [0.5]}),
        pd.DataFrame({"score": [np.nan], "outcome": [1], "n": [1], "score_sum": [0.5]}),
        pd.DataFrame({"score": [0.5], "outcome": [1], "n": [1]}),
    ],
)
def test_performance_rejects_malformed_cells(cells: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="cells"):
        drift.performance(cells)
