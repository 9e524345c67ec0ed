"""The audit trail of a prediction: the selector, the API (JSON, PDF, proof bundle),
the pages, the offline verifier on a downloaded bundle, and who may see what.

The scenario: credit-risk 1.0.0 is approved for production (one risk officer's
signature) and reported deployed by the pipeline; the scoring service then sends a
prediction with protected attributes through the ingest API, the sequencer signs a
checkpoint, and an outcome follows.
"""

from __future__ import annotations

import copy
import hashlib
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from audits import trail as trail_selectors
from audits.ledger import merkle, proofs, records, services
from audits.ledger.models import (
    DeploymentState,
    LedgerCheckpoint,
    LedgerEntry,
    LedgerQueue,
)
from audits.models import AuditEvent
from governance import services as governance_services
from governance.models import ApprovalPolicy, ReleaseRequest, Signature
from governance.services import deployments
from registry import services as registry_services
from registry.models import Document, ModelCard
from tests.conftest import client_for
from tests.governance.test_gate_api import approve

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "modelgov.test/ledger"
PREDICTION_ID = uuid.UUID("6f1c2b9e-3d4a-4f5e-8a7b-9c0d1e2f3a4b")
OUTCOME_ID = records.outcome_entry_id(PREDICTION_ID)
PROTECTED = {"age_group": "25+", "sex": "female"}


def trail_url(prediction_id: uuid.UUID = PREDICTION_ID, suffix: str = "trail") -> str:
    return f"/api/v1/predictions/{prediction_id}/{suffix}"


def page_url(prediction_id: uuid.UUID = PREDICTION_ID) -> str:
    return f"/audits/predictions/{prediction_id}"


@dataclass
class Served:
    """What the scenario made."""

    version: Any
    approval: ReleaseRequest
    state: DeploymentState
    ingest: APIClient
    predicted_at: str
    record: dict[str, Any]


def _sequence() -> None:
    signer = services.ledger_signer()
    while services.ledger_sequence(signer=signer) is not None:
        pass


def _post(client: APIClient, url: str, body: list[dict[str, Any]]) -> Any:
    response = client.post(url, body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def _prediction(predicted_at: str, prediction_id: uuid.UUID = PREDICTION_ID) -> Any:
    return {
        "prediction_id": str(prediction_id),
        "model": "credit-risk",
        "version": "1.0.0",
        "predicted_at": predicted_at,
        "features": {"amount": 2500, "duration": 24, "purpose": "car"},
        "score": 0.71,
        "decision": "approve",
        "protected_attributes": PROTECTED,
        "trace_id": "trace-0001",
    }


@pytest.fixture
def deployed(
    ledger_key: Any,
    submitted_version: Any,
    developer: Any,
    validator: Any,
    risk_officer: Any,
    service: Any,
) -> tuple[Any, ReleaseRequest, DeploymentState, APIClient]:
    """credit-risk 1.0.0 approved and deployed to production; an ingest key."""
    approval = approve(
        version=submitted_version,
        developer=developer,
        validator=validator,
        risk_officer=risk_officer,
        environments=["production"],
    )
    deployments.deployment_report(
        actor=service,
        version=submitted_version,
        environment="production",
        target="prod-eu/credit/scorer",
        external_id="argo-42",
    )
    state = DeploymentState.objects.get(environment="production")
    issued = governance_services.api_token_create(
        actor=None,
        user=service,
        name="scorer",
        deployment_model=submitted_version.model,
        deployment_environment="production",
    )
    ingest = APIClient()
    ingest.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw}")
    return submitted_version, approval, state, ingest


@pytest.fixture
def served(deployed: Any) -> Served:
    """The prediction recorded and sequenced under a signed checkpoint."""
    version, approval, state, ingest = deployed
    predicted_at = records.iso(timezone.now())
    _post(ingest, "/api/v1/predictions", [_prediction(predicted_at)])
    _sequence()
    record = _prediction(predicted_at)
    return Served(version, approval, state, ingest, predicted_at, record)


@pytest.fixture
def with_outcome(served: Served) -> Served:
    _post(
        served.ingest,
        "/api/v1/outcomes",
        [
            {
                "prediction_id": str(PREDICTION_ID),
                "outcome": "default",
                "observed_at": records.iso(timezone.now()),
            }
        ],
    )
    _sequence()
    return served


def _leaf() -> bytes:
    return bytes(LedgerEntry.objects.get(entry_id=PREDICTION_ID).leaf)


def _trail_events() -> list[dict[str, Any]]:
    return [
        {"actor": e.actor.username if e.actor else None, **e.payload}
        for e in AuditEvent.objects.filter(event_type="audits.trail.viewed").order_by(
            "id"
        )
    ]


def _public_key_pem(ledger_key: Any) -> bytes:
    return bytes(
        ledger_key.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
    )


