"""``manage.py bench evidence``: JSON shape, the scene and a pack that verifies,
not speed (small sizes)."""

from __future__ import annotations

import io
import json
from typing import Any

from django.core.management import call_command

from tests.governance.test_bench_report import _psycopg_to


def test_bench_evidence_builds_a_verified_pack_and_a_trail_pdf_in_a_scratch_database(
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
            "evidence",
            "--rows",
            "1200",
            "--days",
            "2",
            "--pdf-samples",
            "2",
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
            "pack_seconds",
            "pack_pages",
            "pack_peak_mb",
            "pack_bytes",
            "trail_pdf_seconds",
            "trail_pdf_import_seconds",
            "budget",
            "within_budget",
            "method",
        } <= set(result)
        assert result["budget"] == {
            "pack_seconds": 20.0,
            "pack_pages_at_least": 30,
            "trail_pdf_seconds": 2.0,
        }
        assert isinstance(result["within_budget"], bool)
        # the pack verifies offline, and holds what the scene made
        assert result["pack_verified"] is True
        assert result["pack_verify_problems"] == []
        assert result["pack_pdfa_problems"] == []
        assert result["pack_pages"] > 1
        assert result["pack_bytes"] > 0
        assert result["trail_pdf_samples"] == 2
        assert result["trail_pdf_bytes"] > 0
        assert result["loaded_rows"] == 1200
        assert result["reports"] == 4
        assert result["signatures"] == 2
        assert result["findings"] >= 3  # and any a monitoring breach raised
        assert result["gate_decisions"] == 5
        # and the packs (warm-up and measured) are stored as done
        with _psycopg_to(name) as conn:
            statuses = conn.execute(
                "SELECT status, count(*) FROM audits_evidencepack GROUP BY status"
            ).fetchall()
        assert statuses == [("done", 2)]
    finally:
        if name is not None:
            common.scratch_drop(connection.settings_dict, name)
