"""The release request page and its API answer mark every evidence row: the
request, its signatures, findings and history (issue 13, item 5)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from audits.models import AuditEvent
from governance import services
from governance.models import Finding, ReleaseRequest, Signature
from tests.audits.integrity.marks_helpers import (
    drop_commitments,
    element,
    marks,
    sequence,
    tamper,
)
from tests.conftest import client_for

pytestmark = pytest.mark.usefixtures("ledger_key")


def _page(user: Any, rr: ReleaseRequest) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(reverse("governance:request_detail", args=[rr.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _finding(rr: ReleaseRequest, validator: Any) -> Finding:
    return services.finding_raise(
        actor=validator,
        version=rr.model_version,
        severity="low",
        title="Thin holdout",
        description="The holdout is small.",
        owner=None,
        due_date=None,
        sr_section="",
    )


def test_untouched_request_page_is_verified_with_its_seqs(
    approved: ReleaseRequest, approver: Any, validator: Any
) -> None:
    finding = _finding(approved, validator)
    sequence()
    html = _page(approver, approved)
    signatures = list(Signature.objects.filter(request=approved).order_by("pk"))
    events = list(
        AuditEvent.objects.filter(
            object_type="governance.releaserequest", object_id=str(approved.pk)
        )
    )
    assert len(signatures) == 2 and len(events) >= 5
    assert marks(element(html, "request-integrity")) == ["verified"]
    assert marks(element(html, f"finding-{finding.pk}")) == ["verified"]
    for s in signatures:
        assert marks(element(html, f"signature-{s.pk}")) == ["verified"]
    for e in events:
        assert marks(element(html, f"event-{e.pk}")) == ["verified"]
    assert "ledger seq" in element(html, f"signature-{signatures[0].pk}")
    assert 'data-integrity="altered"' not in html


def test_forged_signer_and_approval_time_show_altered_not_verified(
    approved: ReleaseRequest, approver: Any
) -> None:
    sequence()
    first, second = Signature.objects.filter(request=approved).order_by("pk")
    tamper("governance_signature", "printed_name = %s", first.pk, ("Mallory",))
    tamper(
        "governance_releaserequest",
        "approved_at = approved_at - interval '1 day'",
        approved.pk,
    )

    html = _page(approver, approved)

    row = element(html, f"signature-{first.pk}")
    assert "Mallory" in row
    assert marks(row) == ["altered"]
    assert "altered: does not match ledger seq" in row
    assert "printed_name" in row
    assert marks(element(html, f"signature-{second.pk}")) == ["verified"]
    summary = element(html, "request-integrity")
    assert marks(summary) == ["altered"]
    assert "approved_at" in summary


def test_forged_event_actor_shows_altered(
    approved: ReleaseRequest, approver: Any
) -> None:
    sequence()
    events = list(
        AuditEvent.objects.filter(
            object_type="governance.releaserequest", object_id=str(approved.pk)
        ).order_by("pk")
    )
    forged, untouched = events[-1], events[0]
    tamper("audits_auditevent", "actor_display = %s", forged.pk, ("Mallory",))

    html = _page(approver, approved)

    row = element(html, f"event-{forged.pk}")
    assert "by Mallory" in row
    assert marks(row) == ["altered"]
    assert marks(element(html, f"event-{untouched.pk}")) == ["verified"]


def test_missing_record_leaf_is_not_verified_and_the_page_answers(
    approved: ReleaseRequest, approver: Any
) -> None:
    signature = Signature.objects.filter(request=approved).order_by("pk").first()
    drop_commitments("governance_signature", signature.pk)
    drop_commitments("governance_releaserequest", approved.pk)

    html = _page(approver, approved)

    assert marks(element(html, f"signature-{signature.pk}")) == ["not_verified"]
    assert marks(element(html, "request-integrity")) == ["not_verified"]


def test_api_detail_carries_integrity_per_record(
    approved: ReleaseRequest, approver: Any, validator: Any
) -> None:
    finding = _finding(approved, validator)
    sequence()
    first = Signature.objects.filter(request=approved).order_by("pk").first()
    tamper(
        "governance_signature", "signed_at = signed_at + interval '1 hour'", first.pk
    )
    tamper("governance_finding", "title = %s", finding.pk, ("Nothing to see",))

    response = client_for(approver).get(f"/api/v1/release-requests/{approved.pk}")

    assert response.status_code == 200
    body = response.json()
    assert body["integrity"]["state"] == "verified"
    assert isinstance(body["integrity"]["seq"], int)
    by_id = {s["id"]: s["integrity"] for s in body["signatures"]}
    assert by_id[first.pk]["state"] == "altered"
    assert by_id[first.pk]["fields"] == ["signed_at"]
    assert by_id[first.pk]["label"] == (
        f"altered: does not match ledger seq {by_id[first.pk]['seq']}"
    )
    assert [v["state"] for k, v in by_id.items() if k != first.pk] == ["verified"]
    (found,) = body["findings"]
    assert found["title"] == "Nothing to see"
    assert found["integrity"]["state"] == "altered"
    assert found["integrity"]["fields"] == ["title"]


def test_api_list_and_findings_carry_integrity(
    approved: ReleaseRequest, approver: Any, validator: Any
) -> None:
    finding = _finding(approved, validator)
    drop_commitments("governance_finding", finding.pk)
    client = client_for(approver)

    listed = client.get("/api/v1/release-requests")
    version = approved.model_version
    findings = client.get(
        f"/api/v1/models/{version.model.slug}/versions/{version.version}/findings"
    )

    assert listed.status_code == 200
    (row,) = listed.json()["results"]
    assert row["integrity"]["state"] == "verified"
    assert findings.status_code == 200
    (row,) = findings.json()["results"]
    assert row["integrity"] == {
        "state": "not_verified",
        "seq": None,
        "label": "not verified",
        "detail": "no ledger leaf commits to it",
        "fields": [],
        "since": None,
    }
