"""The evidence-pack and access-log API (audits.api.evidence_views): request a
pack (202, the task after commit), read its status row, download its files (each
download recorded), read who viewed what; the permission matrix, precise 400s
that write nothing, and 404 for what a user may not see."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from audits import services as audit_services
from audits.evidence import services, verify
from audits.evidence.models import EvidencePack, PackKind
from audits.models import AuditEvent
from tests.audits.evidence.test_evidence_pack_service import (
    PERIOD_END,
    PERIOD_START,
    built_pack,  # noqa: F401  (fixture)
    collector,  # noqa: F401  (fixture)
    media,  # noqa: F401  (fixture)
    public_key_pem,  # noqa: F401  (fixture)
    queued_pack,
)
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

VERSION_PACKS = "/api/v1/models/credit-risk/versions/1.0.0/evidence-packs"
PERIOD_PACKS = "/api/v1/models/credit-risk/evidence-packs"
PERIOD = {
    "period_start": PERIOD_START.isoformat(),
    "period_end": PERIOD_END.isoformat(),
}


def as_who(request: Any, who: str | None) -> APIClient:
    if who is None:
        return APIClient()
    return client_for(request.getfixturevalue(who))


def requests_on_record() -> tuple[int, int]:
    return EvidencePack.objects.count(), AuditEvent.objects.filter(
        event_type=services.REQUESTED
    ).count()


def test_auditor_requests_a_version_pack_and_the_task_is_sent_after_commit(
    draft_version: Any, auditor: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client_for(auditor).post(VERSION_PACKS, PERIOD, format="json")
    assert response.status_code == 202, response.content
    pack = EvidencePack.objects.get()
    data = response.json()
    assert (
        response["Location"]
        == data["url"]
        == f"http://testserver/api/v1/evidence-packs/{pack.pk}"
    )
    assert data["page_url"] == f"http://testserver/audits/packs/{pack.pk}"
    assert {k: data[k] for k in ("kind", "model", "version", "status", "files")} == {
        "kind": "model-version",
        "model": "credit-risk",
        "version": "1.0.0",
        "status": "queued",
        "files": None,
    }
    assert (data["period_start"], data["period_end"]) == (
        PERIOD_START.isoformat(),
        PERIOD_END.isoformat(),
    )
    assert pack.requested_by == auditor
    assert len(callbacks) == 1


def test_risk_officer_requests_a_period_pack(
    draft_version: Any, risk_officer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        response = client_for(risk_officer).post(PERIOD_PACKS, PERIOD, format="json")
    assert response.status_code == 202, response.content
    pack = EvidencePack.objects.get()
    assert (pack.kind, pack.model_version, pack.model) == (
        PackKind.PERIOD,
        None,
        draft_version.model,
    )
    assert response.json()["version"] is None


@pytest.mark.parametrize(
    ("who", "expected"),
    [(None, 401), ("developer", 403), ("validator", 403), ("administrator", 403)],
)
@pytest.mark.parametrize("url", [VERSION_PACKS, PERIOD_PACKS])
def test_request_is_refused_without_the_permission_and_writes_nothing(
    draft_version: Any, request: Any, who: str | None, expected: int, url: str
) -> None:
    before = requests_on_record()
    response = as_who(request, who).post(url, PERIOD, format="json")
    assert response.status_code == expected, response.content
    assert requests_on_record() == before


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"period_end": PERIOD["period_end"]}, "period_start", "required"),
        ({**PERIOD, "period_start": "yesterday"}, "period_start", "Datetime"),
        (
            {**PERIOD, "period_end": PERIOD["period_start"]},
            "period_end",
            "The period must end after it starts.",
        ),
        (
            {**PERIOD, "period_end": datetime(2999, 1, 1, tzinfo=UTC).isoformat()},
            "period_end",
            "The period cannot end in the future",
        ),
    ],
)
def test_bad_period_is_a_400_naming_the_field_and_writes_nothing(
    draft_version: Any,
    auditor: Any,
    body: dict[str, Any],
    field: str,
    message: str,
) -> None:
    before = requests_on_record()
    response = client_for(auditor).post(VERSION_PACKS, body, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert list(errors) == [field]
    assert any(message in text for text in errors[field]), errors
    assert requests_on_record() == before


def test_unknown_version_is_404_and_writes_nothing(
    draft_version: Any, auditor: Any
) -> None:
    response = client_for(auditor).post(
        "/api/v1/models/credit-risk/versions/9.9.9/evidence-packs",
        PERIOD,
        format="json",
    )
    assert response.status_code == 404
    assert requests_on_record() == (0, 0)


def test_a_built_pack_reads_back_with_digests_and_verifying_downloads(
    built_pack: EvidencePack,  # noqa: F811
    auditor: Any,
    public_key_pem: bytes,  # noqa: F811
    tmp_path: Path,
) -> None:
    client = client_for(auditor)
    data = client.get(f"/api/v1/evidence-packs/{built_pack.pk}").json()
    base = f"http://testserver/api/v1/evidence-packs/{built_pack.pk}"
    assert data["status"] == "done"
    assert data["files"] == {
        "pack.pdf": f"{base}/pack.pdf",
        "pack.zip": f"{base}/pack.zip",
        "pack.pdf.sig": f"{base}/pack.pdf.sig",
    }
    assert (data["pdf_sha256"], data["zip_sha256"], data["manifest_sha256"]) == (
        built_pack.pdf_sha256,
        built_pack.zip_sha256,
        built_pack.manifest_sha256,
    )
    assert (data["pages"], data["bytes"]) == (built_pack.pages, built_pack.bytes)
    bodies = {}
    for name in ("pack.pdf", "pack.zip", "pack.pdf.sig"):
        response = client.get(data["files"][name])
        assert response.status_code == 200, name
        bodies[name] = b"".join(response.streaming_content)
    assert hashlib.sha256(bodies["pack.pdf"]).hexdigest() == data["pdf_sha256"]
    assert hashlib.sha256(bodies["pack.zip"]).hexdigest() == data["zip_sha256"]
    assert (
        verify.verify_pack(bodies["pack.pdf"], bodies["pack.pdf.sig"], public_key_pem)
        == []
    )
    # each download is on record, by the token's user
    downloads = AuditEvent.objects.filter(event_type=services.DOWNLOADED).order_by("pk")
    assert [(e.actor, e.payload["file"]) for e in downloads] == [
        (auditor, "pdf"),
        (auditor, "zip"),
        (auditor, "sig"),
    ]


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        (None, 401),
        ("developer", 403),
        ("validator", 403),
        ("auditor", 200),
        ("risk_officer", 200),
    ],
)
def test_pack_status_and_file_permission_matrix(
    built_pack: EvidencePack,  # noqa: F811
    request: Any,
    who: str | None,
    expected: int,
) -> None:
    client = as_who(request, who)
    status = client.get(f"/api/v1/evidence-packs/{built_pack.pk}").status_code
    download = client.get(f"/api/v1/evidence-packs/{built_pack.pk}/pack.pdf")
    assert (status, download.status_code) == (expected, expected)
    recorded = AuditEvent.objects.filter(event_type=services.DOWNLOADED).count()
    assert recorded == (1 if expected == 200 else 0)


def test_unfinished_pack_and_unknown_file_are_404_and_record_nothing(
    draft_version: Any, auditor: Any
) -> None:
    pack = queued_pack(draft_version, auditor)
    client = client_for(auditor)
    assert client.get(f"/api/v1/evidence-packs/{pack.pk}").json()["files"] is None
    for name in ("pack.pdf", "pack.zip", "pack.pdf.sig", "secrets.txt"):
        response = client.get(f"/api/v1/evidence-packs/{pack.pk}/{name}")
        assert response.status_code == 404, name
    assert client.get("/api/v1/evidence-packs/999999").status_code == 404
    assert not AuditEvent.objects.filter(event_type=services.DOWNLOADED).exists()


# --- the access log ----------------------------------------------------------------


def log_reads() -> int:
    return AuditEvent.objects.filter(
        event_type=audit_services.ACCESS_LOG_VIEWED
    ).count()


def test_access_log_lists_downloads_newest_first_and_pages_with_next(
    built_pack: EvidencePack,  # noqa: F811
    auditor: Any,
    risk_officer: Any,
) -> None:
    # given the risk officer then the auditor downloading the pack's PDF
    for user in (risk_officer, auditor):
        assert (
            client_for(user)
            .get(f"/api/v1/evidence-packs/{built_pack.pk}/pack.pdf")
            .status_code
            == 200
        )
    client = client_for(auditor)
    # when the auditor reads the log one row at a time
    first = client.get("/api/v1/access-log", {"pack": built_pack.pk, "limit": 1})
    assert first.status_code == 200, first.content
    page = first.json()
    second = client.get(page["next"]).json()
    # then the downloads, newest first, then the request (no more after it)
    rows = page["results"] + second["results"]
    assert [(r["username"], r["access"], r["detail"]) for r in rows] == [
        (
            auditor.username,
            "Downloaded an evidence pack",
            f"credit-risk-1.0.0-pack-{built_pack.pk}.pdf",
        ),
        (
            risk_officer.username,
            "Downloaded an evidence pack",
            f"credit-risk-1.0.0-pack-{built_pack.pk}.pdf",
        ),
    ]
    assert all(r["pack_id"] == built_pack.pk for r in rows)
    assert page["next"].startswith("http://testserver/api/v1/access-log?")
    assert "pack=" in page["next"] and "limit=1" in page["next"]
    assert second["next"] is None  # the pack was made by a fixture, not requested
    # and each reading is recorded with its filters
    reads = AuditEvent.objects.filter(event_type=audit_services.ACCESS_LOG_VIEWED)
    assert [e.payload for e in reads.order_by("pk")] == [
        {"pack_id": built_pack.pk},
        {"pack_id": built_pack.pk, "before": rows[0]["event_id"]},
    ]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"prediction": "nope"}, "prediction"),
        ({"pack": 0}, "pack"),
        ({"kind": "everything"}, "kind"),
        ({"limit": 501}, "limit"),
        ({"start": "2026-03-02T00:00:00Z", "end": "2026-03-01T00:00:00Z"}, "end"),
    ],
)
def test_access_log_bad_query_is_a_400_naming_the_field_and_not_recorded(
    auditor: Any, query: dict[str, Any], field: str
) -> None:
    response = client_for(auditor).get("/api/v1/access-log", query)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    assert log_reads() == 0


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        (None, 401),
        ("developer", 403),
        ("validator", 403),
        ("risk_officer", 403),
        ("auditor", 200),
        ("administrator", 200),
    ],
)
def test_access_log_permission_matrix(
    request: Any, who: str | None, expected: int
) -> None:
    response = as_who(request, who).get("/api/v1/access-log")
    assert response.status_code == expected
    assert log_reads() == (1 if expected == 200 else 0)
