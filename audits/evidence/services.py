"""Evidence packs: requesting one, and building it (the Celery task's service).

A request fixes everything the pack is built from (the version for a
model-version pack, the model for a period pack; the period and ``as_of``, the
moment of the request) on a status row and queues the task after
commit. The build reads that row only, so building the same row again, or another
row with the same version, period and ``as_of``, gives the same PDF, ZIP and
signature bytes. The built files go to the default storage under
``evidence/<pk>/``; their SHA-256 digests are stored on the row and recorded in
the ``audits.evidence_pack.built`` audit event, which makes them a leaf of the
ledger.
"""

from __future__ import annotations

import hashlib
import io
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from pypdf import PdfReader

from audits import services as audit_services
from audits.evidence import manifest as pack_manifest
from audits.evidence import render, signing
from audits.evidence.models import EvidencePack, PackKind, PackStatus
from audits.integrity import commit as integrity
from audits.ledger import services as ledger_services
from registry.models import Model, ModelVersion

if TYPE_CHECKING:
    from audits.evidence.collect import PackContent

logger = logging.getLogger(__name__)

PERM_REQUEST = "audits.request_evidencepack"
PERM_VIEW = "audits.view_evidencepack"
MAX_PERIOD = timedelta(days=5 * 366)
REQUESTED = "audits.evidence_pack.requested"
BUILT = "audits.evidence_pack.built"
DOWNLOADED = "audits.evidence_pack.downloaded"
FILE_KINDS = ("pdf", "zip", "sig")


def _period_errors(
    period_start: Any, period_end: Any, as_of: datetime
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for name, value in (("period_start", period_start), ("period_end", period_end)):
        if not isinstance(value, datetime) or timezone.is_naive(value):
            errors[name] = ["A timezone-aware date and time."]
    if errors:
        return errors
    if period_start >= period_end:
        errors["period_end"] = ["The period must end after it starts."]
    elif period_end - period_start > MAX_PERIOD:
        errors["period_end"] = ["A pack covers at most five years."]
    if period_end > as_of:
        errors.setdefault("period_end", []).append(
            "The period cannot end in the future: a pack covers what is recorded."
        )
    return errors


@transaction.atomic(durable=True)
def evidence_pack_request(
    *,
    actor: Any,
    version: ModelVersion | None = None,
    model: Model | None = None,
    period_start: datetime,
    period_end: datetime,
) -> EvidencePack:
    """Queue an evidence pack over ``[period_start, period_end)``: the
    model-version pack of ``version``, or the period pack of ``model`` (give
    exactly one of them).

    ``as_of`` is the moment of the request, so the pack covers what was recorded
    by then and a rebuild gives the same bytes. Raises PermissionDenied without
    ``audits.request_evidencepack`` and ValidationError naming the bad field.
    Audited as ``audits.evidence_pack.requested``; the task is sent after commit.
    """
    if not actor.has_perm(PERM_REQUEST):
        raise PermissionDenied("Only an auditor or a risk officer may request a pack.")
    if (version is None) == (model is None):
        raise ValueError("give either a version or a model")
    if version is not None:
        model = version.model
    assert model is not None
    # Not truncated: a report that finished earlier in the same second is in.
    as_of = timezone.now()
    errors = _period_errors(period_start, period_end, as_of)
    if errors:
        raise ValidationError(errors)
    pack = EvidencePack(
        kind=PackKind.MODEL_VERSION if version is not None else PackKind.PERIOD,
        model=model,
        model_version=version,
        period_start=period_start,
        period_end=period_end,
        as_of=as_of,
        requested_by=actor,
    )
    pack.full_clean()
    pack.save()
    integrity.record_commit(pack)
    audit_services.audit_event_record(
        actor=actor,
        event_type=REQUESTED,
        obj=pack,
        payload={
            "kind": pack.kind,
            "model": model.slug,
            "version": version.version if version is not None else None,
            "period_start": period_start.isoformat(),
            "period_end": period_end.isoformat(),
            "as_of": as_of.isoformat(),
        },
    )
    pack_id = pack.pk
    transaction.on_commit(lambda: _enqueue_build(pack_id))
    return pack


def _enqueue_build(pack_id: int) -> None:
    from audits import tasks  # tasks imports this module

    try:
        tasks.evidence_pack_build_task.delay(pack_id)
    except Exception:  # the row stays queued and can be sent again
        logger.exception("evidence pack %s was not queued", pack_id)


def file_name(pack: EvidencePack, kind: str) -> str:
    """The storage path (and download name) of one of the pack's files."""
    suffix = {"pdf": ".pdf", "zip": ".zip", "sig": ".pdf.sig"}[kind]
    return f"evidence/{pack.pk}/{pack.file_stem}{suffix}"


def _store(name: str, content: bytes) -> str:
    # A crashed earlier attempt may have left the file: replace it, keep the name.
    if default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(content))


def _collect(pack: EvidencePack) -> PackContent:
    # Imported here: the collector reads most of the application (the ledger, the
    # trail, the monitoring pages), and the Celery worker imports this module at
    # start-up through audits.tasks.
    from audits.evidence import collect

    if pack.kind == PackKind.PERIOD:
        assert pack.model is not None
        return collect.period_pack_content(
            model=pack.model,
            period_start=pack.period_start,
            period_end=pack.period_end,
            as_of=pack.as_of,
        )
    assert pack.model_version is not None
    return collect.version_pack_content(
        version=pack.model_version,
        period_start=pack.period_start,
        period_end=pack.period_end,
        as_of=pack.as_of,
    )


