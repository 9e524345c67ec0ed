"""``manage.py bench gate``: JSON shape and no data left behind (no timing asserts)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audits.models import AuditEvent
from governance.models import GateDecision, ReleaseRequest
from registry.models import Model


def test_bench_gate_prints_latency_json_and_rolls_back(db: Any) -> None:
    # given
    events = AuditEvent.objects.count()
    out = io.StringIO()
    # when
    call_command("bench", "gate", "--decisions", "50", stdout=out)
    # then
    result = json.loads(out.getvalue())
    assert set(result) == {
        "decisions",
        "p50_ms",
        "p99_ms",
        "max_ms",
        "pure_p50_ms",
        "ratio_p50_to_pure",
        "budget_p99_ms",
        "within_budget",
        "all_allowed",
        "database",
    }
    assert result["decisions"] == 50
    assert result["budget_p99_ms"] == 20.0
    assert result["all_allowed"] is True
    assert result["database"] == "postgresql"
    assert isinstance(result["within_budget"], bool)
    # and the benchmark's rows are gone
    assert GateDecision.objects.count() == 0
    assert ReleaseRequest.objects.count() == 0
    assert Model.objects.count() == 0
    assert AuditEvent.objects.count() == events


def test_bench_refuses_an_unknown_target(db: Any) -> None:
    with pytest.raises(CommandError):
        call_command("bench", "nothing")


# --- the ledger benchmarks (ingest, trail): JSON shape and exact counts, not speed


def _psycopg_to(name: str) -> Any:
    import psycopg
    from django.db import connection

    params = connection.settings_dict
    return psycopg.connect(
        dbname=name,
        host=params["HOST"] or None,
        port=params["PORT"] or None,
        user=params["USER"] or None,
        password=params["PASSWORD"] or None,
    )


def test_bench_ingest_posts_every_row_over_http_in_a_scratch_database(db: Any) -> None:
    from django.db import connection

    from governance.bench import common

    # given
    out = io.StringIO()
    name = None
    try:
        # when
        call_command(
            "bench",
            "ingest",
            "--rows",
            "3000",
            "--clients",
            "2",
            "--warmup-batches",
            "2",
            "--scratch",
            "--keep",
            stdout=out,
        )
        # then
        result = json.loads(out.getvalue())
        name = result["scratch_database"]
        assert name.startswith("mg_bench_")
        assert {
            "rows",
            "api_rows_per_s",
            "copy_rows_per_s",
            "ratio",
            "batch_p50_ms",
            "batch_p99_ms",
            "clients",
            "batch",
            "errors",
            "overloaded_503",
            "drained_after_s",
            "sequencing_lag_p99_ms",
        } <= set(result)
        assert result["rows"] == 3000
        assert result["accepted"] == 3000
        # the server's durability settings are part of the figures
        assert set(result["postgres_settings"]) == {
            "checkpoint_timeout",
            "fsync",
            "full_page_writes",
            "max_wal_size",
            "shared_buffers",
            "synchronous_commit",
        }
        assert result["postgres_settings"]["fsync"] == "on"
        assert result["duplicates"] == 0
        assert result["warmup_rows"] == 2000
        assert result["clients"] == 2
        assert result["batch"] == 1000
        assert result["batches"] == 3
        assert result["errors"] == 0
        assert result["copy_rows"] == 3000
        assert result["sequencer"] is True
        assert result["predictions_sequenced"] == 5000
        assert result["predictions_queued"] == 0
        assert result["ratio"] == pytest.approx(
            result["api_rows_per_s"] / result["copy_rows_per_s"], rel=0.01
        )
        # and the database holds exactly the acknowledged predictions, sequenced
        with _psycopg_to(name) as conn:
            counts = conn.execute(
                "SELECT (SELECT count(*) FROM audits_ledgerkey WHERE entry_type = 1), "
                "(SELECT count(*) FROM audits_ledgerentry WHERE entry_type = 1), "
                "(SELECT count(*) FROM audits_ledgerqueue), "
                "(SELECT count(*) FROM audits_protectedattributes), "
                "(SELECT to_regclass('mg_bench_copy_baseline') IS NULL)"
            ).fetchone()
        assert counts == (5000, 5000, 0, 5000, True)
    finally:
        if name is not None:
            common.scratch_drop(connection.settings_dict, name)


def test_bench_trail_loads_times_and_checks_the_ledger(db: Any) -> None:
    from audits.ledger.models import (
        EntryType,
        LedgerCheckpoint,
        LedgerEntry,
        LedgerKey,
        ProtectedAttributes,
    )

    # given
    out = io.StringIO()
    # when
    call_command("bench", "trail", "--rows", "5000", "--samples", "50", stdout=out)
    # then
    result = json.loads(out.getvalue())
    assert {"rows", "p50_ms", "p99_ms", "fsck_rows_per_s", "timed"} <= set(result)
    assert result["rows"] == 5000
    assert result["samples"] == 50
    assert result["proofs_verified"] == 50
    assert result["fsck_ok"] is True
    assert result["fsck_entries"] == 5000
    # the governance records (the bench approval, its state, the accounts' history)
    assert result["fsck_governance_ok"] is True
    assert result["fsck_governance_errors"] == []
    assert result["fsck_governance_rows"] > 0
    assert result["fsck_governance_rows_per_s"] > 0
    assert result["load_path"] == "direct"
    # the same-run baseline: the trail's p50 against the ledger's own lookup+proof
    assert result["ratio_p50_to_ledger"] == round(
        result["p50_ms"] / result["ledger_p50_ms"], 2
    )
    assert result["timed"] in {
        "audits.trail.prediction_trail",
        "ledger_entry_lookup+ledger_inclusion_of",
    }
    # and the ledger holds exactly 5,000 entries, each with its key
    predictions = LedgerEntry.objects.filter(entry_type=EntryType.PREDICTION).count()
    assert LedgerEntry.objects.count() == 5000
    assert LedgerKey.objects.count() == 5000
    assert predictions == result["loaded_rows"]
    assert ProtectedAttributes.objects.count() == predictions
    assert LedgerCheckpoint.objects.order_by("-size").first().size == 5000


def test_bench_trail_via_the_sequencer_makes_a_ledger_fsck_accepts(db: Any) -> None:
    from audits.ledger.models import LedgerEntry, LedgerQueue

    # given
    out = io.StringIO()
    # when
    call_command(
        "bench",
        "trail",
        "--rows",
        "2500",
        "--samples",
        "20",
        "--load-batch",
        "1000",
        "--via-sequencer",
        stdout=out,
    )
    # then
    result = json.loads(out.getvalue())
    assert result["load_path"] == "ledger_sequence"
    assert result["fsck_ok"] is True
    assert result["rows"] == 2500
    assert LedgerEntry.objects.count() == 2500
    assert LedgerQueue.objects.count() == 0


def test_bench_trail_refuses_a_database_with_real_data(db: Any) -> None:
    from audits.ledger.models import LedgerEntry
    from tests.factories import ModelFactory

    # given
    ModelFactory(slug="credit-risk")
    # when
    with pytest.raises(CommandError, match="holds real data"):
        call_command("bench", "trail", "--rows", "100", "--samples", "5")
    # then
    assert LedgerEntry.objects.count() == 0
    assert Model.objects.count() == 1


def test_bench_records_are_what_the_ingest_validates_them_into() -> None:
    import random
    from datetime import UTC, datetime

    from audits.ledger import records
    from governance.bench import common

    # given
    binding = records.Binding(
        model_id=7, model_slug="bench-credit", environment="production", key_prefix="k"
    )
    version = records.VersionInfo(3, "1.0.0", "a" * 64)
    at = records.iso(datetime.now(UTC))
    rng = random.Random(4)
    batch = [
        common.sample_record(rng, slug="bench-credit", version="1.0.0", predicted_at=at)
        for _ in range(50)
    ]
    # when
    validated = records.validate_predictions(
        batch, binding=binding, versions={"1.0.0": version}, now=datetime.now(UTC)
    )
    # then
    assert [common.prediction_of(r, version) for r in batch] == validated
