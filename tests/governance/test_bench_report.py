"""``manage.py bench report``: JSON shape, exact counts and equal metrics, not speed."""

from __future__ import annotations

import io
import json
from typing import Any

from django.core.management import call_command


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


def test_bench_report_times_reports_against_fairlearn_in_a_scratch_database(
    db: Any,
) -> None:
    from django.db import connection

    from governance.bench import common

    # given
    out = io.StringIO()
    name = None
    try:
        # when
        call_command(
            "bench",
            "report",
            "--rows",
            "3000",
            "--baseline-rows",
            "1000",
            "--load-batch",
            "1000",
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
            "seconds",
            "peak_mb",
            "seconds_tenth",
            "peak_mb_tenth",
            "baseline_rows",
            "baseline_seconds",
            "baseline_peak_mb",
            "baseline_seconds_extrapolated",
            "ratio",
            "rollup_seconds",
            "rollup_rows_per_s",
            "load_seconds",
            "memory_method",
            "metrics_equal",
            "max_abs_diff",
            "postgres_settings",
            "load_average",
            "budget",
            "within_budget",
        } <= set(result)
        assert result["rows"] == 3000
        assert result["loaded_rows"] == 3000
        assert result["metrics_equal"] is True
        assert result["max_abs_diff"] <= 1e-9
        assert result["psi_max_abs_diff"] <= 1e-9
        assert result["budget"]["seconds"] == 30.0
        assert isinstance(result["within_budget"], bool)
        # the windows: every loaded hour, then the latest ones
        assert result["windows"]["full"]["hours"] == 30 * 24
        assert 300 <= result["rows_tenth"] < 320
        assert 1000 <= result["baseline_rows"] < 1010
        assert result["windows"]["baseline"]["rows"] == result["baseline_rows"]
        assert result["baseline_seconds_extrapolated"] == round(
            result["baseline_seconds"] / result["baseline_rows"] * 3000, 1
        )
        # every loaded entry was counted into the rollups
        assert result["rollup_entries"] >= 3000
        assert set(result["postgres_settings"]) == {
            "checkpoint_timeout",
            "fsync",
            "full_page_writes",
            "max_wal_size",
            "shared_buffers",
            "synchronous_commit",
        }
        # and the reports are stored as done, from the rollups of all the rows
        with _psycopg_to(name) as conn:
            counts = conn.execute(
                "SELECT (SELECT count(*) FROM audits_ledgerentry "
                "WHERE entry_type = 1), "
                "(SELECT count(*) FROM audits_protectedattributes), "
                "(SELECT sum(n) FROM audits_decisioncell), "
                "(SELECT count(*) FROM audits_monitoringreport "
                "WHERE status <> 'done')"
            ).fetchone()
        assert counts == (3000, 3000, 3000, 0)
    finally:
        if name is not None:
            common.scratch_drop(connection.settings_dict, name)
