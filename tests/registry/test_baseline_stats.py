"""Unit tests of registry.baseline_stats: pure, no database."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from registry import baseline, baseline_stats

DATA = Path(__file__).resolve().parents[2] / "data"


# --- numeric features ---------------------------------------------------------------


def test_numeric_baseline_uses_inner_decile_cut_points() -> None:
    # given ten distinct values
    values = np.arange(1, 11)
    # when the numeric baseline is built
    spec = baseline_stats.numeric_feature_baseline(values)
    # then the nine inner deciles are the edges and each bin holds one tenth
    assert spec == {
        "type": "numeric",
        "edges": [1.9, 2.8, 3.7, 4.6, 5.5, 6.4, 7.3, 8.2, 9.1],
        "proportions": [0.1] * 10,
    }


def test_numeric_baseline_puts_a_value_on_an_edge_in_the_upper_bin() -> None:
    # given five values and quartile bins, whose edges fall on values
    spec = baseline_stats.numeric_feature_baseline([1, 2, 3, 4, 5], bins=4)
    # then edges 2, 3, 4 and side="right": 1 | 2 | 3 | 4, 5
    assert spec["edges"] == [2.0, 3.0, 4.0]
    assert spec["proportions"] == [0.2, 0.2, 0.2, 0.4]
    assert np.searchsorted(spec["edges"], 4, side="right") == 3


def test_numeric_baseline_deduplicates_tied_edges() -> None:
    # given a feature dominated by one value
    values = [1, 1, 1, 1, 2, 3]
    # when quintile bins are asked for
    spec = baseline_stats.numeric_feature_baseline(values, bins=5)
    # then tied cut points collapse (interpolation noise included) into fewer bins
    assert spec["edges"] == [1.0, 2.0]
    assert spec["proportions"] == [0.0, 4 / 6, 2 / 6]


def test_numeric_baseline_of_a_constant_has_one_edge() -> None:
    spec = baseline_stats.numeric_feature_baseline([7, 7, 7, 7])
    assert spec == {"type": "numeric", "edges": [7.0], "proportions": [0.0, 1.0]}


def test_numeric_baseline_ignores_missing_and_infinite_values() -> None:
    # given two missing values among four real ones
    values = [1.0, np.nan, 3.0, np.inf, 2.0, 4.0, None]
    # when the baseline is built with quartiles
    spec = baseline_stats.numeric_feature_baseline(values, bins=4)
    # then only 1, 2, 3, 4 count
    assert spec["edges"] == [1.75, 2.5, 3.25]
    assert spec["proportions"] == [0.25, 0.25, 0.25, 0.25]


def test_numeric_baseline_refuses_no_data_and_a_single_bin() -> None:
    with pytest.raises(ValueError, match="No finite values"):
        baseline_stats.numeric_feature_baseline([np.nan, None])
    with pytest.raises(ValueError, match="bins must be at least 2"):
        baseline_stats.numeric_feature_baseline([1, 2, 3], bins=1)


def test_numeric_baseline_shares_sum_to_one_on_awkward_counts() -> None:
    # given 997 values (shares that are not exact binary fractions)
    values = np.random.default_rng(7).lognormal(size=997)
    # when binned
    spec = baseline_stats.numeric_feature_baseline(values)
    # then shares sum to 1 within the validator's tolerance and edges increase
    assert abs(sum(spec["proportions"]) - 1.0) <= 1e-9
    assert len(spec["proportions"]) == len(spec["edges"]) + 1 == 10
    assert all(b > a for a, b in zip(spec["edges"], spec["edges"][1:], strict=False))


# --- categorical features ----------------------------------------------------------


def test_categorical_baseline_shares_per_category() -> None:
    spec = baseline_stats.categorical_feature_baseline(["a", "b", "a", "c"])
    assert spec == {
        "type": "categorical",
        "proportions": {"a": 0.5, "b": 0.25, "c": 0.25},
    }


def test_categorical_baseline_labels_integer_codes_as_strings() -> None:
    # given integer codes, float codes read from a CSV with gaps, and missing values
    ints = baseline_stats.categorical_feature_baseline(np.array([1, 2, 2, 2]))
    floats = baseline_stats.categorical_feature_baseline([5.0, 3.0, np.nan, 5.0])
    # then keys are the codes as strings, "5" and not "5.0", and missing is ignored
    assert ints["proportions"] == {"1": 0.25, "2": 0.75}
    assert floats["proportions"] == {"3": 1 / 3, "5": 2 / 3}


def test_categorical_baseline_merges_codes_that_label_alike() -> None:
    spec = baseline_stats.categorical_feature_baseline(
        pd.Series([5, 5.0, "5", 6], dtype=object)
    )
    assert spec["proportions"] == {"5": 0.75, "6": 0.25}


def test_categorical_baseline_refuses_no_data() -> None:
    with pytest.raises(ValueError, match="No values"):
        baseline_stats.categorical_feature_baseline([None, np.nan])


# --- approval rates and performance --------------------------------------------------


def test_approval_rates_overall_and_by_group() -> None:
    # given four decisions and two protected attributes, one with a missing group
    decisions = [1, 0, 1, 1]
    groups = {"sex": ["f", "m", "f", "m"], "race": [5.0, 3.0, None, 5.0]}
    # when approval rates are computed
    rates = baseline_stats.approval_rates(decisions, groups)
    # then the missing group counts only overall
    assert rates == {
        "overall": 0.75,
        "by_group": {"sex": {"f": 1.0, "m": 0.5}, "race": {"3": 0.0, "5": 1.0}},
    }


def test_approval_rates_refuse_misaligned_groups() -> None:
    with pytest.raises(ValueError, match="sex: 3 group labels for 4 decisions"):
        baseline_stats.approval_rates([1, 0, 1, 1], {"sex": ["f", "m", "f"]})
    with pytest.raises(ValueError, match="No decisions"):
        baseline_stats.approval_rates([], {})


def test_performance_auc_gini_and_ks() -> None:
    # given the classic four-point example
    y_true = [0, 0, 1, 1]
    score = [0.1, 0.4, 0.35, 0.8]
    # when discrimination is measured
    result = baseline_stats.performance(y_true, score)
    # then AUC 0.75, Gini 2 x 0.75 - 1, KS the largest TPR-FPR gap
    assert result == {"auc": 0.75, "gini": 0.5, "ks": 0.5}


def test_performance_of_a_perfect_and_an_inverted_score() -> None:
    perfect = baseline_stats.performance([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    inverted = baseline_stats.performance([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1])
    assert perfect == {"auc": 1.0, "gini": 1.0, "ks": 1.0}
    assert inverted == {"auc": 0.0, "gini": -1.0, "ks": 1.0}


# --- the whole baseline ----------------------------------------------------------------


def test_build_baseline_assembles_a_valid_baseline() -> None:
    # given a small data set with a numeric and a categorical feature
    df = pd.DataFrame(
        {
            "amount": [100, 200, 300, 400, 500, 600, 700, 800],
            "purpose": ["car", "car", "tv", "car", "tv", "car", "other", "car"],
            "approved": [1, 1, 0, 1, 0, 1, 0, 1],
            "age_group": ["<25", "25+", "<25", "25+", "25+", "25+", "<25", "25+"],
            "good": [1, 1, 0, 1, 1, 0, 0, 1],
            "score": [0.9, 0.8, 0.2, 0.7, 0.6, 0.65, 0.1, 0.95],
        }
    )
    # when the baseline is built from column names
    result = baseline_stats.build_baseline(
        df,
        numeric=["amount"],
        categorical=["purpose"],
        decision="approved",
        groups={"age_group": "age_group"},
        y_true="good",
        score="score",
        bins=4,
    )
    # then it has every part and passes the registry's validation
    assert result == {
        "n": 8,
        "features": {
            "amount": {
                "type": "numeric",
                "edges": [275.0, 450.0, 625.0],
                "proportions": [0.25, 0.25, 0.25, 0.25],
            },
            "purpose": {
                "type": "categorical",
                "proportions": {"car": 0.625, "other": 0.125, "tv": 0.25},
            },
        },
        "approval_rate": {
            "overall": 0.625,
            "by_group": {"age_group": {"25+": 0.8, "<25": 1 / 3}},
        },
        "performance": {
            "auc": 0.9333333333333333,
            "gini": 0.8666666666666667,
            "ks": 0.8,
        },
    }
    assert baseline.validate_baseline(result, {"amount", "purpose"}) == []


def test_build_baseline_accepts_arrays_and_leaves_out_missing_parts() -> None:
    # given only features and an external decision array
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]})
    # when built without performance inputs
    result = baseline_stats.build_baseline(
        df, numeric=["x"], categorical=[], decision=np.array([1, 0, 0, 1]), bins=2
    )
    # then the performance part is absent and the rest is valid
    assert set(result) == {"n", "features", "approval_rate"}
    assert result["approval_rate"] == {"overall": 0.5, "by_group": {}}
    assert baseline.validate_baseline(result) == []


# --- on the South German Credit data --------------------------------------------------------


def test_approval_rate_by_age_group_matches_pandas_on_south_german_credit() -> None:
    # given the decoded South German Credit file, with good credit as the decision
    df = pd.read_csv(DATA / "south_german_credit_decoded.csv")
    # when approval rates by age group and derived sex are computed
    rates = baseline_stats.approval_rates(
        df["credit_risk"], {"age_group": df["age_group"], "sex": df["sex_derived"]}
    )
    # then they equal a direct pandas group-by, and the documented figures
    expected = df.groupby("age_group")["credit_risk"].mean().to_dict()
    assert rates["by_group"]["age_group"] == expected
    assert rates["by_group"]["age_group"]["<25"] == 88 / 150
    assert rates["overall"] == 0.7
    assert math.isclose(
        rates["by_group"]["age_group"]["<25"]
        / df.loc[df["age"] >= 25, "credit_risk"].mean(),
        0.8148,
        abs_tol=5e-5,
    )
    assert rates["by_group"]["sex"] == (
        df.groupby("sex_derived")["credit_risk"].mean().to_dict()
    )


def test_south_german_credit_baseline_is_valid() -> None:
    # given the decoded file
    df = pd.read_csv(DATA / "south_german_credit_decoded.csv")
    # when a baseline of two numeric and two coded features is built
    result = baseline_stats.build_baseline(
        df,
        numeric=["duration", "amount"],
        categorical=["status", "purpose"],
        decision="credit_risk",
        groups={"age_group": "age_group"},
    )
    # then it validates, with ten amount bins and the status codes as keys
    assert baseline.validate_baseline(result) == []
    assert len(result["features"]["amount"]["proportions"]) == 10
    assert set(result["features"]["status"]["proportions"]) == {"1", "2", "3", "4"}
    assert result["n"] == 1000
