"""The dossier an approval covers, as digests, and its comparison. Pure: no ORM.

A signature binds the dossier of its version as the signer saw it (ADR 0026):

``{"papers": [paper, ...], "monitoring": [report, ...]}``

where each paper (the model card, each document, the validation report) is
``{"kind", "id", "label", "template", "template_version", "sha256"}`` and ``sha256``
is :func:`paper_digest`, and each monitoring entry is the latest finished report of
one (monitor, environment, kind). Pages, the trail and packs recompute the digest of
the paper they show and compare it with the one signed (:func:`paper_mark`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from registry import digests

CARD_LABEL = "Model card"
MONITORING_LABEL = "Monitoring state"

# The marks a shown paper gets against the digest an approval's signature bound.
AS_SIGNED = "as_signed"
ALTERED = "altered"
NOT_VERIFIED = "not_verified"


def paper_digest(
    *, template_key: str, template_version: int, title: str, content: Any
) -> str:
    """SHA-256 of the canonical JSON of a paper's template, title and content."""
    return digests.content_digest(
        {
            "template": template_key,
            "template_version": template_version,
            "title": title,
            "content": content or {},
        }
    )


def monitoring_digest(entries: Iterable[Mapping[str, Any]]) -> str:
    """SHA-256 of the canonical JSON of a dossier's monitoring entries."""
    return digests.content_digest(list(entries))


def signed_papers(dossier: Any) -> dict[str, str]:
    """``{template key: signed digest}`` of a signature's dossier ({} when none)."""
    if not isinstance(dossier, Mapping):
        return {}
    papers = dossier.get("papers")
    if not isinstance(papers, list):
        return {}
    return {
        str(p.get("template")): str(p.get("sha256"))
        for p in papers
        if isinstance(p, Mapping)
    }


def paper_mark(signed: Mapping[str, str], template_key: str, current: str) -> str:
    """AS_SIGNED when ``current`` equals the digest signed for ``template_key``,
    ALTERED when it differs, NOT_VERIFIED when no signature covered the paper."""
    expected = signed.get(template_key)
    if expected is None:
        return NOT_VERIFIED
    return AS_SIGNED if expected == current else ALTERED


@dataclass(frozen=True)
class DossierLine:
    """One paper (or the monitoring state) of a signature's dossier, checked now."""

    kind: str  # "card", "document" or "monitoring"
    label: str
    signed_sha256: str | None
    current_sha256: str | None

    @property
    def ok(self) -> bool:
        return (
            self.signed_sha256 is not None and self.signed_sha256 == self.current_sha256
        )

    @property
    def state(self) -> str:
        """as_signed, changed, added (not in the signed dossier) or removed."""
        if self.ok:
            return "as_signed"
        if self.signed_sha256 is None:
            return "added"
        if self.current_sha256 is None:
            return "removed"
        return "changed"


def compare(signed: Mapping[str, Any], current: Mapping[str, Any]) -> list[DossierLine]:
    """Line up a signed dossier with the current one: the papers by template key
    (signed order, then papers added since), then the monitoring state."""
    signed_rows = {p["template"]: p for p in signed.get("papers") or []}
    current_rows = {p["template"]: p for p in current.get("papers") or []}
    lines = []
    for key in [*signed_rows, *(k for k in current_rows if k not in signed_rows)]:
        before, now = signed_rows.get(key), current_rows.get(key)
        row = now or before or {}
        lines.append(
            DossierLine(
                kind=str(row.get("kind", "document")),
                label=str(row.get("label", key)),
                signed_sha256=before["sha256"] if before else None,
                current_sha256=now["sha256"] if now else None,
            )
        )
    if "monitoring" in signed:
        lines.append(
            DossierLine(
                kind="monitoring",
                label=MONITORING_LABEL,
                signed_sha256=monitoring_digest(signed["monitoring"]),
                current_sha256=monitoring_digest(current.get("monitoring") or []),
            )
        )
    return lines
