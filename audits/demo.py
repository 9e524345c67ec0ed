"""The demo's ledger: a deployment, real predictions through the ingest, outcomes.

The pipeline account reports credit scorecard 1.0.0 as deployed to production and
scores 400 applications of the South German Credit data with the model file the
demo trained, sending them through the same ingest as a serving system would
(features, protected attributes kept apart, decision at the 0.6 cut-off).
Outcomes (the observed good/bad credit label) follow for the first 150. The demo
has no approval in force for this tier-1 model (it needs two approvers and a
committee), so every prediction is recorded as a shadow prediction and raises an
alert: what modelgov must do when a model serves without an approval.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from django.utils import timezone

from audits.ledger import ingest, services
from audits.ledger.models import EntryType, LedgerKey

CREDIT_SLUG = "credit-risk-sgc"
VERSION = "1.0.0"
ENVIRONMENT = "production"
PREDICTIONS = 400
OUTCOMES = 150
DEMO_NAMESPACE = uuid.UUID("9c7e0d64-31a5-4b3e-9f0f-5d3c2a1b0e99")


@dataclass
class LedgerDemo:
    loaded: bool = False
    ingest_key: str = ""
    example_prediction: str = ""
    log: list[str] = field(default_factory=list)


def prediction_uuid(applicant_id: int) -> uuid.UUID:
    return uuid.uuid5(DEMO_NAMESPACE, f"credit-application-{applicant_id}")


def ledger_demo_load(*, data_dir: Path, artifacts_dir: Path, users: Any) -> LedgerDemo:
    """Idempotent: returns at once when the demo predictions are recorded."""
    import joblib
    import pandas as pd

    from governance import services as governance_services
    from governance.services import deployments
    from registry.demo import training
    from registry.models import ModelVersion

    result = LedgerDemo()
    first = prediction_uuid(1)
    result.example_prediction = str(first)
    if LedgerKey.objects.filter(entry_id=first).exists():
        _drain()
        return result
    pipeline = users["pipeline"]
    version = ModelVersion.objects.select_related("model").get(
        model__slug=CREDIT_SLUG, version=VERSION
    )
    # Predictions come after the deployment (and so after the model card and
    # documents the demo saved before it), spread up to the time they are sent: a
    # trail then shows the papers and the deployment in force at prediction time.
    report = deployments.deployment_report(
        actor=pipeline,
        version=version,
        environment=ENVIRONMENT,
        target="demo-cluster/credit/scorecard",
        external_id="demo-deploy-1",
    )
    deployed = timezone.now()
    result.log.append(
        f"deployment of {CREDIT_SLUG} {VERSION} to {ENVIRONMENT} reported"
        + (f" ({', '.join(report.warnings)})" if report.warnings else "")
    )
    issued = governance_services.api_token_create(
        actor=None,
        user=pipeline,
        name="demo scoring service",
        deployment_model=version.model,
        deployment_environment=ENVIRONMENT,
    )
    result.ingest_key = issued.raw
    estimator = joblib.load(artifacts_dir / CREDIT_SLUG / VERSION / "model.joblib")
    data = pd.read_csv(data_dir / "south_german_credit_decoded.csv").head(PREDICTIONS)
    features = list(training.SGC_NUMERIC) + list(training.SGC_CODED)
    scores = estimator.predict_proba(data[features])[:, 1]
    now = timezone.now()
    step = (now - deployed) / (len(data) + 1)
    records = []
    for i, (row, score) in enumerate(
        zip(data.to_dict(orient="records"), scores, strict=True)
    ):
        at = deployed + step * (i + 1)
        records.append(
            {
                "prediction_id": str(prediction_uuid(int(row["applicant_id"]))),
                "model": CREDIT_SLUG,
                "version": VERSION,
                "predicted_at": at.isoformat(),
                "features": {name: row[name] for name in features},
                "score": round(float(score), 6),
                "decision": "approve" if score >= 0.6 else "decline",
                "protected_attributes": {
                    "age_group": row["age_group"],
                    "sex_derived": row["sex_derived"],
                    "foreign_worker": row["foreign_worker_label"],
                },
                "trace_id": f"demo-{int(row['applicant_id']):06d}",
            }
        )
    for start in range(0, len(records), 200):
        ingest.predictions_ingest(
            token=issued.token,
            body=orjson.dumps(records[start : start + 200]),
            content_type="application/json",
        )
    result.log.append(f"{len(records)} predictions recorded through the ingest")
    outcomes = [
        {
            "prediction_id": records[i]["prediction_id"],
            "outcome": str(row["credit_risk_label"]),
            "observed_at": timezone.now().isoformat(),
        }
        for i, row in enumerate(data.head(OUTCOMES).to_dict(orient="records"))
    ]
    ingest.outcomes_ingest(
        token=issued.token,
        body=orjson.dumps(outcomes),
        content_type="application/json",
    )
    result.log.append(f"{len(outcomes)} outcomes appended")
    size = _drain()
    result.log.append(f"ledger sequenced: {size} entries under a signed checkpoint")
    _refusals(version=version, users=users, key=issued.token, result=result)
    _monitoring_reports(version=version, risk_officer=users["risk"], result=result)
    _evidence_pack(version=version, auditor=users["auditor"], result=result)
    _drain()  # the reports' and the pack's audit events are governance leaves too
    result.loaded = True
    return result


def _refusals(*, version: Any, users: Any, key: Any, result: LedgerDemo) -> None:
    """A few refused attempts for the auditor's Refused actions page (fewer than
    the alert threshold): two failed sign-ins of the developer, a wrong signature
    password and the scoring service's ingest key used on the gate."""
    from audits import services as audit_services
    from audits.models import RefusalKind
    from governance import context

    attempts: list[tuple[str, str, str, dict[str, Any]]] = [
        (
            "192.0.2.10",
            "POST",
            "/accounts/login/",
            {
                "actor": None,
                "action": "auth.login",
                "reason": "Wrong user name or password.",
                "kind": RefusalKind.LOGIN_FAILED,
                "username": users["dev"].username,
            },
        ),
        (
            "192.0.2.10",
            "POST",
            "/accounts/login/",
            {
                "actor": None,
                "action": "auth.login",
                "reason": "Wrong user name or password.",
                "kind": RefusalKind.LOGIN_FAILED,
                "username": users["dev"].username,
            },
        ),
        (
            "198.51.100.20",
            "POST",
            f"/models/{CREDIT_SLUG}/versions/{VERSION}",
            {
                "actor": users["risk"],
                "action": "governance.request.approve",
                "obj": version,
                "reason": "The password is not yours.",
                "kind": RefusalKind.SIGNATURE_PASSWORD,
            },
        ),
        (
            "203.0.113.30",
            "POST",
            "/api/v1/gate/decisions",
            {
                "actor": users["pipeline"],
                "action": "governance.gate.check",
                "reason": "This token does not carry the scope this operation needs.",
                "kind": RefusalKind.TOKEN_SCOPE,
                "token": key,
            },
        ),
    ]
    for ip_address, method, path, attempt in attempts:
        origin = context.origin.set(
            context.Origin(ip_address=ip_address, method=method, path=path)
        )
        try:
            audit_services.refused_action_record(**attempt)
        finally:
            context.origin.reset(origin)
    result.log.append(f"{len(attempts)} refused attempts (/audits/refusals)")


