"""Evidence packs end to end: the request (permissions, validation, the task sent
on commit), the build (files, digests, signature, the ledger's audit event,
byte-identical rebuilds, failures) and the pages with their downloads.

The collector is replaced by a small stand-in (one JSON and one CSV source on the
base layout), so these tests exercise the status row, the rendering, signing and
storage, not what the collector gathers; one test runs the real collector.
"""

from __future__ import annotations

import hashlib
import io
import types
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from audits.evidence import collect, render, services, verify
from audits.evidence import manifest as pack_manifest
from audits.evidence.models import EvidencePack, PackStatus
from audits.models import AuditEvent
from tests.factories import PASSWORD

PERIOD_START = datetime(2026, 1, 1, tzinfo=UTC)
PERIOD_END = datetime(2026, 4, 1, tzinfo=UTC)
AS_OF = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class StandInContent:
    kind: str
    title: str
    html: str
    sources: list[pack_manifest.Source]
    manifest: dict[str, Any]
    created: datetime


def stand_in_content(
    *, version: Any, period_start: datetime, period_end: datetime, as_of: datetime
) -> StandInContent:
    rows = "metric,value\nauc,0.81\ngini,0.62\n"
    sources = [
        pack_manifest.Source(
            "model_version.json",
            "application/json",
            orjson.dumps(
                {"model": version.model.slug, "version": version.version},
                option=orjson.OPT_SORT_KEYS,
            ),
        ),
        pack_manifest.Source("monitoring/metrics.csv", "text/csv", rows.encode()),
    ]
    manifest = pack_manifest.manifest_of(
        sources,
        pack={
            "kind": "model-version",
            "model": version.model.slug,
            "version": version.version,
            "period": f"{period_start.isoformat()}/{period_end.isoformat()}",
            "as_of": as_of.isoformat(),
        },
    )
    title = "Model-version evidence pack"
    html = render_to_string(
        "audits/evidence/base_pack.html",
        render.pack_context(manifest=manifest, title=title, created=as_of, toc=[]),
    )
    return StandInContent("model-version", title, html, sources, manifest, as_of)


@pytest.fixture
def collector(monkeypatch: Any) -> types.SimpleNamespace:
    """The collector as the build sees it, answering with the stand-in."""
    state = types.SimpleNamespace(content=stand_in_content)
    monkeypatch.setattr(
        collect, "version_pack_content", lambda **kwargs: state.content(**kwargs)
    )
    return state


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


@pytest.fixture
def public_key_pem(ledger_key: Any) -> bytes:
    return bytes(
        ledger_key.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
    )


def queued_pack(version: Any, user: Any, **overrides: Any) -> EvidencePack:
    values: dict[str, Any] = {
        "model_version": version,
        "period_start": PERIOD_START,
        "period_end": PERIOD_END,
        "as_of": AS_OF,
        "requested_by": user,
    }
    values.update(overrides)
    return EvidencePack.objects.create(**values)


def _login(user: Any) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def _read(name: str) -> bytes:
    from django.core.files.storage import default_storage

    with default_storage.open(name, "rb") as handle:
        return bytes(handle.read())


# --- requesting ---------------------------------------------------------------------


