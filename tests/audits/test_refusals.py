"""The refused actions, page and API, on real PostgreSQL: every kind of refusal
recorded through :func:`audits.services.refused_action_record` is shown to
auditors and administrators, newest first, with who, the address, what was
attempted, the reason and its ledger leaf; filters are exact, pages follow each
other, bad filters answer 400 naming the field, reading is recorded in the
access log, and every other role is refused with nothing recorded
(audits.web_views.refusals, audits.api.refusal_views)."""

from __future__ import annotations

import html as html_text
import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from audits import selectors
from audits import services as audit_services
from audits.ledger.governance import refusal_entry_id
from audits.ledger.models import LedgerEntry
from audits.models import AuditEvent, RefusalKind, RefusedAction
from tests.audits.ledger.test_ingest_api import sequence_all
from tests.audits.refusal_fixtures import Refusals, refusals  # noqa: F401
from tests.conftest import client_for
from tests.factories import PASSWORD

pytestmark = pytest.mark.usefixtures("ledger_key")

PAGE = "/audits/refusals"
API = "/api/v1/refusals"
NEWEST_FIRST = list(reversed(RefusalKind.values))


def _login(user: Any) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def _reads() -> list[dict[str, Any]]:
    return [
        e.payload
        for e in AuditEvent.objects.filter(
            event_type=audit_services.REFUSALS_VIEWED
        ).order_by("pk")
    ]