def _monitoring_reports(*, version: Any, risk_officer: Any, result: LedgerDemo) -> None:
    """Fairness, drift and performance reports over the last 24 hours (the hour in
    progress included: the demo's predictions are all in it), as a risk officer
    would run them on demand."""
    from datetime import timedelta

    from audits.monitoring import config, rollup
    from audits.monitoring import services as monitoring_services

    rollup.rollup_catch_up()
    end = config.hour_floor(timezone.now()) + timedelta(hours=1)
    for kind in ("fairness", "drift", "performance"):
        queued = monitoring_services.report_request(
            actor=risk_officer,
            version=version,
            environment=ENVIRONMENT,
            kind=kind,
            window_start=end - timedelta(hours=24),
            window_end=end,
            trigger="demo",
        )
        done = monitoring_services.report_run(report_id=queued.pk)
        result.log.append(
            f"{kind} report {done.pk}: {done.status}, {len(done.breaches)} breaches"
        )


def _evidence_pack(*, version: Any, auditor: Any, result: LedgerDemo) -> None:
    """The auditor's evidence pack of the scorecard over the last 90 days (UTC days,
    up to now), built at once: the demo's tasks run in the process."""
    from datetime import timedelta

    from audits.evidence import services as evidence_services

    now = timezone.now().replace(microsecond=0)
    start = (now - timedelta(days=90)).replace(hour=0, minute=0, second=0)
    pack = evidence_services.evidence_pack_request(
        actor=auditor, version=version, period_start=start, period_end=now
    )
    # Built here, not left to the task sent after commit: that one finds it built.
    pack = evidence_services.evidence_pack_build(pack_id=pack.pk)
    result.log.append(
        f"evidence pack {pack.pk} of {CREDIT_SLUG} {VERSION}: {pack.status}, "
        f"{pack.pages} pages (/audits/packs/{pack.pk})"
    )


def _drain() -> int:
    signer = services.ledger_signer()
    size = signer.last.size if signer.last is not None else 0
    while True:
        made = services.ledger_sequence(signer=signer)
        if made is None:
            return size
        size = made.size


def demo_prediction_count() -> int:
    return LedgerKey.objects.filter(entry_type=EntryType.PREDICTION).count()
