"""``{% load evidence_marks %}``: the integrity mark of an evidence row.

``{% evidence_mark verdict %}`` renders a :class:`audits.integrity.verify.Verdict`:
a check mark only for ``verified``; a red "altered: does not match ledger seq N";
a grey "not verified". ``{{ obj|verdict_in:verdicts }}`` looks a row up in the
dict that :func:`audits.integrity.verify.verdicts` returns.
"""

from __future__ import annotations

from typing import Any

from django import template

from audits.integrity import verify

register = template.Library()


@register.inclusion_tag("audits/_evidence_mark.html")
def evidence_mark(verdict: verify.Verdict | None) -> dict[str, Any]:
    if verdict is None:
        verdict = verify.Verdict(verify.NOT_VERIFIED, detail="not checked")
    return {"verdict": verdict}


@register.filter
def verdict_in(obj: Any, verdicts: dict[Any, verify.Verdict] | None) -> Any:
    if obj is None or not verdicts:
        return None
    return verdicts.get(verify.key_of(obj))


@register.inclusion_tag("audits/_evidence_mark_pdf.html")
def evidence_mark_pdf(verdict: verify.Verdict | None) -> dict[str, Any]:
    """The mark in a PDF (WeasyPrint, no badges): the same words, in plain text."""
    return evidence_mark(verdict)
