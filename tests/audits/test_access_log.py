"""The access log on real PostgreSQL: who viewed which trail and which evidence
pack, newest first and a page at a time, each row with its ledger leaf; reading
the log is itself recorded; only auditors and administrators may read it
(audits.selectors.access_log_for_user and audits.web_views.access_log)."""

from __future__ import annotations

import html as html_text
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.db import DatabaseError, transaction
from django.test import Client
from django.utils import timezone

from audits import selectors
from audits import services as audit_services
from audits.evidence import services as evidence_services
from audits.evidence.models import EvidencePack, PackKind, PackStatus
from audits.ledger.governance import event_entry_id
from audits.ledger.models import LedgerEntry
from audits.models import AuditEvent
from tests.audits.ledger.test_ingest_api import (
    ingest_key,  # noqa: F401  (fixture)
    prediction,
    scorer,  # noqa: F401  (fixture)
    sequence_all,
)
from tests.audits.monitoring.test_monitoring_flow import ingest
from tests.factories import PASSWORD

pytestmark = pytest.mark.usefixtures("ledger_key")

LOG = "/audits/access-log"
TRAIL_VIEWED = "audits.trail.viewed"


@dataclass(frozen=True)
class Accesses:
    first: str  # prediction ids
    second: str
    pack: EvidencePack


def _login(user: Any) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def _log_reads() -> int:
    return AuditEvent.objects.filter(
        event_type=audit_services.ACCESS_LOG_VIEWED
    ).count()


@pytest.fixture
def accesses(
    submitted_version: Any,
    scorer: Any,  # noqa: F811
    auditor: Any,
    risk_officer: Any,
) -> Accesses:
    """The auditor opens one trail's page, then the risk officer downloads the
    other trail's PDF and a pack's signature, then the auditor the pack's PDF."""
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    ingest(scorer, [prediction(prediction_id=first), prediction(prediction_id=second)])
    assert _login(auditor).get(f"/audits/predictions/{first}").status_code == 200
    officer = _login(risk_officer)
    response = officer.get(f"/api/v1/predictions/{second}/trail.pdf")
    assert response.status_code == 200
    now = timezone.now()
    pack = EvidencePack.objects.create(
        kind=PackKind.MODEL_VERSION,
        model=submitted_version.model,
        model_version=submitted_version,
        period_start=now - timedelta(days=1),
        period_end=now,
        as_of=now,
        status=PackStatus.DONE,
        pdf_sha256="a" * 64,
        zip_sha256="b" * 64,
        signature='{"sig": 1}',
    )
    evidence_services.evidence_pack_download_record(
        actor=risk_officer, pack=pack, file_kind="sig"
    )
    evidence_services.evidence_pack_download_record(
        actor=auditor, pack=pack, file_kind="pdf"
    )
    return Accesses(first=first, second=second, pack=pack)


def _rows(html: str) -> list[list[str]]:
    """The log table's cells, as text, row by row; none, with the page's empty
    message, when no access is shown."""
    if "<tbody>" not in html:
        assert re.search(r"No access (matches these filters|is recorded yet)\.", html)
        return []
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        rows.append(
            [html_text.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cells]
        )
    return rows


def test_auditor_sees_who_viewed_what_newest_first_with_ledger_leaves(
    accesses: Accesses, auditor: Any, risk_officer: Any
) -> None:
    # given every access sequenced into the ledger
    sequence_all()
    reads = _log_reads()
    # when the auditor opens the log
    response = _login(auditor).get(LOG)
    # then the four accesses, newest first, with who, what and the detail
    assert response.status_code == 200
    html = response.content.decode()
    rows = _rows(html)
    pack = f"Pack {accesses.pack.pk}"
    stem = accesses.pack.file_stem
    assert [row[1:5] for row in rows] == [
        [auditor_name(auditor), "Downloaded an evidence pack", pack, f"{stem}.pdf"],
        [
            auditor_name(risk_officer),
            "Downloaded an evidence pack",
            pack,
            f"{stem}.pdf.sig",
        ],
        [
            auditor_name(risk_officer),
            "Viewed a prediction's trail",
            accesses.second,
            "PDF",
        ],
        [auditor_name(auditor), "Viewed a prediction's trail", accesses.first, "HTML"],
    ]
    # each row's ledger seq is its audit event's leaf
    events = AuditEvent.objects.filter(
        event_type__in=[TRAIL_VIEWED, evidence_services.DOWNLOADED]
    ).order_by("-pk")
    seqs = [
        LedgerEntry.objects.get(entry_id=event_entry_id(event.pk)).seq
        for event in events
    ]
    assert [row[5] for row in rows] == [str(seq) for seq in seqs]
    assert f'href="/audits/predictions/{accesses.first}"' in html
    assert f'href="/audits/packs/{accesses.pack.pk}"' in html
    # and the reading is itself recorded, and shows in the log next time
    assert _log_reads() == reads + 1
    read = AuditEvent.objects.get(event_type=audit_services.ACCESS_LOG_VIEWED)
    assert read.actor == auditor
    assert read.payload == {}
    again = _rows(_login(auditor).get(LOG).content.decode())
    assert again[0][1:5] == [
        auditor_name(auditor),
        "Viewed the access log",
        "—",
        "—",
    ]
    assert again[0][5] == "queued"  # not sequenced yet


def auditor_name(user: Any) -> str:
    return audit_services.actor_display_name(user)


