"""``manage.py evidence_backfill``: commit the governance records written before
issue 13 (no record leaf yet) to the ledger, marked as backfilled; print JSON."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand

from audits.integrity import commit


class Command(BaseCommand):
    help = (
        "Append a record leaf for every evidence row that has none (rows written "
        "before the ledger committed to governance records). Idempotent; never "
        "touches a row that has a leaf. Run once after upgrading."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        counts = commit.backfill()
        self.stdout.write(
            json.dumps({"committed": counts, "total": sum(counts.values())}, indent=2)
        )
