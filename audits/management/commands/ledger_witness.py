"""``manage.py ledger_witness``: export pending checkpoints to the witness directory."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand

from audits.ledger import witness


class Command(BaseCommand):
    help = (
        "Submit every checkpoint newer than the witness's latest "
        "(MODELGOV_LEDGER_WITNESS_DIR) with its consistency proof; print JSON. "
        "Exits 1 when the witness refuses or the database is behind it, 2 when no "
        "witness is configured."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            status = witness.witness_submit_pending()
        except witness.WitnessError as exc:
            self.stdout.write(
                json.dumps(
                    {
                        "ok": False,
                        "status": exc.status,
                        "error": exc.message,
                        "witness_size": exc.latest_size,
                    },
                    sort_keys=True,
                )
            )
            sys.exit(1)
        output = {
            "ok": status.configured and not status.behind,
            "configured": status.configured,
            "witness_size": status.witness_size,
            "database_size": status.database_size,
            "added": status.added,
        }
        if status.behind:
            output["error"] = (
                f"log behind the witnessed checkpoint (size {status.witness_size})"
            )
        self.stdout.write(json.dumps(output, sort_keys=True))
        if not status.configured:
            sys.exit(2)
        if status.behind:
            sys.exit(1)