def _rows(html: str) -> list[list[str]]:
    if "<tbody>" not in html:
        assert re.search(r"No refusal (matches these filters|is recorded yet)\.", html)
        return []
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [
            " ".join(html_text.unescape(re.sub(r"<[^>]+>", " ", c)).split())
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def _kinds(rows: list[list[str]]) -> list[str]:
    labels = dict(RefusalKind.choices)
    back = {str(label): value for value, label in labels.items()}
    return [back[row[1]] for row in rows]


def test_auditor_sees_every_kind_of_refusal_newest_first_with_its_ledger_leaf(
    refusals: Refusals,  # noqa: F811
    auditor: Any,
    developer: Any,
    risk_officer: Any,
) -> None:
    # given every refusal sequenced into the ledger
    sequence_all()
    by_kind = refusals.by_kind
    # when the auditor opens the page
    response = _login(auditor).get(PAGE)
    # then the seven refusals, newest first, each with who, where, what, why, seq
    assert response.status_code == 200
    rows = _rows(response.content.decode())
    assert _kinds(rows) == NEWEST_FIRST
    seqs = {
        kind: LedgerEntry.objects.get(entry_id=refusal_entry_id(r.pk)).seq
        for kind, r in by_kind.items()
    }
    shown = {kind: row for kind, row in zip(NEWEST_FIRST, rows, strict=True)}
    assert shown[RefusalKind.LOGIN_FAILED][2:] == [
        "dana",
        "203.0.113.1",
        "auth.login POST /accounts/login/",
        "Wrong user name or password.",
        str(seqs[RefusalKind.LOGIN_FAILED]),
        f"✓ verified · ledger seq {seqs[RefusalKind.LOGIN_FAILED]}",
    ]
    version = by_kind[RefusalKind.SIGNATURE_PASSWORD].object_id
    assert shown[RefusalKind.SIGNATURE_PASSWORD][2:] == [
        audit_services.actor_display_name(risk_officer),
        "198.51.100.3",
        f"governance.request.approve registry.modelversion:{version} "
        f"POST /governance/versions/{version}/sign",
        "The password is not yours.",
        str(seqs[RefusalKind.SIGNATURE_PASSWORD]),
        f"✓ verified · ledger seq {seqs[RefusalKind.SIGNATURE_PASSWORD]}",
    ]
    key = refusals.ingest_key.pk
    assert shown[RefusalKind.TOKEN_MISUSE][4] == (
        f"governance.token.revoke governance.apitoken:{key} "
        f"DELETE /api/v1/tokens/{key} token {key}"
    )
    assert shown[RefusalKind.SEPARATION_OF_DUTIES][2] == (
        audit_services.actor_display_name(developer)
    )
    # and the reading is recorded, and shows in the access log
    assert _reads() == [{}]
    log = _rows_of_access_log(_login(auditor).get("/audits/access-log?kind=log"))
    assert log[0][1:3] == [
        audit_services.actor_display_name(auditor),
        "Viewed the refused actions",
    ]


def _rows_of_access_log(response: Any) -> list[list[str]]:
    assert response.status_code == 200
    body = response.content.decode().split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [
            html_text.unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_api_lists_every_kind_newest_first_with_the_same_fields(
    refusals: Refusals,  # noqa: F811
    auditor: Any,
    developer: Any,
) -> None:
    # given
    sequence_all()
    # when
    response = client_for(auditor).get(API)
    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["next"] is None
    assert [r["kind"] for r in body["results"]] == NEWEST_FIRST
    login = next(r for r in body["results"] if r["kind"] == "login_failed")
    refused = refusals.by_kind[RefusalKind.LOGIN_FAILED]
    seq = LedgerEntry.objects.get(entry_id=refusal_entry_id(refused.pk)).seq
    assert login == {
        "refusal_id": refused.pk,
        "occurred_at": refused.occurred_at.isoformat(),
        "kind": "login_failed",
        "kind_label": "Failed sign-in",
        "who": "dana",
        "username": "dana",
        "action": "auth.login",
        "object_type": None,
        "object_id": None,
        "reason": "Wrong user name or password.",
        "ip_address": "203.0.113.1",
        "method": "POST",
        "path": "/accounts/login/",
        "token_id": None,
        "request_id": None,
        "seq": seq,
        "integrity": {
            "state": "verified",
            "seq": seq,
            "label": "verified",
            "detail": f"matches ledger seq {seq}, proved in the signed checkpoint",
            "fields": [],
            "since": None,
        },
    }
    scope = next(r for r in body["results"] if r["kind"] == "token_scope")
    assert (scope["username"], scope["token_id"]) == (
        "pipeline-bot",
        refusals.ingest_key.pk,
    )
    assert _reads() == [{}]


def test_filters_are_exact_on_the_page_and_in_the_api(
    refusals: Refusals,  # noqa: F811
    auditor: Any,
    risk_officer: Any,
    submitted_version: Any,
) -> None:
    client = _login(auditor)
    api = client_for(auditor)

    def page(query: str) -> list[str]:
        response = client.get(f"{PAGE}?{query}")
        assert response.status_code == 200, response.content
        return _kinds(_rows(response.content.decode()))

    def listed(query: dict[str, Any]) -> list[str]:
        response = api.get(API, query)
        assert response.status_code == 200, response.content
        return [r["kind"] for r in response.json()["results"]]

    version = f"registry.modelversion:{submitted_version.pk}"
    key = refusals.ingest_key.pk
    cases: list[tuple[dict[str, str], list[str]]] = [
        ({"kind": "locked_out"}, ["locked_out"]),
        ({"who": "dana"}, ["separation_of_duties", "locked_out", "login_failed"]),
        ({"who": "DANA"}, ["separation_of_duties", "locked_out", "login_failed"]),
        ({"who": "Risk"}, ["signature_password"]),
        ({"who": "pipeline-bot", "kind": "token_misuse"}, ["token_misuse"]),
        ({"address": "192.0.2.5"}, ["permission"]),
        ({"address": "192.0.2.55"}, []),
        ({"object": version}, ["separation_of_duties", "signature_password"]),
        ({"object": f"governance.apitoken:{key}"}, ["token_misuse"]),
        ({"object": "registry.model"}, ["permission"]),
    ]
    for query, expected in cases:
        encoded = "&".join(f"{k}={v}" for k, v in query.items())
        assert page(encoded) == expected, query
        assert listed(query) == expected, query
    # a time range: before every refusal, and from the sixth on
    earliest = refusals.by_kind[RefusalKind.LOGIN_FAILED].occurred_at
    sixth = refusals.by_kind[RefusalKind.TOKEN_SCOPE].occurred_at
    assert listed({"end": (earliest - timedelta(minutes=1)).isoformat()}) == []
    assert listed({"start": sixth.isoformat()}) == ["token_misuse", "token_scope"]
    assert (
        listed({"start": earliest.isoformat(), "end": sixth.isoformat()})
        == (NEWEST_FIRST[2:])
    )
    # each reading recorded with its filters (page and API alike)
    reads = _reads()
    assert reads[0] == {"kind": "locked_out"}
    assert reads[1] == {"kind": "locked_out"}
    assert reads[14] == {"object": version}
    assert reads[-1] == {
        "start": earliest.isoformat(),
        "end": sixth.isoformat(),
    }


def test_pages_follow_each_other_without_gap_or_overlap(
    refusals: Refusals,  # noqa: F811
    auditor: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # when the API is read three at a time, following next
    api = client_for(auditor)
    seen: list[int] = []
    url: str | None = f"{API}?limit=3"
    pages = 0
    while url:
        body = api.get(url).json()
        seen += [r["refusal_id"] for r in body["results"]]
        url = body["next"]
        pages += 1
    # then every refusal once, newest first, in three pages
    assert seen == sorted((r.pk for r in refusals.by_kind.values()), reverse=True)
    assert pages == 3
    # and the page links to the older rows, keeping the filters
    monkeypatch.setattr(selectors, "REFUSAL_PAGE", 2)
    client = _login(auditor)
    html = client.get(f"{PAGE}?who=dana").content.decode()
    older = re.search(r'href="\?([^"]+)" rel="next"', html)
    assert older is not None
    query = older.group(1).replace("&amp;", "&")
    assert query.startswith("who=dana&before=")
    assert _kinds(_rows(client.get(f"{PAGE}?{query}").content.decode())) == [
        "login_failed"
    ]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("kind=guessing", "kind", "Select a valid choice."),
        ("address=not-an-ip", "address", "Enter a valid IPv4 or IPv6 address."),
        ("object=DROP TABLE", "object", "Enter an object as app.model or app.model"),
        ("before=0", "before", "Ensure this value is greater than or equal to 1."),
        (
            "start=2026-03-02T00:00&end=2026-03-01T00:00",
            "end",
            "The range must end after it starts.",
        ),
    ],
)
def test_bad_filters_answer_400_naming_the_field_and_record_nothing(
    refusals: Refusals,  # noqa: F811
    auditor: Any,
    query: str,
    field: str,
    message: str,
) -> None:
    client, api_client = _login(auditor), client_for(auditor)
    events = AuditEvent.objects.count()
    page = client.get(f"{PAGE}?{query}")
    assert page.status_code == 400
    assert page.context["form"].errors[field][0].startswith(message)
    assert page.context["log"] is None
    api = api_client.get(f"{API}?{query}")
    assert api.status_code == 400
    assert list(api.json()["errors"]) == [field]
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    "role", ["developer", "validator", "risk_officer", "service", "outsider"]
)
def test_other_roles_are_refused_with_nothing_recorded(
    refusals: Refusals,  # noqa: F811
    role: str,
    request: pytest.FixtureRequest,
) -> None:
    user = request.getfixturevalue(role)
    # a token where the role may have one, else the session
    api: Any = _login(user) if role == "outsider" else client_for(user)
    events, last = AuditEvent.objects.count(), RefusedAction.objects.latest("id").pk
    if role != "service":
        assert _login(user).get(PAGE).status_code == 403
    assert api.get(API).status_code == 403
    assert AuditEvent.objects.count() == events
    # a refused read is not recorded; a token used beyond its scope is (ADR 0022)
    scopeless = role in ("developer", "validator", "service")
    assert [
        (r.kind, r.actor_id, r.action)
        for r in RefusedAction.objects.filter(pk__gt=last)
    ] == ([(RefusalKind.TOKEN_SCOPE, user.pk, "GET api-refusals")] if scopeless else [])
    with pytest.raises(Exception, match="may not see refused actions"):
        selectors.refusal_list_for_user(user=user)


