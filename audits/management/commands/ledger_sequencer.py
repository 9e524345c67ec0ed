"""``manage.py ledger_sequencer``: sequence queued ledger entries into checkpoints."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audits.ledger import services


class Command(BaseCommand):
    help = "Sequence the ledger queue: --once, or loop every --interval seconds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="drain the queue and exit"
        )
        parser.add_argument("--interval", type=float, default=0.25)
        parser.add_argument("--batch-size", type=int, default=20000)

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
            if options["once"]:
                return
            time.sleep(options["interval"])
