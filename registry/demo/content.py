"""What the demo writes: inventory entries, model cards and documents.

Pure: builds dictionaries from a version's registered data and the figures of its
training run (``training.TrainedVersion.facts``); no Django. Every number quoted in
the text comes from the run, so the documents agree with the registered metrics and
baseline. Fairness results are worded as screening flags, never as legal findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ORGANISATION = "Demo Bank plc"
SGC_CITATION = (
    "Grömping, U. (2019). South German Credit Data: Correcting a Widely Used Data "
    "Set. Beuth Hochschule für Technik Berlin, Report 4/2019."
)
FRIA_NOTE = (
    "Annex III obligations apply from 2 Aug 2026 under Regulation (EU) 2024/1689; "
    "the Digital Omnibus agreement of 7 May 2026 would move the date to 2 Dec 2027 "
    "once adopted (the application tracks it as a setting)."
)

CREDIT_SLUG = "credit-risk-sgc"
MORTGAGE_SLUG = "mortgage-approval-hmda"
FRAUD_SLUG = "card-fraud-vendor"

CREDIT_MODEL: dict[str, Any] = {
    "slug": CREDIT_SLUG,
    "name": "Consumer credit scorecard (South German Credit)",
    "model_type": "statistical",
    "methodology": "L2-regularised logistic regression on one-hot coded application data",
    "purpose": (
        "Estimate the probability that an applicant for an unsecured consumer "
        "instalment credit repays as agreed, and support the approve/decline "
        "decision at a cut-off."
    ),
    "intended_use": (
        "Underwriting of unsecured consumer instalment credits (DM 250 to 18,424, "
        "4 to 72 months) in the retail branch network; declines near the cut-off "
        "are referred to an underwriter."
    ),
    "out_of_scope_uses": (
        "Mortgages, business and revolving credit; pricing and limit setting; "
        "collections; populations outside the development ranges. Trained on "
        "historical 1973-1975 data: for demonstration, never for decisions on real "
        "applicants."
    ),
    "products": "Unsecured consumer instalment credit",
    "business_unit": "Retail lending",
    "risk_tier": 1,
    "tier_rationale": (
        "Model exposure high (every unsecured consumer credit application) and "
        "model purpose high (credit decisions on natural persons: ECOA / Reg B, "
        "EU AI Act Annex III 5(b)); the SR 26-2 matrix suggests Tier 1."
    ),
    "materiality_exposure": "high",
    "materiality_purpose": "high",
    "regulations": ["sr_26_2", "eu_ai_act_high_risk", "ecoa_reg_b", "gdpr_art_22"],
}

MORTGAGE_MODEL: dict[str, Any] = {
    "slug": MORTGAGE_SLUG,
    "name": "Mortgage pre-screening model (HMDA)",
    "model_type": "ml",
    "methodology": "Histogram gradient-boosted trees (scikit-learn)",
    "purpose": (
        "Estimate the probability that a mortgage application would be approved "
        "under current underwriting standards, to prioritise and pre-screen "
        "applications before full underwriting."
    ),
    "intended_use": (
        "Pre-screening of first-lien residential mortgage applications in the "
        "pilot region; every application is still underwritten by a person, and "
        "no application is declined on the score alone."
    ),
    "out_of_scope_uses": (
        "Automated declines; pricing; home-equity lines; commercial real estate; "
        "servicing and loss mitigation decisions. The sample's year, geography and "
        "lender are undocumented: demonstration only."
    ),
    "products": "First-lien residential mortgages",
    "business_unit": "Mortgages",
    "risk_tier": 2,
    "tier_rationale": (
        "Model exposure medium (pilot region, pre-screening only) and model purpose "
        "medium (advisory output, every decision taken by an underwriter, but in "
        "scope of the Fair Housing Act and HMDA reporting); the SR 26-2 matrix "
        "suggests Tier 2."
    ),
    "materiality_exposure": "medium",
    "materiality_purpose": "medium",
    "regulations": ["sr_26_2", "ecoa_reg_b", "fair_housing_act", "hmda"],
}

FRAUD_MODEL: dict[str, Any] = {
    "slug": FRAUD_SLUG,
    "name": "Card-not-present fraud score (vendor)",
    "model_type": "vendor",
    "methodology": "Vendor gradient-boosted ensemble (proprietary, not inspectable)",
    "purpose": (
        "Score card-not-present transactions for the likelihood of fraud; scores at "
        "or above the review threshold route the transaction to the fraud "
        "operations queue."
    ),
    "intended_use": (
        "Real-time scoring of e-commerce, mail/telephone-order and in-app card "
        "transactions; analysts review every routed transaction before any block."
    ),
    "out_of_scope_uses": (
        "Credit decisions, account closure, AML transaction monitoring and any "
        "customer-facing decision without analyst review."
    ),
    "products": "Debit and credit cards",
    "business_unit": "Fraud operations",
    "is_vendor": True,
    "vendor_name": "Northwind Risk Analytics (fictional vendor)",
    "risk_tier": 3,
    "tier_rationale": (
        "Model exposure medium (all card-not-present transactions are scored) and "
        "model purpose low (routing to analyst review only; fraud detection is "
        "excluded from EU AI Act Annex III 5(b)); the SR 26-2 matrix suggests "
        "Tier 3."
    ),
    "materiality_exposure": "medium",
    "materiality_purpose": "low",
    "regulations": ["sr_26_2"],
}


@dataclass(frozen=True)
class VersionFacts:
    """A registered version as the documents describe it."""

    slug: str
    name: str
    version: str
    date: str
    developers: str
    owner: str
    inventory_url: str
    artifact_sha256: str
    training_data_sha256: str
    code_commit: str
    hyperparameters: dict[str, Any]
    metrics: dict[str, Any]
    facts: dict[str, Any]
    next_review: str
    submitted: bool = False
    in_validation: bool = False
    change: str = ""
    history: list[str] = field(default_factory=list)


# --- formatting -----------------------------------------------------------------


def row(table: dict[str, Any], group: str) -> dict[str, Any]:
    """The row of ``group`` in a group table."""
    return next(r for r in table["rows"] if r["group"] == group)


def pct(value: float) -> str:
    return f"{value * 100:.1f} %"


def p_text(value: float) -> str:
    return "p < 0.0001" if value < 0.0001 else f"p = {value:.4f}"


def flag(row: dict[str, Any], minimum_n: int = 30) -> str:
    """The screening reading of one group's adverse impact ratio."""
    if row["n"] < minimum_n:
        return "n below 30, not interpreted"
    air, p = row["air"], row["p_value"]
    if air is None or air >= 0.9:
        return "no flag"
    if air < 0.8 and p < 0.05:
        return "SCREENING FLAG: below 0.8 and significant at 5 %"
    if air < 0.8:
        return "below 0.8 but not significant: watch"
    return "watch band 0.80-0.90"


def group_lines(table: dict[str, Any], label: str) -> str:
    lines = [f"{label} (reference group: {table['reference']}):"]
    for row in table["rows"]:
        if row["group"] == table["reference"]:
            lines.append(
                f"- {row['group']}: n = {row['n']}, approval {pct(row['approval_rate'])}, "
                f"observed outcome rate {pct(row['outcome_rate'])} (reference)."
            )
            continue
        lines.append(
            f"- {row['group']}: n = {row['n']}, approval {pct(row['approval_rate'])}, "
            f"observed outcome rate {pct(row['outcome_rate'])}, AIR {row['air']:.3f}, "
            f"{p_text(row['p_value'])}: {flag(row)}."
        )
    return "\n".join(lines)


def flagged(facts: dict[str, Any]) -> list[str]:
    """'group (attribute) AIR x' for every group with a screening flag."""
    out = []
    for attribute, table in facts["groups"].items():
        for row in table["rows"]:
            if flag(row).startswith("SCREENING FLAG"):
                out.append(
                    f"{row['group']} ({attribute}) AIR {row['air']:.3f}, "
                    f"{p_text(row['p_value'])}"
                )
    return out


def flag_sentence(facts: dict[str, Any]) -> str:
    found = flagged(facts)
    if not found:
        return "No group has a screening flag (AIR below 0.8 and significant)."
    return (
        "Screening flags (AIR below 0.8 and significant): "
        + "; ".join(found)
        + ". A screening flag calls for investigation and a "
        "less-discriminatory-alternative search; it is not a finding of a violation."
    )


def intersection_lines(rows: list[dict[str, Any]]) -> str:
    lines = []
    for row in rows:
        if row["approval_rate"] is None:
            lines.append(f"- {row['groups']}: n = {row['n']} (suppressed, n < 30).")
        else:
            lines.append(
                f"- {row['groups']}: n = {row['n']}, approval {pct(row['approval_rate'])}."
            )
    return "\n".join(lines)


def calibration_lines(rows: list[dict[str, Any]], outcome: str) -> str:
    return "\n".join(
        f"- Band {r['band']} (n = {r['n']}): predicted {pct(r['predicted'])}, "
        f"observed {outcome} {pct(r['observed'])}."
        for r in rows
    )


def performance_sentence(m: dict[str, Any]) -> str:
    return (
        f"Holdout (n = {m['n_test']}): AUC {m['auc']:.3f}, Gini {m['gini']:.3f}, "
        f"KS {m['ks']:.3f}. Training (n = {m['n_train']}): AUC {m['auc_train']:.3f}, "
        f"Gini {m['gini_train']:.3f}, KS {m['ks_train']:.3f}."
    )


