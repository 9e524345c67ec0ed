"""``manage.py ledger_sequencer``: sequence queued ledger entries into checkpoints."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audits.ledger import services
from audits.monitoring import rollup


class Command(BaseCommand):
    help = "Sequence the ledger queue: --once, or loop every --interval seconds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="drain the queue and exit"
        )
        parser.add_argument("--interval", type=float, default=0.25)
        parser.add_argument("--batch-size", type=int, default=20000)
        parser.add_argument(
            "--rollup-batch",
            type=int,
            default=2000,
            help="entries counted into the monitoring rollups per idle tick (small, "
            "so that a new batch never waits long)",
        )
        parser.add_argument(
            "--no-rollup",
            action="store_true",
            help="do not count sequenced entries into the monitoring rollups "
            "(then the beat task audits.monitoring_rollup must)",
        )

    def _rollup(self, options: dict[str, Any]) -> bool:
        """Count up to one batch of sequenced entries into the monitoring rollups,
        when the queue is empty (so monitoring never delays sequencing); True when
        there may be more. A failure is reported and never stops the ledger: the next
        call retries the same entries."""
        if options["no_rollup"]:
            return False
        try:
            return rollup.rollup_advance(limit=options["rollup_batch"]) > 0
        except Exception as exc:
            self.stderr.write(f"monitoring rollup failed, will retry: {exc}")
            return False

    def handle(self, *args: Any, **options: Any) -> None:
        signer = services.ledger_signer()
        while True:
            try:
                made = services.ledger_sequence(
                    signer=signer, batch_size=options["batch_size"]
                )
            except Exception as exc:
                if options["once"]:
                    raise
                # The batch rolled back; the signer may have recorded a checkpoint
                # that never committed. Rebuild it from the last stored checkpoint.
                self.stderr.write(f"sequencing failed, retrying: {exc}")
                signer = services.ledger_signer()
                time.sleep(options["interval"])
                continue
            if made is not None:
                self.stdout.write(f"checkpoint size={made.size}")
                continue  # drain the queue before waiting
            if self._rollup(options):
                continue  # the queue was empty; check it again before more rollups
            if options["once"]:
                return
            time.sleep(options["interval"])
