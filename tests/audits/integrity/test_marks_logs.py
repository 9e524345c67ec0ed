"""The access log and the refused actions (pages and API) mark every row against
its ledger leaf (issue 13, item 5)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from audits import services as audit_services
from audits.models import AuditEvent, RefusalKind, RefusedAction
from tests.audits.integrity.marks_helpers import marks, row_of, sequence, tamper
from tests.conftest import client_for

pytestmark = pytest.mark.usefixtures("ledger_key")


def _accesses(auditor: Any, count: int) -> list[AuditEvent]:
    for _ in range(count):
        audit_services.access_log_view_record(actor=auditor, filters={})
    return list(
        AuditEvent.objects.filter(event_type=audit_services.ACCESS_LOG_VIEWED).order_by(
            "pk"
        )
    )


def _refusals(user: Any, count: int) -> list[RefusedAction]:
    return [
        audit_services.refused_action_record(
            actor=user,
            action="governance.release_request.approve",
            reason=f"separation of duties {i}",
            kind=RefusalKind.SEPARATION_OF_DUTIES,
        )
        for i in range(count)
    ]


def test_access_log_page_marks_a_forged_actor_altered(auditor: Any) -> None:
    forged, untouched = _accesses(auditor, 2)
    sequence()
    tamper(
        "audits_auditevent",
        "actor_display = %s, occurred_at = occurred_at - interval '2 days'",
        forged.pk,
        ("Nobody",),
    )
    client = Client()
    client.force_login(auditor)

    response = client.get(reverse("audits:access_log"))

    assert response.status_code == 200
    html = response.content.decode()
    row = row_of(html, f"event-{forged.pk}-integrity")
    assert "Nobody" in row
    assert marks(row) == ["altered"]
    assert "altered: does not match ledger seq" in row
    assert marks(row_of(html, f"event-{untouched.pk}-integrity")) == ["verified"]


def test_access_log_api_carries_integrity(auditor: Any) -> None:
    forged, untouched = _accesses(auditor, 2)
    sequence()
    tamper("audits_auditevent", "actor_display = %s", forged.pk, ("Nobody",))

    response = client_for(auditor).get("/api/v1/access-log")

    assert response.status_code == 200
    rows = {r["event_id"]: r for r in response.json()["results"]}
    assert rows[forged.pk]["who"] == "Nobody"
    assert rows[forged.pk]["integrity"]["state"] == "altered"
    assert rows[forged.pk]["integrity"]["fields"] == ["actor"]
    assert rows[forged.pk]["integrity"]["seq"] == rows[forged.pk]["seq"]
    assert rows[untouched.pk]["integrity"]["state"] == "verified"


def test_refusals_page_and_api_mark_an_altered_reason(
    auditor: Any, developer: Any
) -> None:
    forged, untouched = _refusals(developer, 2)
    sequence()
    tamper("audits_refusedaction", "reason = %s", forged.pk, ("all fine",))
    client = Client()
    client.force_login(auditor)

    page = client.get(reverse("audits:refusals"))
    api = client_for(auditor).get("/api/v1/refusals")

    assert page.status_code == 200
    html = page.content.decode()
    row = row_of(html, f"refusal-{forged.pk}-integrity")
    assert "all fine" in row
    assert marks(row) == ["altered"]
    assert marks(row_of(html, f"refusal-{untouched.pk}-integrity")) == ["verified"]
    assert api.status_code == 200
    rows = {r["refusal_id"]: r for r in api.json()["results"]}
    assert rows[forged.pk]["integrity"]["state"] == "altered"
    assert rows[forged.pk]["integrity"]["fields"] == ["reason"]
    assert rows[untouched.pk]["integrity"]["state"] == "verified"


def test_a_refusal_whose_leaf_is_gone_is_not_verified(
    auditor: Any, developer: Any
) -> None:
    (refused,) = _refusals(developer, 1)
    from django.db import connection

    from audits.ledger import governance as ledger_governance

    with connection.cursor() as cursor:
        cursor.execute('ALTER TABLE "audits_ledgerqueue" DISABLE TRIGGER ALL')
        cursor.execute(
            'DELETE FROM "audits_ledgerqueue" WHERE "entry_id" = %s',
            [ledger_governance.refusal_entry_id(refused.pk)],
        )
        assert cursor.rowcount == 1
        cursor.execute('ALTER TABLE "audits_ledgerqueue" ENABLE TRIGGER ALL')
    client = Client()
    client.force_login(auditor)

    response = client.get(reverse("audits:refusals"))

    assert response.status_code == 200
    row = row_of(response.content.decode(), f"refusal-{refused.pk}-integrity")
    assert marks(row) == ["not_verified"]