def commit_text(v: VersionFacts) -> str:
    if v.code_commit:
        return (
            f"modelgov repository, commit {v.code_commit} (registry/demo/training.py)"
        )
    return "modelgov repository, registry/demo/training.py (no git commit recorded)"


def history_text(v: VersionFacts) -> str:
    return "\n".join(v.history)


# --- credit scorecard ---------------------------------------------------------------


def _credit_terms(v: VersionFacts) -> str:
    return "\n".join(
        f"- {t['term']}: {t['coefficient']:+.3f}" for t in v.facts["top_terms"]
    )


def credit_card(v: VersionFacts) -> dict[str, dict[str, Any]]:
    """The model card of a credit scorecard version (all sections)."""
    m, f, h = v.metrics, v.facts, v.hyperparameters
    age = f["groups"]["age_group"]
    sex = f["groups"]["sex_derived"]
    return {
        "details": {
            "developed_by": f"Retail Credit Modelling, {ORGANISATION} ({v.developers})",
            "model_date": v.date,
            "model_version": v.version,
            "model_type": "Statistical",
            "algorithm_and_training": (
                f"L2-regularised logistic regression (scikit-learn LogisticRegression, "
                f"lbfgs, C = {h['C']}, at most {h['max_iter']} iterations) on "
                f"{f['n_terms']} terms: duration and amount standardised, the 15 coded "
                f"inputs one-hot encoded. Fitted on a stratified 70 % sample "
                f"({m['n_train']} records, seed {h['random_state']}); the other 30 % "
                f"({m['n_test']}) is the holdout. No fairness constraint is applied "
                f"in training; disparities are measured at the cut-off after training."
            ),
            "features": (
                "Numeric: duration (months), amount (DM). Coded: "
                + ", ".join(f["coded"])
                + ". Excluded from the inputs: "
                + ", ".join(f["excluded_protected"])
                + " (protected characteristics or close to them); they are kept only "
                "to measure outcomes by group."
            ),
            "resource_url": v.inventory_url,
            "citation_details": SGC_CITATION,
            "license": "Internal use only; training data CC BY 4.0 (UCI, Grömping 2019).",
            "contact": "credit-models@demo-bank.example",
        },
        "intended_use": {
            "primary_uses": (
                "Rank applications for unsecured consumer instalment credit by the "
                "probability of good repayment and support the approve/decline "
                f"decision: approve when P(good) is at least {m['cutoff']}."
            ),
            "primary_users": (
                "The retail decision engine (automatic approvals), underwriters "
                "(declines near the cut-off are referred to them) and the credit "
                "risk function (portfolio reporting)."
            ),
            "out_of_scope_uses": (
                "Mortgages, business and revolving credit; pricing and limit setting; "
                "collections; applicants outside the development ranges (amount DM "
                "250 to 18,424, duration 4 to 72 months). The data are historical "
                "(1973-1975): this model demonstrates the governance workflow and "
                "must not decide on real applicants."
            ),
            "decision_automation": "Human in the loop",
        },
        "factors": {
            "relevant_factors": (
                "Age group (<25, 25-60, >60), sex (derived from the corrected "
                "personal-status code: male, female, ambiguous), foreign-worker "
                "status, credit purpose, amount and duration."
            ),
            "evaluation_factors": (
                "Age group and derived sex are reported: they are the protected "
                "characteristics the data hold reliably enough. Foreign-worker status "
                "is not reported separately (37 records). Sex cannot be determined "
                "for 310 records, whose code mixes non-single women and single men; "
                "they are reported as the group 'ambiguous'."
            ),
            "protected_attributes_use": (
                "personal_status_sex, age and foreign_worker are excluded from the "
                "inputs. age_group and sex_derived are declared as the version's "
                "protected attributes: the baseline holds approval rates by them, and "
                "monitoring compares production against it. Proxies screened: "
                "employment duration, years at residence and housing correlate with "
                "age and carry part of its effect."
            ),
        },
        "metrics": {
            "performance_measures": (
                f"AUC, Gini (2 x AUC - 1) and KS on the holdout; calibration by score "
                f"quintile; approval rate at the cut-off. {performance_sentence(m)}"
            ),
            "decision_thresholds": (
                f"Approve when P(good) >= {m['cutoff']}. On the 1,000 development "
                f"records this approves {pct(m['approval_rate'])}; the observed bad "
                f"rate is {pct(f['approved_bad_rate'])} among approvals and "
                f"{pct(f['declined_bad_rate'])} among declines."
            ),
            "variation_approaches": (
                "One stratified 30 % holdout with a fixed seed; the train-holdout gap "
                f"(AUC {m['auc_train']:.3f} against {m['auc']:.3f}) measures "
                "over-fitting. Group rates come with sample sizes and two-proportion "
                "z-tests. The data have no application dates, so no out-of-time "
                "sample exists."
            ),
            "fairness_metrics": (
                "Approval rate per group at the cut-off; adverse impact ratio (AIR) "
                "against the largest group (age 25-60; male); two-proportion z-test "
                "p-values; groups under 30 records are not interpreted. An AIR below "
                "0.8 is a screening flag for investigation, not a legal conclusion."
            ),
        },
        "evaluation_data": {
            "datasets": (
                f"Holdout: stratified 30 % random sample ({m['n_test']} records) of "
                "South German Credit (corrected code table, Grömping 2019). Group "
                "rates use all 1,000 records scored by the final model. Data digest "
                f"sha256 {v.training_data_sha256}."
            ),
            "motivation": (
                "The only labelled data for this product; stratification keeps the "
                "70/30 good/bad mix of the development sample."
            ),
            "preprocessing": (
                "None outside the model pipeline: coded inputs are one-hot encoded, "
                "duration and amount standardised with the training means and "
                "deviations. No record is excluded."
            ),
        },
        "training_data": {
            "datasets": (
                "South German Credit, corrected (Grömping 2019): 1,000 consumer "
                "credits of a southern German bank, 1973-1975, 700 good and 300 bad "
                f"(bad credits over-sampled). Training: stratified 70 % ({m['n_train']} "
                "records). File data/south_german_credit_decoded.csv."
            ),
            "distribution_over_factors": (
                "Age group: "
                + "; ".join(
                    f"{r['group']} {r['n']} ({pct(r['n'] / f['n'])}), good {pct(r['outcome_rate'])}"
                    for r in age["rows"]
                )
                + ". Sex: "
                + "; ".join(
                    f"{r['group']} {r['n']}, good {pct(r['outcome_rate'])}"
                    for r in sex["rows"]
                )
                + "."
            ),
        },
        "quantitative_analyses": {
            "unitary_results": (
                performance_sentence(m)
                + "\n"
                + group_lines(age, "Age group")
                + "\n"
                + group_lines(sex, "Derived sex")
            ),
            "intersectional_results": (
                "Approval by age group and derived sex (cells under 30 records "
                "suppressed):\n" + intersection_lines(f["intersection"])
            ),
        },
        "ethical_considerations": {
            "sensitive_data": (
                "Age and a combined sex and marital-status code are in the data. They "
                "are protected characteristics under ECOA / Regulation B and EU "
                "equality law, though not GDPR Art. 9 special categories. They are "
                "used only to test for disparities, under access control (EU AI Act "
                "Art. 10: data governance and examination for possible biases)."
            ),
            "risks_and_harms": (
                "Wrongful declines deny credit; wrongful approvals lead to "
                "over-indebtedness. Young applicants are approved less often "
                f"({pct(row(age, '<25')['approval_rate'])} under 25 against "
                f"{pct(row(age, '25-60')['approval_rate'])} at 25-60), partly through "
                "inputs that correlate with age (employment duration, years at the "
                "residence)."
            ),
            "mitigations": (
                "Protected characteristics excluded from the inputs; AIR with "
                "significance tests at development and monthly in production; a "
                "less-discriminatory-alternative search across regularisation "
                "strengths (versions 1.1.0 and 1.2.0); underwriter review of declines "
                "near the cut-off; specific adverse-action reasons for every decline."
            ),
        },
        "caveats_recommendations": {
            "limitations": (
                "Historical (1973-1975), small (1,000 records) and with bad credits "
                "over-sampled (30 %), so probabilities are not calibrated to any "
                "current portfolio. No out-of-time sample. Sex is ambiguous for 31 % "
                "of records."
            ),
            "recommendations": (
                "Use for demonstration and testing of the governance workflow only. "
                "Before any real use: re-develop on current data, recalibrate to the "
                "portfolio bad rate, and resolve the under-25 screening flag. "
                "Re-validate on any material change."
            ),
            "tradeoffs": (
                "Stronger regularisation (smaller C) narrows the age gap at little "
                "cost in AUC; the development documentation compares the versions."
            ),
        },
        "risk_and_regulatory": {
            "inventory_id": "MRM-CR-0001",
            "risk_tier": "Tier 1 (high)",
            "risk_tier_rationale": CREDIT_MODEL["tier_rationale"],
            "regulatory_uses": ["Underwriting"],
            "adverse_action_reason_method": (
                "Points below maximum: for each input, the gap between the "
                "applicant's contribution to the log-odds and the best attainable "
                "contribution of that input; the four largest gaps are the principal "
                "reasons (Reg B 12 CFR 1002.9(b)(2), comment 9(b)(2)-1), mapped to "
                "fixed notice wording."
            ),
            "fairness_summary": (
                "Age group: "
                + ", ".join(
                    f"{r['group']} AIR {r['air']:.3f} (n = {r['n']})"
                    for r in age["rows"]
                )
                + ". Derived sex: "
                + ", ".join(
                    f"{r['group']} AIR {r['air']:.3f} (n = {r['n']})"
                    for r in sex["rows"]
                )
                + ". "
                + flag_sentence(f)
            ),
            "monitoring_plan_ref": "Development documentation, section 9",
            "eu_ai_act_classification": (
                "High-risk: Annex III 5(b) creditworthiness or credit score"
            ),
            "eu_ai_act_rationale": (
                "The model evaluates the creditworthiness of natural persons. The "
                "bank develops it in house and uses it, so it is both provider (Art. "
                "9-17: risk management, data governance, Annex IV documentation, "
                "logging, transparency, human oversight, accuracy) and deployer (Art. "
                "26, and the fundamental rights impact assessment of Art. 27). "
                + FRIA_NOTE
            ),
        },
    }