# --- The selector -------------------------------------------------------------------


def test_trail_holds_the_record_its_proof_and_the_governance_in_force(
    served: Served, auditor: Any, ledger_key: Any
) -> None:
    # given the sequenced prediction
    entry = LedgerEntry.objects.get(entry_id=PREDICTION_ID)
    checkpoint = LedgerCheckpoint.objects.order_by("-size").get()
    # when the auditor asks for its trail
    trail = trail_selectors.prediction_trail(user=auditor, prediction_id=PREDICTION_ID)
    # then the record is the stored leaf, proven against the latest checkpoint
    record = trail.record
    assert (record.status, record.seq, record.leaf) == (
        "sequenced",
        entry.seq,
        bytes(entry.leaf),
    )
    assert record.leaf_hash == merkle.leaf_hash(bytes(entry.leaf))
    assert record.data["prediction_id"] == str(PREDICTION_ID)
    assert record.data["score"] == 0.71
    assert record.data["shadow"] is False
    assert trail.shadow is False
    assert trail.predicted_at == served.predicted_at
    assert trail.checkpoint is not None
    assert (trail.checkpoint.size, trail.checkpoint.root, trail.checkpoint.origin) == (
        checkpoint.size,
        bytes(checkpoint.root),
        ORIGIN,
    )
    assert trail.checkpoint.key_names == (ORIGIN,)
    assert record.proof is not None and record.verified is True
    assert merkle.verify_inclusion(
        leaf=record.leaf_hash,
        index=entry.seq,
        tree_size=checkpoint.size,
        proof=list(record.proof),
        root_hash=bytes(checkpoint.root),
    )
    # and the model version with its artifact digest
    mv = trail.model_version
    assert mv is not None
    assert (mv.model_slug, mv.version, mv.artifact_sha256) == (
        "credit-risk",
        "1.0.0",
        served.version.artifact_sha256,
    )
    assert mv.artifact_matches is True
    assert mv.url == "/registry/credit-risk/versions/1.0.0/"
    # and the deployment state in force, with its approval and deployment
    state = trail.deployment_state
    assert state is not None
    assert (state.entry_id, state.leaf_hash) == (
        served.state.entry_id,
        bytes(served.state.leaf_hash),
    )
    assert state.hash_matches is True
    approval = state.approval
    assert approval is not None
    served.approval.refresh_from_db()
    assert (approval.label, approval.approved_at, approval.expires_at) == (
        f"RR-{served.approval.pk}",
        served.approval.approved_at,
        served.approval.expires_at,
    )
    signature = Signature.objects.get(request=served.approval, meaning="approved")
    assert [(s.printed_name, s.meaning, s.binding_sha256) for s in approval.signatures][
        -1
    ] == (signature.printed_name, "approved", signature.binding_sha256)
    assert "Rita Risk" in signature.printed_name
    assert approval.bindings_match is True
    assert state.deployment is not None
    assert (state.deployment.target, state.deployment.external_id) == (
        "prod-eu/credit/scorer",
        "argo-42",
    )
    assert state.deployment.reported_by == "pipeline-bot"
    # and the state's own entry is proven against the same checkpoint
    assert state.record is not None and state.record.proof is not None
    assert state.record.verified is True
    assert state.record.seq == LedgerEntry.objects.get(entry_id=state.entry_id).seq
    # and no outcome yet; protected attributes shown to the auditor and matching
    assert trail.outcome is None
    assert trail.protected.status == "shown"
    assert trail.protected.attributes == PROTECTED
    assert trail.protected.commitment == record.data["protected_attributes_commitment"]
    assert trail.protected.matches is True
    assert (
        hashlib.sha256(
            (trail.protected.salt or b"") + records.dumps(PROTECTED)
        ).hexdigest()
        == trail.protected.commitment
    )


