"""Evidence packs carry the verdict of every governance record: in the JSON
sources, as a mark in the PDF's HTML, and counted in record_integrity.json
(issue 13, item 5)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from audits.evidence import collect
from governance.models import ReleaseRequest, Signature
from tests.audits.integrity.marks_helpers import drop_commitments, sequence, tamper

pytestmark = pytest.mark.usefixtures("ledger_key")


def _pack(rr: ReleaseRequest) -> collect.PackContent:
    now = timezone.now()
    return collect.version_pack_content(
        version=rr.model_version,
        period_start=now - timedelta(days=30),
        period_end=now,
        as_of=now,
    )


def _source(content: collect.PackContent, name: str) -> Any:
    return json.loads(next(s for s in content.sources if s.name == name).content)


def test_untouched_pack_says_every_record_is_verified(approved: ReleaseRequest) -> None:
    sequence()

    content = _pack(approved)

    summary = _source(content, "record_integrity.json")
    assert summary["checked"] == len(summary["records"]) >= 8
    assert (summary["verified"], summary["altered"], summary["not_verified"]) == (
        summary["checked"],
        0,
        0,
    )
    signatures = _source(content, "approvals.json")["signatures"]
    assert [s["integrity"]["state"] for s in signatures] == ["verified", "verified"]
    # a signature is written once: the pack names the seq of its leaf
    assert all(isinstance(s["integrity"]["seq"], int) for s in signatures)
    assert "[verified · ledger seq" in content.html
    assert "ALTERED" not in content.html
    assert f"0 altered, {summary['checked']} verified, 0 not verified" in content.html


def test_a_forged_signer_is_altered_in_the_sources_and_in_red_in_the_pdf(
    approved: ReleaseRequest,
) -> None:
    sequence()
    forged, untouched = Signature.objects.filter(request=approved).order_by("pk")
    tamper("governance_signature", "printed_name = %s", forged.pk, ("Mallory",))

    content = _pack(approved)

    by_id = {s["id"]: s for s in _source(content, "approvals.json")["signatures"]}
    altered = by_id[forged.pk]["integrity"]
    assert altered["state"] == "altered"
    assert altered["fields"] == ["printed_name"]
    assert altered["label"] == f"altered: does not match ledger seq {altered['seq']}"
    assert by_id[untouched.pk]["integrity"]["state"] == "verified"
    summary = _source(content, "record_integrity.json")
    assert (summary["altered"], summary["not_verified"]) == (1, 0)
    assert summary["verified"] == summary["checked"] - 1
    (record,) = [r for r in summary["records"] if r["state"] == "altered"]
    assert (record["table"], record["pk"]) == ("governance_signature", str(forged.pk))
    row = re.search(r"Mallory<br>(.*?)</td>", content.html, re.S)
    assert row is not None
    assert row.group(1).strip() == (
        '<span class="warn">[ALTERED: does not match ledger seq '
        f"{altered['seq']} (differs in printed_name)]</span>"
    )
    assert '<span class="warn">1 ALTERED</span>' in content.html


def test_a_request_without_its_leaf_is_not_verified_in_the_pack(
    approved: ReleaseRequest,
) -> None:
    drop_commitments("governance_releaserequest", approved.pk)

    content = _pack(approved)

    (request,) = _source(content, "validation.json")["requests"]
    assert request["integrity"] == {
        "state": "not_verified",
        "seq": None,
        "label": "not verified",
        "detail": "no ledger leaf commits to it",
        "fields": [],
    }
    (approval,) = _source(content, "approvals.json")["requests"]
    assert approval["integrity"]["state"] == "not_verified"
    assert _source(content, "record_integrity.json")["not_verified"] == 1
    assert "[not verified (no ledger leaf commits to it)]" in content.html


def test_period_pack_marks_a_forged_signature_and_counts_the_records(
    approved: ReleaseRequest,
) -> None:
    sequence()
    forged, untouched = Signature.objects.filter(request=approved).order_by("pk")
    tamper(
        "governance_signature",
        "signed_at = signed_at - interval '2 days'",
        untouched.pk,
    )
    now = timezone.now()

    content = collect.period_pack_content(
        model=approved.model_version.model,
        period_start=now - timedelta(days=30),
        period_end=now,
        as_of=now,
    )

    approvals = _source(content, "approvals.json")
    by_id = {s["id"]: s["integrity"] for s in approvals["signatures"]}
    assert by_id[untouched.pk]["state"] == "altered"
    assert by_id[untouched.pk]["fields"] == ["signed_at"]
    assert by_id[forged.pk]["state"] == "verified"
    (request,) = approvals["requests"]
    assert request["integrity"]["state"] == "verified"
    assert all(e["integrity"]["state"] == "verified" for e in request["history"])
    summary = _source(content, "record_integrity.json")
    assert (summary["altered"], summary["not_verified"]) == (1, 0)
    assert summary["checked"] == summary["verified"] + 1 >= 8
    assert '<span class="warn">1 ALTERED</span>' in content.html
    assert (
        f"[ALTERED: does not match ledger seq {by_id[untouched.pk]['seq']} "
        "(differs in signed_at)]" in content.html
    )