@pytest.mark.django_db
def test_auditor_request_queues_the_pack_and_sends_the_task_after_commit(
    auditor: Any, draft_version: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    before = timezone.now()
    # when
    with django_capture_on_commit_callbacks() as callbacks:
        pack = services.evidence_pack_request(
            actor=auditor,
            version=draft_version,
            period_start=PERIOD_START,
            period_end=PERIOD_END,
        )
    # then
    pack.refresh_from_db()
    assert pack.status == PackStatus.QUEUED
    assert pack.kind == "model-version"
    assert pack.requested_by == auditor
    assert (pack.period_start, pack.period_end) == (PERIOD_START, PERIOD_END)
    # as of the request itself: what finished before it, even within the same
    # second, is in the pack
    assert before <= pack.as_of <= timezone.now()
    assert len(callbacks) == 1
    event = AuditEvent.objects.get(event_type=services.REQUESTED)
    assert event.object_id == str(pack.pk)
    assert event.actor == auditor
    assert event.payload == {
        "kind": "model-version",
        "model": "credit-risk",
        "version": "1.0.0",
        "period_start": "2026-01-01T00:00:00+00:00",
        "period_end": "2026-04-01T00:00:00+00:00",
        "as_of": pack.as_of.isoformat(),
    }


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["validator", "outsider", "developer"])
def test_request_is_refused_without_the_permission_and_changes_nothing(
    persona: str,
    request: Any,
    draft_version: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given
    user = request.getfixturevalue(persona)
    events = AuditEvent.objects.count()
    # when
    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(PermissionDenied):
            services.evidence_pack_request(
                actor=user,
                version=draft_version,
                period_start=PERIOD_START,
                period_end=PERIOD_END,
            )
    # then
    assert EvidencePack.objects.count() == 0
    assert AuditEvent.objects.count() == events
    assert callbacks == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (PERIOD_END, PERIOD_START, "period_end"),
        (PERIOD_START, datetime(2999, 1, 1, tzinfo=UTC), "period_end"),
        (datetime(2026, 1, 1), PERIOD_END, "period_start"),  # naive
    ],
)
def test_request_names_the_bad_period_field(
    start: datetime,
    end: datetime,
    field: str,
    risk_officer: Any,
    draft_version: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given
    events = AuditEvent.objects.count()
    # when
    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(ValidationError) as raised:
            services.evidence_pack_request(
                actor=risk_officer,
                version=draft_version,
                period_start=start,
                period_end=end,
            )
    # then
    assert list(raised.value.message_dict) == [field]
    assert EvidencePack.objects.count() == 0
    assert AuditEvent.objects.count() == events
    assert callbacks == []


# --- building -----------------------------------------------------------------------


@pytest.mark.django_db
def test_build_stores_signed_files_whose_digests_are_on_the_row_and_in_the_ledger(
    auditor: Any,
    draft_version: Any,
    collector: Any,
    media: Path,
    public_key_pem: bytes,
) -> None:
    # given
    pack = queued_pack(draft_version, auditor)
    # when
    built = services.evidence_pack_build(pack_id=pack.pk)
    # then
    pack.refresh_from_db()
    assert built.pk == pack.pk
    assert pack.status == PackStatus.DONE
    assert pack.error == ""
    assert pack.started_at is not None and pack.finished_at is not None
    assert pack.pdf.name == f"evidence/{pack.pk}/credit-risk-1.0.0-pack-{pack.pk}.pdf"
    assert pack.zip.name == f"evidence/{pack.pk}/credit-risk-1.0.0-pack-{pack.pk}.zip"
    pdf, archive = _read(pack.pdf.name), _read(pack.zip.name)
    assert hashlib.sha256(pdf).hexdigest() == pack.pdf_sha256
    assert hashlib.sha256(archive).hexdigest() == pack.zip_sha256
    assert pack.bytes == len(pdf)
    assert pack.pages == len(PdfReader(io.BytesIO(pdf)).pages)
    assert pack.pages >= 2
    assert verify.verify_pack(pdf, pack.signature.encode(), public_key_pem) == []
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        names = opened.namelist()
        raw_manifest = opened.read("manifest.json")
    assert names == ["manifest.json", "model_version.json", "monitoring/metrics.csv"]
    assert hashlib.sha256(raw_manifest).hexdigest() == pack.manifest_sha256
    event = AuditEvent.objects.get(event_type=services.BUILT)
    assert event.object_id == str(pack.pk)
    assert event.actor is None
    assert event.actor_display == "system"
    assert event.payload["pdf_sha256"] == pack.pdf_sha256
    assert event.payload["zip_sha256"] == pack.zip_sha256
    assert event.payload["manifest_sha256"] == pack.manifest_sha256
    assert event.payload["signature_sha256"] == (
        hashlib.sha256(pack.signature.encode()).hexdigest()
    )
    assert event.payload["pages"] == pack.pages
    assert event.payload["sources"] == 2


@pytest.mark.django_db
def test_build_is_idempotent_on_a_finished_row(
    auditor: Any, draft_version: Any, collector: Any, media: Path, ledger_key: Any
) -> None:
    # given
    pack = queued_pack(draft_version, auditor)
    services.evidence_pack_build(pack_id=pack.pk)
    pack.refresh_from_db()
    collector.content = lambda **kwargs: pytest.fail("built twice")
    # when
    again = services.evidence_pack_build(pack_id=pack.pk)
    # then
    assert again.status == PackStatus.DONE
    assert again.pdf_sha256 == pack.pdf_sha256
    assert again.finished_at == pack.finished_at
    assert AuditEvent.objects.filter(event_type=services.BUILT).count() == 1


@pytest.mark.django_db
def test_rebuilding_the_same_version_period_and_as_of_gives_identical_bytes(
    auditor: Any, draft_version: Any, collector: Any, media: Path, ledger_key: Any
) -> None:
    # given
    first = queued_pack(draft_version, auditor)
    second = queued_pack(draft_version, auditor)
    # when
    services.evidence_pack_build(pack_id=first.pk)
    services.evidence_pack_build(pack_id=second.pk)
    # then
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.pdf.name != second.pdf.name
    assert _read(first.pdf.name) == _read(second.pdf.name)
    assert _read(first.zip.name) == _read(second.zip.name)
    assert first.signature == second.signature
    assert (first.pdf_sha256, first.zip_sha256, first.manifest_sha256) == (
        second.pdf_sha256,
        second.zip_sha256,
        second.manifest_sha256,
    )


@pytest.mark.django_db
def test_build_with_the_real_collector_verifies(
    auditor: Any, draft_version: Any, media: Path, public_key_pem: bytes
) -> None:
    # given
    pack = queued_pack(draft_version, auditor, as_of=timezone.now())
    # when
    services.evidence_pack_build(pack_id=pack.pk)
    # then
    pack.refresh_from_db()
    assert pack.status == PackStatus.DONE, pack.error
    pdf = _read(pack.pdf.name)
    assert verify.verify_pack(pdf, pack.signature.encode(), public_key_pem) == []


@pytest.mark.django_db
def test_failing_build_marks_the_row_failed_with_the_error(
    auditor: Any, draft_version: Any, collector: Any, media: Path, ledger_key: Any
) -> None:
    # given
    pack = queued_pack(draft_version, auditor)

    def broken(**kwargs: Any) -> Any:
        raise RuntimeError("the ledger is unreachable")

    collector.content = broken
    # when
    with pytest.raises(RuntimeError):
        services.evidence_pack_build(pack_id=pack.pk)
    # then
    pack.refresh_from_db()
    assert pack.status == PackStatus.FAILED
    assert pack.error == "RuntimeError: the ledger is unreachable"
    assert pack.finished_at is not None
    assert (pack.pdf.name, pack.pdf_sha256, pack.signature) == ("", "", "")
    assert not AuditEvent.objects.filter(event_type=services.BUILT).exists()


@pytest.mark.django_db
def test_task_builds_the_pack(
    auditor: Any, draft_version: Any, collector: Any, media: Path, ledger_key: Any
) -> None:
    # given
    from audits import tasks

    pack = queued_pack(draft_version, auditor)
    # when
    status = tasks.evidence_pack_build_task(pack.pk)
    # then
    assert status == PackStatus.DONE
    assert tasks.evidence_pack_build_task.name == "audits.evidence_pack_build"


# --- pages and downloads ------------------------------------------------------------


@pytest.mark.django_db
def test_auditor_requests_a_pack_from_the_version_page(
    auditor: Any, draft_version: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    client = _login(auditor)
    url = reverse("audits:version_packs", args=[draft_version.pk])
    # when
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            url, {"period_start": "2026-01-01", "period_end": "2026-04-01"}
        )
    # then
    pack = EvidencePack.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/audits/packs/{pack.pk}"
    assert (pack.period_start, pack.period_end) == (PERIOD_START, PERIOD_END)
    assert len(callbacks) == 1
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b'http-equiv="refresh"' in page.content


@pytest.mark.django_db
def test_version_page_shows_a_period_error_next_to_the_field(
    auditor: Any, draft_version: Any
) -> None:
    # given
    client = _login(auditor)
    url = reverse("audits:version_packs", args=[draft_version.pk])
    # when
    response = client.post(
        url, {"period_start": "2026-04-01", "period_end": "2026-01-01"}
    )
    # then
    assert response.status_code == 400
    assert response.context["form"].errors == {
        "period_end": ["The period must end after it starts."]
    }
    assert EvidencePack.objects.count() == 0


@pytest.mark.django_db
def test_validator_may_not_post_a_request(validator: Any, draft_version: Any) -> None:
    # given
    client = _login(validator)
    url = reverse("audits:version_packs", args=[draft_version.pk])
    # when
    response = client.post(
        url, {"period_start": "2026-01-01", "period_end": "2026-04-01"}
    )
    # then
    assert response.status_code == 403
    assert EvidencePack.objects.count() == 0


@pytest.fixture
def built_pack(
    auditor: Any, draft_version: Any, collector: Any, media: Path, ledger_key: Any
) -> EvidencePack:
    pack = queued_pack(draft_version, auditor)
    services.evidence_pack_build(pack_id=pack.pk)
    pack.refresh_from_db()
    return pack


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        (None, 302),
        ("outsider", 404),
        ("developer", 404),
        ("validator", 404),
        ("auditor", 200),
        ("risk_officer", 200),
    ],
)
@pytest.mark.parametrize("suffix", ["pdf", "zip", "pdf.sig"])
def test_download_permission_matrix(
    persona: str | None,
    expected: int,
    suffix: str,
    request: Any,
    built_pack: EvidencePack,
) -> None:
    # given
    user = request.getfixturevalue(persona) if persona else None
    client = _login(user) if user else Client()
    events = AuditEvent.objects.filter(event_type=services.DOWNLOADED)
    # when
    response = client.get(f"/audits/packs/{built_pack.pk}/pack.{suffix}")
    # then
    assert response.status_code == expected
    if expected != 200:
        assert not events.exists()
        return
    body = b"".join(response.streaming_content)
    name = f"credit-risk-1.0.0-pack-{built_pack.pk}.{suffix}"
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    kind = {"pdf": "pdf", "zip": "zip", "pdf.sig": "sig"}[suffix]
    digest = {
        "pdf": built_pack.pdf_sha256,
        "zip": built_pack.zip_sha256,
        "sig": hashlib.sha256(built_pack.signature.encode()).hexdigest(),
    }[kind]
    assert hashlib.sha256(body).hexdigest() == digest
    event = events.get()
    assert event.actor == user
    assert event.object_id == str(built_pack.pk)
    assert event.payload == {
        "file": kind,
        "name": name,
        "sha256": digest,
        "model": "credit-risk",
        "version": "1.0.0",
    }