def test_documentation_is_shown_as_it_was_at_prediction_time(
    served: Served, auditor: Any, developer: Any
) -> None:
    # given the card as it was when the prediction was made
    card = ModelCard.objects.select_related("template").get(
        model_version=served.version
    )
    content_then = copy.deepcopy(card.content)
    section = card.template.definition["sections"][0]
    field = section["fields"][0]["key"]
    # when the card is changed afterwards (an amendment the policy allows: the
    # approval then goes under review, ADR 0026)
    ApprovalPolicy.objects.update(allows_amendments=True)
    changed = copy.deepcopy(content_then)
    changed[section["key"]][field] = "Rewritten after the prediction."
    registry_services.model_card_replace(actor=developer, card=card, content=changed)
    trail = trail_selectors.prediction_trail(user=auditor, prediction_id=PREDICTION_ID)
    card.refresh_from_db()
    assert card.content[section["key"]][field] == "Rewritten after the prediction."
    # then the trail shows the card (and the documents) as they were
    papers = {p.title: p for p in trail.papers}
    titles = sorted(
        Document.objects.filter(model_version=served.version).values_list(
            "title", flat=True
        )
    )
    assert len(titles) == 4
    assert [p.title for p in trail.papers] == ["Model card", *titles]
    shown = papers["Model card"]
    assert shown.content == content_then
    assert (
        shown.content_sha256 == hashlib.sha256(records.dumps(content_then)).hexdigest()
    )
    predicted_at = datetime.fromisoformat(served.predicted_at.replace("Z", "+00:00"))
    assert all(p.saved_at <= predicted_at for p in trail.papers)
    assert shown.saved_by == "dana"
    assert shown.as_of_url == (
        "/registry/credit-risk/versions/1.0.0/card/history/?as_of="
        + served.predicted_at.replace(":", "%3A")
    )
    # and the as-of page it links to shows the card as it was
    client = Client()
    client.force_login(auditor)
    html = client.get(shown.as_of_url).content.decode()
    snapshot = html.split('<section class="snapshot"', 1)[1].split("</section>", 1)[0]
    assert f"As of {predicted_at:%Y-%m-%d %H:%M:%S} UTC" in snapshot
    assert "Rewritten after the prediction." not in snapshot
    assert str(content_then[section["key"]][field]) in snapshot


def test_a_queued_prediction_has_no_seq_and_no_proof(
    deployed: Any, auditor: Any
) -> None:
    # given a prediction accepted but not sequenced
    _, _, _, ingest = deployed
    _post(ingest, "/api/v1/predictions", [_prediction(records.iso(timezone.now()))])
    # when its trail is read
    trail = trail_selectors.prediction_trail(user=auditor, prediction_id=PREDICTION_ID)
    # then it is the queued leaf, without seq or proof
    queued = LedgerQueue.objects.get(entry_id=PREDICTION_ID)
    assert (trail.status, trail.record.seq, trail.record.proof) == (
        "queued",
        None,
        None,
    )
    assert trail.record.leaf == bytes(queued.leaf)
    assert trail_selectors.trail_proof_bundle(trail) is None


def test_the_outcome_is_shown_once_reported(with_outcome: Served, auditor: Any) -> None:
    # when the trail is read after the outcome was sequenced
    trail = trail_selectors.prediction_trail(user=auditor, prediction_id=PREDICTION_ID)
    # then it carries the outcome, linked to the prediction's leaf hash and proven
    outcome = trail.outcome
    assert outcome is not None
    assert (outcome.outcome, outcome.prediction_hash_matches) == ("default", True)
    assert outcome.record.entry_id == OUTCOME_ID
    assert outcome.record.seq == LedgerEntry.objects.get(entry_id=OUTCOME_ID).seq
    assert outcome.record.verified is True


def test_a_queued_outcome_is_shown_as_queued(served: Served, auditor: Any) -> None:
    # given an outcome accepted but not sequenced
    _post(
        served.ingest,
        "/api/v1/outcomes",
        [
            {
                "prediction_id": str(PREDICTION_ID),
                "outcome": "repaid",
                "observed_at": records.iso(timezone.now()),
            }
        ],
    )
    # when / then
    trail = trail_selectors.prediction_trail(user=auditor, prediction_id=PREDICTION_ID)
    assert trail.outcome is not None
    assert (trail.outcome.outcome, trail.outcome.record.status) == ("repaid", "queued")
    assert trail.record.status == "sequenced"


def test_protected_attributes_need_their_own_permission(
    served: Served, risk_officer: Any
) -> None:
    # when a risk officer (trail, but not protected attributes) reads the trail
    trail = trail_selectors.prediction_trail(
        user=risk_officer, prediction_id=PREDICTION_ID
    )
    # then only the commitment is there
    assert trail.protected.status == "hidden"
    assert trail.protected.attributes is None and trail.protected.salt is None
    assert (
        trail.protected.commitment
        == trail.record.data["protected_attributes_commitment"]
    )


def test_a_prediction_without_deployment_state_is_a_shadow(
    ledger_key: Any, credit_model: Any, draft_version: Any, service: Any, auditor: Any
) -> None:
    # given a key for a deployment nothing was deployed or approved to
    issued = governance_services.api_token_create(
        actor=None,
        user=service,
        name="rogue scorer",
        deployment_model=credit_model,
        deployment_environment="staging",
    )
    ingest = APIClient()
    ingest.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw}")
    record = _prediction(records.iso(timezone.now()))
    record.pop("protected_attributes")
    _post(ingest, "/api/v1/predictions", [record])
    _sequence()
    # when / then
    trail = trail_selectors.prediction_trail(user=auditor, prediction_id=PREDICTION_ID)
    assert (trail.shadow, trail.deployment_state, trail.environment) == (
        True,
        None,
        "staging",
    )
    assert trail.protected.status == "none"


