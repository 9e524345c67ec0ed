"""Real training runs for the demo: a credit scorecard and a mortgage approval model.

Pure: scikit-learn, pandas and numpy, no Django. Each run returns what a training
pipeline would register (hyperparameters, metrics, input schema, protected
attributes, baseline) plus ``facts``: the figures the model card and the development
documentation quote. Protected attributes never enter the features; they are used
only to measure outcomes by group. Everything is seeded, so a run is reproducible.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

from registry import baseline_stats, digests

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
RANDOM_STATE = 42
TEST_SIZE = 0.3
MIN_GROUP_N = 30  # groups smaller than this are reported but not interpreted
SAMPLE_N = 5000  # holdout rows for permutation importance and sensitivity

# South German Credit (Grömping 2019): inputs and the code range of each coded one.
SGC_NUMERIC = {
    "duration": ("integer", 1, "Duration of the credit in months."),
    "amount": ("number", 0, "Credit amount in Deutsche Mark."),
}
SGC_CODED = {
    "status": (range(1, 5), "Status of the existing checking account."),
    "credit_history": (range(0, 5), "History of compliance with previous credits."),
    "purpose": (range(0, 11), "Purpose of the credit."),
    "savings": (range(1, 6), "Savings account and securities balance band."),
    "employment_duration": (range(1, 6), "Duration of the current employment band."),
    "installment_rate": (range(1, 5), "Instalment as a share of disposable income."),
    "other_debtors": (range(1, 4), "Other debtors or guarantors."),
    "present_residence": (range(1, 5), "Years at the present residence band."),
    "property": (range(1, 5), "Most valuable property held."),
    "other_installment_plans": (range(1, 4), "Instalment plans with other lenders."),
    "housing": (range(1, 4), "Type of housing."),
    "number_credits": (range(1, 5), "Number of credits at this bank band."),
    "job": (range(1, 5), "Quality of the job."),
    "people_liable": (range(1, 3), "Number of persons financially dependent."),
    "telephone": (range(1, 3), "Telephone registered in the customer's name."),
}
SGC_EXCLUDED_PROTECTED = ["personal_status_sex", "age", "foreign_worker"]
SGC_GROUPS = ["age_group", "sex_derived"]

# HMDA sample: inputs; "Exempt" and blanks are missing (null) values.
HMDA_NUMERIC = {
    "loan_amount": (0, "Loan amount in US dollars."),
    "income": (
        None,
        "Gross annual income in thousands of US dollars (may be negative).",
    ),
    "loan_to_value_ratio": (0, "Combined loan-to-value ratio, per cent."),
    "property_value": (0, "Value of the property in US dollars."),
}
HMDA_CODED = {
    "loan_purpose": (
        [1, 2, 31, 32, 4, 5],
        "HMDA loan purpose: 1 home purchase, 2 home improvement, 31 refinancing, "
        "32 cash-out refinancing, 4 other, 5 not applicable.",
    ),
    "occupancy_type": (
        [1, 2, 3],
        "HMDA occupancy: 1 principal residence, 2 second residence, 3 investment.",
    ),
}
HMDA_RACE = {
    1: "American Indian or Alaska Native",
    2: "Asian",
    3: "Black or African American",
    4: "Native Hawaiian or Other Pacific Islander",
    5: "White",
    6: "Not provided",
    7: "Not applicable",
}
HMDA_SEX = {1: "Male", 2: "Female", 3: "Not provided", 4: "Not applicable", 6: "Both"}
HMDA_GROUPS = ["applicant_race", "applicant_sex", "applicant_age"]


F = TypeVar("F", bound=Callable[..., Any])


def _single_threaded(func: F) -> F:
    """Run ``func`` with native thread pools (OpenMP, BLAS) limited to one thread.

    Tree prediction calls OpenMP once per tree; on a busy two-core machine the
    threads' spin-waiting made a run 5 to 10 times slower. Results do not change.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with threadpool_limits(limits=1):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@dataclass
