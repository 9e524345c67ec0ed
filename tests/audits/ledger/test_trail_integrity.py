"""A damaged ledger gives an integrity page (409) and 409 ``ledger_integrity`` in
the API, never a 500 and never a check mark: entries deleted from the tail, a
whole tail rolled back consistently (shown by the witness and the signer state), a
fork against the signer state, and a deleted prediction entry.

The scenario is the trail module's: credit-risk 1.0.0 approved and deployed, one
prediction sequenced; then 100 more entries under a later checkpoint.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from audits.ledger import checkpoint, services, witness
from audits.ledger.models import LedgerCheckpoint, LedgerEntry
from tests.audits.ledger.test_tamper import (
    ENTRY,
    _batch,
    superuser_tampering,
    truncate_tail,
)
from tests.audits.test_trail import (  # noqa: F401 (fixtures)
    PREDICTION_ID,
    Served,
    _trail_events,
    deployed,
    page_url,
    served,
    trail_url,
)
from tests.conftest import client_for

MORE = 100
ADVICE = "Run manage.py ledger_fsck for the full report and contact the administrator."


@pytest.fixture
def anchored(
    served: Served,  # noqa: F811
    settings: Any,
    tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
) -> tuple[int, int]:
    """The witness and the signer state hold the served checkpoint; then MORE
    entries are sequenced under a later one, also witnessed. Returns both sizes."""
    settings.MODELGOV_LEDGER_WITNESS_DIR = str(tmp_path / "witness")
    settings.MODELGOV_LEDGER_SIGNER_STATE = str(tmp_path / "signer.json")
    first = services.latest_checkpoint()
    assert first is not None
    services.signer_state_write(first)
    assert witness.witness_submit_pending().added == [first.size]
    services.ledger_enqueue(entries=_batch(MORE, "later"))
    with django_capture_on_commit_callbacks(execute=True):
        services.ledger_sequence(signer=services.ledger_signer())
    second = services.latest_checkpoint()
    assert second is not None and second.size == first.size + MORE
    state = services.signer_state_read()
    assert state is not None and state.size == second.size
    return first.size, second.size


def _page(auditor: Any) -> Any:
    client = Client()
    client.force_login(auditor)
    return client.get(page_url())


def _assert_integrity_page(response: Any, *expected: str) -> str:
    assert response.status_code == 409
    html = response.content.decode()
    assert "The ledger failed its integrity check" in html
    for text in expected:
        assert text in html, html[html.find("<h2>What is wrong") :][:900]
    assert "manage.py ledger_fsck" in html
    assert "contact the administrator" in html
    # nothing vouches: no check mark, no green badge, no proof or PDF link
    assert "✓" not in html
    assert "badge--ok" not in html
    assert trail_url(suffix="proof") not in html
    assert trail_url(suffix="trail.pdf") not in html
    return html


def _assert_api_409(auditor: Any, detail: str, first_missing_seq: int | None) -> None:
    client = client_for(auditor)
    for suffix in ("trail", "trail.pdf", "proof"):
        response = client.get(trail_url(suffix=suffix))
        assert response.status_code == 409, (suffix, response.content[:300])
        assert response.json() == {
            "detail": detail,
            "code": "ledger_integrity",
            "errors": {},
            "first_missing_seq": first_missing_seq,
        }


def test_the_trail_is_proven_before_the_damage(
    anchored: tuple[int, int], auditor: Any
) -> None:
    # when
    response = _page(auditor)
    # then
    assert response.status_code == 200
    assert "✓" in response.content.decode()
    assert (
        client_for(auditor).get(trail_url()).json()["checkpoint"]["size"]
        == (anchored[1])
    )


def test_entries_deleted_from_the_tail_give_the_integrity_page(
    anchored: tuple[int, int], auditor: Any
) -> None:
    # given: the last 40 entries deleted; checkpoints, nodes and head kept
    _, size = anchored
    cut = size - 40
    with superuser_tampering(ENTRY) as cursor:
        cursor.execute(f'DELETE FROM "{ENTRY}" WHERE "seq" >= %s', [cut])
        assert cursor.rowcount == 40
    # when
    response = _page(auditor)
    # then: a proof needs the leaf hashes after the last complete stored node
    tail = size - size % 16
    assert size % 16 != 0
    problems = [
        f"Stored hashes for seq {tail}..{size - 1} are missing.",
        f"Checkpoint {size} has no entries beyond {cut - 1}.",
        f"First missing seq: <strong>{cut}</strong>.",
    ]
    _assert_integrity_page(response, *problems)
    _assert_api_409(
        auditor,
        "The ledger failed its integrity check: stored hashes for seq "
        f"{tail}..{size - 1} are missing; checkpoint {size} has no entries beyond "
        f"{cut - 1}. First missing seq: {cut}. {ADVICE}",
        cut,
    )
    assert _trail_events() == []


def test_a_consistent_rollback_is_shown_by_the_witness_and_the_signer(
    anchored: tuple[int, int], auditor: Any
) -> None:
    # given: entries, keys, nodes, checkpoints and head rolled back to the first
    # checkpoint: the database alone is consistent
    first, second = anchored
    truncate_tail(first)
    assert LedgerCheckpoint.objects.order_by("-size").first().size == first
    # when
    response = _page(auditor)
    # then
    _assert_integrity_page(
        response,
        f"The witnessed checkpoint covers {second} entries but the latest "
        f"checkpoint in the database covers {first}.",
        f"Entries {first}..{second - 1} are missing.",
        f"First missing seq: <strong>{first}</strong>.",
    )
    _assert_api_409(
        auditor,
        "The ledger failed its integrity check: the witnessed checkpoint covers "
        f"{second} entries but the latest checkpoint in the database covers "
        f"{first}; the signer-state checkpoint covers {second} entries but the "
        f"latest checkpoint in the database covers {first}; entries "
        f"{first}..{second - 1} are missing. First missing seq: {first}. {ADVICE}",
        first,
    )
    assert _trail_events() == []


def test_a_fork_against_the_signer_state_gives_the_integrity_page(
    anchored: tuple[int, int], auditor: Any, settings: Any
) -> None:
    # given: the signer state holds another root for the database's latest size
    _, size = anchored
    settings.MODELGOV_LEDGER_WITNESS_DIR = ""
    services.signer_state_write(
        checkpoint.Checkpoint(services.ledger_origin(), size, b"\x07" * 32)
    )
    # when
    response = _page(auditor)
    # then
    _assert_integrity_page(
        response,
        f"The signer-state checkpoint of size {size} has another root than the "
        "checkpoint in the database (a fork).",
    )
    assert "First missing seq" not in response.content.decode()
    _assert_api_409(
        auditor,
        f"The ledger failed its integrity check: the signer-state checkpoint of "
        f"size {size} has another root than the checkpoint in the database (a fork). "
        f"{ADVICE}",
        None,
    )


def test_a_deleted_prediction_entry_is_not_a_404(
    served: Served,  # noqa: F811
    auditor: Any,
) -> None:
    # given: the prediction's own entry deleted (its idempotency key stays)
    seq = LedgerEntry.objects.get(entry_id=PREDICTION_ID).seq
    with superuser_tampering(ENTRY) as cursor:
        cursor.execute(f'DELETE FROM "{ENTRY}" WHERE "seq" = %s', [seq])
    # when
    response = _page(auditor)
    # then
    _assert_integrity_page(
        response, f"Entry {PREDICTION_ID} was accepted but is no longer stored."
    )
    response = client_for(auditor).get(trail_url())
    assert response.status_code == 409
    assert response.json()["code"] == "ledger_integrity"
    # and an id never accepted is still a plain 404
    assert client_for(auditor).get(trail_url(uuid.uuid4())).status_code == 404


def test_the_integrity_answers_keep_the_permission_checks(
    anchored: tuple[int, int], developer: Any
) -> None:
    # given: a damaged tail; a role without the trail permission
    truncate_tail(anchored[0])
    # when / then: 403 as before, not the integrity page
    client = Client()
    client.force_login(developer)
    assert client.get(page_url()).status_code == 403
    assert client_for(developer).get(trail_url()).status_code == 403
