"""Render an evidence pack as a reproducible PDF/A-3b with its sources attached.

:func:`render_pack_pdf` turns the pack's HTML (see
``templates/audits/evidence/base_pack.html``) into a PDF/A-3b with WeasyPrint and
attaches ``manifest.json`` and every source as embedded files (associated files,
as PDF/A-3 allows). The same inputs give the same bytes, because everything that
would otherwise vary is pinned:

- the creation and modification dates (document information, XMP metadata and
  each attachment's dates) are ``created``, in UTC, whole seconds;
- the first half of the PDF ``/ID`` is derived from the manifest's SHA-256, the
  second half is WeasyPrint's digest of the objects written;
- attachments come in a fixed order (the manifest, then sources by name);
- nothing is fetched from the network: only ``data:`` and ``file:`` URLs load, and
  a resource that fails to load is an error, not a silently missing image;
- font subsets, their names and their order follow from the text laid out
  (WeasyPrint names a subset after a digest of its font description).

What still varies is the software: another WeasyPrint, Pango, HarfBuzz or zlib
may lay out or compress differently, and the producer field names the WeasyPrint
version. Rebuilding a pack byte for byte needs the same environment.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import weasyprint

from audits.evidence import manifest as pack_manifest
from audits.evidence import verify

PDF_VARIANT = "pdf/a-3b"
SOURCE_RELATIONSHIP = "Data"  # ISO 32000-2 §14.13: data behind tables and charts
MANIFEST_RELATIONSHIP = "Supplement"
ALLOWED_PROTOCOLS = ("data", "file")


def _w3c(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _pinned_time(created: datetime) -> datetime:
    if created.tzinfo is None or created.utcoffset() is None:
        raise ValueError("created must be timezone-aware")
    return created.astimezone(UTC).replace(microsecond=0)


def _attachment(
    *,
    name: str,
    media_type: str,
    content: bytes,
    description: str,
    relationship: str,
    moment: datetime,
    fetcher: weasyprint.URLFetcher,
) -> weasyprint.Attachment:
    # A data: URL carries the media type into the embedded file's /Subtype;
    # WeasyPrint would otherwise guess it from the name.
    mime = media_type.split(";", 1)[0].strip() or "application/octet-stream"
    url = f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"
    return weasyprint.Attachment(
        url=url,
        url_fetcher=fetcher,
        name=name,
        description=description,
        created=moment,
        modified=moment,
        relationship=relationship,
    )


def _attachments(
    sources: Sequence[pack_manifest.Source],
    manifest: Mapping[str, Any],
    moment: datetime,
    fetcher: weasyprint.URLFetcher,
) -> list[weasyprint.Attachment]:
    attachments = [
        _attachment(
            name=pack_manifest.MANIFEST_NAME,
            media_type=pack_manifest.MANIFEST_MEDIA_TYPE,
            content=pack_manifest.manifest_bytes(manifest),
            description="Manifest: the size and SHA-256 of every attached source",
            relationship=MANIFEST_RELATIONSHIP,
            moment=moment,
            fetcher=fetcher,
        )
    ]
    attachments += [
        _attachment(
            name=source.name,
            media_type=source.media_type,
            content=source.content,
            description=f"Evidence source, SHA-256 {source.sha256}",
            relationship=SOURCE_RELATIONSHIP,
            moment=moment,
            fetcher=fetcher,
        )
        for source in sorted(sources, key=lambda source: source.name)
    ]
    return attachments


def render_pack_pdf(
    *,
    html: str,
    sources: Sequence[pack_manifest.Source],
    manifest: Mapping[str, Any],
    created: datetime,
    base_url: str | None = None,
) -> bytes:
    """The pack as PDF/A-3b bytes, with ``manifest.json`` and every source attached.

    Deterministic: the same ``html``, sources, manifest and ``created`` give the
    same bytes (see the module docstring for what is pinned). Raises ValueError
    when ``manifest`` does not describe ``sources`` or ``created`` is naive, and
    RuntimeError when a resource of the HTML cannot be loaded or the written PDF
    does not carry exactly the manifest and the sources (checked by reading the
    attachments back, as the offline verifier will).
    """
    problems = pack_manifest.check(manifest, sources)
    if problems:
        raise ValueError(
            "the manifest does not match the sources: " + "; ".join(problems)
        )
    moment = _pinned_time(created)
    manifest_raw = pack_manifest.manifest_bytes(manifest)
    fetcher = weasyprint.URLFetcher(
        allowed_protocols=ALLOWED_PROTOCOLS, fail_on_errors=True
    )
    options: dict[str, Any] = {
        "pdf_variant": PDF_VARIANT,
        # 32 hex digits, the size of the /ID WeasyPrint would otherwise compute.
        "pdf_identifier": hashlib.sha256(manifest_raw).hexdigest()[:32].encode(),
        "attachments": _attachments(sources, manifest, moment, fetcher),
    }
    try:
        document = weasyprint.HTML(
            string=html, base_url=base_url, url_fetcher=fetcher
        ).render(**options)
        # Set on the document, not read from the HTML's <meta>: a template that
        # forgets them must not put the wall clock into the PDF.
        document.metadata.created = _w3c(moment)
        document.metadata.modified = _w3c(moment)
        pdf = bytes(document.write_pdf(**options))
    except weasyprint.urls.FatalURLFetchingError as exc:
        raise RuntimeError(f"a resource of the pack cannot be loaded: {exc}") from exc
    _check_written(pdf, manifest, manifest_raw)
    return pdf


def _check_written(
    pdf: bytes,
    manifest: Mapping[str, Any],
    manifest_raw: bytes,
) -> None:
    files, problems = verify.read_attachments(pdf)
    attached_manifest = files.pop(pack_manifest.MANIFEST_NAME, None)
    if attached_manifest != manifest_raw:
        problems.append("the attached manifest differs from the manifest")
    problems += verify.check_sources(dict(manifest), files)
    if problems:
        raise RuntimeError("the rendered pack is incomplete: " + "; ".join(problems))


def pack_context(
    *,
    manifest: Mapping[str, Any],
    title: str,
    created: datetime,
    toc: Sequence[tuple[str, str]],
) -> dict[str, Any]:
    """The context ``audits/evidence/base_pack.html`` expects: ``title``, ``pack``
    (the manifest's pack metadata), ``created`` (UTC), ``created_w3c``, ``toc``
    (anchor and title of each section, in order), ``manifest_rows`` and
    ``manifest_sha256``. Collectors add their own keys for their sections."""
    moment = _pinned_time(created)
    return {
        "title": title,
        "pack": dict(manifest["pack"]),
        "created": moment,
        "created_w3c": _w3c(moment),
        "toc": [{"anchor": anchor, "title": text} for anchor, text in toc],
        "manifest_rows": pack_manifest.manifest_appendix_rows(manifest),
        "manifest_sha256": pack_manifest.manifest_sha256(manifest),
    }