class TrainedVersion:
    """A fitted model with everything its registration and documentation need.

    ``estimator`` is the fitted scikit-learn object, or for a vendor model the
    descriptor of the vendor's package (a dict, saved as canonical JSON).
    """

    estimator: Any
    hyperparameters: dict[str, Any]
    metrics: dict[str, Any]
    input_schema: dict[str, Any]
    protected_attributes: list[str]
    baseline: dict[str, Any]
    feature_pipeline_version: str
    facts: dict[str, Any] = field(default_factory=dict)
    artifact_name: str = "model.joblib"

    def save(self, directory: Path) -> tuple[Path, str]:
        """Write the artifact into ``directory``; return its path and SHA-256."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / self.artifact_name
        if isinstance(self.estimator, dict):
            path.write_bytes(digests.canonical_json(self.estimator))
        else:
            joblib.dump(self.estimator, path)
        return path, digests.file_sha256(path)


# --- shared measurements -------------------------------------------------------


def _two_proportion_p_value(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test."""
    if n1 == 0 or n2 == 0:
        return 1.0
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (x1 / n1 - x2 / n2) / se
    return math.erfc(abs(z) / math.sqrt(2))


def group_table(
    labels: pd.Series, decisions: np.ndarray, outcomes: np.ndarray
) -> dict[str, Any]:
    """Approval and outcome rates per group, with the adverse impact ratio.

    The reference group is the largest one. The ratio of a group is its approval
    rate over the reference group's; the p-value is the two-proportion z-test of the
    two approval rates.
    """
    frame = pd.DataFrame(
        {"group": labels.to_numpy(), "decision": decisions, "outcome": outcomes}
    )
    frame = frame[frame["group"].notna()]
    stats = frame.groupby("group").agg(
        n=("decision", "size"),
        approved=("decision", "sum"),
        outcome_rate=("outcome", "mean"),
    )
    reference = str(stats["n"].idxmax())
    ref = stats.loc[reference]
    ref_rate = ref["approved"] / ref["n"]
    rows = []
    for group, row in stats.iterrows():
        rate = row["approved"] / row["n"]
        rows.append(
            {
                "group": str(group),
                "n": int(row["n"]),
                "approval_rate": round(float(rate), 4),
                "outcome_rate": round(float(row["outcome_rate"]), 4),
                "air": round(float(rate / ref_rate), 4) if ref_rate else None,
                "p_value": round(
                    _two_proportion_p_value(
                        int(row["approved"]),
                        int(row["n"]),
                        int(ref["approved"]),
                        int(ref["n"]),
                    ),
                    4,
                ),
            }
        )
    return {"reference": reference, "rows": rows}


def _calibration(y_true: np.ndarray, score: np.ndarray, bands: int = 5) -> list[Any]:
    """Mean predicted against observed rate in equal-frequency score bands."""
    band = pd.qcut(score, bands, labels=False, duplicates="drop")
    frame = pd.DataFrame({"band": band, "y": y_true, "p": score})
    rows = []
    for number, part in frame.groupby("band"):
        rows.append(
            {
                "band": int(number) + 1,
                "n": int(len(part)),
                "predicted": round(float(part["p"].mean()), 4),
                "observed": round(float(part["y"].mean()), 4),
            }
        )
    return rows


