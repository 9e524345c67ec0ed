"""``manage.py ledger_fsck``: check the whole ledger; exit 1 on any divergence.

Prints one JSON object on stdout: the ledger part's report (``fsck.Report.as_dict``)
and ``fsck_rows_per_s``, its rate; on a failure, one line on stderr that names the
first divergent seq first, with its problem.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audits.ledger import fsck


def ledger_part(*, keys: bool = True) -> tuple[fsck.Report, dict[str, Any]]:
    """Check the ledger; return the report and its JSON part (a dict)."""
    report, timing = fsck.check_database_timed(keys=keys)
    output = report.as_dict()
    output["fsck_rows_per_s"] = timing.rows_per_s
    output["timing"] = {"elapsed_s": timing.elapsed_s, "rows_per_s": timing.rows_per_s}
    return report, output


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
        report, output = ledger_part(keys=not options["skip_keys"])
        if not options["timing"]:
            del output["timing"]
        self.stdout.write(json.dumps(output, indent=2, sort_keys=True))
        if not report.ok:
            self.stderr.write(report.summary())
            sys.exit(1)
