"""The model-version evidence pack on real PostgreSQL: a version taken through
validation, approval, the gate, a deployment and a monitoring report, collected
with :func:`audits.evidence.collect.version_pack_content`, rendered to PDF and read
back with pdftotext."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from audits.evidence import collect, pdfa, render
from audits.evidence import manifest as pack_manifest
from audits.monitoring import config
from audits.monitoring import services as monitoring_services
from governance.models import ReleaseRequest, Signature
from governance.services import deployments, workflow
from governance.services import gate as gate_service
from registry.models import ModelVersion
from tests.audits.evidence.test_pack_format import page_texts
from tests.audits.ledger.test_ingest_api import (
    ingest_key,  # noqa: F401  (fixture)
    scorer,  # noqa: F401  (fixture)
)
from tests.audits.monitoring.test_monitoring_flow import batch, ingest
from tests.governance.test_gate_api import approve

pytestmark = pytest.mark.usefixtures("ledger_key")

SECTION_TITLES = [title for _, title in collect.TOC] + ["Appendix: manifest of sources"]
SOURCE_NAMES = [
    "approvals.json",
    "deployments.csv",
    "documents.json",
    "gate_decisions.csv",
    "ledger_integrity.json",
    "model_card.json",
    "monitoring_reports.json",
    "record_integrity.json",
    "validation.json",
    "version.json",
]


@dataclass(frozen=True)
class Scenario:
    version: ModelVersion
    approval: ReleaseRequest
    before_approval: datetime
    period_start: datetime
    period_end: datetime
    as_of: datetime


@pytest.fixture
def scenario(
    submitted_version: Any,
    developer: Any,
    validator: Any,
    risk_officer: Any,
    service: Any,
    scorer: Any,  # noqa: F811
) -> Scenario:
    before = timezone.now()
    approval = approve(
        version=submitted_version,
        developer=developer,
        validator=validator,
        risk_officer=risk_officer,
        environments=["production"],
    )
    version = approval.model_version
    workflow.finding_raise(
        actor=validator,
        version=version,
        severity="low",
        title="Calibration of the top decile",
        description="The top score decile over-predicts defaults by 2 points.",
        sr_section="SR 11-7 §V",
    )
    decision = gate_service.gate_check(
        actor=service, environment="production", model="credit-risk", version="1.0.0"
    )
    deployments.deployment_report(
        actor=service,
        version=version,
        environment="production",
        target="prod-eu/credit/scorer",
    )
    assert decision.decision.allowed
    end = config.hour_floor(timezone.now())
    start = end - timedelta(hours=2)
    ingest(
        scorer,
        batch(start, group="25+", n=100, approved=72)
        + batch(start + timedelta(minutes=30), group="<25", n=100, approved=58),
    )
    report = monitoring_services.report_request(
        actor=risk_officer,
        version=version,
        environment="production",
        kind="fairness",
        window_start=start,
        window_end=end,
    )
    assert monitoring_services.report_run(report_id=report.pk).status == "done"
    return Scenario(
        version=version,
        approval=approval,
        before_approval=before,
        period_start=start - timedelta(days=1),
        period_end=end,
        as_of=timezone.now(),
    )


def build(scenario: Scenario, as_of: datetime | None = None) -> collect.PackContent:
    return collect.version_pack_content(
        version=scenario.version,
        period_start=scenario.period_start,
        period_end=scenario.period_end,
        as_of=as_of or scenario.as_of,
    )


def pdf_of(content: collect.PackContent) -> bytes:
    return render.render_pack_pdf(
        html=content.html,
        sources=content.sources,
        manifest=content.manifest,
        created=content.created,
    )


def source(content: collect.PackContent, name: str) -> Any:
    found = next(s for s in content.sources if s.name == name)
    return json.loads(found.content) if name.endswith(".json") else found.content


def test_pack_reads_back_with_sections_signers_digest_and_manifest(
    scenario: Scenario, tmp_path: Path
) -> None:
    # when
    content = build(scenario)
    pdf = pdf_of(content)
    # then it keeps the PDF/A-3b rules that are checked
    assert pdfa.pdfa3b_problems(pdf) == []
    # and the manifest describes exactly the sources, and the pack metadata
    assert sorted(s.name for s in content.sources) == SOURCE_NAMES
    assert pack_manifest.check(content.manifest, content.sources) == []
    integrity = source(content, "ledger_integrity.json")
    assert content.manifest["pack"] == {
        "kind": "model-version",
        "model": "credit-risk",
        "version": "1.0.0",
        "period": f"{collect._iso(scenario.period_start)}/"
        f"{collect._iso(scenario.period_end)}",
        "built_from": {
            "ledger_size": integrity["checkpoint"]["size"],
            "as_of": collect._iso(scenario.as_of),
        },
    }
    assert content.created == scenario.as_of
    # the ledger statement: the signature verifies and fsck is clean
    assert integrity["checkpoint"]["size"] > 200
    assert integrity["signature"]["verified"] is True
    assert integrity["fsck"]["ok"] is True
    assert integrity["fsck"]["entries"] == integrity["checkpoint"]["size"]
    # the sources hold the rows of the scenario
    signatures = list(Signature.objects.filter(request=scenario.approval))
    assert [
        s["printed_name"] for s in source(content, "approvals.json")["signatures"]
    ] == [s.printed_name for s in signatures]
    assert len(signatures) == 2
    validation = source(content, "validation.json")
    assert [f["title"] for f in validation["findings"]] == [
        "Calibration of the top decile"
    ]
    assert validation["findings"][0]["history"][0]["event_type"] == (
        "governance.finding.raised"
    )
    assert validation["requests"][0]["state"] == "approved"
    assert [
        r["kind"] for r in source(content, "monitoring_reports.json")["reports"]
    ] == ["fairness"]
    assert source(content, "gate_decisions.csv").count(b"\n") == 2
    assert b"prod-eu/credit/scorer" in source(content, "deployments.csv")
    assert len(source(content, "documents.json")["documents"]) == 4
    # the PDF: each section in the contents and as a chapter, the signers' names,
    # the artifact digest, and every source's digest in the appendix
    pages = page_texts(pdf, tmp_path)
    text = "\n".join(pages)
    for title in SECTION_TITLES:
        assert re.search(rf"{re.escape(title)} ?\.{{3,}} ?\d+\n", pages[0]), title
        assert sum(first_body_line(page) == title for page in pages) == 1, title
    for signature in signatures:
        assert signature.printed_name in text
    assert scenario.version.artifact_sha256 in text
    appendix = pages[-1]
    for entry in pack_manifest.manifest_appendix_rows(content.manifest):
        assert re.search(
            rf"{re.escape(entry['name'])} .* {entry['sha256']}", appendix
        ), entry["name"]
    assert "Approval rate by age_group, per hour" in text  # a chart, as vector text
    # and no chart became a raster image: pdfimages lists none
    (tmp_path / "images.pdf").write_bytes(pdf)
    listed = subprocess.run(
        ["pdfimages", "-list", str(tmp_path / "images.pdf")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert len(listed) == 2, listed  # the two header lines, no image
    assert f"Page {len(pages)} of {len(pages)}" in pages[-1]
    assert re.search(r"credit-risk 1\.0\.0 +Model-version evidence pack", pages[1])


def first_body_line(page: str) -> str:
    """The first line after the running header: a chapter's title."""
    lines = [line.strip() for line in page.splitlines() if line.strip()]
    return lines[1] if len(lines) > 1 else ""