def credit_development(v: VersionFacts) -> dict[str, dict[str, Any]]:
    """SR 11-7 / SR 26-2 development documentation of a credit scorecard version."""
    m, f, h = v.metrics, v.facts, v.hyperparameters
    age = f["groups"]["age_group"]
    sex = f["groups"]["sex_derived"]
    s = f["sensitivity"]
    return {
        "document_control": {
            "model_id": CREDIT_SLUG,
            "model_name": CREDIT_MODEL["name"],
            "model_version": v.version,
            "document_version": "1.0",
            "document_status": "In review" if v.submitted else "Draft",
            "model_owner": v.owner,
            "developers": v.developers,
            "document_date": v.date,
            "approvers": (
                f"Developer lead: {v.developers.split(',')[0]}, {v.date}.\n"
                f"Model owner: {v.owner}, {v.date}.\n"
                "Independent validation: pending."
            ),
            "change_log": history_text(v),
            "inventory_link": v.inventory_url,
        },
        "executive_summary": {
            "purpose": CREDIT_MODEL["purpose"],
            "model_type": f"Logistic regression scorecard (L2, C = {h['C']})",
            "risk_tier": "Tier 1 (high)",
            "key_performance": (
                performance_sentence(m)
                + f" Score PSI training to holdout {m['psi_score_train_test']:.4f}. "
                f"Approval rate at the cut-off {pct(m['approval_rate'])}."
            ),
            "key_limitations_assumptions": (
                "Historical 1973-1975 data with over-sampled bad credits: ranking is "
                "usable, probabilities are not calibrated to a current portfolio. No "
                "out-of-time sample. " + flag_sentence(f)
            ),
            "conditions_of_use": (
                "Demonstration and governance testing only. For any real use: "
                "recalibration to the portfolio, resolution of screening flags, "
                "monthly monitoring per section 9, underwriter review of declines "
                "within 0.05 of the cut-off."
            ),
        },
        "purpose_scope": {
            "business_problem": (
                "Branch staff assess consumer credit applications by hand, with "
                "inconsistent outcomes and no measured risk. A statistical score ranks "
                "applicants consistently and makes the credit policy explicit."
            ),
            "decisions_supported": (
                "Approve or decline of unsecured consumer instalment credit; referral "
                "of marginal declines to an underwriter."
            ),
            "products_portfolios": (
                "Unsecured consumer instalment credit through the branch network "
                "(amount DM 250 to 18,424, duration 4 to 72 months)."
            ),
            "users": (
                "Decision engine (automatic approvals above the cut-off), underwriters "
                "(referrals), credit risk (portfolio reporting), model risk "
                "(monitoring)."
            ),
            "cutoffs_strategy": (
                f"Approve when P(good) >= {m['cutoff']}. Declines with P(good) within "
                "0.05 below the cut-off are referred to an underwriter. Policy rules "
                "run before the score (age of majority, existing arrears)."
            ),
            "out_of_scope_restrictions": CREDIT_MODEL["out_of_scope_uses"],
            "regulatory_uses": ["Underwriting"],
            "eu_ai_act_classification": (
                "High-risk: Annex III 5(b) creditworthiness or credit score"
            ),
            "upstream_downstream": (
                "Upstream: none (application data only, no bureau score). "
                "Downstream: the adverse-action reason generator and the monthly "
                "fairness and drift reports read the score."
            ),
        },
        "methodology": {
            "conceptual_framework": (
                "Application scoring: the log-odds of good repayment are modelled as "
                "an additive function of applicant characteristics, the standard "
                "credit-scorecard form (Siddiqi 2017; Thomas, Edelman and Crook 2017). "
                "Additivity gives points per characteristic, which supports reason "
                "codes."
            ),
            "algorithm_specification": (
                f"scikit-learn Pipeline: ColumnTransformer (StandardScaler on duration "
                f"and amount; OneHotEncoder, unknown codes ignored, on 15 coded "
                f"inputs) then LogisticRegression(C = {h['C']}, penalty l2, solver "
                f"lbfgs). {f['n_terms']} terms. Output: P(good credit)."
            ),
            "variable_selection": (
                "All 17 non-protected attributes of the data set are candidates and "
                "kept; L2 regularisation shrinks weak terms instead of dropping them. "
                "personal_status_sex, age and foreign_worker are excluded by policy. "
                "No segmentation: 1,000 records do not support separate models. "
                "Largest coefficients:\n" + _credit_terms(v)
            ),
            "hyperparameters": (
                f"C = {h['C']} (inverse regularisation strength), cut-off "
                f"{h['cutoff_probability_good']}, holdout {h['test_size']}, seed "
                f"{h['random_state']}. C is chosen in the less-discriminatory-"
                "alternative search (1.0, 0.3, 0.1): the holdout AUC moves little "
                "while the under-25 approval gap changes."
            ),
            "alternatives_considered": (
                f"{f['challenger']}: holdout AUC {m['challenger_auc']:.3f} against "
                f"{m['auc']:.3f}, rejected for lower discrimination and unstable "
                "leaves at this sample size. Gradient boosting was not pursued: no "
                "gain is expected on 700 training records, and reason codes would "
                "need attribution methods."
            ),
            "references": (
                f"{SGC_CITATION}\nSiddiqi, N. (2017). Intelligent Credit Scoring, 2nd "
                "ed. Wiley.\nThomas, L., Edelman, D., Crook, J. (2017). Credit Scoring "
                "and Its Applications, 2nd ed. SIAM."
            ),
            "replication": (
                f"Code: {commit_text(v)}, function train_credit(c = {h['C']}). Data: "
                f"data/south_german_credit_decoded.csv, sha256 {v.training_data_sha256}. "
                "Python 3.11, scikit-learn 1.x; fixed seed 42. Re-running reproduces "
                "the registered metrics exactly."
            ),
        },
        "data": {
            "sources_lineage": (
                "UCI 'South German Credit (UPDATE)' (Grömping 2019, CC BY 4.0), copied "
                "byte for byte from a public mirror (md5 "
                "98a3349abbe0e2db681b08db542b9b85), decoded with the published code "
                "table into data/south_german_credit_decoded.csv (sha256 "
                f"{v.training_data_sha256})."
            ),
            "windows": (
                "Credits granted 1973-1975; the outcome is the bank's good/bad "
                "classification of the credit, with no documented performance window."
            ),
            "target_definition": (
                "credit_risk = 1 (good: the contract was complied with) or 0 (bad). "
                "No indeterminates in the data."
            ),
            "sampling_exclusions": (
                "Bad credits are over-sampled (300 of 1,000, far above the bank's "
                "real bad rate). No exclusions. Rejected applicants are not in the "
                "data and no reject inference is applied: the model learns from "
                "approved credits only."
            ),
            "data_quality": (
                "Completeness: no missing values in any of the 21 columns. Accuracy: "
                "the widely used UCI Statlog code table is wrong for personal status "
                "and foreign worker; the corrected table is used. Timeliness: the "
                "data are about 50 years old."
            ),
            "representativeness": (
                "Not representative of any current population: 1970s West German "
                "applicants, DM amounts, over-sampled bads. Acceptable for "
                "demonstrating the workflow only."
            ),
            "proxies_adjustments": (
                "No proxies are used for the target. Sex is derived from the combined "
                "personal-status code; code 2 (non-single women and single men) gives "
                "'ambiguous'. Employment duration, residence and housing correlate "
                "with age."
            ),
            "data_dictionary": (
                "duration: months (integer). amount: DM. status, credit_history, "
                "purpose, savings, employment_duration, installment_rate, "
                "other_debtors, present_residence, property, other_installment_plans, "
                "housing, number_credits, job, people_liable, telephone: integer codes "
                "of the Grömping (2019) table. The registered input schema lists each "
                "input with its allowed codes."
            ),
            "protected_attributes": (
                "Excluded from the inputs: personal_status_sex, age, foreign_worker. "
                "Used only for testing: age_group (from age) and sex_derived (from "
                "personal_status_sex), declared as the version's protected attributes."
            ),
        },
        "assumptions_limitations": {
            "key_assumptions": (
                "1. The relation between characteristics and repayment is stable over "
                "time. 2. Approved-only training data represent the through-the-door "
                "population well enough for ranking. 3. Additive log-odds capture the "
                "main effects."
            ),
            "assumption_sensitivity": (
                f"Assumption 1 cannot be tested without dated data. Assumption 2: no "
                "reject data to test. Assumption 3: the depth-4 tree challenger, which "
                f"captures interactions, reaches AUC {m['challenger_auc']:.3f} only, "
                "so missing interactions cost little."
            ),
            "known_limitations": (
                "Calibration is to the over-sampled development mix, not a portfolio. "
                "Small sample: group estimates for over-60s (45 records) and women "
                "(92) are imprecise. Amounts in DM."
            ),
            "compensating_controls": (
                "Underwriter referral band below the cut-off; monthly monitoring of "
                "approval rates by group and of score PSI; use restricted to the "
                "demonstration environment."
            ),
            "overlays": "None.",
        },
        "developmental_testing": {
            "discrimination": (
                performance_sentence(m) + " No out-of-time sample exists (no dates)."
            ),
            "calibration": (
                "Observed against predicted good rate by holdout score quintile:\n"
                + calibration_lines(f["calibration"], "good rate")
            ),
            "stability": (
                f"Score PSI training to holdout: {m['psi_score_train_test']:.4f} "
                "(below 0.10: stable). A training-to-out-of-time PSI cannot be "
                "computed."
            ),
            "sensitivity_robustness": (
                f"Amount +10 % for every applicant changes the approval rate by "
                f"{s['amount_plus_10pct'] * 100:+.1f} points; duration +6 months by "
                f"{s['duration_plus_6_months'] * 100:+.1f} points. Unknown codes are "
                "ignored by the encoder (score falls back to the baseline of that "
                "input); the input schema rejects out-of-range values before scoring."
            ),
            "benchmark": (
                f"Challenger: {f['challenger']}, holdout AUC {m['challenger_auc']:.3f} "
                f"against {m['auc']:.3f} for the scorecard."
            ),
            "fairness_testing": (
                group_lines(age, "Age group")
                + "\n"
                + group_lines(sex, "Derived sex")
                + "\n"
                + flag_sentence(f)
                + " Less-discriminatory-alternative search: C in {1.0, 0.3, 0.1} "
                "compared on holdout AUC and under-25 AIR (see the change log)."
            ),
            "explainability": (
                "Global: coefficients of the one-hot terms (largest listed in section "
                "3). Local: points below maximum per input give the adverse-action "
                "reasons; tested on the holdout so that every decline has four "
                "distinct reasons."
            ),
        },
        "implementation": {
            "platform": (
                "Python 3.11 scoring service with scikit-learn; the artifact is the "
                "joblib pickle of the fitted pipeline, loaded at start-up."
            ),
            "code_reference": commit_text(v),
            "artifact_hash": v.artifact_sha256,
            "pipeline_parity": (
                "The artifact contains the whole pipeline (encoding and scaling), so "
                "production and development share one feature transformation."
            ),
            "implementation_testing": (
                "Re-scoring the 1,000 development records with the deployed artifact "
                "reproduces the development scores to machine precision."
            ),
            "input_validation": (
                "Each request is validated against the registered JSON Schema "
                "(2020-12): integers and numbers with minimums, coded inputs limited "
                "to their code sets, no extra fields. Invalid requests are refused, "
                "never scored."
            ),
            "access_change_controls": (
                "Only the CI pipeline service account registers versions; only "
                "submitted (frozen) and approved versions pass the promotion gate; "
                "cut-off changes are a new version."
            ),
            "rollback": (
                "The gate names the previously approved version as the rollback "
                "target; redeployment takes minutes."
            ),
        },
        "use": {
            "output_usage": (
                f"P(good) >= {m['cutoff']}: approve automatically. Below: decline, "
                "or refer to an underwriter when within 0.05 of the cut-off."
            ),
            "reports": (
                "Monthly: approval rate overall and by group, score PSI, override "
                "rate. Quarterly: back-testing on matured credits (model risk "
                "committee)."
            ),
            "override_policy": (
                "Underwriters may override referrals only, with a reason code "
                "(O1 verified income higher, O2 additional collateral, O3 "
                "documentation error, O9 other with text). Overrides are monitored "
                "by direction and group."
            ),
            "human_review": (
                "Every referral is reviewed by an underwriter before the decision; "
                "automatic declines can be appealed to a person (EU AI Act Art. 14; "
                "GDPR Art. 22(3))."
            ),
            "adverse_action_reasons": (
                "The four inputs with the largest points below maximum, mapped to "
                "fixed wording (e.g. status: 'Balance of checking account'; "
                "credit_history: 'Repayment of previous credits')."
            ),
            "user_training": "Underwriters receive a one-hour briefing per version.",
        },
        "monitoring_plan": {
            "metric_catalogue": (
                "Monthly: score PSI (amber 0.10, red 0.25); PSI per input; approval "
                "rate change against baseline (amber 5 points, red 10 points); AIR "
                "by age group and sex (amber below 0.90, red below 0.80 and "
                "significant). Quarterly: Gini on matured credits (amber drop 5 "
                "points, red 10 points)."
            ),
            "outcomes_analysis": (
                "Quarterly back-test of monthly application cohorts after a 12-month "
                "performance window: AUC, Gini, KS, observed against predicted good "
                "rate by score band."
            ),
            "escalation": (
                "Amber: model owner within 5 business days. Red, or amber two months "
                "in a row: model risk and the risk officer within 2 business days; "
                "the approval may be suspended."
            ),
            "monitoring_owner": "Retail Credit Modelling (model owner accountable)",
            "revalidation_triggers": (
                "Red score PSI two months in a row; Gini drop above 10 points; a "
                "screening flag that persists two months; any change of inputs, "
                "cut-off or product."
            ),
        },
        "governance": {
            "tier_rationale": CREDIT_MODEL["tier_rationale"],
            "validation_status": "Validation in progress"
            if v.in_validation
            else "Not yet validated",
            "approvals": "None yet: submitted for independent validation.",
            "policy_exceptions": "None.",
            "linked_findings": "None yet.",
            "next_review_date": v.next_review,
            "appendices": (
                "A: data dictionary (input schema of the version). B: test outputs "
                "(registered metrics and baseline). C: code (training module and "
                "commit)."
            ),
        },
    }


