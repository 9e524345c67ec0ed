"""Real headless Chromium on a damaged ledger: the tail of the ledger is deleted as
the database superuser (triggers off), and the auditor opening a trail sees the
integrity page (409), with what is missing and what to do, and no check mark.

The deleted entries are put back afterwards (INSERT is allowed on the ledger), so
the other browser tests of the session see an intact ledger.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from tests.e2e.conftest import ADMIN_DSN
from tests.e2e.test_trail_browser import (
    APPROVE_AND_DEPLOY,
    MODEL,
    VERSION,
    _login,
    _post,
    _shell,
)

pytestmark = pytest.mark.e2e

ENTRY = "audits_ledgerentry"
_TRIGGERS_SQL = (
    "SELECT c.relname, t.tgname, t.tgenabled FROM pg_trigger t "
    "JOIN pg_class c ON c.oid = t.tgrelid "
    "WHERE c.relname = ANY(%s) AND NOT t.tgisinternal ORDER BY 1, 2"
)


def _prediction(prediction_id: uuid.UUID) -> dict[str, Any]:
    return {
        "prediction_id": str(prediction_id),
        "model": MODEL,
        "version": VERSION,
        "predicted_at": datetime.now(UTC).isoformat(),
        "input_commitment": "cd" * 32,
        "score": 0.37,
        "decision": "refer",
    }


@pytest.fixture(scope="module")
def damaged(live_app: Any) -> Iterator[dict[str, Any]]:
    """A sequenced prediction, then three more under a later checkpoint whose
    entries are deleted; restored when the module ends."""
    _shell(
        live_app,
        APPROVE_AND_DEPLOY.format(
            model=MODEL, version=VERSION, password=live_app.password
        ),
    )
    issued = live_app.manage(
        "issue_token",
        "--username",
        "pipeline",
        "--name",
        "e2e integrity scorer",
        "--model",
        MODEL,
        "--environment",
        "production",
    ).stdout
    token = issued.split("token: ")[1].strip()
    prediction_id = uuid.uuid4()
    _post(f"{live_app.url}/api/v1/predictions", token, [_prediction(prediction_id)])
    live_app.manage("ledger_sequencer", "--once")
    later = [_prediction(uuid.uuid4()) for _ in range(3)]
    _post(f"{live_app.url}/api/v1/predictions", token, later)
    live_app.manage("ledger_sequencer", "--once")
    dbname = live_app.env["DATABASE_URL"].rsplit("/", 1)[1]
    dsn = ADMIN_DSN.rsplit("/", 1)[0] + f"/{dbname}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        (seq,) = conn.execute(
            f'SELECT "seq" FROM "{ENTRY}" WHERE "entry_id" = %s', [prediction_id]
        ).fetchone()
        (size,) = conn.execute(
            'SELECT max("size") FROM "audits_ledgercheckpoint"'
        ).fetchone()
        names = [ENTRY] + [
            row[0]
            for row in conn.execute(
                "SELECT c.relname FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
                [ENTRY],
            )
        ]
        before = conn.execute(_TRIGGERS_SQL, [names]).fetchall()
        cut = seq + 1
        conn.execute(
            f'CREATE TABLE "e2e_deleted_tail" AS SELECT * FROM "{ENTRY}" '
            'WHERE "seq" >= %s',
            [cut],
        )
        for name in names:
            conn.execute(f'ALTER TABLE "{name}" DISABLE TRIGGER ALL')
        try:
            conn.execute(f'DELETE FROM "{ENTRY}" WHERE "seq" >= %s', [cut])
        finally:
            for name in names:
                conn.execute(f'ALTER TABLE "{name}" ENABLE TRIGGER ALL')
            for relname, trigger, state in before:
                if state == "A":
                    conn.execute(
                        f'ALTER TABLE "{relname}" ENABLE ALWAYS TRIGGER "{trigger}"'
                    )
        assert conn.execute(_TRIGGERS_SQL, [names]).fetchall() == before
        try:
            yield {"prediction_id": prediction_id, "cut": cut, "size": size}
        finally:
            conn.execute(f'INSERT INTO "{ENTRY}" SELECT * FROM "e2e_deleted_tail"')
            conn.execute('DROP TABLE "e2e_deleted_tail"')


def test_auditor_sees_the_integrity_page_after_a_tail_truncation(
    live_app: Any, page: Any, damaged: dict[str, Any]
) -> None:
    prediction_id, cut, size = (
        damaged["prediction_id"],
        damaged["cut"],
        damaged["size"],
    )
    # given the auditor signed in
    _login(page, live_app, "auditor")
    # when they open the trail of a prediction under the damaged checkpoint
    response = page.goto(f"{live_app.url}/audits/predictions/{prediction_id}")
    # then the integrity page answers, saying what is missing and what to do
    assert response is not None and response.status == 409
    assert page.get_by_role(
        "heading", name="The ledger failed its integrity check", level=1
    ).is_visible()
    assert page.get_by_text(
        f"Checkpoint {size} has no entries beyond {cut - 1}."
    ).is_visible()
    assert page.get_by_text(f"First missing seq: {cut}.").is_visible()
    assert page.get_by_text(re.compile(r"Run manage\.py ledger_fsck")).is_visible()
    # and nothing vouches: no check mark, no proof or PDF to download
    body = page.locator("main").inner_text()
    assert "✓" not in body
    assert page.locator(".badge--ok").count() == 0
    assert page.get_by_role("link", name="Download proof").count() == 0
    assert page.get_by_role("link", name="Download PDF").count() == 0
    # and the API says the same, with the first missing seq
    api = page.request.get(f"{live_app.url}/api/v1/predictions/{prediction_id}/trail")
    assert api.status == 409
    body_json = json.loads(api.text())
    assert (body_json["code"], body_json["first_missing_seq"]) == (
        "ledger_integrity",
        cut,
    )