def test_same_inputs_give_the_same_bytes_when_rows_arrive_later(
    scenario: Scenario,
    service: Any,
    risk_officer: Any,
    scorer: Any,  # noqa: F811
) -> None:
    # given the pack as of the scenario's end
    first = pdf_of(build(scenario))
    # when a gate decision, predictions (with a new checkpoint) and a report arrive
    gate_service.gate_check(
        actor=service, environment="production", model="credit-risk", version="1.0.0"
    )
    end = scenario.period_end
    ingest(scorer, batch(end - timedelta(hours=1), group="25+", n=40, approved=30))
    late = monitoring_services.report_request(
        actor=risk_officer,
        version=scenario.version,
        environment="production",
        kind="drift",
        window_start=end - timedelta(hours=2),
        window_end=end,
    )
    monitoring_services.report_run(report_id=late.pk)
    again = build(scenario)
    # then the same bytes, and a later as_of does see the new rows
    assert pdf_of(again) == first
    later = build(scenario, as_of=timezone.now())
    assert source(later, "gate_decisions.csv").count(b"\n") == 3
    assert len(source(later, "monitoring_reports.json")["reports"]) == 2
    assert (
        source(later, "ledger_integrity.json")["checkpoint"]["size"]
        > source(again, "ledger_integrity.json")["checkpoint"]["size"]
    )