def credit_materiality(v: VersionFacts) -> dict[str, dict[str, Any]]:
    """SR 26-2 materiality assessment of the credit scorecard."""
    return {
        "model_scope": {
            "complex_quantitative_method": True,
            "scope_rationale": (
                f"A statistically estimated logistic regression with {v.facts['n_terms']} terms that "
                "turns application data into a probability of good repayment: a "
                "complex quantitative method, not arithmetic or fixed rules."
            ),
            "generative_or_agentic_ai": False,
        },
        "exposure": {
            "exposure_level": "high",
            "exposure_measures": (
                "Every unsecured consumer credit application of the branch network "
                "is scored; the model decides most of them without a person."
            ),
            "exposure_rationale": (
                "The full unsecured consumer book flows through the score; an error "
                "would affect every new credit and the bank's credit losses."
            ),
        },
        "purpose": {
            "purpose_level": "high",
            "purpose_description": (
                "Approve/decline decisions on natural persons; adverse-action "
                "notices; input to portfolio reporting."
            ),
            "purpose_rationale": (
                "Customer decisions under ECOA / Regulation B and high-risk use under "
                "EU AI Act Annex III 5(b)."
            ),
        },
        "complexity_risk": {
            "complexity": "medium",
            "complexity_rationale": (
                f"A transparent additive model, but {v.facts['n_terms']} terms, "
                "over-sampled historical data and no reject inference."
            ),
            "input_uncertainty": (
                "No out-of-time data; the population differs from any current one; "
                "sex is ambiguous for 31 % of records."
            ),
            "inherent_risk": "high",
            "inherent_risk_rationale": (
                "High materiality with medium complexity and high uncertainty about "
                "the data give high inherent risk."
            ),
        },
        "tiering": {
            "proposed_tier": "1",
            "tier_rationale": (
                "Exposure high and purpose high: the matrix suggests Tier 1, and "
                "complexity and uncertainty give no reason to depart from it."
            ),
        },
        "validation_frequency": {
            "frequency": "Every 12 months",
            "frequency_rationale": (
                "Tier 1 with customer decisions and a screening flag at development: "
                "the shortest interval of the policy."
            ),
            "revalidation_triggers": (
                "Red monitoring results two months in a row; any change of inputs, "
                "cut-off or product; a persistent screening flag."
            ),
            "next_validation_due": v.next_review,
        },
        "sign_off": {
            "assessed_by": f"{v.developers.split(',')[0]} (model developer)",
            "assessment_date": v.date,
        },
    }


