"""Upgrading a deployment: rows written before the ledger committed to governance
records get a backfilled record leaf once, and say since when they are vouched for."""

from __future__ import annotations

import io
import json
from typing import Any

from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from audits.integrity import fsck, verify
from governance.models import Finding, ReleaseRequest


def _backfill() -> dict[str, Any]:
    out = io.StringIO()
    call_command("evidence_backfill", stdout=out)
    return json.loads(out.getvalue())


def test_rows_without_a_leaf_are_committed_once_and_marked_as_backfilled(
    approved: ReleaseRequest,
) -> None:
    # given a finding written as before issue 13: no record leaf
    old = Finding.objects.create(
        model_version=approved.model_version,
        severity="low",
        title="Written before the upgrade",
        description="No leaf commits to it.",
    )
    assert verify.verdict(old).state == verify.NOT_VERIFIED
    assert [e["problem"] for e in fsck.check_governance().as_dict()["errors"]] == [
        "no ledger leaf commits to this row"
    ]
    # when the upgrade backfills, twice
    first, second = _backfill(), _backfill()
    # then that one row got a leaf, once; the rest already had one
    assert first["total"] == 1
    assert first["committed"]["governance_finding"] == 1
    assert second["total"] == 0
    today = timezone.now().date().isoformat()
    mark = verify.verdict(old)
    assert (mark.state, mark.since, mark.label) == (
        verify.VERIFIED,
        today,
        f"verified since {today}",
    )
    assert fsck.check_governance().ok


def test_backfill_never_blesses_an_altered_row(approved: ReleaseRequest) -> None:
    # given a request altered after its leaf was written
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE governance_releaserequest SET justification = 'forged' "
            "WHERE id = %s",
            [approved.pk],
        )
    # when
    result = _backfill()
    # then nothing is committed and it stays altered
    assert result["total"] == 0
    mark = verify.verdict(ReleaseRequest.objects.get(pk=approved.pk))
    assert (mark.state, mark.fields) == (verify.ALTERED, ("justification",))
