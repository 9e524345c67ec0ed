"""A damaged ledger gives an integrity page (409) and 409 ``ledger_integrity`` in
the API, never a 500 and never a check mark: entries deleted from the tail, a
whole tail rolled back consistently (shown by the witness and the signer state), a
fork against the signer state, and a deleted prediction entry.

The scenario is the trail module's: credit-risk 1.0.0 approved and deployed, one
prediction sequenced; then 100 more entries under a later checkpoint.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from django.test import Client

from audits.ledger import checkpoint, integrity, services, witness
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

# From an empty ledger: see conftest.py (the templates' record leaves).
pytestmark = pytest.mark.usefixtures("empty_ledger")

ROOT = Path(__file__).resolve().parents[3]
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


# --- Offline: the verifier given a checkpoint trusted earlier -----------------------


def _verifier(tmp_path: Path, ledger_key: Any, *args: str) -> tuple[int, str, str]:
    (tmp_path / "key.pem").write_bytes(
        ledger_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "verify_ledger_proof.py"),
            *args,
            "--public-key",
            str(tmp_path / "key.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
    )
    return result.returncode, result.stdout, result.stderr


def test_a_newer_checkpoint_verifies_with_the_consistency_proof_since_the_trusted(
    anchored: tuple[int, int], auditor: Any, ledger_key: Any, tmp_path: Path
) -> None:
    # given: the auditor trusted the first checkpoint; the ledger has grown since
    first, second = anchored
    (tmp_path / "trusted.note").write_text(
        LedgerCheckpoint.objects.get(size=first).note
    )
    client = client_for(auditor)
    (tmp_path / "p.tlog-proof").write_bytes(
        client.get(trail_url(suffix="proof")).content
    )
    # when: without, then with the consistency proof from the trusted size
    without = _verifier(
        tmp_path,
        ledger_key,
        str(tmp_path / "p.tlog-proof"),
        "--trusted-checkpoint",
        str(tmp_path / "trusted.note"),
    )
    response = client.get(trail_url(suffix="proof"), {"since": first})
    (tmp_path / "c").write_bytes(response.content)
    with_proof = _verifier(
        tmp_path,
        ledger_key,
        str(tmp_path / "p.tlog-proof"),
        "--trusted-checkpoint",
        str(tmp_path / "trusted.note"),
        "--consistency",
        str(tmp_path / "c"),
    )
    # then
    assert without == (
        3,
        f"INCOMPLETE: the proof's checkpoint (size {second}) is newer than the "
        f"trusted checkpoint (size {first}); a consistency proof from size {first} "
        f"is needed: download the proof again with ?since={first} and pass it with "
        "--consistency\n",
        "",
    )
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="prediction-{PREDICTION_ID}.since-{first}'
        '.tlog-consistency"'
    )
    assert response.content.decode().startswith(f"old {first}\n")
    assert response.content.decode().endswith(
        LedgerCheckpoint.objects.get(size=second).note
    )
    code, out, err = with_proof
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == (
        f"  extends    the trusted checkpoint (size {first}): consistency proof "
        f"{first} -> {second} verified"
    )


def test_since_must_be_a_size_up_to_the_latest_checkpoint(
    anchored: tuple[int, int], auditor: Any
) -> None:
    client = client_for(auditor)
    for since, message in [
        ("abc", "A valid integer is required."),
        ("-1", "Ensure this value is greater than or equal to 0."),
        (
            str(anchored[1] + 1),
            f"The latest checkpoint has size {anchored[1]}; since cannot be larger.",
        ),
    ]:
        response = client.get(trail_url(suffix="proof"), {"since": since})
        assert response.status_code == 400
        assert response.json() == {
            "detail": "Invalid input.",
            "code": "invalid",
            "errors": {"since": [message]},
        }
    assert _trail_events() == []


def test_a_rollback_hidden_from_the_server_is_refused_offline(
    anchored: tuple[int, int],
    auditor: Any,
    ledger_key: Any,
    settings: Any,
    tmp_path: Path,
) -> None:
    # given: the auditor kept the latest checkpoint and a copy of the witness; then
    # the tail is rolled back and the server no longer sees its anchors
    first, second = anchored
    (tmp_path / "trusted.note").write_text(
        LedgerCheckpoint.objects.get(size=second).note
    )
    witness_copy = tmp_path / "witness-copy"
    shutil.copytree(settings.MODELGOV_LEDGER_WITNESS_DIR, witness_copy)
    truncate_tail(first)
    settings.MODELGOV_LEDGER_WITNESS_DIR = ""
    settings.MODELGOV_LEDGER_SIGNER_STATE = ""
    response = client_for(auditor).get(trail_url(suffix="proof"))
    assert response.status_code == 200  # the server alone cannot tell
    (tmp_path / "p.tlog-proof").write_bytes(response.content)
    # when
    by_note = _verifier(
        tmp_path,
        ledger_key,
        str(tmp_path / "p.tlog-proof"),
        "--trusted-checkpoint",
        str(tmp_path / "trusted.note"),
    )
    by_witness = _verifier(
        tmp_path,
        ledger_key,
        str(tmp_path / "p.tlog-proof"),
        "--witness-dir",
        str(witness_copy),
    )
    plain = _verifier(tmp_path, ledger_key, str(tmp_path / "p.tlog-proof"))
    # then
    assert by_note == (
        1,
        f"INVALID: the proof's checkpoint (size {first}) is older than the trusted "
        f"checkpoint (size {second}): the log was rolled back\n",
        "",
    )
    assert by_witness == (
        1,
        f"INVALID: the proof's checkpoint (size {first}) is older than the "
        f"witnessed checkpoint (size {second}): the log was rolled back (it held "
        f"size {first} too: the entry was logged, but the log that served this "
        "proof is behind)\n",
        "",
    )
    # and without a trusted checkpoint the proof alone still verifies
    assert plain[0] == 0


def test_an_unreadable_witness_is_not_vouched_for_and_not_a_500(
    anchored: tuple[int, int], auditor: Any, settings: Any, ledger_key: Any
) -> None:
    # given: the witness's latest note overwritten with garbage; no private key
    # where the page runs (only the public key)
    latest = Path(settings.MODELGOV_LEDGER_WITNESS_DIR) / "latest.note"
    latest.write_text("not a checkpoint\n\n")
    settings.MODELGOV_LEDGER_KEY = ""
    settings.MODELGOV_LEDGER_PUBLIC_KEY = (
        ledger_key.public_key()
        .public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        .decode()
    )
    # when
    response = _page(auditor)
    # then
    html = _assert_integrity_page(response)
    assert "The witness&#x27;s latest checkpoint cannot be read" in html
    api = client_for(auditor).get(trail_url())
    assert (api.status_code, api.json()["code"]) == (409, "ledger_integrity")


def test_missing_hashes_are_named_as_merged_seq_ranges(db: Any) -> None:
    # given: an empty ledger; a proof against size 200 missing some hashes
    missing = {(0, 5), (0, 6), (4, 1), (4, 2)} | {(0, 100 + 2 * i) for i in range(5)}
    # when
    error = integrity.missing_hashes(missing, 200)
    # then
    assert error.problems == [
        "stored hashes for seq 5..6, seq 16..47, seq 100, seq 102, seq 104 and 2 "
        "more ranges are missing",
        "checkpoint 200 has no entries at all",
    ]
    assert error.first_missing_seq == 0
    assert error.as_dict()["code"] == "ledger_integrity"