def _psi(expected: np.ndarray, actual: np.ndarray, epsilon: float = 1e-6) -> float:
    """Population stability index of ``actual`` against deciles of ``expected``."""
    spec = baseline_stats.numeric_feature_baseline(expected)
    edges = np.asarray(spec["edges"])
    counts = np.bincount(
        np.searchsorted(edges, actual, side="right"), minlength=edges.size + 1
    )
    a = np.maximum(counts / counts.sum(), epsilon)
    e = np.maximum(np.asarray(spec["proportions"]), epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def _rounded(metrics: dict[str, float]) -> dict[str, float]:
    return {k: round(float(v), 4) for k, v in metrics.items()}


def _intersection(
    first: pd.Series, second: pd.Series, decisions: np.ndarray
) -> list[dict[str, Any]]:
    frame = pd.DataFrame(
        {"a": first.to_numpy(), "b": second.to_numpy(), "d": decisions}
    ).dropna()
    rows = []
    for (a, b), part in frame.groupby(["a", "b"]):
        rows.append(
            {
                "groups": f"{a} / {b}",
                "n": int(len(part)),
                "approval_rate": round(float(part["d"].mean()), 4)
                if len(part) >= MIN_GROUP_N
                else None,
            }
        )
    return rows


# --- South German Credit: logistic-regression scorecard ------------------------


def load_credit(csv_path: Path) -> pd.DataFrame:
    return pd.read_csv(csv_path)


def credit_input_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of one credit application as the model receives it."""
    properties: dict[str, Any] = {}
    for name, (kind, minimum, description) in SGC_NUMERIC.items():
        properties[name] = {
            "type": kind,
            "minimum": minimum,
            "description": description,
        }
    for name, (codes, description) in SGC_CODED.items():
        properties[name] = {
            "type": "integer",
            "enum": list(codes),
            "description": f"{description} Code of the Grömping (2019) table.",
        }
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": "South German Credit application",
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


@_single_threaded
def train_credit(csv_path: Path, *, c: float, cutoff: float = 0.6) -> TrainedVersion:
    """Fit the scorecard (one-hot codes, scaled numerics, L2 logistic regression).

    The target is good credit (``credit_risk`` = 1); an application is approved when
    its predicted probability of good credit reaches ``cutoff``. Metrics are on a
    stratified 30 % holdout; approval rates by group are over all 1,000 records.
    """
    data = load_credit(csv_path)
    numeric, coded = list(SGC_NUMERIC), list(SGC_CODED)
    features = numeric + coded
    x, y = data[features], data["credit_risk"].to_numpy()
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_SIZE, random_state=RANDOM_STATE, stratify=y
    )

    def preprocessor() -> ColumnTransformer:
        return ColumnTransformer(
            [
                ("numeric", StandardScaler(), numeric),
                ("coded", OneHotEncoder(handle_unknown="ignore"), coded),
            ]
        )

    estimator = Pipeline(
        [
            ("prepare", preprocessor()),
            ("classify", LogisticRegression(C=c, max_iter=1000)),
        ]
    )
    estimator.fit(x_train, y_train)
    score_train = estimator.predict_proba(x_train)[:, 1]
    score_test = estimator.predict_proba(x_test)[:, 1]
    score_all = estimator.predict_proba(x)[:, 1]
    decisions = (score_all >= cutoff).astype(int)
    train_perf = baseline_stats.performance(y_train, score_train)
    test_perf = baseline_stats.performance(y_test, score_test)

    baseline = baseline_stats.build_baseline(
        data,
        numeric=numeric,
        categorical=coded,
        decision=decisions,
        groups={g: g for g in SGC_GROUPS},
    )
    baseline["performance"] = test_perf

    challenger = Pipeline(
        [
            ("prepare", preprocessor()),
            (
                "classify",
                DecisionTreeClassifier(
                    max_depth=4, min_samples_leaf=20, random_state=RANDOM_STATE
                ),
            ),
        ]
    ).fit(x_train, y_train)
    challenger_auc = roc_auc_score(y_test, challenger.predict_proba(x_test)[:, 1])

    names = estimator.named_steps["prepare"].get_feature_names_out()
    coefficients = estimator.named_steps["classify"].coef_[0]
    order = np.argsort(-np.abs(coefficients))[:8]
    top_terms = [
        {
            "term": str(names[i]).split("__", 1)[1],
            "coefficient": round(float(coefficients[i]), 3),
        }
        for i in order
    ]

    def approval_after(change: pd.DataFrame) -> float:
        return float((estimator.predict_proba(change)[:, 1] >= cutoff).mean())

    base_rate = float(decisions.mean())
    sensitivity = {
        "amount_plus_10pct": round(
            approval_after(x.assign(amount=x["amount"] * 1.1)) - base_rate, 4
        ),
        "duration_plus_6_months": round(
            approval_after(x.assign(duration=x["duration"] + 6)) - base_rate, 4
        ),
    }

    metrics = _rounded(
        {
            "auc": test_perf["auc"],
            "gini": test_perf["gini"],
            "ks": test_perf["ks"],
            "auc_train": train_perf["auc"],
            "gini_train": train_perf["gini"],
            "ks_train": train_perf["ks"],
            "approval_rate": base_rate,
            "cutoff": cutoff,
            "psi_score_train_test": _psi(score_train, score_test),
            "challenger_auc": challenger_auc,
        }
    )
    metrics["n_train"] = len(y_train)
    metrics["n_test"] = len(y_test)
    facts = {
        "n": len(data),
        "good_rate": round(float(y.mean()), 4),
        "approved_bad_rate": round(float(1 - y[decisions == 1].mean()), 4),
        "declined_bad_rate": round(float(1 - y[decisions == 0].mean()), 4),
        "features": features,
        "numeric": numeric,
        "coded": coded,
        "excluded_protected": SGC_EXCLUDED_PROTECTED,
        "groups": {g: group_table(data[g], decisions, y) for g in SGC_GROUPS},
        "intersection": _intersection(
            data["age_group"], data["sex_derived"], decisions
        ),
        "calibration": _calibration(y_test, score_test),
        "top_terms": top_terms,
        "sensitivity": sensitivity,
        "challenger": "Decision tree (depth 4, at least 20 records per leaf)",
        "n_terms": len(names),
    }
    return TrainedVersion(
        estimator=estimator,
        hyperparameters={
            "algorithm": "LogisticRegression",
            "C": c,
            "penalty": "l2",
            "solver": "lbfgs",
            "max_iter": 1000,
            "encoding": "one-hot codes, standardised numerics",
            "cutoff_probability_good": cutoff,
            "test_size": TEST_SIZE,
            "random_state": RANDOM_STATE,
        },
        metrics=metrics,
        input_schema=credit_input_schema(),
        protected_attributes=list(SGC_GROUPS),
        baseline=baseline,
        feature_pipeline_version="sgc-onehot-1",
        facts=facts,
    )


# --- HMDA sample: gradient-boosted approval model ------------------------------


def _race_label(code: Any) -> Any:
    if pd.isna(code):
        return None
    code = int(code)
    # HMDA sub-codes 21-27 are Asian and 41-44 Pacific Islander sub-groups.
    return HMDA_RACE.get(code // 10 if code >= 10 else code)


def load_mortgage(csv_path: Path) -> pd.DataFrame:
    """The HMDA sample with numeric inputs coerced ("Exempt" -> missing) and labels."""
    data = pd.read_csv(csv_path, dtype={"applicant_age": str})
    for name in ("loan_to_value_ratio", "property_value"):
        data[name] = pd.to_numeric(data[name], errors="coerce")
    data["applicant_race"] = data["applicant_race-1"].map(_race_label)
    data["applicant_sex"] = data["applicant_sex"].map(HMDA_SEX)
    data["applicant_age"] = data["applicant_age"].replace({"8888": "Not applicable"})
    return data


def mortgage_input_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of one mortgage application as the model receives it."""
    properties: dict[str, Any] = {}
    for name, (minimum, description) in HMDA_NUMERIC.items():
        spec: dict[str, Any] = {"type": ["number", "null"], "description": description}
        if minimum is not None:
            spec["minimum"] = minimum
        properties[name] = spec
    for name, (codes, description) in HMDA_CODED.items():
        properties[name] = {
            "type": "integer",
            "enum": codes,
            "description": description,
        }
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": "Mortgage application (HMDA fields)",
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


@_single_threaded
def train_mortgage(
    csv_path: Path,
    *,
    learning_rate: float,
    max_iter: int,
    max_leaf_nodes: int,
    cutoff: float = 0.6,
) -> TrainedVersion:
    """Fit a histogram gradient-boosting model of the lender's approve/deny decision.

    Missing values (including HMDA "Exempt") are handled natively by the trees;
    loan purpose and occupancy are categorical. An application is approved when
    the predicted probability of approval reaches ``cutoff``.
    """
    data = load_mortgage(csv_path)
    numeric, coded = list(HMDA_NUMERIC), list(HMDA_CODED)
    features = numeric + coded
    x = data[features].astype(float)
    y = data["approved"].to_numpy()
    train_rows, test_rows = train_test_split(
        np.arange(len(x)), test_size=TEST_SIZE, random_state=RANDOM_STATE, stratify=y
    )
    x_train, x_test = x.iloc[train_rows], x.iloc[test_rows]
    y_train, y_test = y[train_rows], y[test_rows]
    estimator = HistGradientBoostingClassifier(
        learning_rate=learning_rate,
        max_iter=max_iter,
        max_leaf_nodes=max_leaf_nodes,
        categorical_features=[name in coded for name in features],
        early_stopping=False,
        random_state=RANDOM_STATE,
    )
    estimator.fit(x_train, y_train)
    # Tree ensembles predict tree by tree; score all rows once and slice.
    score_all = estimator.predict_proba(x)[:, 1]
    score_train, score_test = score_all[train_rows], score_all[test_rows]
    decisions = (score_all >= cutoff).astype(int)
    train_perf = baseline_stats.performance(y_train, score_train)
    test_perf = baseline_stats.performance(y_test, score_test)

    baseline = baseline_stats.build_baseline(
        data,
        numeric=numeric,
        categorical=coded,
        decision=decisions,
        groups={g: g for g in HMDA_GROUPS},
    )
    baseline["performance"] = test_perf

    challenger = Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [
                        (
                            "numeric",
                            Pipeline(
                                [
                                    ("impute", SimpleImputer(strategy="median")),
                                    ("scale", StandardScaler()),
                                ]
                            ),
                            numeric,
                        ),
                        ("coded", OneHotEncoder(handle_unknown="ignore"), coded),
                    ]
                ),
            ),
            ("classify", LogisticRegression(max_iter=1000)),
        ]
    ).fit(x_train, y_train)
    challenger_auc = roc_auc_score(y_test, challenger.predict_proba(x_test)[:, 1])

    sample_rows = np.random.default_rng(RANDOM_STATE).choice(
        test_rows, size=min(SAMPLE_N, len(test_rows)), replace=False
    )
    sample = x.iloc[sample_rows]
    importance = permutation_importance(
        estimator,
        sample,
        y[sample_rows],
        scoring="roc_auc",
        n_repeats=3,
        random_state=RANDOM_STATE,
    )
    ranked = sorted(
        zip(features, importance.importances_mean, strict=True), key=lambda t: -t[1]
    )
    top_terms = [{"term": n, "auc_drop": round(float(v), 4)} for n, v in ranked]

    base_rate = float(decisions.mean())
    sample_rate = float(decisions[sample_rows].mean())

    def approval_after(change: pd.DataFrame) -> float:
        return float((estimator.predict_proba(change)[:, 1] >= cutoff).mean())

    # Shifts are measured on the holdout sample: the same rows before and after.
    sensitivity = {
        "income_minus_10pct": round(
            approval_after(sample.assign(income=sample["income"] * 0.9)) - sample_rate,
            4,
        ),
        "ltv_plus_5_points": round(
            approval_after(
                sample.assign(loan_to_value_ratio=sample["loan_to_value_ratio"] + 5)
            )
            - sample_rate,
            4,
        ),
    }
    missing = {name: int(data[name].isna().sum()) for name in numeric}
    metrics = _rounded(
        {
            "auc": test_perf["auc"],
            "gini": test_perf["gini"],
            "ks": test_perf["ks"],
            "auc_train": train_perf["auc"],
            "gini_train": train_perf["gini"],
            "ks_train": train_perf["ks"],
            "approval_rate": base_rate,
            "cutoff": cutoff,
            "psi_score_train_test": _psi(score_train, score_test),
            "challenger_auc": challenger_auc,
        }
    )
    metrics["n_train"] = len(y_train)
    metrics["n_test"] = len(y_test)
    facts = {
        "n": len(data),
        "approved_rate": round(float(y.mean()), 4),
        "agreement_with_lender": round(float((decisions == y).mean()), 4),
        "features": features,
        "numeric": numeric,
        "coded": coded,
        "groups": {g: group_table(data[g], decisions, y) for g in HMDA_GROUPS},
        "intersection": _intersection(
            data["applicant_race"], data["applicant_sex"], decisions
        ),
        "calibration": _calibration(y_test, score_test),
        "top_terms": top_terms,
        "sensitivity": sensitivity,
        "missing": missing,
        "nonpositive_income": int((data["income"] <= 0).sum()),
        "challenger": "Logistic regression (median imputation, one-hot codes)",
    }
    return TrainedVersion(
        estimator=estimator,
        hyperparameters={
            "algorithm": "HistGradientBoostingClassifier",
            "learning_rate": learning_rate,
            "max_iter": max_iter,
            "max_leaf_nodes": max_leaf_nodes,
            "early_stopping": False,
            "categorical_features": coded,
            "cutoff_probability_approve": cutoff,
            "test_size": TEST_SIZE,
            "random_state": RANDOM_STATE,
        },
        metrics=metrics,
        input_schema=mortgage_input_schema(),
        protected_attributes=list(HMDA_GROUPS),
        baseline=baseline,
        feature_pipeline_version="hmda-raw-1",
        facts=facts,
    )


