"""The period evidence pack on real PostgreSQL: a model taken through approval, a
deployment, predictions and monitoring reports (one with a breach and its alert),
collected with :func:`audits.evidence.collect.period_pack_content`, rendered to PDF
and read back with pdftotext; requested and built through the service and the
model's packs page."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.evidence import collect, services
from audits.evidence import manifest as pack_manifest
from audits.evidence.models import EvidencePack, PackKind, PackStatus
from audits.ledger.models import Alert
from audits.monitoring import services as monitoring_services
from governance.models import Signature
from tests.audits.evidence.test_pack_format import page_texts
from tests.audits.evidence.test_version_pack import (
    Scenario,
    pdf_of,
    scenario,  # noqa: F401  (fixture)
    source,
)
from tests.audits.ledger.test_ingest_api import (
    ingest_key,  # noqa: F401  (fixture)
    scorer,  # noqa: F401  (fixture)
)
from tests.audits.monitoring.test_monitoring_flow import batch, ingest
from tests.factories import PASSWORD

pytestmark = pytest.mark.usefixtures("ledger_key")

SOURCE_NAMES = [
    "alerts.json",
    "approvals.json",
    "deployments.csv",
    "ledger_integrity.json",
    "monitoring_reports.json",
    "record_integrity.json",
    "refusals.json",
    "volume.csv",
]


@dataclass(frozen=True)
class Period:
    scenario: Scenario
    start: datetime
    end: datetime
    as_of: datetime
    # predicted_at of every prediction ingested, for the expected volume
    predicted: list[datetime]


def _predicted_at(records: list[dict[str, Any]]) -> list[datetime]:
    return [datetime.fromisoformat(r["predicted_at"]) for r in records]


def _volume(moments: list[datetime]) -> dict[str, int]:
    return dict(sorted(Counter(m.date().isoformat() for m in moments).items()))


@pytest.fixture
def period(
    scenario: Scenario,  # noqa: F811
    risk_officer: Any,
    scorer: Any,  # noqa: F811
) -> Period:
    # the scenario ingested 100 + 100 predictions from window start + 10 min and
    # + 40 min; an hour later, young applicants are mostly declined: a breach
    start = scenario.period_end - timedelta(hours=2)
    earlier = batch(start, group="25+", n=100, approved=72) + batch(
        start + timedelta(minutes=30), group="<25", n=100, approved=58
    )
    breaching = batch(start + timedelta(hours=1), group="<25", n=100, approved=20)
    ingest(scorer, breaching)
    report = monitoring_services.report_request(
        actor=risk_officer,
        version=scenario.version,
        environment="production",
        kind="fairness",
        window_start=start + timedelta(hours=1),
        window_end=scenario.period_end,
    )
    assert monitoring_services.report_run(report_id=report.pk).breaches
    as_of = timezone.now()
    return Period(
        scenario=scenario,
        start=scenario.period_start,
        end=as_of,
        as_of=as_of,
        predicted=_predicted_at(earlier + breaching),
    )


def build(period: Period, as_of: datetime | None = None) -> collect.PackContent:
    return collect.period_pack_content(
        model=period.scenario.version.model,
        period_start=period.start,
        period_end=period.end,
        as_of=as_of or period.as_of,
    )


def volume_of(content: collect.PackContent) -> dict[str, int]:
    rows = csv.DictReader(io.StringIO(source(content, "volume.csv").decode()))
    found: Counter[str] = Counter()
    for row in rows:
        assert (row["version"], row["environment"]) == ("1.0.0", "production")
        found[row["day"]] += int(row["predictions"])
    return dict(sorted(found.items()))


def test_period_pack_reads_back_with_volume_alerts_signers_and_manifest(
    period: Period, tmp_path: Path
) -> None:
    # when
    content = build(period)
    pdf = pdf_of(content)
    # then the manifest describes exactly the sources
    assert sorted(s.name for s in content.sources) == SOURCE_NAMES
    assert pack_manifest.check(content.manifest, content.sources) == []
    integrity = source(content, "ledger_integrity.json")
    assert content.manifest["pack"] == {
        "kind": "period",
        "model": "credit-risk",
        "period": f"{collect._iso(period.start)}/{collect._iso(period.end)}",
        "built_from": {
            "ledger_size": integrity["checkpoint"]["size"],
            "as_of": collect._iso(period.as_of),
        },
    }
    assert content.created == period.as_of
    assert integrity["fsck"]["ok"] is True
    # the volume: every prediction, by the day it was made
    assert volume_of(content) == _volume(period.predicted)
    assert sum(volume_of(content).values()) == 300
    # two reports, the later with breaches; its alert; the approval and signatures
    reports = source(content, "monitoring_reports.json")["reports"]
    assert [(r["kind"], bool(r["breaches"])) for r in reports] == [
        ("fairness", False),
        ("fairness", True),
    ]
    alerts = source(content, "alerts.json")["alerts"]
    alert = Alert.objects.get(model=period.scenario.version.model)
    assert [(a["id"], a["kind"], a["open"]) for a in alerts] == [
        (alert.pk, "monitoring.fairness", True)
    ]
    # with its one occurrence, from the later report
    assert [(o["report"], o["message"]) for o in alerts[0]["occurrence_log"]] == [
        (reports[1]["id"], alert.message)
    ]
    approvals = source(content, "approvals.json")
    assert [(r["label"], r["state"], r["version"]) for r in approvals["requests"]] == [
        (f"RR-{period.scenario.approval.pk}", "approved", "1.0.0")
    ]
    signatures = list(Signature.objects.filter(request=period.scenario.approval))
    assert [s["printed_name"] for s in approvals["signatures"]] == [
        s.printed_name for s in signatures
    ]
    deployments = list(
        csv.DictReader(io.StringIO(source(content, "deployments.csv").decode()))
    )
    assert [(d["version"], d["environment"], d["target"]) for d in deployments] == [
        ("1.0.0", "production", "prod-eu/credit/scorer")
    ]
    # the PDF: the sections, the volume, the alert, the signers, the digests
    pages = page_texts(pdf, tmp_path)
    text = "\n".join(pages)
    for _, title in collect.PERIOD_TOC:
        assert re.search(rf"{re.escape(title)} ?\.{{3,}} ?\d+\n", pages[0]), title
    assert "Period evidence pack" in pages[0]
    assert re.search(r"Predictions\s+300 \(1\.0\.0: 300\)", text)
    for day, n in _volume(period.predicted).items():
        assert re.search(rf"{day}\s+1\.0\.0\s+production\s+{n}\n", text), day
    alerts_page = next(p for p in pages if "Alerts first raised" in p)
    assert "monitoring.fairness" in alerts_page
    assert "production; open; 1 occurrences" in alerts_page
    for signature in signatures:
        assert signature.printed_name in text
    # the later report's breaches as a table, one row each, and the note once
    breaches = reports[1]["breaches"]
    assert breaches
    for breach in breaches:
        if breach["metric"] == "air":
            row = (
                rf"Adverse impact ratio\s+{re.escape(breach['attribute'])} = "
                rf"{re.escape(breach['group'])}\s+{breach['value']:.3f}\s+reference "
            )
        else:
            assert breach["metric"] == "approval_rate", breach
            scope = (
                "overall"
                if breach["group"] is None
                else f"{breach['scope']} = {breach['group']}"
            )
            row = (
                rf"Approval rate\s+{re.escape(scope)}\s+{breach['rate']:.1%}\s+"
                rf"(baseline|previous window) {breach['reference_rate']:.1%}"
            )
        assert re.search(row, text), row
    metric_cells = r"^\s*(Adverse impact ratio|Approval rate)\s{2,}(overall|\S+ = )"
    assert len(re.findall(metric_cells, text, re.M)) == len(breaches)
    # each kind of breach explained once, under its table
    words = " ".join(text.split())
    metrics = {b["metric"] for b in breaches}
    assert words.count("Every input matched the ledger.") == len(reports) == 2
    assert words.count("it is not a finding of discrimination.") == ("air" in metrics)
    assert words.count("An approval rate breaches when it moves by at least") == (
        "approval_rate" in metrics
    )
    appendix = pages[-1]
    for entry in pack_manifest.manifest_appendix_rows(content.manifest):
        assert re.search(
            rf"{re.escape(entry['name'])} .* {entry['sha256']}", appendix
        ), entry["name"]


def test_same_inputs_give_the_same_bytes_whether_the_rollups_lag_or_lead(
    period: Period,
    risk_officer: Any,
    scorer: Any,  # noqa: F811
) -> None:
    # given the pack as of the period's end
    first = build(period)
    first_pdf = pdf_of(first)
    # when predictions of the period arrive later (rollups not yet counted them)
    late_at = period.scenario.period_end - timedelta(hours=2)
    late = batch(late_at, group="25+", n=40, approved=30)
    ingest(scorer, late)
    lagging = build(period)
    later = build(period, as_of=timezone.now())
    # and a report brings the rollups past the pack's checkpoint
    report = monitoring_services.report_request(
        actor=risk_officer,
        version=period.scenario.version,
        environment="production",
        kind="drift",
        window_start=late_at,
        window_end=period.scenario.period_end,
    )
    monitoring_services.report_run(report_id=report.pk)
    leading = build(period)
    # then the same sources and bytes as of the period's end, and a later as_of
    # counts the late predictions (from the ledger when the rollups lag)
    assert lagging.manifest == first.manifest
    assert pdf_of(leading) == first_pdf
    assert volume_of(later) == _volume(period.predicted + _predicted_at(late))
    assert volume_of(build(period, as_of=timezone.now())) == volume_of(later)


def _login(user: Any) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_auditor_requests_a_period_pack_from_the_model_page_and_it_builds(
    auditor: Any,
    submitted_version: Any,
    settings: Any,
    tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given
    settings.MEDIA_ROOT = str(tmp_path)
    client = _login(auditor)
    url = reverse("audits:model_packs", args=["credit-risk"])
    # when
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            url, {"period_start": "2026-01-01", "period_end": "2026-04-01"}
        )
    # then
    pack = EvidencePack.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/audits/packs/{pack.pk}"
    assert (pack.kind, pack.model, pack.model_version) == (
        PackKind.PERIOD,
        submitted_version.model,
        None,
    )
    assert len(callbacks) == 1
    built = services.evidence_pack_build(pack_id=pack.pk)
    assert built.status == PackStatus.DONE, built.error
    assert built.file_stem == f"credit-risk-20260101-20260401-pack-{pack.pk}"
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b"credit-risk-20260101-20260401-pack-" in page.content
    listing = client.get(url)
    assert f"Pack {pack.pk}".encode() in listing.content


def test_validator_may_not_request_a_period_pack(
    validator: Any, submitted_version: Any
) -> None:
    # given
    client = _login(validator)
    # when
    response = client.post(
        reverse("audits:model_packs", args=["credit-risk"]),
        {"period_start": "2026-01-01", "period_end": "2026-04-01"},
    )
    # then
    assert response.status_code == 403
    assert not EvidencePack.objects.exists()
