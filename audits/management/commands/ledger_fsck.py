"""``manage.py ledger_fsck``: check the whole ledger, then every governance
evidence row against it (``"governance"`` in the report); exit 1 on any divergence."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audits.integrity import fsck as integrity_fsck
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
            "--skip-governance",
            action="store_true",
            help="check the ledger only, not the governance rows it commits to",
        )
        parser.add_argument(
            "--timing",
            action="store_true",
            help='add "timing": {"elapsed_s", "rows_per_s"} to the output',
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report, timing = fsck.check_database_timed(keys=not options["skip_keys"])
        output = report.as_dict()
        governance = None
        if not options["skip_governance"]:
            governance = integrity_fsck.check_governance()
            output["governance"] = governance.as_dict()
        if options["timing"]:
            output["timing"] = {
                "elapsed_s": timing.elapsed_s,
                "rows_per_s": timing.rows_per_s,
                "fsck_rows_per_s": timing.rows_per_s,
            }
            if governance is not None:
                output["timing"]["governance_elapsed_s"] = governance.elapsed_s
                output["timing"]["fsck_governance_rows_per_s"] = governance.rows_per_s
        self.stdout.write(json.dumps(output, indent=2, sort_keys=True))
        failed = False
        if not report.ok:
            self.stderr.write(
                f"ledger fsck failed: first divergent seq {report.first_divergent_seq}"
                f", first bad checkpoint {report.first_bad_checkpoint_size}"
            )
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
