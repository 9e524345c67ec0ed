"""`manage.py demo` against the real database: what it creates, and that it is idempotent.

Loading the demo trains three models, so it runs once per module: the fixture loads
it inside the test-case transaction machinery (rolled back at the end of the
module), and each test reads it inside its own savepoint.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import TestCase

from audits.models import AuditEvent
from governance import services
from governance.models import ApiToken, ReleaseRequest
from registry import baseline, digests
from registry.demo import loader
from registry.models import Document, Model, ModelCard, ModelVersion

DATA = Path(__file__).resolve().parents[2] / "data"
PASSWORD = "demo-test-password-2026"
SLUGS = {"credit-risk-sgc", "mortgage-approval-hmda", "card-fraud-vendor"}


@pytest.fixture(scope="module")
def demo(
    django_db_setup: Any,
    django_db_blocker: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from django.test import override_settings

    artifacts = tmp_path_factory.mktemp("artifacts")
    out = StringIO()
    ledger_pem = (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with (
        pytest.MonkeyPatch.context() as patch,
        django_db_blocker.unblock(),
        override_settings(
            MODELGOV_LEDGER_KEY=ledger_pem,
            MEDIA_ROOT=str(tmp_path_factory.mktemp("media")),
        ),
    ):
        patch.setenv("MODELGOV_DEMO_PASSWORD", PASSWORD)
        # TestCase's atomics are marked as test transactions, so the services'
        # durable transactions may run inside them; rolling back undoes the demo.
        atomics = TestCase._enter_atomics()
        try:
            call_command("demo", artifacts_dir=artifacts, stdout=out)
            yield {"artifacts": artifacts, "output": out.getvalue()}
        finally:
            TestCase._rollback_atomics(atomics)


def versions() -> dict[tuple[str, str], ModelVersion]:
    return {
        (v.model.slug, v.version): v
        for v in ModelVersion.objects.select_related("model").filter(
            model__slug__in=SLUGS
        )
    }


def test_demo_creates_the_personas_with_their_roles(demo: Any, db: Any) -> None:
    # given the loaded demo
    User = get_user_model()
    # then each persona exists with exactly its role; only people have passwords
    users = {
        u.username: u
        for u in User.objects.filter(username__in=[p.username for p in loader.PERSONAS])
    }
    assert {name: [g.name for g in u.groups.all()] for name, u in users.items()} == {
        "dev": ["model_developer"],
        "dev2": ["model_developer"],
        "validator": ["validator"],
        "risk": ["risk_officer"],
        "auditor": ["auditor"],
        "admin": ["administrator"],
        "pipeline": ["service_account"],
    }
    assert users["dev"].check_password(PASSWORD)
    assert users["risk"].check_password(PASSWORD)
    assert users["dev"].get_full_name() == "Dana Developer"
    assert users["pipeline"].has_usable_password() is False
    assert users["admin"].is_staff and not users["admin"].is_superuser
    # the pipeline's registry token, and the scoring service's ingest key
    tokens = ApiToken.objects.filter(user=users["pipeline"]).order_by("name")
    assert [(t.name, t.deployment_environment) for t in tokens] == [
        ("demo scoring service", "production"),
        ("demo training pipeline", ""),
    ]


def test_demo_prints_the_accounts_and_the_pipeline_token(demo: Any, db: Any) -> None:
    output = demo["output"]
    token = ApiToken.objects.get(
        user__username="pipeline", name="demo training pipeline"
    )
    assert (
        "Demo loaded: 3 models, 6 versions (3 submitted, 3 draft), 11 documents."
        in output
    )
    assert f"mg_{token.prefix}_" in output
    for persona in loader.PERSONAS:
        assert f"  {persona.username} " in output
    assert output.count(PASSWORD) == 6
    assert loader.DEFAULT_PASSWORD not in output


def test_demo_creates_three_models_with_their_teams(demo: Any, db: Any) -> None:
    models = {m.slug: m for m in Model.objects.filter(slug__in=SLUGS)}
    assert {
        slug: (
            m.risk_tier,
            m.is_vendor,
            m.owner.username,
            sorted(m.developers.values_list("username", flat=True)),
            m.status,
        )
        for slug, m in models.items()
    } == {
        "credit-risk-sgc": (
            1,
            False,
            "dev2",
            ["dev", "pipeline"],
            "pending_validation",
        ),
        "mortgage-approval-hmda": (
            2,
            False,
            "dev2",
            ["dev", "pipeline"],
            "pending_validation",
        ),
        "card-fraud-vendor": (3, True, "dev2", ["dev2", "pipeline"], "in_development"),
    }
    assert models["credit-risk-sgc"].is_eu_ai_act_high_risk is True
    assert models["mortgage-approval-hmda"].regulations == [
        "sr_26_2",
        "ecoa_reg_b",
        "fair_housing_act",
        "hmda",
    ]
    assert all(m.next_review_date is not None for m in models.values())


def test_demo_versions_are_in_their_planned_states(demo: Any, db: Any) -> None:
    # then three versions are submitted by dev and three are drafts
    found = versions()
    assert {key: v.status for key, v in found.items()} == {
        ("credit-risk-sgc", "1.0.0"): "submitted",
        ("credit-risk-sgc", "1.1.0"): "submitted",
        ("credit-risk-sgc", "1.2.0"): "draft",
        ("mortgage-approval-hmda", "2.0.0"): "submitted",
        ("mortgage-approval-hmda", "2.1.0"): "draft",
        ("card-fraud-vendor", "4.2.0"): "draft",
    }
    assert {v.created_by.username for v in found.values()} == {"pipeline"}
    assert {
        v.submitted_by.username for v in found.values() if v.status == "submitted"
    } == {"dev"}
    assert found[("credit-risk-sgc", "1.0.0")].hyperparameters["C"] == 1.0
    assert found[("credit-risk-sgc", "1.2.0")].hyperparameters["C"] == 0.1


def test_submitted_versions_carry_the_digest_of_their_content(
    demo: Any, db: Any
) -> None:
    for version in versions().values():
        if version.status == "submitted":
            assert version.content_digest == digests.content_digest(version.content())
        else:
            assert version.content_digest == ""


def test_baselines_and_input_schemas_are_valid(demo: Any, db: Any) -> None:
    for (slug, number), version in versions().items():
        assert baseline.validate_input_schema(version.input_schema) == []
        features = set(version.input_schema["properties"])
        assert baseline.validate_baseline(version.baseline, features) == [], (
            slug,
            number,
        )
        if slug == "card-fraud-vendor":
            assert version.baseline == {}
            continue
        groups = set(version.baseline["approval_rate"]["by_group"])
        assert groups == set(version.protected_attributes)
        assert (
            round(version.baseline["performance"]["auc"], 4) == (version.metrics["auc"])
        )
    credit = versions()[("credit-risk-sgc", "1.0.0")]
    assert credit.protected_attributes == ["age_group", "sex_derived"]
    assert set(credit.baseline["approval_rate"]["by_group"]["age_group"]) == {
        "<25",
        "25-60",
        ">60",
    }
    assert credit.baseline["n"] == 1000
    assert "age" not in credit.input_schema["properties"]
    assert "personal_status_sex" not in credit.input_schema["properties"]


def test_artifacts_and_training_data_match_their_registered_digests(
    demo: Any, db: Any
) -> None:
    for (slug, number), version in versions().items():
        path = Path(unquote(urlparse(version.artifact_uri).path))
        assert path.is_relative_to(demo["artifacts"])
        assert digests.file_sha256(path) == version.artifact_sha256, (slug, number)
    found = versions()
    assert found[("credit-risk-sgc", "1.0.0")].training_data_sha256 == (
        digests.file_sha256(DATA / "south_german_credit_decoded.csv")
    )
    assert found[("mortgage-approval-hmda", "2.0.0")].training_data_sha256 == (
        digests.file_sha256(DATA / "hmda_sample.csv")
    )
    assert found[("card-fraud-vendor", "4.2.0")].training_data_sha256 == ""


def test_demo_documents_and_their_completeness(demo: Any, db: Any) -> None:
    # given every demo document
    documents = list(
        Document.objects.select_related("template", "model_version__model").filter(
            model_version__model__slug__in=SLUGS
        )
    )
    # then eleven exist, by template, and their completeness varies as planned
    assert len(documents) == 11
    assert Counter(d.template.key for d in documents) == {
        "sr11-7-development": 6,
        "sr26-2-materiality": 2,
        "eu-ai-act-annex-iv": 1,
        "validation-report": 2,
    }
    ratio = {
        (d.model_version.model.slug, d.model_version.version, d.template.key): (
            d.completeness().ratio
        )
        for d in documents
    }
    assert ratio[("credit-risk-sgc", "1.0.0", "sr11-7-development")] == 1.0
    assert ratio[("credit-risk-sgc", "1.0.0", "sr26-2-materiality")] == 1.0
    assert ratio[("mortgage-approval-hmda", "2.0.0", "sr11-7-development")] == 1.0
    assert 0.9 < ratio[("credit-risk-sgc", "1.0.0", "eu-ai-act-annex-iv")] < 1.0
    assert 0.3 < ratio[("credit-risk-sgc", "1.0.0", "validation-report")] < 0.6
    assert ratio[("mortgage-approval-hmda", "2.0.0", "validation-report")] == 1.0
    assert 0.5 < ratio[("credit-risk-sgc", "1.1.0", "sr11-7-development")] < 1.0
    assert 0.0 < ratio[("credit-risk-sgc", "1.2.0", "sr11-7-development")] < 0.5
    # the vendor document misses the vendor-only contingency plan
    fraud = next(
        d for d in documents if d.model_version.model.slug == "card-fraud-vendor"
    )
    governance = next(s for s in fraud.completeness().sections if s.key == "governance")
    assert governance.missing == ["contingency_plan"]


def test_validation_reports_are_written_by_the_independent_validator(
    demo: Any, db: Any
) -> None:
    reports = Document.objects.filter(template__key="validation-report")
    assert {r.model_version.model.slug for r in reports} == {
        "credit-risk-sgc",
        "mortgage-approval-hmda",
    }
    for report in reports:
        assert report.created_by.username == "validator"
        assert report.content["control"]["independence_attestation"] is True
        assert not report.model_version.model.developers.filter(
            username="validator"
        ).exists()


def test_mortgage_release_request_awaits_the_risk_officer(demo: Any, db: Any) -> None:
    # given the loaded demo
    requests = list(
        ReleaseRequest.objects.select_related("model_version__model", "validator")
    )
    # then one request exists: mortgage 2.0.0 to production, validated by validator
    assert len(requests) == 1
    request = requests[0]
    assert request.model_version.model.slug == "mortgage-approval-hmda"
    assert request.model_version.version == "2.0.0"
    assert request.environments == ["production"]
    assert request.state == "validated"
    assert request.policy.risk_tier == 2
    assert request.requested_by.username == "dev"
    assert request.validator.username == "validator"
    assert request.validation_outcome == "approve_with_conditions"
    assert [(s.signer.username, s.meaning) for s in request.signatures.all()] == [
        ("validator", "validated")
    ]
    # and its policy checklist is satisfied, so only the approval is missing
    assert all(ok for _, ok, _ in services.approval_checklist(request))
    # and the credit scorecard keeps its partial report without a request
    assert not ReleaseRequest.objects.filter(
        model_version__model__slug="credit-risk-sgc"
    ).exists()


def test_model_cards_are_filled_from_the_training_run(demo: Any, db: Any) -> None:
    cards = {
        (c.model_version.model.slug, c.model_version.version): c
        for c in ModelCard.objects.select_related("model_version__model", "template")
    }
    assert len(cards) == 6
    credit = cards[("credit-risk-sgc", "1.0.0")]
    assert credit.completeness().is_complete is True
    assert credit.updated_by.username == "dev"
    auc = credit.model_version.metrics["auc"]
    assert f"AUC {auc:.3f}" in credit.content["metrics"]["performance_measures"]
    assert (
        "screening flag"
        in credit.content["risk_and_regulatory"]["fairness_summary"].lower()
    )
    assert cards[("credit-risk-sgc", "1.2.0")].completeness().is_complete is False
    assert cards[("card-fraud-vendor", "4.2.0")].updated_by.username == "dev2"


def test_running_the_demo_again_changes_nothing(demo: Any, db: Any) -> None:
    # given the loaded demo and a snapshot of everything it wrote
    def snapshot() -> dict[str, Any]:
        return {
            "users": get_user_model().objects.count(),
            "tokens": ApiToken.objects.count(),
            "requests": list(ReleaseRequest.objects.values_list("pk", "state")),
            "events": AuditEvent.objects.count(),
            "models": list(Model.objects.values_list("slug", "status", "updated_at")),
            "versions": list(
                ModelVersion.objects.values_list("pk", "status", "content_digest")
            ),
            "cards": list(ModelCard.objects.values_list("pk", "content", "updated_at")),
            "documents": list(
                Document.objects.values_list("pk", "content", "updated_at")
            ),
        }

    before = snapshot()
    out = StringIO()
    # when the command runs again
    call_command("demo", artifacts_dir=demo["artifacts"], stdout=out)
    # then nothing changed, and it says so and prints the accounts
    assert snapshot() == before
    assert "Demo already loaded; nothing changed" in out.getvalue()
    assert "  dev " in out.getvalue()
    assert "mg_" not in out.getvalue()


def test_demo_records_predictions_and_outcomes_in_the_ledger(
    demo: Any, db: Any
) -> None:
    from django.db.models import Count

    from audits.ledger import fsck
    from audits.ledger.models import Alert, EntryType, LedgerEntry, LedgerQueue
    from audits.models import RefusedAction
    from audits.monitoring.models import MonitoringReport

    # then 400 scored applications and 150 outcomes are sequenced, nothing waits
    counts = dict(
        LedgerEntry.objects.values_list("entry_type").annotate(n=Count("seq"))
    )
    assert counts[EntryType.PREDICTION] == 400
    assert counts[EntryType.OUTCOME] == 150
    assert counts[EntryType.DEPLOYMENT_STATE] == 1
    # governance leaves: every audit event and every refused attempt
    assert counts[EntryType.GOVERNANCE] == (
        AuditEvent.objects.count() + RefusedAction.objects.count()
    )
    assert LedgerQueue.objects.count() == 0
    # without an approval in force, every prediction is a shadow one: one alert
    alert = Alert.objects.get(kind="shadow_model")
    assert (alert.occurrences, alert.environment) == (400, "production")
    # and the risk officer's three reports over them ran; whatever they found is an
    # alert of their kind, never anything else
    reports = MonitoringReport.objects.filter(trigger="demo")
    assert sorted(r.kind for r in reports) == ["drift", "fairness", "performance"]
    assert {r.status for r in reports} == {"done"}
    assert {r.predictions for r in reports} == {400}
    assert set(
        Alert.objects.exclude(kind="shadow_model").values_list("kind", flat=True)
    ) == {f"monitoring.{r.kind}" for r in reports if r.breaches}
    # the ingest key was printed once, and the whole log verifies
    assert "Ingest key of the demo scoring service" in demo["output"]
    assert fsck.check_database().ok
    # and so does every governance record the demo wrote, against its leaf
    from audits.integrity import fsck as integrity_fsck
    from audits.integrity.models import RecordCommitment

    governance = integrity_fsck.check_governance()
    assert governance.as_dict()["errors"] == []
    assert counts[EntryType.RECORD] == RecordCommitment.objects.count() > 0


def test_demo_builds_the_auditors_evidence_pack_of_the_scorecard(
    demo: Any, db: Any
) -> None:
    from django.core.files.storage import default_storage

    from audits.evidence import collect, pdfa
    from audits.evidence.models import EvidencePack

    # then one pack, requested by the auditor, built and signed
    pack = EvidencePack.objects.select_related("model_version__model").get()
    assert pack.requested_by is not None
    assert pack.requested_by.username == "auditor"
    version = pack.model_version
    assert version is not None
    assert (version.model.slug, version.version, pack.status) == (
        "credit-risk-sgc",
        "1.0.0",
        "done",
    )
    assert f"evidence pack {pack.pk} of credit-risk-sgc 1.0.0: done" in demo["output"]
    # with the three reports of the demo in it, and a PDF that keeps PDF/A-3b
    reports = collect._reports(version, pack.period_start, pack.period_end, pack.as_of)
    assert sorted(r.kind for r in reports) == ["drift", "fairness", "performance"]
    with default_storage.open(pack.pdf.name, "rb") as handle:
        pdf = handle.read()
    assert pdf.startswith(b"%PDF-1.7")
    assert pdfa.pdfa3b_problems(pdf) == []


def test_a_demo_trail_shows_the_papers_and_deployment_in_force(
    demo: Any, db: Any
) -> None:
    import uuid
    from datetime import datetime

    from django.contrib.auth import get_user_model

    from audits import trail

    # given the auditor and the demo's example prediction
    auditor = get_user_model().objects.get(username="auditor")
    example = uuid.UUID(demo["output"].split("(e.g. ")[1].split(")")[0])
    # when they read its trail
    found = trail.prediction_trail(user=auditor, prediction_id=example)
    # then it is proven, made after the deployment that served it, and shows the
    # model card and the documents the version had then
    assert found.record.verified is True
    assert found.deployment_state is not None
    deployment = found.deployment_state.deployment
    assert deployment is not None
    assert deployment.target == "demo-cluster/credit/scorecard"
    assert deployment.reported_at <= datetime.fromisoformat(found.predicted_at)
    assert [p.title for p in found.papers if p.kind == "card"] == ["Model card"]
    assert len([p for p in found.papers if p.kind == "document"]) == 4


def test_the_demo_auditor_sees_the_demos_refused_attempts(demo: Any, db: Any) -> None:
    from django.test import Client

    from audits.models import RefusedAction

    # then four refusals, below the alert threshold, each a ledger leaf
    assert sorted(RefusedAction.objects.values_list("kind", flat=True)) == [
        "login_failed",
        "login_failed",
        "signature_password",
        "token_scope",
    ]
    alerts = AuditEvent.objects.filter(event_type="audits.refusals.alert_raised")
    assert not alerts.exists()
    assert "4 refused attempts (/audits/refusals)" in demo["output"]
    # and the auditor reads them on the page
    client = Client()
    client.force_login(get_user_model().objects.get(username="auditor"))
    response = client.get("/audits/refusals")
    assert response.status_code == 200
    assert response.content.decode().count("Wrong user name or password.") == 2
