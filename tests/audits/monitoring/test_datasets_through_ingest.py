"""Every report metric equals fairlearn/numpy/scikit-learn on the raw rows (to 1e-9).

The South German Credit data (1,000 rows) and the HMDA sample (50,000 rows), the
project's copies, go through the real path: the ingest API, the sequencer, the
hourly rollups and a report. The reference values are computed here, directly on the
raw rows, with fairlearn (selection rate, TPR, FPR, demographic parity, equalized
odds), numpy (AIR, PSI) and scikit-learn/scipy (AUC, KS, Jensen-Shannon).
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from django.utils import timezone
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from scipy.spatial.distance import jensenshannon
from scipy.stats import norm
from sklearn.metrics import roc_auc_score, roc_curve

from audits.monitoring import config, services
from registry import services as registry_services
from registry.baseline_stats import build_baseline
from tests.audits.ledger.test_ingest_api import (
    ingest_key,  # noqa: F401  (fixture)
    post,
    scorer,  # noqa: F401  (fixture)
    sequence_all,
)
from tests.factories import version_payload

DATA = Path(__file__).resolve().parents[3] / "data"
TOL = 1e-9
pytestmark = pytest.mark.usefixtures("ledger_key")


def close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=0.0, abs_tol=TOL)


# --- the data sets, as a serving system would send them -----------------------------


def sgc_rows() -> pd.DataFrame:
    df = pd.read_csv(DATA / "south_german_credit_decoded.csv")
    z = -1.2 + 0.035 * df["duration"] + 0.00012 * df["amount"] - 0.02 * df["age"]
    df["score"] = np.round(1.0 / (1.0 + np.exp(z)), 4)
    df["decision"] = (df["score"] >= 0.5).astype(int)
    df["outcome"] = (df["credit_risk_label"] == "good").astype(float)
    df["purpose_code"] = df["purpose"].astype(str)
    df["protected"] = [
        {"sex": s, "age_group": a}
        for s, a in zip(df["sex_derived"], df["age_group"], strict=True)
    ]
    df["features"] = [
        {"duration": int(d), "amount": int(a), "purpose": p}
        for d, a, p in zip(
            df["duration"], df["amount"], df["purpose_code"], strict=True
        )
    ]
    df["sex"] = df["sex_derived"]
    return df


RACE = {
    5.0: "White",
    3.0: "Black",
    2.0: "Asian",
    **{float(c): "Asian" for c in range(21, 28)},
}
SEX = {1: "male", 2: "female"}


def hmda_rows() -> pd.DataFrame:
    df = pd.read_csv(DATA / "hmda_sample.csv")
    race = df["applicant_race-1"].map(
        lambda c: None if pd.isna(c) else RACE.get(float(c), "Other/not provided")
    )
    df["race"] = race
    df["sex"] = df["applicant_sex"].map(lambda c: SEX.get(int(c), "not provided"))
    df["age"] = df["applicant_age"].astype(str)
    income = df["income"].where(df["income"].notna(), None)
    z = (
        0.6
        + 0.004 * df["income"].fillna(60).clip(-100, 1000)
        - 0.0000012 * df["loan_amount"]
    )
    df["score"] = np.round(1.0 / (1.0 + np.exp(-z)), 4)
    df["decision"] = df["approved"].astype(int)
    ltv = pd.to_numeric(df["loan_to_value_ratio"], errors="coerce")
    df["outcome"] = np.where(ltv.notna() & (ltv < 80), 1.0, 0.0)
    df.loc[df.index % 3 == 0, "outcome"] = np.nan  # not matured yet
    df["protected"] = [
        {k: v for k, v in (("race", r), ("sex", s), ("age", a)) if v is not None}
        for r, s, a in zip(df["race"], df["sex"], df["age"], strict=True)
    ]
    df["features"] = [
        {
            "loan_amount": float(la),
            "income": None if inc is None or pd.isna(inc) else float(inc),
            "loan_purpose": str(int(lp)),
        }
        for la, inc, lp in zip(
            df["loan_amount"], income, df["loan_purpose"], strict=True
        )
    ]
    return df


SGC_SCHEMA = {
    "type": "object",
    "properties": {
        "duration": {"type": "integer"},
        "amount": {"type": "number"},
        "purpose": {"type": "string"},
    },
    "required": ["duration", "amount", "purpose"],
}
HMDA_SCHEMA = {
    "type": "object",
    "properties": {
        "loan_amount": {"type": "number"},
        "income": {"type": ["number", "null"]},
        "loan_purpose": {"type": "string"},
    },
    "required": ["loan_amount", "loan_purpose"],
}


def register(
    developer: Any,
    model: Any,
    version: str,
    schema: dict[str, Any],
    attributes: list[str],
    baseline: dict[str, Any],
) -> Any:
    payload = version_payload(
        version,
        input_schema=schema,
        protected_attributes=attributes,
        baseline=baseline,
    )
    draft = registry_services.model_version_register(
        actor=developer, model=model, data=payload
    )
    return registry_services.model_version_submit(actor=developer, version=draft)


def stream(client: Any, df: pd.DataFrame, version: str, start: datetime) -> None:
    """Post every row through the ingest API, then the matured outcomes."""
    span = 7000.0 / len(df)
    ids = [str(uuid.uuid4()) for _ in range(len(df))]
    records = [
        {
            "prediction_id": ids[i],
            "model": "credit-risk",
            "version": version,
            "predicted_at": (start + timedelta(seconds=i * span))
            .isoformat()
            .replace("+00:00", "Z"),
            "features": row.features,
            "score": float(row.score),
            "decision": "approve" if row.decision == 1 else "decline",
            "protected_attributes": row.protected,
        }
        for i, row in enumerate(df.itertuples())
    ]
    for i in range(0, len(records), 1000):
        response = post(client, records[i : i + 1000])
        assert response.status_code == 200, response.content[:500]
    observed = (timezone.now() - timedelta(seconds=5)).isoformat()
    outcomes = [
        {
            "prediction_id": ids[i],
            "outcome": "good" if y == 1.0 else "bad",
            "observed_at": observed,
        }
        for i, y in enumerate(df["outcome"])
        if not np.isnan(y)
    ]
    for i in range(0, len(outcomes), 1000):
        response = post(client, outcomes[i : i + 1000], url="/api/v1/outcomes")
        assert response.status_code == 200, response.content[:500]
    sequence_all()


def report(
    risk_officer: Any, version: Any, kind: str, window: tuple[datetime, datetime]
) -> dict[str, Any]:
    queued = services.report_request(
        actor=risk_officer,
        version=version,
        environment="production",
        kind=kind,
        window_start=window[0],
        window_end=window[1],
    )
    done = services.report_run(report_id=queued.pk)
    assert done.status == "done", done.error
    return dict(done.metrics)


# --- the reference computations on raw rows -----------------------------------------


def wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def pooled_p(x1: int, n1: int, x2: int, n2: int) -> float:
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return float(2 * norm.sf(abs(x1 / n1 - x2 / n2) / se))


def check_fairness(
    metrics: dict[str, Any], df: pd.DataFrame, keys: list[list[str]]
) -> int:
    """Compare every group of each attribute or intersection in ``keys`` with
    fairlearn on the raw rows; return the number of checks."""
    fair = metrics["fairness"]
    checks = 0
    for combo in keys:
        entry = fair["by_attribute"][" × ".join(combo)]
        rows = df.dropna(subset=combo)
        label = rows[combo].astype(str).agg(" / ".join, axis=1)
        frame = MetricFrame(
            metrics={"sel": selection_rate},
            y_true=rows["decision"],
            y_pred=rows["decision"],
            sensitive_features=label,
        )
        matured = rows[rows["outcome"].notna()]
        matured_label = label[rows["outcome"].notna()]
        errors = MetricFrame(
            metrics={"tpr": true_positive_rate, "fpr": false_positive_rate},
            y_true=matured["outcome"].astype(int),
            y_pred=matured["decision"],
            sensitive_features=matured_label,
        )
        counts = label.value_counts()
        by_group = {g["group"]: g for g in entry["groups"]}
        assert set(by_group) == set(counts.index)
        sufficient = [g for g in counts.index if counts[g] >= 30]
        ref = entry["reference"]
        for group, g in by_group.items():
            assert g["n"] == counts[group]
            assert close(g["selection_rate"], frame.by_group.loc[group, "sel"])
            in_group = rows[label == group]
            assert (g["ci_low"], g["ci_high"]) == pytest.approx(
                wilson(int(in_group["decision"].sum()), len(in_group)), abs=TOL
            )
            approved_matured = in_group[
                (in_group["decision"] == 1) & in_group["outcome"].notna()
            ]
            if len(approved_matured):
                assert close(g["precision"], approved_matured["outcome"].mean())
            if group in sufficient and ref in sufficient and group != ref:
                ref_rows = rows[label == ref]
                assert close(
                    g["air_p_value"],
                    pooled_p(
                        int(in_group["decision"].sum()),
                        len(in_group),
                        int(ref_rows["decision"].sum()),
                        len(ref_rows),
                    ),
                )
            if group in errors.by_group.index:
                m = matured_label == group
                positives = int((matured["outcome"][m] == 1).sum())
                negatives = int((matured["outcome"][m] == 0).sum())
                if positives:
                    assert close(g["tpr"], errors.by_group.loc[group, "tpr"])
                if negatives:
                    assert close(g["fpr"], errors.by_group.loc[group, "fpr"])
            if group in sufficient and ref in sufficient:
                if group == ref:
                    assert g["status"] == "reference"
                    assert g["air"] == 1.0
                    checks += 1
                    continue
                expected_air = (
                    frame.by_group.loc[group, "sel"] / frame.by_group.loc[ref, "sel"]
                )
                assert close(g["air"], expected_air)
            checks += 1
        if entry["reference_source"] == "most_favoured":
            assert frame.by_group.loc[ref, "sel"] == max(
                frame.by_group.loc[g, "sel"] for g in sufficient
            )
        keep = label.isin(sufficient)
        if len(sufficient) >= 2:
            assert close(
                entry["demographic_parity_difference"],
                demographic_parity_difference(
                    rows["decision"][keep],
                    rows["decision"][keep],
                    sensitive_features=label[keep],
                ),
            )
            assert close(
                entry["demographic_parity_ratio"],
                demographic_parity_ratio(
                    rows["decision"][keep],
                    rows["decision"][keep],
                    sensitive_features=label[keep],
                ),
            )
        matured_counts = matured_label.value_counts()
        eod_groups = [g for g in matured_counts.index if matured_counts[g] >= 30]
        eod_keep = matured_label.isin(eod_groups)
        if len(eod_groups) >= 2:
            assert close(
                entry["equalized_odds_difference"],
                equalized_odds_difference(
                    matured["outcome"][eod_keep].astype(int),
                    matured["decision"][eod_keep],
                    sensitive_features=matured_label[eod_keep],
                ),
            )
        checks += 1
    return checks


def check_approval(
    metrics: dict[str, Any], df: pd.DataFrame, attributes: list[str]
) -> None:
    current = metrics["approval_drift"]["current"]
    assert current["overall"]["n"] == len(df)
    assert close(current["overall"]["rate"], df["decision"].mean())
    for attr in attributes:
        rates = df.dropna(subset=[attr]).groupby(attr)["decision"].agg(["mean", "size"])
        for group, row in rates.iterrows():
            got = current["by_group"][attr][str(group)]
            assert got["n"] == row["size"]
            assert close(got["rate"], row["mean"])


def check_psi(
    metrics: dict[str, Any], df: pd.DataFrame, baseline: dict[str, Any]
) -> None:
    found = {f["feature"]: f for f in metrics["features"]}
    assert set(found) == set(baseline["features"])
    for name, spec in baseline["features"].items():
        values = pd.Series([f.get(name) for f in df["features"]])
        present = values[values.notna()]
        if spec["type"] == "numeric":
            bins = np.searchsorted(
                spec["edges"], present.astype(float).to_numpy(), side="right"
            )
            actual = np.bincount(bins, minlength=len(spec["edges"]) + 1) / len(present)
            expected = np.asarray(spec["proportions"])
        else:
            labels = list(spec["proportions"])
            counts = present.astype(str).value_counts()
            other = counts[~counts.index.isin(labels)].sum()
            actual = np.array(
                [counts.get(lab, 0) for lab in labels] + ([other] if other else [])
            ) / len(present)
            expected = np.array(
                [spec["proportions"][lab] for lab in labels] + ([0.0] if other else [])
            )
        a = np.maximum(actual, 1e-6)
        e = np.maximum(expected, 1e-6)
        assert found[name]["n"] == len(present)
        assert found[name]["missing_n"] == len(values) - len(present)
        assert close(found[name]["psi"], float(np.sum((a - e) * np.log(a / e))))
        assert close(
            found[name]["js_distance"], float(jensenshannon(actual, expected, base=2))
        )


def check_performance(metrics: dict[str, Any], df: pd.DataFrame) -> None:
    matured = df[df["outcome"].notna()]
    y = matured["outcome"].astype(int)
    assert metrics["n"] == len(matured)
    auc = roc_auc_score(y, matured["score"])
    fpr, tpr, _ = roc_curve(y, matured["score"])
    assert close(metrics["auc"], auc)
    assert close(metrics["gini"], 2 * auc - 1)
    assert close(metrics["ks"], float(np.max(np.abs(tpr - fpr))))
    deciles = metrics["calibration"]
    assert sum(d["n"] for d in deciles) == len(matured)
    assert close(
        sum(d["mean_predicted"] * d["n"] for d in deciles) / len(matured),
        matured["score"].mean(),
    )
    assert close(
        sum(d["observed_rate"] * d["n"] for d in deciles) / len(matured), y.mean()
    )


# --- the tests ----------------------------------------------------------------------


@pytest.fixture
def window() -> tuple[datetime, datetime]:
    end = config.hour_floor(timezone.now())
    return end - timedelta(hours=2), end


def test_south_german_credit_through_the_ingest_equals_fairlearn_on_raw_rows(
    scorer: Any,  # noqa: F811
    credit_model: Any,
    developer: Any,
    risk_officer: Any,
    window: tuple[datetime, datetime],
) -> None:
    # given the 1,000 SGC rows streamed through the ingest, with a baseline from
    # the first 600
    df = sgc_rows()
    baseline = build_baseline(
        df.iloc[:600],
        numeric=["duration", "amount"],
        categorical=["purpose_code"],
        decision="decision",
        groups={"sex": "sex", "age_group": "age_group"},
    )
    baseline["features"]["purpose"] = baseline["features"].pop("purpose_code")
    version = register(
        developer, credit_model, "2.0.0", SGC_SCHEMA, ["sex", "age_group"], baseline
    )
    stream(scorer, df, "2.0.0", window[0])
    # when the three reports run
    fairness = report(risk_officer, version, "fairness", window)
    drift = report(risk_officer, version, "drift", window)
    performance = report(risk_officer, version, "performance", window)
    # then every metric equals the raw-row computation
    keys = [["sex"], ["age_group"], ["sex", "age_group"]]
    assert set(fairness["fairness"]["by_attribute"]) == {
        "sex",
        "age_group",
        "sex × age_group",
    }
    assert check_fairness(fairness, df, keys) > 10
    check_approval(fairness, df, ["sex", "age_group"])
    df["purpose"] = df["purpose_code"]
    check_psi(drift, df, baseline)
    check_performance(performance, df)


def test_hmda_sample_through_the_ingest_equals_fairlearn_on_raw_rows(
    scorer: Any,  # noqa: F811
    credit_model: Any,
    developer: Any,
    risk_officer: Any,
    window: tuple[datetime, datetime],
) -> None:
    # given the 50,000 HMDA rows (a third without outcomes yet) through the ingest
    df = hmda_rows()
    frame = pd.DataFrame(list(df["features"]))
    baseline = build_baseline(
        frame.iloc[:20000],
        numeric=["loan_amount", "income"],
        categorical=["loan_purpose"],
    )
    version = register(
        developer, credit_model, "3.0.0", HMDA_SCHEMA, ["race", "sex", "age"], baseline
    )
    stream(scorer, df, "3.0.0", window[0])
    # when
    fairness = report(risk_officer, version, "fairness", window)
    drift = report(risk_officer, version, "drift", window)
    performance = report(risk_officer, version, "performance", window)
    # then
    # every key is reported; the raw-row check (fairlearn at about 20 us per row and
    # metric) covers the single attributes and race × sex
    assert set(fairness["fairness"]["by_attribute"]) == {
        "race",
        "sex",
        "age",
        "race × sex",
        "race × age",
        "sex × age",
        "race × sex × age",
    }
    assert (
        check_fairness(fairness, df, [["race"], ["sex"], ["age"], ["race", "sex"]]) > 20
    )
    check_approval(fairness, df, ["race", "sex", "age"])
    check_psi(drift, df, baseline)
    check_performance(performance, df)
