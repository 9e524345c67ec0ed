"""The ``integrity`` object of an evidence row in API answers (issue 13).

Every API answer that serializes an evidence row adds ``integrity``: the row's
:class:`audits.integrity.verify.Verdict` as a dict (state, seq, label, detail,
fields). Views compute the verdicts of a page in one batch
(:func:`audits.integrity.verify.verdicts`) and look each row up here.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from rest_framework import serializers

from audits.integrity import verify

__all__ = ["IntegrityOutputSerializer", "integrity_of"]

STATES = (verify.VERIFIED, verify.ALTERED, verify.NOT_VERIFIED)


class IntegrityOutputSerializer(serializers.Serializer[Any]):
    """Whether the row matches its ledger leaf. Only ``verified`` vouches for it."""

    state = serializers.ChoiceField(
        choices=STATES,
        help_text="verified: the row matches its ledger leaf (and the leaf its "
        "signed checkpoint); altered: it does not; not_verified: it could not be "
        "checked (no leaf commits to it).",
    )
    seq = serializers.IntegerField(
        allow_null=True, help_text="The ledger seq of its leaf (null while queued)."
    )
    label = serializers.CharField(  # type: ignore[assignment]
        help_text='e.g. "verified" or "altered: does not match ledger seq 12"'
    )
    detail = serializers.CharField(allow_blank=True)
    since = serializers.CharField(
        allow_null=True,
        help_text="For a record written before the ledger committed to records "
        "and committed later (backfilled): the day since which it is verified.",
    )
    fields = serializers.ListField(  # type: ignore[assignment]
        child=serializers.CharField(),
        help_text="The row's fields that differ from the leaf (altered rows).",
    )


def integrity_of(
    obj: models.Model | None, found: dict[verify.Key, verify.Verdict] | None
) -> dict[str, Any]:
    """``obj``'s verdict from ``found`` as the API's ``integrity`` object; a row
    that was not checked is ``not_verified``, never ``verified``."""
    verdict = None
    if obj is not None and found:
        verdict = found.get(verify.key_of(obj))
    if verdict is None:
        verdict = verify.Verdict(verify.NOT_VERIFIED, detail="not checked")
    return verdict.as_dict()
