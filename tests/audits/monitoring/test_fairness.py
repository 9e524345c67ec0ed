"""Fairness report and approval-rate drift on aggregated cells.

Every metric is checked against fairlearn and numpy run on the raw rows of the two
real data sets (South German Credit, HMDA sample), with reference formulas for
Wilson intervals and z-tests written out here independently. No database.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)

from audits.monitoring import fairness

DATA = Path(__file__).resolve().parents[3] / "data"
TOLERANCE = 1e-9
FLAG_NOTE = (
    "Selection rate is below four-fifths of the reference group's and the "
    "difference is statistically significant (p < 0.05): a screening flag for "
    "adverse impact under the four-fifths rule (29 CFR 1607.4(D)), used in lending "
    "by analogy; it is not a finding of discrimination."
)
INSUFFICIENT_NOTE = "Fewer than 30 predictions: reported as insufficient, not assessed."


# --- Reference formulas, written independently of the module ------------------------


def wilson_reference(successes: int, n: int, confidence: float) -> tuple[float, float]:
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = successes / n
    centre = (2 * n * p + z**2) / (2 * (n + z**2))
    spread = z * np.sqrt(4 * n * p * (1 - p) + z**2) / (2 * (n + z**2))
    return centre - spread, centre + spread


def pooled_z_p_value(x1: int, n1: int, x2: int, n2: int) -> float:
    pooled = (x1 + x2) / (n1 + n2)
    z = (x1 / n1 - x2 / n2) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return math.erfc(abs(z) / math.sqrt(2))


def one_sample_z_p_value(x: int, n: int, p0: float) -> float:
    z = (x / n - p0) / np.sqrt(p0 * (1 - p0) / n)
    return math.erfc(abs(z) / math.sqrt(2))


def to_cells(raw: pd.DataFrame, attributes: Sequence[str]) -> pd.DataFrame:
    keys = [*attributes, "decision", "outcome"]
    return raw[keys].assign(n=1).groupby(keys, dropna=False)["n"].sum().reset_index()


def group_labels(raw: pd.DataFrame, key: Sequence[str]) -> pd.Series:
    labels = raw[key[0]].astype(str)
    for attribute in key[1:]:
        labels = labels + " / " + raw[attribute].astype(str)
    return labels


def close(actual: Any, expected: Any) -> bool:
    if expected is None:
        return actual is None
    return actual is not None and math.isclose(actual, expected, abs_tol=TOLERANCE)


# --- Real data --------------------------------------------------------------------


def _hmda_race(code: float) -> str | None:
    if pd.isna(code):
        return None
    if code == 5.0:
        return "White"
    if code == 3.0:
        return "Black"
    if code == 2.0 or 21.0 <= code <= 27.0:
        return "Asian"
    return "Other/not provided"


@pytest.fixture(scope="module")
def hmda_raw() -> pd.DataFrame:
    source = pd.read_csv(DATA / "hmda_sample.csv")
    loan_to_value = pd.to_numeric(source["loan_to_value_ratio"], errors="coerce")
    outcome = ((loan_to_value <= 90) | (source["income"] >= 100)).astype(float)
    # Every third application has not matured yet.
    outcome[np.arange(len(source)) % 3 == 0] = np.nan
    return pd.DataFrame(
        {
            "race": [_hmda_race(code) for code in source["applicant_race-1"]],
            "sex": source["applicant_sex"]
            .map({1: "male", 2: "female"}, na_action="ignore")
            .fillna("not provided"),
            "decision": source["approved"].astype(int),
            "outcome": outcome,
        }
    )


@pytest.fixture(scope="module")
def german_raw() -> pd.DataFrame:
    source = pd.read_csv(DATA / "south_german_credit_decoded.csv")
    return pd.DataFrame(
        {
            "sex_derived": source["sex_derived"],
            "age_group": source["age_group"],
            "decision": (
                (source["duration"] <= 24) & (source["amount"] <= 5000)
            ).astype(int),
            "outcome": source["credit_risk"].astype(float),
        }
    )


HMDA_ATTRIBUTES = ("race", "sex")
GERMAN_ATTRIBUTES = ("sex_derived", "age_group")


@pytest.fixture(scope="module")
def hmda_report(hmda_raw: pd.DataFrame) -> dict[str, Any]:
    return fairness.fairness_report(
        to_cells(hmda_raw, HMDA_ATTRIBUTES), attributes=HMDA_ATTRIBUTES
    )


@pytest.fixture(scope="module")
def german_report(german_raw: pd.DataFrame) -> dict[str, Any]:
    return fairness.fairness_report(
        to_cells(german_raw, GERMAN_ATTRIBUTES), attributes=GERMAN_ATTRIBUTES
    )


def expected_entry(raw: pd.DataFrame, key: Sequence[str]) -> dict[str, Any]:
    """The report entry of ``key`` computed with fairlearn and numpy on raw rows."""
    present = raw.dropna(subset=list(key))
    labels = group_labels(present, key).to_numpy()
    decision = present["decision"].to_numpy()
    outcome = present["outcome"].to_numpy()
    matured = ~np.isnan(outcome)
    groups: dict[str, dict[str, Any]] = {}
    # fairlearn's metric functions per group on the raw rows, without weights
    # (a raw-row MetricFrame gives the same numbers, but stacks every row one by
    # one and would take most of this file's time on HMDA).
    for label in sorted(set(labels)):
        rows = labels == label
        judged = rows & matured
        y_true, y_pred = outcome[judged].astype(int), decision[judged]
        approved_matured = judged & (decision == 1)
        groups[label] = {
            "n": int(rows.sum()),
            "approved": int(decision[rows].sum()),
            "selection_rate": selection_rate(decision[rows], decision[rows]),
            "matured_n": int(judged.sum()),
            "tpr": true_positive_rate(y_true, y_pred) if (y_true == 1).any() else None,
            "fpr": false_positive_rate(y_true, y_pred) if (y_true == 0).any() else None,
            "precision": float(outcome[approved_matured].mean())
            if approved_matured.any()
            else None,
            "positives": int((y_true == 1).sum()),
            "negatives": int((y_true == 0).sum()),
        }
    sufficient = [label for label, g in groups.items() if g["n"] >= 30]
    # Most favoured: highest rate, ties to the first label in sorted order.
    reference = max(sufficient, key=lambda label: groups[label]["selection_rate"])
    expected: dict[str, Any] = {"reference": reference, "groups": groups}
    keep = np.isin(labels, sufficient)
    expected["dpd"] = demographic_parity_difference(
        decision[keep], decision[keep], sensitive_features=labels[keep]
    )
    expected["dpr"] = demographic_parity_ratio(
        decision[keep], decision[keep], sensitive_features=labels[keep]
    )
    assessable = [
        label
        for label, g in groups.items()
        if g["matured_n"] >= 30 and g["positives"] and g["negatives"]
    ]
    keep = np.isin(labels, assessable) & matured
    expected["eod"] = equalized_odds_difference(
        outcome[keep].astype(int), decision[keep], sensitive_features=labels[keep]
    )
    expected["missing_n"] = len(raw) - len(present)
    return expected


def assert_entry_matches_raw(
    entry: dict[str, Any], raw: pd.DataFrame, key: Sequence[str]
) -> None:
    expected = expected_entry(raw, key)
    assert entry["attributes"] == list(key)
    assert entry["reference"] == expected["reference"]
    assert entry["reference_source"] == "most_favoured"
    assert entry["missing_n"] == expected["missing_n"]
    assert [g["group"] for g in entry["groups"]] == list(expected["groups"])
    assert close(entry["demographic_parity_difference"], expected["dpd"])
    assert close(entry["demographic_parity_ratio"], expected["dpr"])
    assert close(entry["equalized_odds_difference"], expected["eod"])
    assert entry["insufficient_groups"] == [
        label for label, g in expected["groups"].items() if g["n"] < 30
    ]
    reference = expected["groups"][expected["reference"]]
    for group in entry["groups"]:
        want = expected["groups"][group["group"]]
        for field in ("n", "approved", "matured_n"):
            assert group[field] == want[field], (group["group"], field)
        for field in ("selection_rate", "tpr", "fpr", "precision"):
            assert close(group[field], want[field]), (group["group"], field)
        ci_low, ci_high = wilson_reference(want["approved"], want["n"], 0.95)
        assert close(group["ci_low"], ci_low)
        assert close(group["ci_high"], ci_high)
        if group["group"] == expected["reference"]:
            air, p_value = 1.0, None
            status = "reference"
        elif want["n"] < 30:
            air = p_value = None
            status = "insufficient"
        else:
            air = want["selection_rate"] / reference["selection_rate"]
            p_value = pooled_z_p_value(
                want["approved"], want["n"], reference["approved"], reference["n"]
            )
            status = (
                "flag"
                if air < 0.8 and p_value < 0.05
                else "watch"
                if air < 0.9
                else "ok"
            )
        assert close(group["air"], air), group["group"]
        assert close(group["air_p_value"], p_value), group["group"]
        assert group["status"] == status, group["group"]


def assert_overall_matches_raw(overall: dict[str, Any], raw: pd.DataFrame) -> None:
    decision = raw["decision"].to_numpy()
    outcome = raw["outcome"].to_numpy()
    matured = ~np.isnan(outcome)
    assert overall["n"] == len(raw)
    assert overall["approved"] == int(decision.sum())
    assert overall["matured_n"] == int(matured.sum())
    assert close(overall["selection_rate"], selection_rate(decision, decision))
    y_true, y_pred = outcome[matured].astype(int), decision[matured]
    assert close(overall["tpr"], true_positive_rate(y_true, y_pred))
    assert close(overall["fpr"], false_positive_rate(y_true, y_pred))
    assert close(overall["precision"], y_true[y_pred == 1].mean())


# --- Real data: the report equals fairlearn on raw rows ------------------------------


def test_german_credit_report_equals_fairlearn_on_raw_rows(
    german_raw: pd.DataFrame, german_report: dict[str, Any]
) -> None:
    # given the 1,000 South German Credit rows aggregated into cells
    # when the report is built from the cells (german_report)
    # then every single attribute and the sex × age intersection match the raw rows
    assert list(german_report["by_attribute"]) == [
        "sex_derived",
        "age_group",
        "sex_derived × age_group",
    ]
    assert_overall_matches_raw(german_report["overall"], german_raw)
    for key, entry in german_report["by_attribute"].items():
        assert_entry_matches_raw(entry, german_raw, key.split(" × "))


def test_german_credit_intersection_equals_raw_metric_frame(
    german_raw: pd.DataFrame, german_report: dict[str, Any]
) -> None:
    # given a raw-row MetricFrame over sex and age (a MultiIndex of groups)
    matured = german_raw["outcome"].notna()
    frame = MetricFrame(
        metrics={"sel": selection_rate, "tpr": true_positive_rate},
        y_true=german_raw["outcome"].fillna(0).astype(int),
        y_pred=german_raw["decision"],
        sensitive_features=german_raw[list(GERMAN_ATTRIBUTES)],
    )
    assert matured.all()
    # when the report's intersection groups are read
    groups = german_report["by_attribute"]["sex_derived × age_group"]["groups"]
    # then selection rate and TPR equal the MetricFrame's for every group, except
    # that the one group without a good outcome has no TPR where fairlearn says 0.0
    assert len(groups) == len(frame.by_group) == 9
    for group in groups:
        index = tuple(group["group"].split(" / "))
        assert close(group["selection_rate"], frame.by_group.loc[index, "sel"])
        if group["group"] == "female / >60":
            assert (group["n"], group["tpr"]) == (1, None)
            assert frame.by_group.loc[index, "tpr"] == 0.0
        else:
            assert close(group["tpr"], frame.by_group.loc[index, "tpr"])


def test_german_credit_intersection_has_insufficient_groups(
    german_report: dict[str, Any],
) -> None:
    # given the sex × age intersection of South German Credit (german_report)
    entry = german_report["by_attribute"]["sex_derived × age_group"]
    # when its small groups are looked up
    small = {g["group"]: g for g in entry["groups"] if g["n"] < 30}
    # then they are insufficient, without AIR, and never breaches
    assert sorted(small) == [
        "ambiguous / >60",
        "female / <25",
        "female / >60",
    ]
    assert entry["insufficient_groups"] == sorted(small)
    for group in small.values():
        assert group["status"] == "insufficient"
        assert group["air"] is None
        assert group["air_p_value"] is None
        assert group["note"] == INSUFFICIENT_NOTE
    breached = {(b["attribute"], b["group"]) for b in german_report["breaches"]}
    assert not breached & {("sex_derived × age_group", label) for label in small}


def test_german_credit_breaches_are_the_flagged_groups(
    german_report: dict[str, Any],
) -> None:
    # given the South German Credit report (german_report)
    # when its breaches are compared with the groups' statuses
    flagged = [
        (key, g["group"], g["air"], g["air_p_value"])
        for key, entry in german_report["by_attribute"].items()
        for g in entry["groups"]
        if g["status"] == "flag"
    ]
    # then each flag is a breach with the screening-flag wording
    assert flagged
    assert [
        (b["attribute"], b["group"], b["value"], b["p_value"])
        for b in german_report["breaches"]
    ] == flagged
    for breach in german_report["breaches"]:
        assert breach["metric"] == "air"
        assert breach["threshold"] == 0.8
        assert breach["message"].endswith(FLAG_NOTE)
    assert german_report["breaches"][0]["message"] == (
        "sex_derived = male: AIR 0.756 against female. " + FLAG_NOTE
    )


def test_hmda_report_equals_fairlearn_on_raw_rows(
    hmda_raw: pd.DataFrame, hmda_report: dict[str, Any]
) -> None:
    # given 50,000 HMDA applications, a third unmatured, aggregated into cells
    # when the report is built from the cells (hmda_report)
    # then every attribute and intersection, race × sex included, matches raw rows
    assert list(hmda_report["by_attribute"]) == ["race", "sex", "race × sex"]
    assert_overall_matches_raw(hmda_report["overall"], hmda_raw)
    for key, entry in hmda_report["by_attribute"].items():
        assert_entry_matches_raw(entry, hmda_raw, key.split(" × "))


def test_hmda_missing_race_is_counted_apart(hmda_report: dict[str, Any]) -> None:
    # given HMDA rows of which 16 have no race
    by_attribute = hmda_report["by_attribute"]
    # when the report's missing counts are read
    # then race and race × sex leave those 16 out, sex and the overall keep them
    assert by_attribute["race"]["missing_n"] == 16
    assert by_attribute["race × sex"]["missing_n"] == 16
    assert by_attribute["sex"]["missing_n"] == 0
    assert sum(g["n"] for g in by_attribute["race"]["groups"]) == 50_000 - 16
    assert sum(g["n"] for g in by_attribute["sex"]["groups"]) == 50_000
    assert hmda_report["overall"]["n"] == 50_000


def test_report_is_json_serialisable(
    german_report: dict[str, Any], hmda_report: dict[str, Any]
) -> None:
    # given both real-data reports
    # when they are serialised strictly (no NaN, no inf)
    # then it succeeds and round-trips unchanged
    for report in (german_report, hmda_report):
        assert json.loads(json.dumps(report, allow_nan=False)) == report


def test_report_is_the_same_from_unsummed_cells(german_raw: pd.DataFrame) -> None:
    # given the same South German Credit rows as one cell per row (n = 1 each)
    rows = german_raw.assign(n=1)
    # when the report is built from them and from summed cells
    unsummed = fairness.fairness_report(rows, attributes=GERMAN_ATTRIBUTES)
    summed = fairness.fairness_report(
        to_cells(german_raw, GERMAN_ATTRIBUTES), attributes=GERMAN_ATTRIBUTES
    )
    # then the two reports agree
    assert json.dumps(unsummed, sort_keys=True) == json.dumps(summed, sort_keys=True)


# --- Constructed cases ---------------------------------------------------------------


def make_cells(
    groups: dict[str, tuple[int, int]], attribute: str = "sex"
) -> pd.DataFrame:
    """Cells of ``{label: (n, approved)}``, no outcomes."""
    rows = []
    for label, (n, approved) in groups.items():
        if approved:
            rows.append(
                {attribute: label, "decision": 1, "outcome": np.nan, "n": approved}
            )
        if n - approved:
            rows.append(
                {attribute: label, "decision": 0, "outcome": np.nan, "n": n - approved}
            )
    return pd.DataFrame(rows)


def group_of(report: dict[str, Any], key: str, label: str) -> dict[str, Any]:
    entry = report["by_attribute"][key]
    return next(g for g in entry["groups"] if g["group"] == label)


def test_group_below_min_samples_is_insufficient_and_never_a_breach() -> None:
    # given a group of 29 predictions that were all declined
    cells = make_cells({"A": (1000, 800), "B": (29, 0)})
    # when the report is built
    report = fairness.fairness_report(cells, attributes=["sex"])
    # then B is insufficient, has no AIR and is not a breach
    group = group_of(report, "sex", "B")
    assert group["status"] == "insufficient"
    assert group["air"] is None
    assert group["air_p_value"] is None
    assert group["note"] == INSUFFICIENT_NOTE
    assert group["selection_rate"] == 0.0
    assert report["by_attribute"]["sex"]["insufficient_groups"] == ["B"]
    assert report["by_attribute"]["sex"]["demographic_parity_difference"] is None
    assert report["by_attribute"]["sex"]["demographic_parity_ratio"] is None
    assert report["breaches"] == []


def test_group_at_min_samples_is_assessed() -> None:
    # given a group of exactly 30 predictions that were all declined
    cells = make_cells({"A": (1000, 800), "B": (30, 0)})
    # when the report is built
    report = fairness.fairness_report(cells, attributes=["sex"])
    # then B is assessed and flagged
    assert group_of(report, "sex", "B")["status"] == "flag"
    assert report["by_attribute"]["sex"]["demographic_parity_difference"] == 0.8
    assert report["by_attribute"]["sex"]["demographic_parity_ratio"] == 0.0


def test_air_of_three_quarters_with_large_n_is_a_flag() -> None:
    # given rates of 0.8 and 0.6 over 1,000 predictions each: AIR 0.75
    cells = make_cells({"A": (1000, 800), "B": (1000, 600)})
    # when the report is built
    report = fairness.fairness_report(cells, attributes=["sex"])
    # then B is flagged with the screening-flag wording, and it is the only breach
    group = group_of(report, "sex", "B")
    p_value = pooled_z_p_value(600, 1000, 800, 1000)
    assert group["air"] == pytest.approx(0.75, abs=1e-12)
    assert group["air_p_value"] == pytest.approx(p_value, abs=TOLERANCE)
    assert group["status"] == "flag"
    assert group["note"] == FLAG_NOTE
    assert group_of(report, "sex", "A")["status"] == "reference"
    assert report["breaches"] == [
        {
            "metric": "air",
            "attribute": "sex",
            "group": "B",
            "value": group["air"],
            "threshold": 0.8,
            "p_value": group["air_p_value"],
            "message": "sex = B: AIR 0.750 against A. " + FLAG_NOTE,
        }
    ]


def test_air_of_three_quarters_with_small_n_is_only_watch() -> None:
    # given rates of 0.8 and 0.6 over 40 predictions each: AIR 0.75, p about 0.051
    cells = make_cells({"A": (40, 32), "B": (40, 24)})
    # when the report is built
    report = fairness.fairness_report(cells, attributes=["sex"])
    # then B is on watch, not flagged, and nothing breaches
    group = group_of(report, "sex", "B")
    assert group["air"] == pytest.approx(0.75, abs=1e-12)
    assert group["air_p_value"] == pytest.approx(
        pooled_z_p_value(24, 40, 32, 40), abs=TOLERANCE
    )
    assert group["air_p_value"] > 0.05
    assert group["status"] == "watch"
    assert group["note"] == (
        "Selection rate is below four-fifths of the reference group's but the "
        "difference is not statistically significant (p = 0.051, alpha 0.05): watch."
    )
    assert report["breaches"] == []


def test_air_between_threshold_and_watch_is_watch_and_at_watch_is_ok() -> None:
    # given rates of 0.5, 0.425 (AIR 0.85) and 0.45 (AIR exactly 0.9)
    cells = make_cells({"A": (2000, 1000), "B": (2000, 850), "C": (2000, 900)})
    # when the report is built
    report = fairness.fairness_report(cells, attributes=["sex"])
    # then B is on watch and C, on the watch line, is ok
    assert group_of(report, "sex", "B")["status"] == "watch"
    assert group_of(report, "sex", "B")["note"] == (
        "AIR is between 0.8 and 0.9: watch or escalate."
    )
    assert group_of(report, "sex", "C")["status"] == "ok"
    assert group_of(report, "sex", "C")["note"] == "AIR is at least 0.9."


def test_configured_reference_is_used_for_air() -> None:
    # given a configured reference group that is not the most favoured
    cells = make_cells({"A": (1000, 800), "B": (1000, 600)})
    # when the report is built with it
    report = fairness.fairness_report(cells, attributes=["sex"], reference={"sex": "B"})
    # then AIR is relative to B
    entry = report["by_attribute"]["sex"]
    assert entry["reference"] == "B"
    assert entry["reference_source"] == "configured"
    assert group_of(report, "sex", "A")["air"] == pytest.approx(0.8 / 0.6, abs=1e-12)
    assert group_of(report, "sex", "A")["status"] == "ok"
    assert group_of(report, "sex", "B")["status"] == "reference"
    assert group_of(report, "sex", "B")["air"] == 1.0
    assert group_of(report, "sex", "B")["air_p_value"] is None
    assert group_of(report, "sex", "B")["note"] == "Reference group (configured)."


def test_configured_reference_of_intersection_needs_every_part(
    german_raw: pd.DataFrame,
) -> None:
    # given South German Credit cells
    cells = to_cells(german_raw, GERMAN_ATTRIBUTES)
    # when one report configures sex only and another sex and age
    partly = fairness.fairness_report(
        cells, attributes=GERMAN_ATTRIBUTES, reference={"sex_derived": "male"}
    )
    fully = fairness.fairness_report(
        cells,
        attributes=GERMAN_ATTRIBUTES,
        reference={"sex_derived": "male", "age_group": "25-60"},
    )
    # then the intersection uses the configured pair only when both are given
    key = "sex_derived × age_group"
    assert partly["by_attribute"]["sex_derived"]["reference"] == "male"
    assert partly["by_attribute"][key]["reference"] == "female / 25-60"
    assert partly["by_attribute"][key]["reference_source"] == "most_favoured"
    assert fully["by_attribute"][key]["reference"] == "male / 25-60"
    assert fully["by_attribute"][key]["reference_source"] == "configured"
    male = german_raw[german_raw["sex_derived"] == "male"]
    female = german_raw[german_raw["sex_derived"] == "female"]
    assert group_of(partly, "sex_derived", "female")["air"] == pytest.approx(
        female["decision"].mean() / male["decision"].mean(), abs=TOLERANCE
    )


def test_configured_reference_with_too_few_predictions_leaves_air_out() -> None:
    # given a configured reference group of 10 predictions
    cells = make_cells({"A": (1000, 800), "B": (1000, 600), "C": (10, 9)})
    # when the report is built with it
    report = fairness.fairness_report(cells, attributes=["sex"], reference={"sex": "C"})
    # then it stays the reference, every AIR is None and nothing is flagged
    entry = report["by_attribute"]["sex"]
    assert entry["reference"] == "C"
    assert entry["note"] == (
        "The configured reference group 'C' has fewer than 30 predictions: "
        "every AIR is left out."
    )
    assert [g["air"] for g in entry["groups"]] == [None, None, None]
    assert [g["status"] for g in entry["groups"]] == [
        "insufficient",
        "insufficient",
        "reference",
    ]
    assert group_of(report, "sex", "C")["note"] == (
        "Reference group (configured). " + INSUFFICIENT_NOTE + " AIR is not reported."
    )
    assert report["breaches"] == []


def test_most_favoured_tie_goes_to_first_label() -> None:
    # given two groups with the same rate, one from larger counts
    cells = make_cells({"B": (100, 50), "A": (200, 100), "C": (100, 10)})
    # when the report is built
    report = fairness.fairness_report(cells, attributes=["sex"])
    # then the first label in sorted order is the reference
    assert report["by_attribute"]["sex"]["reference"] == "A"
    assert group_of(report, "sex", "B")["air"] == 1.0


def test_reference_rate_of_zero_leaves_air_undefined() -> None:
    # given two groups that were never approved
    cells = make_cells({"A": (50, 0), "B": (60, 0)})
    # when the report is built
    report = fairness.fairness_report(cells, attributes=["sex"])
    # then no AIR can be computed and nothing is flagged
    entry = report["by_attribute"]["sex"]
    assert [(g["group"], g["air"], g["status"]) for g in entry["groups"]] == [
        ("A", None, "reference"),
        ("B", None, "ok"),
    ]
    assert group_of(report, "sex", "B")["note"] == (
        "The reference group's selection rate is 0, so AIR is undefined; no group "
        "can be selected less often than it."
    )
    assert entry["demographic_parity_difference"] == 0.0
    assert entry["demographic_parity_ratio"] is None
    assert report["breaches"] == []


def test_missing_values_are_left_out_and_counted() -> None:
    # given cells whose attribute is None, NaN or empty for 7 + 5 + 3 predictions
    cells = pd.concat(
        [
            make_cells({"A": (100, 80), "B": (100, 70)}),
            pd.DataFrame(
                {
                    "sex": [None, np.nan, ""],
                    "decision": [1, 0, 1],
                    "outcome": [np.nan, 1.0, 0.0],
                    "n": [7, 5, 3],
                }
            ),
        ],
        ignore_index=True,
    )
    # when the report is built
    report = fairness.fairness_report(cells, attributes=["sex"])
    # then they are outside every group but inside the overall figures
    entry = report["by_attribute"]["sex"]
    assert entry["missing_n"] == 15
    assert [g["group"] for g in entry["groups"]] == ["A", "B"]
    assert report["overall"]["n"] == 215
    assert report["overall"]["approved"] == 160
    assert report["overall"]["matured_n"] == 8
    assert report["overall"]["tpr"] == 0.0
    assert report["overall"]["fpr"] == 1.0
    assert report["overall"]["precision"] == 0.0


def test_rates_without_denominator_are_none() -> None:
    # given a group whose matured predictions are all unfavourable outcomes
    cells = pd.DataFrame(
        {
            "sex": ["A", "A", "B", "B", "B"],
            "decision": [1, 0, 1, 0, 1],
            "outcome": [0.0, 0.0, 1.0, 0.0, np.nan],
            "n": [20, 20, 30, 10, 5],
        }
    )
    # when the report is built
    report = fairness.fairness_report(cells, attributes=["sex"])
    # then A has no TPR (fairlearn would say 0.0) and EOD needs two assessable groups
    group = group_of(report, "sex", "A")
    assert group["tpr"] is None
    assert group["fpr"] == 0.5
    assert group["precision"] == 0.0
    assert report["by_attribute"]["sex"]["equalized_odds_difference"] is None
    b = group_of(report, "sex", "B")
    assert (b["tpr"], b["fpr"], b["precision"], b["matured_n"]) == (1.0, 0.0, 1.0, 40)


def test_report_without_outcomes_has_no_error_rates() -> None:
    # given cells with decisions only
    cells = make_cells({"A": (100, 80), "B": (100, 70)})
    # when the report is built
    report = fairness.fairness_report(cells, attributes=["sex"])
    # then error rates and EOD are None
    assert report["overall"] == {
        "n": 200,
        "approved": 150,
        "selection_rate": 0.75,
        "matured_n": 0,
        "tpr": None,
        "fpr": None,
        "precision": None,
    }
    assert report["by_attribute"]["sex"]["equalized_odds_difference"] is None
    assert group_of(report, "sex", "A")["tpr"] is None


def test_intersections_can_be_switched_off(german_raw: pd.DataFrame) -> None:
    # given South German Credit cells
    cells = to_cells(german_raw, GERMAN_ATTRIBUTES)
    # when intersections are off
    report = fairness.fairness_report(
        cells, attributes=GERMAN_ATTRIBUTES, intersections=False
    )
    # then only single attributes are reported
    assert list(report["by_attribute"]) == ["sex_derived", "age_group"]


@pytest.mark.parametrize(
    ("column", "value"),
    [("decision", 2), ("outcome", 0.5), ("n", 0), ("n", 1.5)],
)
def test_malformed_cells_are_rejected(column: str, value: Any) -> None:
    # given cells with one malformed value
    cells = make_cells({"A": (100, 80)}).astype({column: object})
    cells.loc[0, column] = value
    # when the report is built, then it raises
    with pytest.raises(ValueError):
        fairness.fairness_report(cells, attributes=["sex"])


# --- Helpers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "n", "confidence"),
    [(0, 10, 0.95), (10, 10, 0.95), (7, 10, 0.9), (412, 1000, 0.99), (1, 1, 0.95)],
)
def test_wilson_interval_matches_the_formula(
    successes: int, n: int, confidence: float
) -> None:
    # given a proportion
    # when its Wilson interval is computed
    low, high = fairness.wilson_interval(successes, n, confidence)
    # then it matches the closed form
    expected_low, expected_high = wilson_reference(successes, n, confidence)
    assert low == pytest.approx(max(expected_low, 0.0), abs=TOLERANCE)
    assert high == pytest.approx(min(expected_high, 1.0), abs=TOLERANCE)


def test_wilson_interval_is_exact_at_the_ends() -> None:
    # given no successes and all successes
    # when their intervals are computed
    # then the bound at the end is exactly 0 or 1
    assert fairness.wilson_interval(0, 50)[0] == 0.0
    assert fairness.wilson_interval(50, 50)[1] == 1.0


def test_p_value_helpers_match_the_formulas_and_degenerate_cases() -> None:
    # given proportions, including empty and degenerate ones
    # when p-values are computed, then they match the formulas
    assert fairness.two_proportion_p_value(600, 1000, 800, 1000) == pytest.approx(
        pooled_z_p_value(600, 1000, 800, 1000), abs=TOLERANCE
    )
    assert fairness.one_proportion_p_value(68, 100, 0.8) == pytest.approx(
        one_sample_z_p_value(68, 100, 0.8), abs=TOLERANCE
    )
    assert fairness.two_proportion_p_value(0, 0, 5, 10) is None
    assert fairness.two_proportion_p_value(10, 10, 20, 20) == 1.0
    assert fairness.one_proportion_p_value(0, 0, 0.5) is None
    assert fairness.one_proportion_p_value(10, 10, 1.0) == 1.0
    assert fairness.one_proportion_p_value(9, 10, 1.0) == 0.0
    with pytest.raises(ValueError):
        fairness.two_proportion_p_value(11, 10, 5, 10)
    with pytest.raises(ValueError):
        fairness.wilson_interval(0, 0)


# --- Approval-rate drift -------------------------------------------------------------


def drift_cells(groups: dict[str, tuple[int, int]]) -> pd.DataFrame:
    return make_cells(groups, attribute="age_group")


BASELINE = {"overall": 0.8, "by_group": {"age_group": {"<25": 0.8, "25+": 0.8}}}


def test_fifteen_percent_drop_with_large_n_is_exactly_one_breach() -> None:
    # given a baseline of 0.8 and a window where <25 fell to 0.68 (-15 % relative)
    cells = drift_cells({"<25": (10_000, 6_800), "25+": (10_000, 8_000)})
    # when drift is computed
    result = fairness.approval_drift(cells, attributes=["age_group"], baseline=BASELINE)
    # then <25 is the one breach
    assert len(result["breaches"]) == 1
    breach = result["breaches"][0]
    assert (breach["comparison"], breach["scope"], breach["group"]) == (
        "baseline",
        "age_group",
        "<25",
    )
    assert breach["n"] == 10_000
    assert breach["rate"] == 0.68
    assert breach["reference_rate"] == 0.8
    assert breach["absolute_change"] == pytest.approx(-0.12, abs=1e-12)
    assert breach["relative_change"] == pytest.approx(-0.15, abs=1e-12)
    assert breach["p_value"] == pytest.approx(
        one_sample_z_p_value(6_800, 10_000, 0.8), abs=TOLERANCE
    )
    assert breach["status"] == "breach"
    assert breach["message"] == (
        "age_group = <25: Approval rate 0.6800 against 0.8000 in the baseline: a "
        "relative change of -15.0% (limit 15%) that is statistically significant "
        "(p = 9.81e-198 < 0.05): breach."
    )
    overall = result["vs_baseline"][0]
    assert (overall["scope"], overall["group"], overall["status"]) == (
        "overall",
        None,
        "ok",
    )
    assert overall["relative_change"] == pytest.approx(-0.075, abs=1e-12)


def test_ten_percent_drop_is_no_breach() -> None:
    # given a window where <25 fell from 0.8 to 0.72 (-10 % relative, significant)
    cells = drift_cells({"<25": (10_000, 7_200), "25+": (10_000, 8_000)})
    # when drift is computed
    result = fairness.approval_drift(cells, attributes=["age_group"], baseline=BASELINE)
    # then nothing breaches
    row = next(r for r in result["vs_baseline"] if r["group"] == "<25")
    assert row["p_value"] < 0.05
    assert row["relative_change"] == pytest.approx(-0.10, abs=1e-12)
    assert row["status"] == "ok"
    assert result["breaches"] == []


def test_stable_window_has_no_breach() -> None:
    # given a window at the baseline rates
    cells = drift_cells({"<25": (5_000, 4_000), "25+": (5_000, 4_000)})
    # when drift is computed
    result = fairness.approval_drift(cells, attributes=["age_group"], baseline=BASELINE)
    # then every row is ok with no change
    assert [r["status"] for r in result["vs_baseline"]] == ["ok", "ok", "ok"]
    assert [r["absolute_change"] for r in result["vs_baseline"]] == [0.0, 0.0, 0.0]
    assert [r["p_value"] for r in result["vs_baseline"]] == [1.0, 1.0, 1.0]
    assert result["breaches"] == []


def test_large_drop_in_small_group_is_insufficient() -> None:
    # given a group of 29 predictions that fell from 0.8 to 0
    cells = drift_cells({"<25": (29, 0), "25+": (5_000, 4_000)})
    # when drift is computed
    result = fairness.approval_drift(cells, attributes=["age_group"], baseline=BASELINE)
    # then it is insufficient, not a breach
    row = next(r for r in result["vs_baseline"] if r["group"] == "<25")
    assert row["status"] == "insufficient"
    assert row["message"] == (
        "age_group = <25: Fewer than 30 predictions in this window: reported as "
        "insufficient, not assessed."
    )
    assert result["breaches"] == []


def test_group_in_baseline_but_absent_now_has_an_empty_row() -> None:
    # given a baseline group with no prediction in this window
    cells = drift_cells({"25+": (5_000, 4_000)})
    # when drift is computed
    result = fairness.approval_drift(cells, attributes=["age_group"], baseline=BASELINE)
    # then its row has n 0 and is insufficient
    row = next(r for r in result["vs_baseline"] if r["group"] == "<25")
    assert row == {
        "comparison": "baseline",
        "scope": "age_group",
        "group": "<25",
        "n": 0,
        "rate": None,
        "reference_n": None,
        "reference_rate": 0.8,
        "absolute_change": None,
        "relative_change": None,
        "p_value": None,
        "status": "insufficient",
        "message": "age_group = <25: No predictions in this window: reported as "
        "insufficient, not assessed.",
    }


def window(start: str, groups: dict[str, tuple[int, int]]) -> dict[str, Any]:
    return {
        "window_start": start,
        "window_end": start + "+7d",
        "overall": {
            "n": sum(n for n, _ in groups.values()),
            "approved": sum(a for _, a in groups.values()),
        },
        "by_group": {
            "age_group": {
                label: {"n": n, "approved": a} for label, (n, a) in groups.items()
            }
        },
    }


def test_vs_previous_uses_the_last_previous_window() -> None:
    # given an old window at 0.8 and the last one already at the current 0.68
    cells = drift_cells({"<25": (10_000, 6_800), "25+": (10_000, 8_000)})
    old = window("2026-01-01", {"<25": (10_000, 8_000), "25+": (10_000, 8_000)})
    last = window("2026-01-08", {"<25": (10_000, 6_800), "25+": (10_000, 8_000)})
    # when drift is computed with the windows in either order
    steady = fairness.approval_drift(
        cells, attributes=["age_group"], baseline=None, previous=[old, last]
    )
    dropped = fairness.approval_drift(
        cells, attributes=["age_group"], baseline=None, previous=[last, old]
    )
    # then only the last window counts
    assert steady["previous_window"] == {
        "window_start": "2026-01-08",
        "window_end": "2026-01-08+7d",
    }
    assert steady["vs_baseline"] == []
    assert [r["status"] for r in steady["vs_previous"]] == ["ok", "ok", "ok"]
    assert steady["breaches"] == []
    assert [(b["scope"], b["group"]) for b in dropped["breaches"]] == [
        ("age_group", "<25")
    ]
    breach = dropped["breaches"][0]
    assert breach["comparison"] == "previous"
    assert breach["reference_n"] == 10_000
    assert breach["p_value"] == pytest.approx(
        pooled_z_p_value(6_800, 10_000, 8_000, 10_000), abs=TOLERANCE
    )


def test_vs_previous_with_small_previous_group_is_insufficient() -> None:
    # given a previous window where <25 had 20 predictions
    cells = drift_cells({"<25": (10_000, 6_800), "25+": (10_000, 8_000)})
    last = window("2026-01-08", {"<25": (20, 20), "25+": (10_000, 8_000)})
    # when drift is computed
    result = fairness.approval_drift(
        cells, attributes=["age_group"], baseline=None, previous=[last]
    )
    # then that row is insufficient
    row = next(r for r in result["vs_previous"] if r["group"] == "<25")
    assert row["status"] == "insufficient"
    assert row["message"] == (
        "age_group = <25: Fewer than 30 predictions in the previous window: "
        "reported as insufficient, not assessed."
    )
    assert result["breaches"] == []


def test_hmda_drift_equals_numpy_on_raw_rows(hmda_raw: pd.DataFrame) -> None:
    # given HMDA split into a previous window (first half) and a current one, and
    # a baseline 10 % and 20 % above two groups' previous rates
    previous_raw, current_raw = hmda_raw.iloc[:25_000], hmda_raw.iloc[25_000:]

    def counts(raw: pd.DataFrame) -> dict[str, Any]:
        return {"n": len(raw), "approved": int(raw["decision"].sum())}

    previous = {
        "window_start": "2026-01-01",
        "window_end": "2026-02-01",
        "overall": counts(previous_raw),
        "by_group": {
            attribute: {
                str(label): counts(part)
                for label, part in previous_raw.groupby(attribute)
            }
            for attribute in ("race", "sex")
        },
    }
    baseline = {
        "overall": 0.75,
        "by_group": {"race": {"White": 0.78 * 1.1, "Black": 0.6 * 1.2, "Gone": 0.5}},
    }
    # when drift is computed from cells of the current window
    result = fairness.approval_drift(
        to_cells(current_raw, ["race", "sex"]),
        attributes=["race", "sex"],
        baseline=baseline,
        previous=[previous],
    )
    # then counts, rates, changes and p-values equal numpy on the raw rows
    assert result["current"]["overall"]["n"] == 25_000
    assert close(result["current"]["overall"]["rate"], current_raw["decision"].mean())
    for attribute in ("race", "sex"):
        expected = current_raw.groupby(attribute)["decision"].agg(["size", "sum"])
        assert list(result["current"]["by_group"][attribute]) == sorted(expected.index)
        for label, row in expected.iterrows():
            got = result["current"]["by_group"][attribute][label]
            assert (got["n"], got["approved"]) == (row["size"], row["sum"])
            assert close(got["rate"], row["sum"] / row["size"])
    for row in [*result["vs_baseline"], *result["vs_previous"]]:
        if row["group"] == fairness.MISSING:
            # the predictions without a value: counted, never assessed
            missing = int(current_raw[row["scope"]].isna().sum())
            assert (row["n"], row["status"], row["p_value"]) == (
                missing,
                "not_assessed",
                None,
            )
    for row in result["vs_baseline"]:
        if row["group"] == fairness.MISSING:
            continue
        if row["group"] == "Gone":
            assert (row["n"], row["status"]) == (0, "insufficient")
            continue
        if row["group"] in ("Asian", "Other/not provided"):
            assert (row["reference_rate"], row["status"]) == (None, "insufficient")
            assert row["message"] == (
                f"race = {row['group']}: No approval rate in the baseline: not assessed."
            )
            continue
        part = (
            current_raw
            if row["scope"] == "overall"
            else current_raw[current_raw[row["scope"]] == row["group"]]
        )
        x, n = int(part["decision"].sum()), len(part)
        reference = row["reference_rate"]
        assert row["n"] == n
        assert close(row["absolute_change"], x / n - reference)
        assert close(row["relative_change"], (x / n - reference) / reference)
        assert close(row["p_value"], one_sample_z_p_value(x, n, reference))
    assert [(r["scope"], r["group"]) for r in result["vs_baseline"]] == [
        ("overall", None),
        ("race", "Asian"),
        ("race", "Black"),
        ("race", "Gone"),
        ("race", "Other/not provided"),
        ("race", "White"),
        ("race", fairness.MISSING),
    ]
    assert len(result["vs_previous"]) == 1 + 4 + 3 + 1
    assert [
        r["scope"] for r in result["vs_previous"] if r["group"] == fairness.MISSING
    ] == ["race"]
    for row in result["vs_previous"]:
        if row["group"] == fairness.MISSING:
            continue
        mask_now = (
            np.ones(len(current_raw), dtype=bool)
            if row["scope"] == "overall"
            else (current_raw[row["scope"]] == row["group"]).to_numpy()
        )
        mask_before = (
            np.ones(len(previous_raw), dtype=bool)
            if row["scope"] == "overall"
            else (previous_raw[row["scope"]] == row["group"]).to_numpy()
        )
        x1, n1 = int(current_raw["decision"][mask_now].sum()), int(mask_now.sum())
        x2, n2 = (
            int(previous_raw["decision"][mask_before].sum()),
            int(mask_before.sum()),
        )
        assert (row["n"], row["reference_n"]) == (n1, n2)
        assert close(row["rate"], x1 / n1)
        assert close(row["reference_rate"], x2 / n2)
        assert close(row["relative_change"], (x1 / n1 - x2 / n2) / (x2 / n2))
        assert close(row["p_value"], pooled_z_p_value(x1, n1, x2, n2))
    breaching = {
        (r["comparison"], r["scope"], r["group"])
        for r in [*result["vs_baseline"], *result["vs_previous"]]
        if abs(r["relative_change"] or 0) >= 0.15
        and r["p_value"] is not None
        and r["p_value"] < 0.05
        and r["n"] >= 30
    }
    assert {(b["comparison"], b["scope"], b["group"]) for b in result["breaches"]} == (
        breaching
    )
    assert json.loads(json.dumps(result, allow_nan=False)) == result
