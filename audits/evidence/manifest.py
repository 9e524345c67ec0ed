"""The sources of an evidence pack, their manifest and the ZIP of both (pure).

A pack carries its sources (JSON and CSV files) twice: attached inside the PDF/A-3
and in a ZIP beside it. Both carry ``manifest.json``, which names every source
with its media type, size and SHA-256, and the pack's own metadata (model,
version, period, what it was built from). The manifest is canonical JSON, so the
same sources and metadata always give the same manifest bytes, and the ZIP is
built with fixed timestamps, permissions and compression, so it too is the same
bytes for the same inputs.

No ORM and no Django settings: the collectors build :class:`Source` values, this
module only shapes and checks them. The check itself lives in
:mod:`audits.evidence.verify`, the standalone offline verifier, so the server and
an auditor's machine run the same code.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from audits.evidence import verify

FORMAT = verify.MANIFEST_FORMAT
MANIFEST_NAME = verify.MANIFEST_NAME
MANIFEST_MEDIA_TYPE = "application/json"

# The earliest time a ZIP header can hold; no build time leaks into the archive.
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
ZIP_FILE_MODE = 0o100644  # a regular file, rw-r--r--
ZIP_COMPRESSLEVEL = 9
ZIP_UNIX = 3  # "version made by" host system, whatever system builds the ZIP


@dataclass(frozen=True)
class Source:
    """One file of evidence: its name in the pack, media type and exact bytes."""

    name: str
    media_type: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def _check_names(sources: Iterable[Source]) -> None:
    seen: set[str] = set()
    for source in sources:
        problem = verify.name_problem(source.name)
        if problem is not None:
            raise ValueError(problem)
        if source.name in seen:
            raise ValueError(f"two sources are named {source.name!r}")
        seen.add(source.name)


def manifest_of(
    sources: Iterable[Source], *, pack: Mapping[str, Any]
) -> dict[str, Any]:
    """The manifest of ``sources``: the format, ``pack`` (the caller's metadata:
    kind, model, version, period, built_from…) and each source's name, media type,
    size and SHA-256, sorted by name.

    Raises ValueError when two sources share a name, or a name is unsafe as a file
    name (empty, absolute, with ``..``, a backslash or a control character) or is
    ``manifest.json``.
    """
    ordered = sorted(sources, key=lambda source: source.name)
    _check_names(ordered)
    return {
        "format": FORMAT,
        "pack": dict(pack),
        "sources": [
            {
                "name": source.name,
                "media_type": source.media_type,
                "bytes": len(source.content),
                "sha256": source.sha256,
            }
            for source in ordered
        ],
    }


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """The manifest as canonical JSON: sorted keys, no whitespace, UTF-8.

    These exact bytes are attached to the PDF, written to the ZIP and hashed into
    the PDF's identifier.
    """
    return orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS)


def manifest_sha256(manifest: Mapping[str, Any]) -> str:
    """The SHA-256 (hex) of :func:`manifest_bytes`."""
    return hashlib.sha256(manifest_bytes(manifest)).hexdigest()


def manifest_appendix_rows(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The manifest's sources as rows for the pack's appendix table, plus a last
    row for ``manifest.json`` itself (its digest is not inside the manifest)."""
    rows = [
        {
            "name": entry["name"],
            "media_type": entry["media_type"],
            "bytes": entry["bytes"],
            "sha256": entry["sha256"],
        }
        for entry in manifest["sources"]
    ]
    raw = manifest_bytes(manifest)
    rows.append(
        {
            "name": MANIFEST_NAME,
            "media_type": MANIFEST_MEDIA_TYPE,
            "bytes": len(raw),
            "sha256": hashlib.sha256(raw).hexdigest(),
        }
    )
    return rows


def check(manifest: Mapping[str, Any], sources: Sequence[Source]) -> list[str]:
    """What is wrong between ``manifest`` and ``sources``: sources missing from
    either side, a size or SHA-256 that differs, a malformed manifest. Empty when
    they agree. Never raises on bad input; it reports it."""
    names = [source.name for source in sources]
    problems = [
        f"two sources are named {name!r}"
        for name in sorted({name for name in names if names.count(name) > 1})
    ]
    contents = {source.name: source.content for source in sources}
    return problems + verify.check_sources(dict(manifest), contents)


def sources_zip(sources: Sequence[Source], manifest: Mapping[str, Any]) -> bytes:
    """A ZIP of ``manifest.json`` (first) and every source (sorted by name).

    Deterministic: every entry has the timestamp 1980-01-01 00:00, mode 0644, Unix
    as the host system, no extra fields or comments, and DEFLATE at level 9, so
    the same sources give the same bytes (with the same zlib). Raises ValueError
    when ``manifest`` does not describe ``sources``.
    """
    problems = check(manifest, sources)
    if problems:
        raise ValueError(
            "the manifest does not match the sources: " + "; ".join(problems)
        )
    entries = [(MANIFEST_NAME, manifest_bytes(manifest))]
    entries += [
        (source.name, source.content)
        for source in sorted(sources, key=lambda source: source.name)
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = ZIP_FILE_MODE << 16
            info.create_system = ZIP_UNIX
            archive.writestr(info, content, compresslevel=ZIP_COMPRESSLEVEL)
    return buffer.getvalue()
