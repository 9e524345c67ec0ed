"""``manage.py ledger_fsck``: check the whole ledger, then every governance
evidence row against it; exit 1 on any divergence.

Prints one JSON object on stdout: the ledger part's report (``fsck.Report.as_dict``)
and ``fsck_rows_per_s``, its rate; ``"governance"``, the report of the governance
part (audits.integrity.fsck), and ``fsck_governance_rows_per_s``. On a failure, one
line per failed part on stderr, naming the first divergence first.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audits.integrity import fsck as integrity_fsck
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
        "compare with the witness and the signer state; then check every governance "
        "record against the ledger; print a JSON report."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--skip-keys",
            action="store_true",
            help="skip the bijection with the idempotency index (LedgerKey)",
        )
        parser.add_argument(
            "--skip-governance",
            action="store_true",
            help="check the ledger only, not the governance rows it commits to",
        )
        parser.add_argument(
            "--timing",
            action="store_true",
            help='add "timing": {"elapsed_s", "rows_per_s", …} to the output',
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report, output = ledger_part(keys=not options["skip_keys"])
        governance = None
        if not options["skip_governance"]:
            governance = integrity_fsck.check_governance()
            output["governance"] = governance.as_dict()
            output["fsck_governance_rows_per_s"] = governance.rows_per_s
            output["timing"]["governance_elapsed_s"] = governance.elapsed_s
        if options["timing"]:
            output["timing"]["fsck_rows_per_s"] = output["fsck_rows_per_s"]
            if governance is not None:
                output["timing"]["fsck_governance_rows_per_s"] = governance.rows_per_s
        else:
            del output["timing"]
        self.stdout.write(json.dumps(output, indent=2, sort_keys=True))
        failed = False
        if not report.ok:
            self.stderr.write(report.summary())
            failed = True
        if governance is not None and not governance.ok:
            first = governance.first or {}
            self.stderr.write(
                "governance fsck failed: first divergence in "
                f"{first.get('table')} pk {first.get('pk')} seq {first.get('seq')}"
            )
            failed = True
        if failed:
            sys.exit(1)