def test_as_of_before_the_approval_leaves_out_everything_after_it(
    scenario: Scenario,
) -> None:
    # when
    content = build(scenario, as_of=scenario.before_approval)
    # then nothing of the approval, gate, deployment, findings or monitoring
    approvals = source(content, "approvals.json")
    assert approvals["signatures"] == []
    assert approvals["approvals_in_force"] == []
    assert source(content, "validation.json") == {"requests": [], "findings": []}
    assert source(content, "gate_decisions.csv") == (
        b"decision_id,decided_at,environment,allowed,reason,source,caller,"
        b"artifact_sha256,approval,correlation_id\n"
    )
    assert source(content, "deployments.csv").count(b"\n") == 1
    assert source(content, "monitoring_reports.json")["reports"] == []
    assert source(content, "documents.json")["documents"] == []
    assert source(content, "version.json")["status"] == "submitted"
    assert content.html.count(collect.NONE) >= 6
    for signature in Signature.objects.filter(request=scenario.approval):
        assert signature.printed_name not in content.html


def test_draft_version_without_checkpoint_gives_a_pack_that_says_so(
    draft_version: Any, tmp_path: Path
) -> None:
    # given a draft version and an empty ledger
    now = timezone.now()
    # when
    content = collect.version_pack_content(
        version=draft_version,
        period_start=now - timedelta(days=30),
        period_end=now,
        as_of=now,
    )
    pdf = pdf_of(content)
    # then
    assert source(content, "ledger_integrity.json")["checkpoint"] is None
    assert content.manifest["pack"]["built_from"]["ledger_size"] == 0
    text = "\n".join(page_texts(pdf, tmp_path))
    assert "No signed checkpoint existed at the as-of time." in text
    assert "None in this period." in text
    assert draft_version.artifact_sha256 in text


def test_reports_whose_window_overlaps_the_period_are_in_it_others_not(
    scenario: Scenario,
) -> None:
    # given the scenario's report over the two hours before the period's end
    (report,) = collect._reports(
        scenario.version, scenario.period_start, scenario.period_end, scenario.as_of
    )
    hour = timedelta(hours=1)
    # then a period that holds only its last hour still has it, with its whole
    # window; one that ends where the report starts, or starts where it ends, not
    window = (report.window_start, report.window_end)
    after = scenario.as_of
    assert window == (scenario.period_end - 2 * hour, scenario.period_end)
    inside = collect._reports(scenario.version, window[1] - hour, window[1], after)
    assert [r.pk for r in inside] == [report.pk]
    before = collect._reports(scenario.version, window[0] - hour, window[0], after)
    assert before == []
    later = collect._reports(scenario.version, window[1], window[1] + hour, after)
    assert later == []
    # and a pack as of before the report finished leaves it out
    assert report.finished_at is not None
    earlier = report.finished_at - timedelta(microseconds=1)
    assert collect._reports(scenario.version, *window, earlier) == []
