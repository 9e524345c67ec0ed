"""``manage.py monitoring_rollup``: count sequenced entries into the monitoring rollups."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audits.monitoring import rollup
from audits.monitoring.models import IntegrityFailure


class Command(BaseCommand):
    help = (
        "Bring the monitoring rollups up to the ledger head (--rebuild: drop them "
        "and count the whole ledger again)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--rebuild",
            action="store_true",
            help="drop every cell and recount from the first entry",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        if options["rebuild"]:
            counted = rollup.rollup_rebuild()
        else:
            counted = rollup.rollup_catch_up()
        elapsed = time.monotonic() - started
        failed = IntegrityFailure.objects.values("prediction_id").distinct().count()
        self.stdout.write(
            f"counted {counted} entries in {elapsed:.1f} s; {failed} "
            f"prediction{'' if failed == 1 else 's'} left out for failing an "
            "integrity check (ledger_fsck names the entries)"
        )
