"""Real headless Chromium on a trail whose approval signature was forged in the
database (issue 13): the auditor sees the red "altered" mark on that signature, and
no green check that the state's leaf commits to the signatures.

The forgery is made as a hostile database administrator would (the superuser,
the table's triggers disabled) on the live server's database, and undone at the
end so that the session's other browser tests see the database as they expect.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.test_trail_browser import _login, _shell, recorded  # noqa: F401

pytestmark = pytest.mark.e2e

FORGE = """
import json
from django.db import connection
from governance.models import Signature
signature = Signature.objects.filter(request_id={request}, meaning="approved").first()
with connection.cursor() as cursor:
    cursor.execute("ALTER TABLE governance_signature DISABLE TRIGGER ALL")
    cursor.execute(
        "UPDATE governance_signature SET printed_name = %s WHERE id = %s",
        [{name!r}, signature.pk],
    )
    cursor.execute("ALTER TABLE governance_signature ENABLE TRIGGER ALL")
print(json.dumps({{"id": signature.pk, "was": signature.printed_name}}))
"""

RESTORE = """
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("ALTER TABLE governance_signature DISABLE TRIGGER ALL")
    cursor.execute(
        "UPDATE governance_signature SET printed_name = %s WHERE id = %s",
        [{name!r}, {pk}],
    )
    cursor.execute("ALTER TABLE governance_signature ENABLE TRIGGER ALL")
print("restored")
"""

FORGED_NAME = "Mallory Forger (mallory)"


@pytest.fixture
def forged(live_app: Any, recorded: dict[str, Any]) -> Iterator[dict[str, Any]]:  # noqa: F811
    done = json.loads(
        _shell(live_app, FORGE.format(request=recorded["request"], name=FORGED_NAME))
    )
    try:
        yield done
    finally:
        _shell(live_app, RESTORE.format(name=done["was"], pk=done["id"]))


def test_auditor_sees_a_forged_signature_as_altered(
    live_app: Any,
    page: Any,
    recorded: dict[str, Any],  # noqa: F811
    forged: dict[str, Any],
) -> None:
    # given the auditor signed in
    _login(page, live_app, "auditor")
    # when they open the trail of a prediction made under the forged approval
    page.goto(f"{live_app.url}/audits/predictions/{recorded['prediction_id']}")
    # then the forged signer's row carries the red altered mark
    signatures = page.get_by_role("table", name=re.compile("Signatures of RR-"))
    row = signatures.get_by_role("row", name=re.compile(re.escape(FORGED_NAME)))
    mark = row.locator("[data-integrity]")
    assert mark.get_attribute("data-integrity") == "altered"
    assert re.fullmatch(
        r"✗ altered: does not match ledger seq \d+ \(differs in printed_name\)",
        " ".join(mark.inner_text().split()),
    )
    assert mark.evaluate("e => getComputedStyle(e).color") == "rgb(143, 29, 20)"
    # and nothing vouches for the signatures as a whole
    assert "commits to these bindings" not in signatures.inner_text()
    # and the request itself is still verified
    approval = page.locator("dd", has=page.get_by_role("link", name=re.compile("RR-")))
    assert approval.locator("[data-integrity]").get_attribute("data-integrity") == (
        "verified"
    )
