"""Real headless Chromium through the audit trail: an auditor searches a prediction
on the auditor's home page, reads its trail (the record, the proof, the approval in
force) and downloads the PDF.

The prediction is made here as production would make it: the demo's mortgage model
2.0.0 is approved (through the services, unless the approval test already did it in
the browser) and reported deployed to production; the pipeline gets an ingest key
(``manage.py issue_token``), posts one prediction to the live server, and the
sequencer (``manage.py ledger_sequencer --once``) signs a checkpoint over it.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

MODEL = "mortgage-approval-hmda"
VERSION = "2.0.0"

APPROVE_AND_DEPLOY = """
import json
from django.contrib.auth import get_user_model
from governance import services
from governance.models import ReleaseRequest
from governance.services import deployments
from registry.models import ModelVersion
User = get_user_model()
mv = ModelVersion.objects.get(model__slug="{model}", version="{version}")
approved = ReleaseRequest.objects.filter(model_version=mv, state="approved").first()
if approved is None:
    approved = services.release_request_approve(
        actor=User.objects.get(username="risk"),
        request=ReleaseRequest.objects.get(model_version=mv, state="validated"),
        password="{password}",
        comment="approved for the audit-trail round trip",
    )
deployments.deployment_report(
    actor=User.objects.get(username="pipeline"),
    version=mv,
    environment="production",
    target="e2e-cluster/mortgage/prescreen",
    external_id="e2e-trail",
)
signers = list(
    approved.signatures.filter(meaning="approved").values_list("printed_name", flat=True)
)
print(json.dumps({{"request": approved.pk, "signers": signers}}))
"""


def _shell(live_app: Any, code: str) -> str:
    # The last line: Django's shell may first announce its automatic imports.
    return str(live_app.manage("shell", "-c", code).stdout.strip().splitlines()[-1])


def _login(page: Any, live_app: Any, username: str) -> None:
    page.goto(f"{live_app.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(live_app.password)
    page.get_by_role("button", name=re.compile("log in|sign in", re.I)).click()
    # auditors start on the audit trails, everyone else on the inventory
    page.wait_for_url(re.compile(r"/(audits|registry)/$"))


def _post(url: str, token: str, body: Any) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:  # show the server's reason
        raise AssertionError(exc.read().decode()) from exc


@pytest.fixture(scope="module")
def recorded(live_app: Any) -> dict[str, Any]:
    """One production prediction of the approved, deployed mortgage model."""
    governance = json.loads(
        _shell(
            live_app,
            APPROVE_AND_DEPLOY.format(
                model=MODEL, version=VERSION, password=live_app.password
            ),
        )
    )
    issued = live_app.manage(
        "issue_token",
        "--username",
        "pipeline",
        "--name",
        "e2e scoring service",
        "--model",
        MODEL,
        "--environment",
        "production",
    ).stdout
    token = issued.split("token: ")[1].strip()
    prediction_id = uuid.uuid4()
    receipt = _post(
        f"{live_app.url}/api/v1/predictions",
        token,
        [
            {
                "prediction_id": str(prediction_id),
                "model": MODEL,
                "version": VERSION,
                "predicted_at": datetime.now(UTC).isoformat(),
                "input_commitment": "ab" * 32,
                "score": 0.42,
                "decision": "refer",
                "trace_id": "e2e-trail-0001",
            }
        ],
    )
    assert receipt["accepted"] == 1, receipt
    live_app.manage("ledger_sequencer", "--once")
    return {"prediction_id": prediction_id, **governance}


def test_auditor_finds_reads_and_downloads_a_trail(
    live_app: Any, page: Any, recorded: dict[str, Any], tmp_path: Path
) -> None:
    prediction_id = recorded["prediction_id"]
    # given the auditor signed in, on their home page: the audit trails
    _login(page, live_app, "auditor")
    assert re.search(r"/audits/$", page.url)
    # when they search an id that is not one
    page.get_by_label("Prediction id").fill("not-a-prediction")
    page.get_by_role("button", name="Show trail").click()
    # then they are told so
    assert page.get_by_text("“not-a-prediction” is not a prediction id").is_visible()
    # when they search the prediction
    page.get_by_label("Prediction id").fill(str(prediction_id))
    page.get_by_role("button", name="Show trail").click()
    # then the trail page shows the record as stored
    page.wait_for_url(f"{live_app.url}/audits/predictions/{prediction_id}")
    heading = page.get_by_role("heading", level=1)
    assert str(prediction_id) in heading.inner_text()
    assert page.get_by_text(re.compile(r"Sequenced, seq \d+")).is_visible()
    leaf = page.get_by_label("The ledger leaf, exactly as stored").inner_text()
    assert json.loads(leaf)["prediction_id"] == str(prediction_id)
    assert json.loads(leaf)["shadow"] is False
    # and the proof, checked against the signed checkpoint
    assert page.get_by_text(
        "The path leads from the leaf hash to the root"
    ).is_visible()
    # and the approval in force, with its signatures
    approval = page.get_by_role("link", name=f"RR-{recorded['request']}")
    assert approval.is_visible()
    signatures = page.get_by_role("table", name=re.compile("Signatures of RR-"))
    for name in recorded["signers"]:
        assert name in signatures.inner_text()
    assert page.get_by_text("e2e-cluster/mortgage/prescreen").is_visible()
    # when they download the PDF
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download PDF").click()
    download = download_info.value
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    # then it is the trail of this prediction
    assert download.suggested_filename == f"prediction-{prediction_id}-trail.pdf"
    pdf = target.read_bytes()
    assert pdf.startswith(b"%PDF-")
    text = " ".join(
        subprocess.run(
            ["pdftotext", "-enc", "UTF-8", str(target), "-"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.split()
    )
    assert f"Audit trail of prediction {prediction_id}" in text
    assert f"RR-{recorded['request']} for production" in text
    for name in recorded["signers"]:
        assert name in text


def test_developer_sees_no_trail(
    live_app: Any, page: Any, recorded: dict[str, Any]
) -> None:
    # given a model developer signed in
    _login(page, live_app, "dev")
    # then the navigation offers no audit trails, and the page is refused
    assert page.get_by_role("link", name="Audit trails").count() == 0
    response = page.goto(
        f"{live_app.url}/audits/predictions/{recorded['prediction_id']}"
    )
    assert response is not None and response.status == 403