def test_unknown_ids_and_non_predictions_are_404(served: Served, auditor: Any) -> None:
    from django.http import Http404

    # given the id of a governance entry of the same ledger
    state_id = served.state.entry_id
    for unknown in (uuid.uuid4(), state_id, OUTCOME_ID):
        # when / then
        with pytest.raises(Http404):
            trail_selectors.prediction_trail(user=auditor, prediction_id=unknown)


def test_trail_needs_the_permission_before_anything_is_read(
    served: Served, developer: Any, django_assert_num_queries: Any
) -> None:
    from django.core.exceptions import PermissionDenied

    developer.has_perm("audits.view_prediction_trail")  # load the permission cache
    with django_assert_num_queries(0), pytest.raises(PermissionDenied):
        trail_selectors.prediction_trail(user=developer, prediction_id=uuid.uuid4())


def test_trail_is_a_handful_of_queries(
    with_outcome: Served, auditor: Any, django_assert_num_queries: Any
) -> None:
    auditor.has_perm("audits.view_prediction_trail")  # load the permission cache
    # One statement each: the prediction and outcome entries (with the index's
    # answer), the version, the latest checkpoint, the deployment state with its
    # entry, request and deployment, the request's signatures, their latest
    # record leaves, the stored hashes of every proof of the page, the card and
    # the documents as of the prediction, the protected attributes.
    with django_assert_num_queries(10):
        trail_selectors.prediction_trail(user=auditor, prediction_id=PREDICTION_ID)


# --- API: JSON ----------------------------------------------------------------------


def test_api_trail_returns_the_trail_and_records_the_view(
    with_outcome: Served, auditor: Any
) -> None:
    # given
    entry = LedgerEntry.objects.get(entry_id=PREDICTION_ID)
    checkpoint = LedgerCheckpoint.objects.order_by("-size").first()
    assert checkpoint is not None
    # when
    response = client_for(auditor).get(trail_url())
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["prediction_id"] == str(PREDICTION_ID)
    assert (body["status"], body["shadow"], body["predicted_at"]) == (
        "sequenced",
        False,
        with_outcome.predicted_at,
    )
    assert body["record"]["seq"] == entry.seq
    assert body["record"]["leaf"].encode() == bytes(entry.leaf)
    assert body["record"]["leaf_hash"] == bytes(entry.leaf_hash).hex()
    assert body["record"]["proof_verified"] is True
    assert body["checkpoint"]["size"] == checkpoint.size
    assert body["checkpoint"]["root"] == bytes(checkpoint.root).hex()
    assert body["checkpoint"]["note"] == checkpoint.note
    assert body["model_version"]["artifact_sha256"] == (
        with_outcome.version.artifact_sha256
    )
    approval = body["deployment_state"]["approval"]
    assert approval["request_id"] == f"RR-{with_outcome.approval.pk}"
    assert [s["meaning"] for s in approval["signatures"]] == list(
        Signature.objects.filter(request=with_outcome.approval)
        .order_by("signed_at", "id")
        .values_list("meaning", flat=True)
    )
    assert body["deployment_state"]["record"]["proof_verified"] is True
    assert body["deployment_state"]["deployment"]["target"] == "prod-eu/credit/scorer"
    assert body["outcome"]["outcome"] == "default"
    assert body["protected_attributes"]["attributes"] == PROTECTED
    assert body["protected_attributes"]["commitment_matches"] is True
    assert body["links"] == {
        "self": trail_url(),
        "pdf": trail_url(suffix="trail.pdf"),
        "proof": trail_url(suffix="proof"),
        "outcome_proof": trail_url(suffix="outcome/proof"),
        "page": page_url(),
    }
    # and the view is an audit event, queued as a ledger leaf
    assert _trail_events() == [
        {"actor": "audrey", "prediction_id": str(PREDICTION_ID), "format": "json"}
    ]
    event = AuditEvent.objects.get(event_type="audits.trail.viewed")
    from audits.ledger.governance import event_entry_id

    assert LedgerQueue.objects.filter(entry_id=event_entry_id(event.pk)).count() == 1


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("auditor", 200),
        ("risk_officer", 200),
        ("developer", 403),
        ("validator", 403),
        ("outsider", 403),
        (None, 401),
    ],
)
@pytest.mark.parametrize("suffix", ["trail", "trail.pdf", "proof"])
def test_api_permission_matrix(
    served: Served, request: Any, persona: str | None, status: int, suffix: str
) -> None:
    # given a bearer client of the persona (none; a session for the role-less
    # outsider, who cannot hold a token)
    user = request.getfixturevalue(persona) if persona else None
    if persona == "outsider":
        client = APIClient()
        client.force_login(user)
    else:
        client = client_for(user)
    # when
    response = client.get(trail_url(suffix=suffix))
    # then
    assert response.status_code == status
    if status != 200:
        assert set(response.json()) == {"detail", "code", "errors"}
        assert _trail_events() == []
    else:
        fmt = {"trail": "json", "trail.pdf": "pdf", "proof": "proof"}[suffix]
        assert _trail_events() == [
            {"actor": user.username, "prediction_id": str(PREDICTION_ID), "format": fmt}
        ]