def credit_annex_iv(v: VersionFacts) -> dict[str, dict[str, Any]]:
    """EU AI Act Annex IV technical documentation of the credit scorecard.

    The declaration of conformity (point 8) is left empty: it is drawn up only
    after validation and approval.
    """
    m, f = v.metrics, v.facts
    age = f["groups"]["age_group"]
    sex = f["groups"]["sex_derived"]
    return {
        "general_description": {
            "intended_purpose": CREDIT_MODEL["purpose"]
            + " "
            + CREDIT_MODEL["intended_use"],
            "provider": ORGANISATION,
            "system_version": (
                f"Version {v.version}. " + (v.change or "First version.")
            ),
            "interactions": (
                "Called by the retail decision engine with the application data; its "
                "output feeds the adverse-action reason generator and the monitoring "
                "reports. No other AI system."
            ),
            "software_versions": (
                "Python 3.11, scikit-learn 1.x, numpy 2.x, pandas; updates only "
                "through a new registered version."
            ),
            "market_forms": "Internal scoring service (HTTPS API); not placed on the market.",
            "hardware": "Bank data-centre Linux virtual machines, 2 vCPU, 4 GB memory.",
            "product_photos": "Not applicable: not an embedded system.",
            "user_interface": (
                "Underwriter workstation screen: score, decision, referral flag and "
                "the four principal reasons."
            ),
            "instructions_for_use": (
                "Model card of the version (intended use, limitations, cut-off) and "
                "the underwriter guide."
            ),
        },
        "development_process": {
            "methods_and_steps": (
                "Data decoding with the corrected code table, stratified split, "
                "pipeline fit, holdout testing, fairness testing, registration with "
                "digests. No pre-trained or third-party model."
            ),
            "design_logic": "Logistic regression on one-hot coded and standardised inputs.",
            "design_choices": (
                "Additive scorecard for explainability; protected characteristics "
                "excluded; assumes applicants resemble the development population "
                "(adults applying for consumer credit)."
            ),
            "optimisation_objective": (
                "Penalised log-likelihood of good repayment; C sets the penalty."
            ),
            "expected_output": (
                f"P(good credit) in [0, 1]; holdout AUC {m['auc']:.3f}."
            ),
            "tradeoffs": (
                "Interpretability preferred over the small gains more flexible "
                "models might bring; regularisation chosen also on group disparity."
            ),
            "architecture": (
                "Single scikit-learn pipeline (encoder, scaler, classifier) behind a "
                "stateless API; trained on one CPU in under a second."
            ),
            "data_requirements": (
                "South German Credit (Grömping 2019): 1,000 records, 17 inputs, "
                "label good/bad assigned by the lending bank; no cleaning needed (no "
                f"missing values). Digest sha256 {v.training_data_sha256}."
            ),
            "human_oversight_assessment": (
                "Referral band below the cut-off, appeal of automatic declines, and "
                "the four principal reasons on screen help underwriters interpret "
                "and override outputs."
            ),
            "predetermined_changes": "None: every change is a new version.",
            "validation_testing": performance_sentence(m),
            "discriminatory_impacts": (
                group_lines(age, "Age group")
                + "\n"
                + group_lines(sex, "Derived sex")
                + "\n"
                + flag_sentence(f)
            ),
            "test_logs": (
                f"Registered metrics and baseline of version {v.version} (frozen "
                "content digest); validation report by Model Risk Validation, dated "
                "and signed on completion."
            ),
            "cybersecurity": (
                "Artifact integrity by SHA-256 at registration and at deployment; "
                "schema validation of every input; service-account tokens with "
                "scopes; append-only audit log."
            ),
        },
        "monitoring_functioning": {
            "capabilities_limitations": (
                "Ranks applicants well (Gini "
                f"{m['gini']:.3f}); probabilities not calibrated to a current "
                "portfolio; untested out of time."
            ),
            "accuracy_by_group": (
                "Approval and observed outcome rates by age group and derived sex are "
                "in point 2(g); AUC by group is not reported for groups under 100 "
                "records."
            ),
            "overall_accuracy": performance_sentence(m),
            "unintended_outcomes": (
                "Lower approval of applicants under 25; exclusion of thin-file "
                "applicants; reliance on historical patterns."
            ),
            "oversight_measures": (
                "Underwriter referral band, appeal to a person, override reason "
                "codes, monthly fairness monitoring."
            ),
            "input_specifications": (
                "The registered JSON Schema (2020-12) of the version: 17 inputs with "
                "types, minimums and allowed codes."
            ),
        },
        "performance_metrics": {
            "metrics_appropriateness": (
                "AUC, Gini and KS measure ranking, which drives approve/decline at a "
                "cut-off; approval rates and AIR by group measure the consequence for "
                "applicants; calibration matters for pricing, which is out of scope."
            ),
        },
        "risk_management": {
            "risk_management_system": (
                "The bank's model risk management framework (SR 11-7 / SR 26-2 "
                "aligned): inventory with tiering, development standards, independent "
                "validation, approval with separation of duties, a promotion gate, "
                "monitoring with thresholds, and annual review for Tier 1."
            ),
        },
        "lifecycle_changes": {"relevant_changes": history_text(v)},
        "standards": {
            "harmonised_standards": (
                f"None published in the Official Journal at {v.date}; to be reviewed "
                "at each version."
            ),
            "other_specifications": (
                "ISO/IEC 23894 (AI risk management) and the bank's model risk "
                "standards, as guidance."
            ),
        },
        "post_market_monitoring": {
            "monitoring_plan": (
                "Development documentation section 9: monthly PSI, approval rate and "
                "AIR by group, quarterly back-testing; thresholds and escalation "
                "defined there."
            ),
            "serious_incidents": (
                "Model risk reports any serious incident to the market surveillance "
                "authority within the Art. 73 deadlines."
            ),
        },
        "fria_and_logging": {
            "fria_reference": "FRIA-2026-CR-001 (draft)",
            "fria_date": v.date,
            "logged_events": (
                "Per decision: request and response time, model and artifact digest, "
                "input hash, score, decision, threshold, reasons, reviewer and "
                "override. Serves Art. 12(2)(a) (traceability of risk situations and "
                "modifications), (b) post-market monitoring and (c) monitoring of "
                "operation."
            ),
            "log_retention_months": 25,
            "log_retention_basis": (
                "The longest of: AI Act Art. 19 and 26(6) (at least 6 months) and "
                "Regulation B 12 CFR 1002.12(b) (25 months for consumer credit)."
            ),
            "documentation_retention_years": 10,
        },
    }


def credit_validation(v: VersionFacts, validator: str) -> dict[str, dict[str, Any]]:
    """The independent validation report of credit 1.0.0: work in progress.

    Filled: control, scope, conceptual soundness, replication, fair lending and
    the findings so far. Open: summary, monitoring, outcomes, conclusion.
    """
    m, f = v.metrics, v.facts
    age = f["groups"]["age_group"]
    under_25 = next(r for r in age["rows"] if r["group"] == "<25")
    return {
        "control": {
            "validation_id": f"VAL-2026-CR-{v.version}",
            "model_id_version": f"{CREDIT_SLUG} {v.version}",
            "validation_type": "Initial",
            "scope": (
                "Full initial validation before first use: inputs, processing and "
                "reporting; fair-lending review. Out of scope: the decision engine's "
                "policy rules."
            ),
            "validators": validator,
            "independence_attestation": True,
            "independence_notes": (
                "The validator reports to the head of model risk and has no role in "
                "developing or using the model."
            ),
            "start_date": v.date,
        },
        "scope_approach": {
            "components_reviewed": ["Input", "Processing", "Reporting"],
            "materials_received": (
                f"Version {v.version} (frozen digest), artifact sha256 "
                f"{v.artifact_sha256}, training data sha256 {v.training_data_sha256}, "
                "model card and development documentation."
            ),
            "review_limitations": (
                "No out-of-time or rejected-applicant data exist, so outcomes "
                "analysis is limited to the holdout."
            ),
        },
        "conceptual_soundness": {
            "design_review": (
                "A logistic scorecard is standard practice for application scoring "
                "and suits 1,000 records. Variables are the full non-protected set; "
                "acceptable given L2 shrinkage."
            ),
            "alternatives_assessment": (
                f"The decision-tree challenger (AUC {m['challenger_auc']:.3f}) is weak; "
                "the validator asks for a monotone gradient-boosting benchmark as well "
                "(finding F-03)."
            ),
            "assumptions_testing": (
                "Stability over time cannot be tested; approved-only data (no reject "
                "inference) is a structural limitation to disclose."
            ),
            "data_suitability": (
                "Corrected code table verified against the raw file; no missing "
                "values; not representative of a current population."
            ),
            "proxies": (
                "Employment duration, years at residence and housing correlate with "
                "age; their contribution to the under-25 gap should be quantified "
                "(finding F-01)."
            ),
        },
        "developmental_evidence": {
            "replication": (
                f"Re-ran train_credit from the registered commit: AUC {m['auc']:.3f}, "
                f"Gini {m['gini']:.3f}, KS {m['ks']:.3f}, identical to the registered "
                "metrics."
            ),
            "code_review": (
                "Pipeline reviewed: no leakage (holdout not used in fitting), fixed "
                "seed, protected attributes not among the inputs."
            ),
            "implementation_verification": (
                "The SHA-256 of the artifact file equals the registered digest."
            ),
        },
        "fair_lending": {
            "group_metrics": group_lines(age, "Age group")
            + "\n"
            + group_lines(f["groups"]["sex_derived"], "Derived sex"),
            "proxy_screening": (
                "Pending: correlation of each input with age group and derived sex."
            ),
            "lda_search": (
                "Versions 1.1.0 and 1.2.0 (C = 0.3 and 0.1) are candidate less "
                "discriminatory alternatives; to be compared once submitted."
            ),
            "adverse_action_accuracy": (
                "Pending: sample of 50 declines, reasons checked against the inputs."
            ),
        },
        "findings_register": {
            "findings": (
                f"F-01 | Under-25 approval disparity | AIR {under_25['air']:.3f} "
                f"({p_text(under_25['p_value'])}), a screening flag | Medium | SR 11-7 "
                "§V.1(1) | Dana Developer | quantify proxies, complete LDA search | "
                "due in 60 days | open | -\n"
                "F-02 | No out-of-time testing | data have no dates | Medium | SR 11-7 "
                "§V.1(3) | Dana Developer | define back-testing on first production "
                "cohorts | due in 90 days | open | -\n"
                "F-03 | Weak challenger | only a depth-4 tree benchmarked | Low | "
                "SR 11-7 §V.1(2) | Dana Developer | add a boosted benchmark | due in "
                "90 days | open | -"
            ),
        },
    }


