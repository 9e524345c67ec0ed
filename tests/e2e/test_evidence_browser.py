"""Real headless Chromium through the auditor's evidence: an auditor searches a
prediction, opens its trail and downloads its PDF, then requests the evidence pack
of the prediction's model version, waits until it is built, downloads the pack,
its detached signature and the ledger public key, and verifies the pack offline.

The prediction comes from the trail test's ``recorded`` fixture (the demo's
mortgage model 2.0.0 approved, deployed and scored once on the live server). The
e2e server runs Celery tasks in its own process (``CELERY_TASK_ALWAYS_EAGER=1`` in
``live_app``, as ``make demo`` does), so the pack's build task runs in the gunicorn
worker after the request commits; the pack page polls the status row until it is
done either way.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from audits.evidence import collect, verify
from tests.e2e.test_trail_browser import (  # noqa: F401  (recorded: a fixture)
    MODEL,
    VERSION,
    _login,
    _shell,
    recorded,
)

pytestmark = pytest.mark.e2e

SECTION_TITLES = [title for _, title in collect.TOC] + ["Appendix: manifest of sources"]
MODEL_NAME = """
import json
from registry.models import Model
print(json.dumps(Model.objects.get(slug="{model}").name))
"""


def _download(page: Any, link: Any, folder: Path) -> Path:
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    target = folder / download.suggested_filename
    download.save_as(target)
    return target


def _pdf_text(path: Path) -> str:
    out = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return " ".join(out.split())


def test_auditor_downloads_a_trail_and_a_verified_version_pack(
    live_app: Any,
    page: Any,
    recorded: dict[str, Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    prediction_id = recorded["prediction_id"]
    model_name = json.loads(_shell(live_app, MODEL_NAME.format(model=MODEL)))
    # given the auditor signed in, on the audit trails
    _login(page, live_app, "auditor")
    # when they search the prediction and open its trail
    page.get_by_label("Prediction id").fill(str(prediction_id))
    page.get_by_role("button", name="Show trail").click()
    page.wait_for_url(f"{live_app.url}/audits/predictions/{prediction_id}")
    assert str(prediction_id) in page.get_by_role("heading", level=1).inner_text()
    # and download its PDF
    trail_pdf = _download(page, page.get_by_role("link", name="Download PDF"), tmp_path)
    # then it is the trail of this prediction
    assert trail_pdf.name == f"prediction-{prediction_id}-trail.pdf"
    assert trail_pdf.read_bytes().startswith(b"%PDF-")
    assert f"Audit trail of prediction {prediction_id}" in _pdf_text(trail_pdf)

    # when they open the evidence packs of the model version
    page.goto(f"{live_app.url}/audits/")
    page.get_by_role("link", name="Evidence packs").click()
    page.wait_for_url(f"{live_app.url}/audits/packs/")
    page.get_by_role("link", name=f"{model_name} {VERSION}", exact=True).click()
    page.wait_for_url(re.compile(r"/audits/versions/\d+/packs$"))
    # and request a pack over the default period (the last 90 days)
    page.get_by_text("Request a pack…").click()
    page.get_by_role("button", name="Request the pack").click()
    # then the pack's page shows it built (it reloads itself until then)
    page.wait_for_url(re.compile(r"/audits/packs/\d+$"))
    page.get_by_role("heading", name="Downloads").wait_for(timeout=120_000)
    assert page.locator(".badge.status").inner_text().strip() == "Done"
    pages = int(re.search(r"(\d+) pages?,", page.content())[1])  # type: ignore[index]
    # when they download the pack, its signature and the ledger public key
    folder = tmp_path / "pack"
    folder.mkdir()
    pack_pdf = _download(
        page, page.get_by_role("link", name=re.compile(r"-pack-\d+\.pdf$")), folder
    )
    signature = _download(
        page, page.get_by_role("link", name=re.compile(r"-pack-\d+\.pdf\.sig$")), folder
    )
    public_key = _download(
        page, page.get_by_role("link", name="modelgov-ledger.pub.pem"), folder
    )
    # then the PDF is the pack of this version, with every section
    assert pack_pdf.name.startswith(f"{MODEL}-{VERSION}-pack-")
    assert signature.name == f"{pack_pdf.name}.sig"
    pdf = pack_pdf.read_bytes()
    assert pdf.startswith(b"%PDF-")
    text = _pdf_text(pack_pdf)
    assert model_name in text
    assert "Model-version evidence pack" in text
    for title in SECTION_TITLES:
        assert title in text, title
    for name in recorded["signers"]:
        assert name in text
    assert f"Page {pages} of {pages}" in text
    # and it verifies offline against the key served by the application
    assert (
        verify.verify_pack(pdf, signature.read_bytes(), public_key.read_bytes()) == []
    )
    # while a changed byte does not
    tampered = pdf.replace(b"%PDF-", b"%PDF ", 1)
    assert verify.verify_pack(tampered, signature.read_bytes(), public_key.read_bytes())

    # when they open who downloaded this pack
    page.get_by_role("link", name="Who downloaded this pack").click()
    page.wait_for_url(re.compile(r"/audits/access-log\?pack=\d+$"))
    # then their request and their two downloads are listed, newest first
    rows = page.locator("table tbody tr")
    assert rows.count() == 3
    assert [
        (
            cells.nth(1).inner_text(),
            cells.nth(2).inner_text(),
            cells.nth(4).inner_text(),
        )
        for cells in (rows.nth(i).locator("td") for i in range(3))
    ] == [
        ("Audrey Auditor (auditor)", "Downloaded an evidence pack", signature.name),
        ("Audrey Auditor (auditor)", "Downloaded an evidence pack", pack_pdf.name),
        ("Audrey Auditor (auditor)", "Requested an evidence pack", "model-version"),
    ]
    # and the whole log also has the trail they viewed, as a page and as a PDF
    page.get_by_role("link", name="Clear the filters").click()
    trail_rows = page.locator("table tbody tr", has_text=str(prediction_id))
    assert sorted(
        trail_rows.nth(i).locator("td").nth(4).inner_text()
        for i in range(trail_rows.count())
    ) == ["HTML", "PDF"]