@pytest.mark.django_db
def test_download_of_an_unfinished_pack_is_404(
    auditor: Any, draft_version: Any
) -> None:
    # given
    pack = queued_pack(draft_version, auditor)
    # when
    response = _login(auditor).get(f"/audits/packs/{pack.pk}/pack.pdf")
    # then
    assert response.status_code == 404
    assert not AuditEvent.objects.filter(event_type=services.DOWNLOADED).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("persona", "expected"),
    [("outsider", 403), ("developer", 403), ("auditor", 200), ("risk_officer", 200)],
)
def test_pack_list_pages_by_role(
    persona: str, expected: int, request: Any, built_pack: EvidencePack
) -> None:
    # given
    client = _login(request.getfixturevalue(persona))
    # when
    listing = client.get(reverse("audits:packs"))
    status_page = client.get(reverse("audits:pack", args=[built_pack.pk]))
    # then
    assert listing.status_code == expected
    assert status_page.status_code == (200 if expected == 200 else 404)
    if expected == 200:
        assert f"/audits/packs/{built_pack.pk}/pack.pdf.sig" in status_page.text
        assert reverse("audits:public_key") in status_page.text
        assert b'http-equiv="refresh"' not in status_page.content


@pytest.mark.django_db
def test_auditor_home_links_to_the_evidence_packs(auditor: Any) -> None:
    # when
    response = _login(auditor).get(reverse("audits:home"))
    # then
    assert reverse("audits:packs") in response.text