def test_filters_by_person_prediction_pack_and_kind(
    accesses: Accesses, auditor: Any, risk_officer: Any
) -> None:
    client = _login(auditor)

    def shown(query: str) -> list[tuple[str, str]]:
        response = client.get(f"{LOG}?{query}")
        assert response.status_code == 200, response.content
        return [(row[1], row[2]) for row in _rows(response.content.decode())]

    officer, audrey = auditor_name(risk_officer), auditor_name(auditor)
    assert shown(f"who={risk_officer.username}") == [
        (officer, "Downloaded an evidence pack"),
        (officer, "Viewed a prediction's trail"),
    ]
    assert shown(f"prediction={accesses.first}") == [
        (audrey, "Viewed a prediction's trail")
    ]
    assert shown(f"pack={accesses.pack.pk}") == [
        (audrey, "Downloaded an evidence pack"),
        (officer, "Downloaded an evidence pack"),
    ]
    assert shown(f"kind=trails&who={auditor.username}") == [
        (audrey, "Viewed a prediction's trail")
    ]
    # the reads so far, newest first; each recorded with its filters
    assert shown("kind=log")[0] == (audrey, "Viewed the access log")
    reads = AuditEvent.objects.filter(
        event_type=audit_services.ACCESS_LOG_VIEWED
    ).order_by("pk")
    assert [r.payload for r in reads] == [
        {"who": risk_officer.username},
        {"prediction_id": accesses.first},
        {"pack_id": accesses.pack.pk},
        {"who": auditor.username, "kind": "trails"},
        {"kind": "log"},
    ]
    # a time range that ends before every access shows none
    before = (timezone.now() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    assert shown(f"end={before}") == []


def test_pages_of_the_log_follow_each_other_without_gap_or_overlap(
    accesses: Accesses, auditor: Any
) -> None:
    # when the auditor reads the log two rows at a time
    first = selectors.access_log_for_user(user=auditor, limit=2)
    second = selectors.access_log_for_user(user=auditor, limit=2, before=first.older)
    # then the pages are the four accesses in order, and nothing follows
    every = selectors.access_log_for_user(user=auditor, limit=10)
    assert [r.event_id for r in first.rows + second.rows] == [
        r.event_id for r in every.rows
    ]
    assert len(every.rows) == 4
    assert first.older == first.rows[-1].event_id
    assert second.older is None
    assert every.older is None


def test_page_links_to_older_accesses_keeping_the_filters(
    accesses: Accesses, auditor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selectors, "ACCESS_PAGE", 1)
    client = _login(auditor)
    html = client.get(f"{LOG}?kind=packs").content.decode()
    older = re.search(r'href="\?([^"]+)" rel="next"', html)
    assert older is not None
    query = older.group(1).replace("&amp;", "&")
    assert query.startswith("kind=packs&before=")
    assert [r[2] for r in _rows(client.get(f"{LOG}?{query}").content.decode())] == [
        "Downloaded an evidence pack"
    ]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("prediction=not-a-uuid", "prediction", "Enter a valid UUID."),
        ("pack=0", "pack", "Ensure this value is greater than or equal to 1."),
        (
            "start=2026-03-02T00:00&end=2026-03-01T00:00",
            "end",
            "The range must end after it starts.",
        ),
    ],
)
def test_bad_filters_answer_400_naming_the_field_and_record_nothing(
    accesses: Accesses, auditor: Any, query: str, field: str, message: str
) -> None:
    reads = _log_reads()
    response = _login(auditor).get(f"{LOG}?{query}")
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors[field] == [message]
    assert response.context["log"] is None
    assert _log_reads() == reads


@pytest.mark.parametrize("role", ["developer", "validator", "risk_officer"])
def test_roles_without_the_audit_log_permission_get_403_and_nothing_recorded(
    accesses: Accesses, role: str, request: pytest.FixtureRequest
) -> None:
    user = request.getfixturevalue(role)
    before = AuditEvent.objects.count()
    response = _login(user).get(LOG)
    assert response.status_code == 403
    assert AuditEvent.objects.count() == before
    with pytest.raises(Exception, match="may not see the access log"):
        selectors.access_log_for_user(user=user)


def test_administrator_reads_the_log_and_anonymous_users_are_sent_to_sign_in(
    accesses: Accesses, administrator: Any
) -> None:
    assert _login(administrator).get(LOG).status_code == 200
    response = Client().get(LOG)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_log_is_append_only_in_the_database(accesses: Accesses) -> None:
    event = AuditEvent.objects.filter(event_type=TRAIL_VIEWED).first()
    assert event is not None
    for change in (
        lambda: AuditEvent.objects.filter(pk=event.pk).update(actor_display="x"),
        lambda: AuditEvent.objects.filter(pk=event.pk).delete(),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            change()
    event.refresh_from_db()
    assert event.actor_display != "x"


def test_trail_and_pack_pages_link_to_their_accesses_for_auditors_only(
    accesses: Accesses, auditor: Any, risk_officer: Any
) -> None:
    trail_link = f'href="{LOG}?prediction={accesses.first}"'
    pack_link = f'href="{LOG}?pack={accesses.pack.pk}"'
    auditor_client = _login(auditor)
    trail = auditor_client.get(f"/audits/predictions/{accesses.first}")
    assert trail_link in trail.content.decode()
    pack = auditor_client.get(f"/audits/packs/{accesses.pack.pk}")
    assert pack_link in pack.content.decode()
    assert f'href="{LOG}"' in auditor_client.get("/audits/").content.decode()
    officer = _login(risk_officer)
    trail = officer.get(f"/audits/predictions/{accesses.first}")
    assert trail_link not in trail.content.decode()
    assert (
        pack_link
        not in officer.get(f"/audits/packs/{accesses.pack.pk}").content.decode()
    )
