"""fsck names the exact first missing seq: tail deletions, one deleted row, and a
whole tail rolled back consistently (found only through the witness and the signer
state). On real PostgreSQL, as the superuser with the triggers off.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from audits.ledger import fsck, services, witness
from audits.ledger.models import LedgerCheckpoint, LedgerEntry
from tests.audits.ledger.test_tamper import (
    CHECKPOINT,
    ENTRY,
    _batch,
    ledger_key,  # noqa: F401 (a fixture)
    superuser_tampering,
    truncate_tail,
)

# Checkpoints at 10,000, 20,000, 30,000, 36,000 and 40,000.
BATCHES = [10_000, 10_000, 10_000, 6_000, 4_000]
SIZES = [10_000, 20_000, 30_000, 36_000, 40_000]


@dataclass(frozen=True)
class Ledger40k:
    witness_dir: Path
    signer_state: Path


@pytest.fixture
def ledger_40k(
    db: Any,
    ledger_key: Any,  # noqa: F811
    settings: Any,
    tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
) -> Ledger40k:
    """40,000 entries in five signed batches, each witnessed and in the signer
    state (services._after_commit runs on commit)."""
    settings.MODELGOV_LEDGER_WITNESS_DIR = str(tmp_path / "witness")
    settings.MODELGOV_LEDGER_SIGNER_STATE = str(tmp_path / "signer" / "state.json")
    signer = services.ledger_signer()
    for number, size in enumerate(BATCHES):
        services.ledger_enqueue(entries=_batch(size, str(number)))
        with django_capture_on_commit_callbacks(execute=True):
            services.ledger_sequence(signer=signer, batch_size=size)
    assert list(LedgerCheckpoint.objects.values_list("size", flat=True)) == SIZES
    directory = witness.configured_witness()
    assert directory is not None and directory.sizes() == SIZES
    return Ledger40k(tmp_path / "witness", tmp_path / "signer" / "state.json")


def _fsck_command() -> tuple[int, dict[str, Any], str]:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        call_command("ledger_fsck", stdout=out, stderr=err)
    except SystemExit as exc:
        code = int(str(exc.code))
    return code, json.loads(out.getvalue()), err.getvalue()


def test_the_command_prints_its_rate_and_a_clean_report(ledger_40k: Ledger40k) -> None:
    # when
    code, output, err = _fsck_command()
    # then
    assert (code, err, output["ok"], output["entries"]) == (0, "", True, 40_000)
    assert output["missing"] is None
    assert isinstance(output["fsck_rows_per_s"], int)
    assert output["fsck_rows_per_s"] > 0
    assert "timing" not in output


def test_entries_deleted_from_the_tail_name_the_first_missing_seq(
    ledger_40k: Ledger40k,
) -> None:
    # given: entries 35,900..39,999 deleted; keys, nodes, checkpoints and head kept
    with superuser_tampering(ENTRY) as cursor:
        cursor.execute(f'DELETE FROM "{ENTRY}" WHERE "seq" >= 35900')
        assert cursor.rowcount == 4100
    # when
    report = fsck.check_database()
    code, output, err = _fsck_command()
    # then: 35900 exactly, not 35888 (the first leaf of stored node 4/2243)
    assert (report.first_divergent_seq, report.first_bad_checkpoint_size) == (
        35900,
        36000,
    )
    assert report.missing == {
        "first_seq": 35900,
        "last_seq": 39999,
        "shown_by": [
            "the witnessed checkpoint of size 40000",
            "the signer-state checkpoint of size 40000",
            "checkpoint 40000",
        ],
    }
    problem = (
        "entries 35900..39999 are missing (shown by the witnessed checkpoint of "
        "size 40000, the signer-state checkpoint of size 40000, checkpoint 40000)"
    )
    assert {"seq": 35900, "problem": problem} in report.errors
    assert {"seq": 35900, "problem": "node 4/2243 past the leaves"} in report.errors
    node_seqs = {e["seq"] for e in report.errors if "past the leaves" in e["problem"]}
    assert min(node_seqs) == 35900
    assert {
        "checkpoint_size": 36000,
        "problem": "only 35900 leaves are stored",
    } in report.errors
    assert (code, output["first_divergent_seq"], output["ok"]) == (1, 35900, False)
    assert output["missing"]["first_seq"] == 35900
    assert err == (
        f"ledger fsck failed: first divergent seq 35900: {problem}; "
        "first bad checkpoint 36000\n"
    )


def test_one_deleted_row_is_named_exactly(ledger_40k: Ledger40k) -> None:
    # given: seq 15,000 deleted, the rows after it not renumbered
    with superuser_tampering(ENTRY) as cursor:
        cursor.execute(f'DELETE FROM "{ENTRY}" WHERE "seq" = 15000')
        assert cursor.rowcount == 1
    # when
    report = fsck.check_database()
    # then: 15000, not 12288 (the first leaf of stored node 12/3)
    assert report.first_divergent_seq == 15000
    assert {"seq": 15000, "problem": "seq 15001 found where 15000 was due"} in (
        report.errors
    )
    assert {"seq": 15000, "problem": "node 12/3 past the leaves"} in report.errors
    assert min(e["seq"] for e in report.errors if "seq" in e) == 15000
    # a gap is no tail: nothing after it was checked, so no range is called missing
    assert report.missing is None
    assert report.first_bad_checkpoint_size == 20000


def test_a_consistent_rollback_is_named_by_the_anchors(ledger_40k: Ledger40k) -> None:
    # given: entries, keys, nodes, checkpoints and head all cut back to 36,000
    truncate_tail(36000)
    assert LedgerEntry.objects.count() == 36000
    # when: the database alone is consistent ...
    alone = fsck.check(
        (
            (seq, bytes(leaf), bytes(h))
            for seq, leaf, h in LedgerEntry.objects.order_by("seq").values_list(
                "seq", "leaf", "leaf_hash"
            )
        ),
        (
            fsck.CheckpointRow(size, bytes(root), note)
            for size, root, note in LedgerCheckpoint.objects.order_by(
                "size"
            ).values_list("size", "root", "note")
        ),
        witness.ledger_public_key(),
        origin=services.ledger_origin(),
        head=36000,
    )
    # ... but not with the witness and the signer state
    report = fsck.check_database()
    code, output, err = _fsck_command()
    # then
    assert alone.ok
    assert report.missing == {
        "first_seq": 36000,
        "last_seq": 39999,
        "shown_by": [
            "the witnessed checkpoint of size 40000",
            "the signer-state checkpoint of size 40000",
        ],
    }
    assert report.errors == [
        {
            "seq": 36000,
            "problem": "entries 36000..39999 are missing (shown by the witnessed "
            "checkpoint of size 40000, the signer-state checkpoint of size 40000)",
        },
        {
            "checkpoint_size": 40000,
            "problem": "log behind the signer-state checkpoint (size 40000)",
        },
        {
            "checkpoint_size": 40000,
            "problem": "log behind the witnessed checkpoint (size 40000)",
        },
    ]
    assert (report.first_divergent_seq, report.first_bad_checkpoint_size) == (
        36000,
        40000,
    )
    assert (code, output["first_divergent_seq"]) == (1, 36000)
    assert err.startswith("ledger fsck failed: first divergent seq 36000: entries ")


def test_a_rollback_that_left_the_nodes_is_shown_by_them(
    ledger_40k: Ledger40k, settings: Any
) -> None:
    # given: entries, checkpoints and head cut back to 30,000, stored nodes left,
    # and no witness or signer state to compare with
    with superuser_tampering(ENTRY, CHECKPOINT, "audits_ledgerhead") as cursor:
        cursor.execute(f'DELETE FROM "{ENTRY}" WHERE "seq" >= 30000')
        cursor.execute(f'DELETE FROM "{CHECKPOINT}" WHERE "size" > 30000')
        cursor.execute('UPDATE "audits_ledgerhead" SET "size" = 30000 WHERE "id" = 1')
    settings.MODELGOV_LEDGER_WITNESS_DIR = ""
    settings.MODELGOV_LEDGER_SIGNER_STATE = ""
    # when
    report = fsck.check_database(keys=False)
    # then: the last stored node ends at 40,000
    assert report.missing == {
        "first_seq": 30000,
        "last_seq": 39999,
        "shown_by": ["stored node 4/2499"],
    }
    assert report.first_divergent_seq == 30000
    assert report.errors[0] == {
        "seq": 30000,
        "problem": "entries 30000..39999 are missing (shown by stored node 4/2499)",
    }
    assert {"seq": 30000, "problem": "node 8/117 past the leaves"} in report.errors
    assert report.first_bad_checkpoint_size is None