def test_administrator_reads_them_anonymous_users_do_not(
    refusals: Refusals,  # noqa: F811
    administrator: Any,
) -> None:
    session = _login(administrator)
    assert session.get(PAGE).status_code == 200
    assert session.get(API).status_code == 200
    response = Client().get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert Client().get(API).status_code == 401


def test_a_token_without_audit_read_is_refused_and_nothing_read(
    refusals: Refusals,  # noqa: F811
    auditor: Any,
) -> None:
    from governance import services as governance_services

    issued = governance_services.api_token_create(
        actor=auditor, user=auditor, name="registry only", scopes=["registry:read"]
    )
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw}")
    response = client.get(API)
    assert response.status_code == 403
    assert "scope" in response.json()["detail"]
    assert _reads() == []


def test_home_and_access_log_link_to_the_refusals_for_auditors_only(
    refusals: Refusals,  # noqa: F811
    auditor: Any,
    risk_officer: Any,
) -> None:
    link = f'href="{PAGE}"'
    client = _login(auditor)
    assert link in client.get("/audits/").content.decode()
    assert link in client.get("/audits/access-log").content.decode()
    assert link not in _login(risk_officer).get("/audits/").content.decode()


def test_text_from_a_hostile_request_is_shown_escaped(
    auditor: Any, settings: Any
) -> None:
    # given a failed sign-in whose account name is markup
    settings.MODELGOV_REFUSAL_ALERT_THRESHOLD = 0
    audit_services.refused_action_record(
        actor=None,
        action="auth.login",
        reason="Wrong user name or password.",
        kind=RefusalKind.LOGIN_FAILED,
        username='<script>alert("x")</script>\x00',
    )
    # when / then
    html = _login(auditor).get(PAGE).content.decode()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;\ufffd" in html