def test_api_token_without_audit_read_is_403(served: Served, auditor: Any) -> None:
    # given an auditor's token limited to registry:read
    issued = governance_services.api_token_create(
        actor=auditor, user=auditor, name="ro", scopes=["registry:read"]
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw}")
    # when
    response = client.get(trail_url())
    # then
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert _trail_events() == []


def test_api_session_auth_works(served: Served, auditor: Any) -> None:
    client = APIClient()
    client.force_login(auditor)
    response = client.get(trail_url())
    assert response.status_code == 200
    assert response.json()["prediction_id"] == str(PREDICTION_ID)


def test_api_unknown_prediction_is_404(served: Served, auditor: Any) -> None:
    response = client_for(auditor).get(trail_url(uuid.uuid4()))
    assert response.status_code == 404
    assert response.json() == {
        "detail": "Not found.",
        "code": "not_found",
        "errors": {},
    }
    assert _trail_events() == []


def test_api_risk_officer_sees_no_protected_attributes(
    served: Served, risk_officer: Any
) -> None:
    body = client_for(risk_officer).get(trail_url()).json()
    assert body["protected_attributes"] == {
        "status": "hidden",
        "commitment": body["record"]["data"]["protected_attributes_commitment"],
        "attributes": None,
        "salt": None,
        "computed_commitment": None,
        "commitment_matches": None,
    }
    assert "female" not in str(body)


def test_api_trail_is_in_the_schema(auditor: Any) -> None:
    client = APIClient()
    client.force_login(auditor)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    trail_op = paths["/api/v1/predictions/{prediction_id}/trail"]["get"]
    assert set(trail_op["responses"]) == {"200", "401", "403", "404", "409"}
    proof_op = paths["/api/v1/predictions/{prediction_id}/proof"]["get"]
    assert set(proof_op["responses"]) == {"200", "400", "401", "403", "404", "409"}
    assert "text/plain" in proof_op["responses"]["200"]["content"]
    pdf_op = paths["/api/v1/predictions/{prediction_id}/trail.pdf"]["get"]
    assert "application/pdf" in pdf_op["responses"]["200"]["content"]


# --- API: proof bundle and the offline verifier -------------------------------------


def _verify(
    tmp_path: Path, bundle: str, key_pem: bytes, *extra: str
) -> tuple[int, str, str]:
    (tmp_path / "p.tlog-proof").write_text(bundle)
    (tmp_path / "key.pem").write_bytes(key_pem)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "audits.ledger.verify",
            str(tmp_path / "p.tlog-proof"),
            "--public-key",
            str(tmp_path / "key.pem"),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    return result.returncode, result.stdout, result.stderr


def test_proof_download_is_a_self_contained_bundle_that_verifies_offline(
    served: Served, auditor: Any, ledger_key: Any, tmp_path: Path
) -> None:
    # given the downloaded bundle
    response = client_for(auditor).get(trail_url(suffix="proof"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="prediction-{PREDICTION_ID}.tlog-proof"'
    )
    bundle = response.content.decode()
    entry = LedgerEntry.objects.get(entry_id=PREDICTION_ID)
    checkpoint = LedgerCheckpoint.objects.order_by("-size").first()
    assert checkpoint is not None
    parsed = proofs.parse_bundle(bundle)
    assert (parsed.index, parsed.extra, parsed.note) == (
        entry.seq,
        bytes(entry.leaf),
        checkpoint.note,
    )
    assert proofs.verify_bundle(
        bundle,
        leaf=parsed.extra,
        origin=ORIGIN,
        trusted={ORIGIN: ledger_key.public_key()},
    ).size == (checkpoint.size)
    # when the standalone verifier checks it, with the leaf from the bundle
    code, out, err = _verify(
        tmp_path, bundle, _public_key_pem(ledger_key), "--origin", ORIGIN
    )
    # then it verifies and says what it verified
    leaf_hash = merkle.leaf_hash(bytes(entry.leaf)).hex()
    raw_key = ledger_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    key_id = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + raw_key).digest()[:4]
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"OK: entry {entry.seq} is in {ORIGIN} at size {checkpoint.size}, "
        f"signed by {ORIGIN}",
        f"  origin     {ORIGIN}",
        f"  tree size  {checkpoint.size}",
        f"  root       {bytes(checkpoint.root).hex()}",
        f"  index      {entry.seq}",
        f"  leaf hash  {leaf_hash}",
        f"  leaf       {len(bytes(entry.leaf))} bytes from the bundle's extra line",
        f"  signed by  {ORIGIN} (key id {key_id.hex()})",
        f"  record     prediction {PREDICTION_ID}",
    ]
    assert _trail_events() == [
        {"actor": "audrey", "prediction_id": str(PREDICTION_ID), "format": "proof"}
    ]