# --- mortgage model -------------------------------------------------------------------


def _importance_lines(v: VersionFacts) -> str:
    return "\n".join(
        f"- {t['term']}: AUC drop {t['auc_drop']:.4f}" for t in v.facts["top_terms"]
    )


def mortgage_card(v: VersionFacts) -> dict[str, dict[str, Any]]:
    """The model card of a mortgage pre-screening version (all sections)."""
    m, f, h = v.metrics, v.facts, v.hyperparameters
    race = f["groups"]["applicant_race"]
    sex = f["groups"]["applicant_sex"]
    age = f["groups"]["applicant_age"]
    return {
        "details": {
            "developed_by": f"Mortgage Analytics, {ORGANISATION} ({v.developers})",
            "model_date": v.date,
            "model_version": v.version,
            "model_type": "Machine learning",
            "algorithm_and_training": (
                f"scikit-learn HistGradientBoostingClassifier: learning rate "
                f"{h['learning_rate']}, {h['max_iter']} trees, at most "
                f"{h['max_leaf_nodes']} leaves, native handling of missing values, "
                "loan purpose and occupancy as categorical. Stratified 70/30 split, "
                f"seed {h['random_state']}. No fairness constraint in training."
            ),
            "features": (
                "loan_amount (USD), income (USD thousands), loan_to_value_ratio (%), "
                "property_value (USD), loan_purpose, occupancy_type. Excluded: "
                "applicant race, sex and age (HMDA monitoring data) and debt-to-income "
                "(mixed binned and exact coding in the source)."
            ),
            "resource_url": v.inventory_url,
            "license": "Internal use only; HMDA public data (FFIEC / CFPB).",
            "contact": "mortgage-models@demo-bank.example",
        },
        "intended_use": {
            "primary_uses": (
                "Prioritise and pre-screen first-lien residential mortgage "
                "applications: the score estimates the probability that the "
                "application would be approved under current underwriting standards."
            ),
            "primary_users": "Mortgage underwriters and the pipeline manager.",
            "out_of_scope_uses": MORTGAGE_MODEL["out_of_scope_uses"],
            "decision_automation": "Advisory only",
        },
        "factors": {
            "relevant_factors": (
                "Applicant race, sex and age band (HMDA monitoring data), loan "
                "purpose, occupancy, loan size."
            ),
            "evaluation_factors": (
                "Race (first reported race, sub-codes pooled), sex and age band; "
                "'Not provided' and 'Not applicable' are reported as their own groups."
            ),
            "protected_attributes_use": (
                "applicant_race, applicant_sex and applicant_age are never inputs; "
                "they are declared as protected attributes and used only to measure "
                "approval rates by group."
            ),
        },
        "metrics": {
            "performance_measures": (
                "AUC, Gini and KS of the predicted approval against the lender's "
                f"actual decision. {performance_sentence(m)}"
            ),
            "decision_thresholds": (
                f"Pre-screen pass when P(approve) >= {m['cutoff']}: "
                f"{pct(m['approval_rate'])} of applications pass (the lender approved "
                f"{pct(f['approved_rate'])}); the score agrees with the lender's "
                f"decision for {pct(f['agreement_with_lender'])} of applications."
            ),
            "variation_approaches": (
                "Stratified 30 % holdout (15,000 records); group rates over all "
                "50,000 with two-proportion z-tests."
            ),
            "fairness_metrics": (
                "Pass rate by group, AIR against the largest group (White; Male; "
                "35-44), z-test p-values. AIR below 0.8 and significant is a "
                "screening flag, not a finding of a violation."
            ),
        },
        "evaluation_data": {
            "datasets": (
                f"Holdout: stratified 30 % ({m['n_test']}) of the HMDA sample "
                f"(50,000 applications), sha256 {v.training_data_sha256}."
            ),
            "motivation": "The only labelled mortgage decisions available.",
            "preprocessing": (
                "'Exempt' LTV and property values read as missing; missing values "
                "passed to the model, which routes them natively."
            ),
        },
        "training_data": {
            "datasets": (
                "HMDA public loan/application register sample (2018+ format) of "
                "50,000 applications, originated or denied; year, geography and "
                f"lender undocumented. Training: {m['n_train']} records."
            ),
            "distribution_over_factors": (
                "Race: "
                + "; ".join(f"{r['group']} {r['n']}" for r in race["rows"])
                + ". Sex: "
                + "; ".join(f"{r['group']} {r['n']}" for r in sex["rows"])
                + "."
            ),
        },
        "quantitative_analyses": {
            "unitary_results": (
                performance_sentence(m)
                + "\n"
                + group_lines(race, "Race")
                + "\n"
                + group_lines(sex, "Sex")
                + "\n"
                + group_lines(age, "Age band")
            ),
            "intersectional_results": (
                "Pass rate by race and sex (cells under 30 suppressed):\n"
                + intersection_lines(f["intersection"])
            ),
        },
        "ethical_considerations": {
            "sensitive_data": (
                "Race, sex and age are HMDA monitoring data: stored apart from the "
                "inputs, used only for disparity testing and HMDA reporting."
            ),
            "risks_and_harms": (
                "A pre-screen that under-rates some groups would slow or discourage "
                "their applications; the Fair Housing Act covers such effects."
            ),
            "mitigations": (
                "Advisory use only; every application underwritten by a person; "
                "monthly pass rates and AIR by group; income and LTV effects on older "
                "applicants reviewed."
            ),
        },
        "caveats_recommendations": {
            "limitations": (
                "Sample of undocumented year, geography and lender; the label is the "
                "lender's decision, not repayment, so the model reproduces past "
                "underwriting including any bias in it."
            ),
            "recommendations": (
                "Keep advisory; replace the sample by a documented HMDA extract "
                "before any production use; review the age-band flags."
            ),
        },
        "risk_and_regulatory": {
            "inventory_id": "MRM-MG-0002",
            "risk_tier": "Tier 2 (medium)",
            "risk_tier_rationale": MORTGAGE_MODEL["tier_rationale"],
            "regulatory_uses": ["Underwriting"],
            "adverse_action_reason_method": (
                "Not applicable to the score itself: it never declines. Underwriters "
                "record the principal reasons of each decline (Reg B 12 CFR "
                "1002.9(b)(2)); attribution-based reason suggestions are planned."
            ),
            "fairness_summary": flag_sentence(f),
            "monitoring_plan_ref": "Development documentation, section 9",
            "eu_ai_act_classification": "Not in scope (no EU nexus)",
        },
    }


