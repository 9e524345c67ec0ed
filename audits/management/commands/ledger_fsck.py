"""``manage.py ledger_fsck``: check the whole ledger; exit 1 on any divergence."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audits.ledger import fsck


class Command(BaseCommand):
    help = (
        "Rehash every ledger leaf, verify every stored node and checkpoint, and "
        "compare with the witness and the signer state; print a JSON report."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--skip-keys",
            action="store_true",
            help="skip the bijection with the idempotency index (LedgerKey)",
        )
        parser.add_argument(
            "--timing",
            action="store_true",
            help='add "timing": {"elapsed_s", "rows_per_s"} to the output',
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report, timing = fsck.check_database_timed(keys=not options["skip_keys"])
        output = report.as_dict()
        if options["timing"]:
            output["timing"] = {
                "elapsed_s": timing.elapsed_s,
                "rows_per_s": timing.rows_per_s,
            }
        self.stdout.write(json.dumps(output, indent=2, sort_keys=True))
        if not report.ok:
            self.stderr.write(
                f"ledger fsck failed: first divergent seq {report.first_divergent_seq}"
                f", first bad checkpoint {report.first_bad_checkpoint_size}"
            )
            sys.exit(1)