def test_verifier_takes_an_auditors_own_leaf_and_defaults_the_origin(
    served: Served, auditor: Any, ledger_key: Any, tmp_path: Path
) -> None:
    # given the bundle and the leaf bytes kept separately
    bundle = client_for(auditor).get(trail_url(suffix="proof")).content.decode()
    (tmp_path / "leaf.json").write_bytes(_leaf())
    # when verified with --leaf and without --origin
    code, out, _ = _verify(
        tmp_path,
        bundle,
        _public_key_pem(ledger_key),
        "--leaf",
        str(tmp_path / "leaf.json"),
    )
    # then
    assert code == 0
    assert f"  origin     {ORIGIN} (taken from the checkpoint: pass --origin)" in (
        out.splitlines()
    )
    assert f"  leaf       {len(_leaf())} bytes from {tmp_path / 'leaf.json'}" in (
        out.splitlines()
    )


def _tamper_extra(bundle: str, leaf: bytes) -> str:
    import base64

    old = base64.b64encode(leaf).decode()
    new = base64.b64encode(leaf.replace(b'"score":0.71', b'"score":0.17')).decode()
    assert old in bundle
    return bundle.replace(old, new)


@pytest.mark.parametrize(
    ("name", "mutate", "expected"),
    [
        (
            "score changed in the leaf",
            lambda b, leaf: _tamper_extra(b, leaf),
            "is not in the tree of size",
        ),
        (
            "another index",
            lambda b, leaf: b.replace("\nindex ", "\nindex 1", 1),
            "is not in the tree of size",
        ),
        (
            "checkpoint size forged",
            lambda b, leaf: b.replace(f"\n{ORIGIN}\n", f"\n{ORIGIN}\n9", 1),
            f"no valid signature by '{ORIGIN}' on the checkpoint",
        ),
        (
            "not a bundle",
            lambda b, leaf: "hello\n\n" + b,
            "not a c2sp.org/tlog-proof@v1 bundle",
        ),
    ],
)
def test_verifier_rejects_a_tampered_bundle(
    served: Served,
    auditor: Any,
    ledger_key: Any,
    tmp_path: Path,
    name: str,
    mutate: Any,
    expected: str,
) -> None:
    # given a downloaded bundle, tampered with
    bundle = client_for(auditor).get(trail_url(suffix="proof")).content.decode()
    tampered = mutate(bundle, _leaf())
    assert tampered != bundle
    # when
    code, out, _ = _verify(
        tmp_path, tampered, _public_key_pem(ledger_key), "--origin", ORIGIN
    )
    # then
    assert code == 1
    assert out.startswith("INVALID: ") and expected in out, out