# --- vendor fraud score ---------------------------------------------------------


def fraud_vendor_version(version: str) -> TrainedVersion:
    """The registration of the vendor fraud score: nothing is trained here.

    The vendor's scoring bundle is proprietary and not redistributable; its place
    is taken by a descriptor of the package, so that the registered artifact digest
    still pins exactly what was received. The baseline stays empty until the
    parallel run on the bank's own transactions provides one.
    """
    descriptor = {
        "vendor": "Northwind Risk Analytics (fictional vendor)",
        "product": "CNP Fraud Score",
        "product_version": version,
        "delivery": "encrypted scoring bundle, loaded by the vendor's runtime",
        "score_range": [0, 999],
        "note": (
            "Demo stand-in: the vendor bundle itself is not redistributable; this "
            "descriptor is the registered artifact."
        ),
    }
    schema = {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": "Card-not-present transaction",
        "type": "object",
        "properties": {
            "transaction_amount": {"type": "number", "minimum": 0},
            "merchant_category_code": {"type": "string", "pattern": "^[0-9]{4}$"},
            "channel": {"type": "string", "enum": ["ecommerce", "moto", "in_app"]},
            "card_age_days": {"type": "integer", "minimum": 0},
            "billing_shipping_match": {"type": "boolean"},
            "device_risk_score": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": [
            "transaction_amount",
            "merchant_category_code",
            "channel",
            "card_age_days",
        ],
        "additionalProperties": False,
    }
    return TrainedVersion(
        estimator=descriptor,
        hyperparameters={"review_threshold": 700, "score_range": [0, 999]},
        metrics={},
        input_schema=schema,
        protected_attributes=[],
        baseline={},
        feature_pipeline_version="vendor-runtime",
        artifact_name="vendor-package.json",
    )