def test_the_admin_lists_refusals_read_only(
    refusals: Refusals,  # noqa: F811
    admin_client: Client,
) -> None:
    url = "/admin/audits/refusedaction/"
    response = admin_client.get(f"{url}?kind=locked_out")
    assert response.status_code == 200
    assert "203.0.113.2" in response.content.decode()
    refused = refusals.by_kind[RefusalKind.LOCKED_OUT]
    assert admin_client.get(f"{url}add/").status_code == 403
    change = admin_client.post(f"{url}{refused.pk}/change/", {"reason": "x"})
    assert change.status_code == 403
    assert admin_client.post(f"{url}{refused.pk}/delete/").status_code == 403
    refused.refresh_from_db()
    assert refused.reason == "Locked out after 5 failed sign-ins."


def test_a_longer_page_costs_no_more_queries(
    refusals: Refusals,  # noqa: F811
    auditor: Any,
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api = client_for(auditor)
    client = _login(auditor)
    # warm up: the first request of a token or session records its first use
    api.get(API)
    client.get(PAGE)
    counts = []
    for limit in (1, 7):
        with CaptureQueriesContext(connection) as api_queries:
            assert api.get(API, {"limit": limit}).status_code == 200
        counts.append([q["sql"] for q in api_queries.captured_queries])
    assert len(counts[0]) == len(counts[1]), counts
    with CaptureQueriesContext(connection) as page_queries:
        assert client.get(PAGE).status_code == 200
    with CaptureQueriesContext(connection) as filtered_queries:
        assert client.get(f"{PAGE}?kind=locked_out").status_code == 200
    assert len(page_queries) == len(filtered_queries)