def mortgage_development(v: VersionFacts) -> dict[str, dict[str, Any]]:
    """SR 11-7 / SR 26-2 development documentation of a mortgage version."""
    m, f, h = v.metrics, v.facts, v.hyperparameters
    race = f["groups"]["applicant_race"]
    sex = f["groups"]["applicant_sex"]
    age = f["groups"]["applicant_age"]
    s, missing = f["sensitivity"], f["missing"]
    return {
        "document_control": {
            "model_id": MORTGAGE_SLUG,
            "model_name": MORTGAGE_MODEL["name"],
            "model_version": v.version,
            "document_version": "1.0",
            "document_status": "In review" if v.submitted else "Draft",
            "model_owner": v.owner,
            "developers": v.developers,
            "document_date": v.date,
            "approvers": (
                f"Developer lead: {v.developers.split(',')[0]}, {v.date}.\n"
                "Independent validation: not started."
            ),
            "change_log": history_text(v),
            "inventory_link": v.inventory_url,
        },
        "executive_summary": {
            "purpose": MORTGAGE_MODEL["purpose"],
            "model_type": "Gradient-boosted trees (HistGradientBoostingClassifier)",
            "risk_tier": "Tier 2 (medium)",
            "key_performance": performance_sentence(m),
            "key_limitations_assumptions": (
                "Learns past underwriting decisions, not repayment; sample "
                "provenance undocumented. " + flag_sentence(f)
            ),
            "conditions_of_use": (
                "Advisory pre-screening only, every application underwritten by a "
                "person; pilot region only; monthly fairness monitoring."
            ),
        },
        "purpose_scope": {
            "business_problem": (
                "Underwriting queues are long; a pre-screen lets underwriters take "
                "likely approvals first and request documents earlier for the rest."
            ),
            "decisions_supported": "Queue order and document requests; never the decision.",
            "products_portfolios": MORTGAGE_MODEL["products"] + ", pilot region.",
            "users": "Mortgage underwriters, pipeline manager.",
            "cutoffs_strategy": (
                f"P(approve) >= {m['cutoff']}: fast-track queue; below: standard "
                "queue with early document request."
            ),
            "out_of_scope_restrictions": MORTGAGE_MODEL["out_of_scope_uses"],
            "regulatory_uses": ["Underwriting"],
            "eu_ai_act_classification": "Not in scope (no EU nexus)",
            "upstream_downstream": "Upstream: none. Downstream: the queue manager.",
        },
        "methodology": {
            "conceptual_framework": (
                "Supervised classification of the lender's decision from the "
                "application's loan, income and collateral data; trees capture the "
                "non-linear effect of LTV and income."
            ),
            "algorithm_specification": (
                f"HistGradientBoostingClassifier(learning_rate={h['learning_rate']}, "
                f"max_iter={h['max_iter']}, max_leaf_nodes={h['max_leaf_nodes']}, "
                "categorical_features=[loan_purpose, occupancy_type], "
                "early_stopping=False)."
            ),
            "variable_selection": (
                "Loan, income and collateral fields of the HMDA record. Permutation "
                "importance on 5,000 holdout records:\n" + _importance_lines(v)
            ),
            "hyperparameters": (
                f"Learning rate {h['learning_rate']}, {h['max_iter']} iterations, "
                f"{h['max_leaf_nodes']} leaves per tree, seed {h['random_state']}."
            ),
            "alternatives_considered": (
                f"{f['challenger']}: holdout AUC {m['challenger_auc']:.3f} against "
                f"{m['auc']:.3f}; rejected for lower discrimination."
            ),
            "references": (
                "Ke et al. (2017), LightGBM (the histogram algorithm scikit-learn "
                "implements). CFPB, HMDA filing instructions (data field codes)."
            ),
            "replication": (
                f"Code: {commit_text(v)}, function train_mortgage. Data sha256 "
                f"{v.training_data_sha256}. Seed 42."
            ),
        },
        "data": {
            "sources_lineage": (
                "HMDA sample (public US data, FFIEC / CFPB) from a public repository, "
                f"copied byte for byte; sha256 {v.training_data_sha256}."
            ),
            "windows": "Undocumented application year (2018+ reporting format).",
            "target_definition": "approved = 1 when action_taken = 1 (originated), 0 when 3 (denied).",
            "sampling_exclusions": (
                "Withdrawn, incomplete and purchased loans excluded by the source. "
                "No reject inference needed: denials are labelled."
            ),
            "data_quality": (
                f"Missing values: loan_to_value_ratio {missing['loan_to_value_ratio']}, "
                f"property_value {missing['property_value']} (including 'Exempt'); "
                f"{f['nonpositive_income']} records with zero or negative income; LTV "
                "values up to 9,999.999 kept (trees are robust to them)."
            ),
            "representativeness": (
                "Unknown: year, geography and lender are undocumented. A documented "
                "extract is required before production."
            ),
            "proxies_adjustments": (
                "Income and property value correlate with race and age; their "
                "effects are reviewed in the fairness testing."
            ),
            "data_dictionary": (
                "loan_amount USD; income USD thousands; loan_to_value_ratio per cent; "
                "property_value USD; loan_purpose and occupancy_type HMDA codes (see "
                "the input schema)."
            ),
            "protected_attributes": (
                "applicant_race-1 (mapped to race labels, sub-codes pooled), "
                "applicant_sex and applicant_age are excluded from the inputs and used "
                "only for testing."
            ),
        },
        "assumptions_limitations": {
            "key_assumptions": (
                "Past underwriting decisions are a fit target for pre-screening; the "
                "sample resembles the pilot region's applications."
            ),
            "assumption_sensitivity": (
                "On 5,000 holdout applications, income -10 % changes the pass rate "
                f"by {s['income_minus_10pct'] * 100:+.1f} points and LTV +5 points by "
                f"{s['ltv_plus_5_points'] * 100:+.1f} points."
            ),
            "known_limitations": (
                "Reproduces the lender's past decisions, including any bias; no "
                "repayment outcome."
            ),
            "compensating_controls": "Advisory use only; human underwriting of every application.",
            "overlays": "None.",
        },
        "developmental_testing": {
            "discrimination": performance_sentence(m),
            "calibration": (
                "Observed approval rate against predicted by holdout quintile:\n"
                + calibration_lines(f["calibration"], "approval rate")
            ),
            "stability": (
                f"Score PSI training to holdout {m['psi_score_train_test']:.4f}; no "
                "out-of-time data."
            ),
            "sensitivity_robustness": (
                "Pass-rate change on 5,000 holdout applications: income -10 % "
                f"{s['income_minus_10pct'] * 100:+.1f} points; LTV +5 points "
                f"{s['ltv_plus_5_points'] * 100:+.1f} points. Missing inputs are routed "
                "natively by the trees."
            ),
            "benchmark": (
                f"{f['challenger']}: AUC {m['challenger_auc']:.3f} against {m['auc']:.3f}."
            ),
            "fairness_testing": (
                group_lines(race, "Race")
                + "\n"
                + group_lines(sex, "Sex")
                + "\n"
                + group_lines(age, "Age band")
                + "\n"
                + flag_sentence(f)
            ),
            "explainability": "Permutation importance (section 3); per-application attributions planned.",
        },
        "implementation": {
            "platform": "Python 3.11 scoring service; joblib artifact.",
            "code_reference": commit_text(v),
            "artifact_hash": v.artifact_sha256,
            "pipeline_parity": "The artifact takes raw HMDA fields; no separate feature pipeline.",
            "implementation_testing": "Parallel run planned for the pilot region.",
            "input_validation": "Registered JSON Schema: nullable numbers, coded fields limited to HMDA codes.",
            "access_change_controls": "Registration by the CI service account only; promotion through the gate.",
            "rollback": "Redeploy the previous approved version named by the gate.",
        },
        "use": {
            "output_usage": "Queue ordering and early document requests.",
            "reports": "Monthly pass rate and AIR by group; queue times.",
            "override_policy": "Underwriters decide every application; the score is not overridden but ignored when wrong.",
            "human_review": "Every application is underwritten by a person.",
            "adverse_action_reasons": "Recorded by the underwriter for every denial.",
        },
        "monitoring_plan": {
            "metric_catalogue": (
                "Monthly: score PSI (amber 0.10, red 0.25); pass rate by race, sex "
                "and age band with AIR (amber below 0.90, red below 0.80 and "
                "significant). Quarterly: AUC against underwriting decisions."
            ),
            "outcomes_analysis": "Quarterly comparison of pass/fail with final underwriting decisions.",
            "escalation": "Red: model risk within 2 business days; the pre-screen can be switched off.",
            "monitoring_owner": "Mortgage Analytics",
            "revalidation_triggers": "Change of inputs or cut-off; red AIR two months running; expansion beyond the pilot.",
        },
        "governance": {
            "tier_rationale": MORTGAGE_MODEL["tier_rationale"],
            "validation_status": "Not yet validated",
            "approvals": "None yet.",
            "policy_exceptions": "None.",
            "linked_findings": "None.",
            "next_review_date": v.next_review,
        },
    }


def mortgage_materiality(v: VersionFacts) -> dict[str, dict[str, Any]]:
    """SR 26-2 materiality assessment of the mortgage pre-screening model."""
    return {
        "model_scope": {
            "complex_quantitative_method": True,
            "scope_rationale": "Gradient-boosted trees estimated from 35,000 applications.",
            "generative_or_agentic_ai": False,
        },
        "exposure": {
            "exposure_level": "medium",
            "exposure_measures": "Applications of the pilot region only; advisory.",
            "exposure_rationale": "Limited to one region and never decides alone.",
        },
        "purpose": {
            "purpose_level": "medium",
            "purpose_description": "Queue ordering and document requests for underwriting.",
            "purpose_rationale": (
                "Affects customers' treatment in the process (Fair Housing Act scope) "
                "but every decision is taken by an underwriter."
            ),
        },
        "complexity_risk": {
            "complexity": "high",
            "complexity_rationale": "Hundreds of trees; explanations need attribution methods.",
            "input_uncertainty": "Undocumented sample provenance; missing LTV and property values.",
            "inherent_risk": "medium",
            "inherent_risk_rationale": "Medium materiality with high complexity.",
        },
        "tiering": {
            "proposed_tier": "2",
            "tier_rationale": (
                "Exposure medium and purpose medium: the matrix suggests Tier 2; "
                "complexity is high but advisory use contains it."
            ),
        },
        "validation_frequency": {
            "frequency": "Every 24 months",
            "frequency_rationale": "Tier 2, advisory, with monthly monitoring and event triggers.",
            "revalidation_triggers": "Expansion beyond the pilot; any use in decisions; red AIR two months running.",
            "next_validation_due": v.next_review,
        },
        "sign_off": {
            "assessed_by": f"{v.developers.split(',')[0]} (model developer)",
            "assessment_date": v.date,
        },
    }