def test_verifier_rejects_another_leaf_another_key_and_another_origin(
    served: Served, auditor: Any, ledger_key: Any, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    bundle = client_for(auditor).get(trail_url(suffix="proof")).content.decode()
    key_pem = _public_key_pem(ledger_key)
    (tmp_path / "other.json").write_bytes(_leaf().replace(b"0.71", b"0.72"))
    other_key = Ed25519PrivateKey.generate()
    # when / then: a leaf other than the one logged
    code, out, _ = _verify(
        tmp_path, bundle, key_pem, "--leaf", str(tmp_path / "other.json")
    )
    assert (code, out.split(":")[0]) == (1, "INVALID")
    # another key
    code, out, _ = _verify(tmp_path, bundle, _public_key_pem(other_key))
    assert (code, out.strip()) == (
        1,
        f"INVALID: no valid signature by '{ORIGIN}' on the checkpoint",
    )
    # another origin (named as the key name, the signature is the log's)
    code, out, _ = _verify(
        tmp_path, bundle, key_pem, "--origin", "other/log", "--key-name", ORIGIN
    )
    assert (code, out.strip()) == (
        1,
        f"INVALID: the checkpoint is for '{ORIGIN}', not 'other/log'",
    )


def test_verifier_usage_errors_exit_2(tmp_path: Path, ledger_key: Any) -> None:
    # a bundle without an extra line and no --leaf
    (tmp_path / "k.pem").write_bytes(_public_key_pem(ledger_key))
    no_extra = "c2sp.org/tlog-proof@v1\nindex 0\n\nlog\n1\nAAAA\n\n— log AAAA\n"
    code, out, err = _verify(tmp_path, no_extra, _public_key_pem(ledger_key))
    assert (code, out) == (2, "")
    assert "pass --leaf" in err
    # a missing bundle file
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "audits.ledger.verify",
            str(tmp_path / "missing"),
            "--public-key",
            str(tmp_path / "k.pem"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")


def test_proof_of_a_queued_prediction_is_409(deployed: Any, auditor: Any) -> None:
    # given a prediction not yet sequenced
    _, _, _, ingest = deployed
    _post(ingest, "/api/v1/predictions", [_prediction(records.iso(timezone.now()))])
    # when
    response = client_for(auditor).get(trail_url(suffix="proof"))
    # then
    assert response.status_code == 409
    assert response.json()["code"] == "not_yet_sequenced"
    assert _trail_events() == []
    # and the JSON trail says it is queued
    body = client_for(auditor).get(trail_url()).json()
    assert (body["status"], body["record"]["seq"], body["checkpoint"]) == (
        "queued",
        None,
        None,
    )


# --- API: PDF -----------------------------------------------------------------------


def _pdf_text(pdf: bytes, tmp_path: Path) -> str:
    tool = shutil.which("pdftotext")
    assert tool is not None, (
        "pdftotext (poppler-utils) is needed: make test installs it"
    )
    (tmp_path / "trail.pdf").write_bytes(pdf)
    return subprocess.run(
        [tool, "-enc", "UTF-8", str(tmp_path / "trail.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout


def test_pdf_holds_the_trail_and_renders_within_two_seconds(
    with_outcome: Served, auditor: Any, tmp_path: Path
) -> None:
    # given
    client = client_for(auditor)
    entry = LedgerEntry.objects.get(entry_id=PREDICTION_ID)
    checkpoint = LedgerCheckpoint.objects.order_by("-size").first()
    assert checkpoint is not None
    signature = Signature.objects.get(request=with_outcome.approval, meaning="approved")
    # when
    started = time.perf_counter()
    response = client.get(trail_url(suffix="trail.pdf"))
    elapsed = time.perf_counter() - started
    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        f'attachment; filename="prediction-{PREDICTION_ID}-trail.pdf"'
    )
    assert response.content.startswith(b"%PDF-")
    assert elapsed <= 2.0, f"the PDF took {elapsed:.2f} s"
    raw = _pdf_text(response.content, tmp_path)
    text = " ".join(raw.split())
    compact = "".join(raw.split())
    assert f"Audit trail of prediction {PREDICTION_ID}" in text
    assert "Version 1.0.0" in text
    assert with_outcome.version.artifact_sha256 in compact
    assert f"Index (seq) {entry.seq}" in text
    assert f"Checkpoint size {checkpoint.size}" in text
    assert bytes(checkpoint.root).hex() in compact
    assert signature.printed_name in text
    assert f"RR-{with_outcome.approval.pk} for production" in text
    assert "Outcome default" in text
    assert "age_group 25+" in text
    assert _trail_events() == [
        {"actor": "audrey", "prediction_id": str(PREDICTION_ID), "format": "pdf"}
    ]


# --- Pages --------------------------------------------------------------------------


def test_trail_page_shows_the_trail_and_records_the_view(
    with_outcome: Served, auditor: Any
) -> None:
    # given
    client = Client()
    client.force_login(auditor)
    entry = LedgerEntry.objects.get(entry_id=PREDICTION_ID)
    signature = Signature.objects.get(request=with_outcome.approval, meaning="approved")
    # when
    response = client.get(page_url())
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert f"Sequenced, seq {entry.seq}" in html
    assert bytes(entry.leaf_hash).hex() in html
    assert signature.printed_name in html
    assert signature.binding_sha256 in html
    assert f'href="{trail_url(suffix="trail.pdf")}"' in html
    assert f'href="{trail_url(suffix="proof")}"' in html
    assert 'href="/registry/credit-risk/versions/1.0.0/"' in html
    assert "/registry/credit-risk/versions/1.0.0/card/history/?as_of=" in html
    assert "<strong>default</strong>" in html
    assert "equals the commitment" in html
    assert _trail_events() == [
        {"actor": "audrey", "prediction_id": str(PREDICTION_ID), "format": "html"}
    ]


def test_trail_page_of_a_queued_prediction_says_so(deployed: Any, auditor: Any) -> None:
    _, _, _, ingest = deployed
    _post(ingest, "/api/v1/predictions", [_prediction(records.iso(timezone.now()))])
    client = Client()
    client.force_login(auditor)
    html = client.get(page_url()).content.decode()
    assert "Queued, not yet sequenced" in html
    assert "Not yet under a signed checkpoint" in html
    assert trail_url(suffix="proof") not in html


@pytest.mark.parametrize(
    ("persona", "status"),
    [("auditor", 200), ("risk_officer", 200), ("developer", 403), ("outsider", 403)],
)
def test_trail_page_permissions(
    served: Served, request: Any, persona: str, status: int
) -> None:
    client = Client()
    client.force_login(request.getfixturevalue(persona))
    response = client.get(page_url())
    assert response.status_code == status
    if status == 403:
        assert _trail_events() == []


def test_trail_page_redirects_anonymous_to_login(served: Served) -> None:
    response = Client().get(page_url())
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={page_url()}"
    assert _trail_events() == []


def test_trail_page_of_an_unknown_id_is_404(served: Served, auditor: Any) -> None:
    client = Client()
    client.force_login(auditor)
    assert client.get(page_url(uuid.uuid4())).status_code == 404
    assert _trail_events() == []


def test_home_search_redirects_to_the_trail(served: Served, auditor: Any) -> None:
    client = Client()
    client.force_login(auditor)
    response = client.get("/audits/", {"prediction_id": f"  {PREDICTION_ID}  "})
    assert response.status_code == 302
    assert response["Location"] == page_url()


def test_home_search_says_when_the_id_is_malformed_or_unknown(
    served: Served, auditor: Any
) -> None:
    client = Client()
    client.force_login(auditor)
    # a malformed id
    response = client.get("/audits/", {"prediction_id": "not-an-id"})
    assert response.status_code == 400
    assert "“not-an-id” is not a prediction id" in response.content.decode()
    # an unknown id
    unknown = uuid.uuid4()
    response = client.get("/audits/", {"prediction_id": str(unknown)})
    assert response.status_code == 404
    assert (
        f"No prediction with id {unknown} is recorded in the ledger."
        in response.content.decode()
    )


def test_home_lists_recent_views_and_the_public_key(
    served: Served, auditor: Any, ledger_key: Any
) -> None:
    client = Client()
    client.force_login(auditor)
    client.get(page_url())
    html = client.get("/audits/").content.decode()
    assert f'href="{page_url()}"' in html
    assert _public_key_pem(ledger_key).decode().strip().splitlines()[1] in html
    key = client.get("/audits/ledger-public-key.pem")
    assert key.status_code == 200
    assert key.content == _public_key_pem(ledger_key)


def test_nav_link_only_for_trail_roles(
    db: Any, auditor: Any, risk_officer: Any, developer: Any
) -> None:
    for user, shown in ((auditor, True), (risk_officer, True), (developer, False)):
        client = Client()
        client.force_login(user)
        html = client.get("/registry/").content.decode()
        assert ('href="/audits/"' in html) is shown, user.username


def test_home_is_403_without_the_permission(db: Any, developer: Any) -> None:
    client = Client()
    client.force_login(developer)
    assert client.get("/audits/").status_code == 403


# --- Roles --------------------------------------------------------------------------


def test_roles_hold_the_trail_permissions(
    auditor: Any, risk_officer: Any, developer: Any, validator: Any
) -> None:
    assert [
        (u.username, u.has_perm("audits.view_prediction_trail"))
        for u in (auditor, risk_officer, developer, validator)
    ] == [("audrey", True), ("rita", True), ("dana", False), ("vera", False)]
    assert [
        (u.username, u.has_perm("audits.view_protectedattributes"))
        for u in (auditor, risk_officer)
    ] == [("audrey", True), ("rita", False)]


def test_the_outcome_has_its_own_proof_that_verifies_offline(
    with_outcome: Served, auditor: Any, ledger_key: Any
) -> None:
    # given the outcome, sequenced under a signed checkpoint
    outcome = LedgerEntry.objects.get(entry_id=records.outcome_entry_id(PREDICTION_ID))
    checkpoint = LedgerCheckpoint.objects.order_by("-size").first()
    assert checkpoint is not None
    # when the auditor downloads its proof
    response = client_for(auditor).get(trail_url(suffix="outcome/proof"))
    # then it is the outcome's leaf, proved against the trail's checkpoint
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="outcome-{PREDICTION_ID}.tlog-proof"'
    )
    bundle = response.content.decode()
    parsed = proofs.parse_bundle(bundle)
    assert (parsed.index, parsed.extra, parsed.note) == (
        outcome.seq,
        bytes(outcome.leaf),
        checkpoint.note,
    )
    assert proofs.verify_bundle(
        bundle,
        leaf=parsed.extra,
        origin=ORIGIN,
        trusted={ORIGIN: ledger_key.public_key()},
    ).size == (checkpoint.size)
    assert _trail_events() == [
        {
            "actor": "audrey",
            "prediction_id": str(PREDICTION_ID),
            "format": "outcome_proof",
        }
    ]


def test_no_outcome_no_outcome_proof(served: Served, auditor: Any) -> None:
    response = client_for(auditor).get(trail_url(suffix="outcome/proof"))
    assert response.status_code == 409
    assert response.json()["code"] == "no_outcome"
    assert _trail_events() == []