def _build_files(pack: EvidencePack) -> dict[str, Any]:
    """Render, sign and store the pack's files; the row's new values."""
    content = _collect(pack)
    pdf = render.render_pack_pdf(
        html=content.html,
        sources=content.sources,
        manifest=content.manifest,
        created=content.created,
    )
    signature = signing.sign_pack(pdf, ledger_services.ledger_signing_key())
    archive = pack_manifest.sources_zip(content.sources, content.manifest)
    return {
        "pdf": _store(file_name(pack, "pdf"), pdf),
        "zip": _store(file_name(pack, "zip"), archive),
        "signature": signature.decode("ascii"),
        "pdf_sha256": hashlib.sha256(pdf).hexdigest(),
        "zip_sha256": hashlib.sha256(archive).hexdigest(),
        "manifest_sha256": pack_manifest.manifest_sha256(content.manifest),
        "pages": len(PdfReader(io.BytesIO(pdf)).pages),
        "bytes": len(pdf),
        "zip_bytes": len(archive),
        "sources": len(content.sources),
    }


def evidence_pack_build(*, pack_id: int) -> EvidencePack:
    """Build a queued pack: the PDF/A-3, its detached signature and the ZIP.

    Idempotent on the status row: a pack that is running, done or failed is
    returned as it is. The files are stored under ``evidence/<pk>/`` in the
    default storage; the row and the ``audits.evidence_pack.built`` audit event
    (hence the ledger) record the SHA-256 of the PDF, the ZIP and the manifest.
    A failure is stored on the row (status failed, the error text) and re-raised.
    """
    with transaction.atomic():
        pack = EvidencePack.objects.select_for_update().get(pk=pack_id)
        if pack.status != PackStatus.QUEUED:
            return pack
        pack.status = PackStatus.RUNNING
        pack.started_at = timezone.now()
        pack.save(update_fields=["status", "started_at"])
        integrity.record_commit(pack)
    try:
        pack = EvidencePack.objects.select_related("model", "model_version__model").get(
            pk=pack_id
        )
        built = _build_files(pack)
        with transaction.atomic():
            pack = (
                # Both subjects are nullable (outer joins): lock the pack row only.
                EvidencePack.objects.select_for_update(of=("self",))
                .select_related("model", "model_version__model")
                .get(pk=pack_id)
            )
            fields = ["pdf", "zip", "signature", "pdf_sha256", "zip_sha256"]
            fields += ["manifest_sha256", "pages", "bytes"]
            for name in fields:
                setattr(pack, name, built[name])
            pack.status = PackStatus.DONE
            pack.finished_at = timezone.now()
            pack.save(update_fields=[*fields, "status", "finished_at"])
            integrity.record_commit(pack)
            audit_services.audit_event_record(
                actor=None,
                event_type=BUILT,
                obj=pack,
                payload=_built_payload(pack, built),
            )
    except Exception as exc:
        with transaction.atomic():
            EvidencePack.objects.filter(pk=pack_id).update(
                status=PackStatus.FAILED,
                error=f"{type(exc).__name__}: {exc}"[:2000],
                finished_at=timezone.now(),
            )
            integrity.record_commit(EvidencePack.objects.get(pk=pack_id))
        raise
    return pack


def _subject(pack: EvidencePack) -> dict[str, Any]:
    version = pack.model_version
    if version is not None:
        return {"model": version.model.slug, "version": version.version}
    return {"model": pack.model.slug if pack.model else None, "version": None}


def _built_payload(pack: EvidencePack, built: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": pack.kind,
        **_subject(pack),
        "period_start": pack.period_start.isoformat(),
        "period_end": pack.period_end.isoformat(),
        "as_of": pack.as_of.isoformat(),
        "pdf_sha256": built["pdf_sha256"],
        "zip_sha256": built["zip_sha256"],
        "manifest_sha256": built["manifest_sha256"],
        "signature_sha256": hashlib.sha256(built["signature"].encode()).hexdigest(),
        "pages": built["pages"],
        "pdf_bytes": built["bytes"],
        "zip_bytes": built["zip_bytes"],
        "sources": built["sources"],
    }


def evidence_pack_download_record(
    *, actor: Any, pack: EvidencePack, file_kind: str
) -> None:
    """Record that ``actor`` downloaded one file of ``pack`` ("who viewed what").

    Audited as ``audits.evidence_pack.downloaded`` with the file and its digest."""
    digest = {
        "pdf": pack.pdf_sha256,
        "zip": pack.zip_sha256,
        "sig": hashlib.sha256(pack.signature.encode()).hexdigest(),
    }[file_kind]
    with transaction.atomic():
        audit_services.audit_event_record(
            actor=actor,
            event_type=DOWNLOADED,
            obj=pack,
            payload={
                "file": file_kind,
                "name": file_name(pack, file_kind).rsplit("/", 1)[-1],
                "sha256": digest,
                **_subject(pack),
            },
        )