def mortgage_validation(v: VersionFacts, validator: str) -> dict[str, dict[str, Any]]:
    """The independent validation report of a mortgage version: complete.

    Concludes "Approve with conditions" (advisory use in the pilot region only);
    no high findings, so nothing blocks the release request.
    """
    m, f = v.metrics, v.facts
    race = f["groups"]["applicant_race"]
    sex = f["groups"]["applicant_sex"]
    conditions = (
        "Advisory use in the pilot region only; an underwriter takes every decision. "
        "Monthly AIR monitoring by race, sex and age; re-validate before any "
        "expansion or use in decisions."
    )
    return {
        "control": {
            "validation_id": f"VAL-2026-MO-{v.version}",
            "model_id_version": f"{MORTGAGE_SLUG} {v.version}",
            "validation_type": "Initial",
            "scope": (
                "Full initial validation before the pilot: inputs, processing and "
                "reporting; fair-lending and fair-housing review."
            ),
            "validators": validator,
            "independence_attestation": True,
            "independence_notes": (
                "The validator reports to the head of model risk and has no role in "
                "developing or using the model."
            ),
            "start_date": v.date,
            "report_date": v.date,
        },
        "executive_summary": {
            "model_purpose": (
                "Pre-screens mortgage applications of the pilot region to order the "
                "underwriting queue; advisory only."
            ),
            "synopsis": (
                f"Discrimination is adequate for queue ordering (AUC {m['auc']:.3f}); "
                "the implementation matches the registered artifact; group metrics "
                "show no adverse impact that blocks advisory use."
            ),
            "major_limitations_assumptions": (
                "Undocumented sample provenance; missing loan-to-value and property "
                "values; no matured outcomes of the bank's own applications yet."
            ),
            "overall_conclusion": "Approve with conditions",
            "findings_high": 0,
            "findings_medium": 1,
            "findings_low": 1,
            "conditions_of_use": conditions,
            "remediation_due_dates": "F-M1 within 90 days; F-M2 within 180 days.",
        },
        "scope_approach": {
            "components_reviewed": ["Input", "Processing", "Reporting"],
            "materials_received": (
                f"Version {v.version} (frozen digest), artifact sha256 "
                f"{v.artifact_sha256}, training data sha256 {v.training_data_sha256}, "
                "model card, development documentation and materiality assessment."
            ),
            "review_limitations": (
                "No out-of-time data; outcomes analysis limited to the holdout."
            ),
        },
        "conceptual_soundness": {
            "design_review": (
                "Gradient-boosted trees suit the non-linear effects of loan-to-value "
                "and income; native handling of missing values is appropriate."
            ),
            "alternatives_assessment": (
                f"{f['challenger']}: AUC {m['challenger_auc']:.3f} against "
                f"{m['auc']:.3f}; the champion is justified."
            ),
            "assumptions_testing": (
                "Stable holdout performance across loan purposes; no reject inference "
                "(structural limitation, disclosed)."
            ),
            "data_suitability": (
                "HMDA public sample; protected attributes excluded from the inputs and "
                "kept for monitoring only."
            ),
            "proxies": (
                "Income and property value correlate with race and sex; their effect is "
                "within the group metrics below (finding F-M1 asks for quantification)."
            ),
        },
        "developmental_evidence": {
            "replication": (
                f"Re-ran train_mortgage from the registered commit: AUC {m['auc']:.3f}, "
                "identical to the registered metrics."
            ),
            "code_review": (
                "No leakage (holdout not used in fitting), fixed seed, protected "
                "attributes not among the inputs."
            ),
            "implementation_verification": (
                "The SHA-256 of the artifact file equals the registered digest."
            ),
        },
        "ongoing_monitoring": {
            "plan_adequacy": (
                "Monthly PSI of score and inputs, AIR by group with the four-fifths "
                "screen; adequate for advisory use."
            ),
            "monitoring_history": "First version: no production history yet.",
            "override_analysis": "Underwriter overrides to be sampled quarterly.",
            "benchmarking": f"{f['challenger']} kept as the benchmark.",
            "sensitivity_stability": (
                f"Score PSI training to holdout {m['psi_score_train_test']:.4f}."
            ),
        },
        "outcomes_analysis": {
            "matured_performance": "Holdout only; no matured production outcomes.",
            "confidence_intervals": "Bootstrap 95 % interval of the holdout AUC within 0.01.",
            "calibration_by_band": calibration_lines(f["calibration"], "approval rate"),
            "discrepancies": "None material.",
        },
        "fair_lending": {
            "group_metrics": group_lines(race, "Applicant race")
            + "\n"
            + group_lines(sex, "Applicant sex"),
            "proxy_screening": "Correlations with race and sex measured; see F-M1.",
            "lda_search": (
                "Version 2.1.0 (smaller trees) is the less-discriminatory-alternative "
                "candidate."
            ),
            "adverse_action_accuracy": (
                "Advisory model: no adverse-action notices are generated from it."
            ),
        },
        "vendor_review": {},
        "findings_register": {
            "findings": (
                "F-M1 | Proxy contribution not quantified | income and property value "
                "| Medium | SR 11-7 §V.1(1) | Dana Developer | quantify | due in 90 "
                "days | open | -\n"
                "F-M2 | Override sampling not in place | Low | SR 11-7 §V.2 | Dana "
                "Developer | define sampling | due in 180 days | open | -"
            ),
        },
        "conclusion": {
            "conclusion_statement": (
                "Fit for advisory use in the pilot region, with the conditions below."
            ),
            "limitations": "Holdout-only outcomes; sample provenance undocumented.",
            "conditions_of_use": conditions,
            "validator_signoff": f"{validator}, {v.date}",
            "mrm_head_signoff": f"Head of Model Risk, {v.date}",
            "owner_acknowledgement": f"{v.owner}, {v.date}",
        },
    }


# --- vendor fraud score ---------------------------------------------------------------


def fraud_card(v: VersionFacts) -> dict[str, dict[str, Any]]:
    """The (partly written) model card of the vendor fraud score."""
    return {
        "details": {
            "developed_by": (
                f"{FRAUD_MODEL['vendor_name']}; configured by Fraud Analytics, "
                f"{ORGANISATION} ({v.developers})"
            ),
            "model_date": v.date,
            "model_version": v.version,
            "model_type": "Vendor",
            "algorithm_and_training": (
                "Proprietary gradient-boosted ensemble trained by the vendor on "
                "pooled consortium data; the bank configures the review threshold "
                f"({v.hyperparameters['review_threshold']} on a 0-999 scale)."
            ),
            "features": (
                "transaction_amount, merchant_category_code, channel, card_age_days, "
                "billing_shipping_match, device_risk_score (vendor device signal)."
            ),
            "contact": "fraud-models@demo-bank.example",
        },
        "intended_use": {
            "primary_uses": FRAUD_MODEL["purpose"],
            "primary_users": "Fraud operations analysts.",
            "out_of_scope_uses": FRAUD_MODEL["out_of_scope_uses"],
            "decision_automation": "Human in the loop",
        },
        "risk_and_regulatory": {
            "risk_tier": "Tier 3 (low)",
            "risk_tier_rationale": FRAUD_MODEL["tier_rationale"],
            "regulatory_uses": ["Fraud detection"],
            "adverse_action_reason_method": (
                "Not applicable: the score routes transactions to analysts and makes "
                "no credit decision."
            ),
            "eu_ai_act_classification": (
                "Not high-risk: fraud detection (Annex III 5(b) exception)"
            ),
        },
    }


def fraud_development(v: VersionFacts) -> dict[str, dict[str, Any]]:
    """The (partly written) development documentation of the vendor fraud score."""
    return {
        "document_control": {
            "model_id": FRAUD_SLUG,
            "model_name": FRAUD_MODEL["name"],
            "model_version": v.version,
            "document_version": "0.1",
            "document_status": "Draft",
            "model_owner": v.owner,
            "developers": v.developers,
            "document_date": v.date,
            "change_log": history_text(v),
            "inventory_link": v.inventory_url,
        },
        "purpose_scope": {
            "business_problem": (
                "Card-not-present fraud losses; analysts cannot review every "
                "transaction."
            ),
            "decisions_supported": "Routing of transactions to analyst review.",
            "products_portfolios": FRAUD_MODEL["products"],
            "users": "Fraud operations analysts.",
            "cutoffs_strategy": (
                f"Score >= {v.hyperparameters['review_threshold']}: analyst review "
                "before authorisation completes."
            ),
            "out_of_scope_restrictions": FRAUD_MODEL["out_of_scope_uses"],
            "regulatory_uses": ["Fraud detection"],
            "eu_ai_act_classification": (
                "Not high-risk: fraud detection (Annex III 5(b) exception)"
            ),
            "upstream_downstream": (
                "Upstream: the vendor's device-risk signal. Downstream: the case "
                "management system."
            ),
        },
        "governance": {
            "tier_rationale": FRAUD_MODEL["tier_rationale"],
            "validation_status": "Not yet validated",
            "approvals": "None yet.",
            "policy_exceptions": "None.",
            "linked_findings": "None.",
            "next_review_date": v.next_review,
            "vendor_documentation": (
                "Received: product overview, vendor validation summary (consortium "
                "data) and a statement of limitations. Not received: feature-level "
                "documentation and training-data description (proprietary)."
            ),
        },
    }
