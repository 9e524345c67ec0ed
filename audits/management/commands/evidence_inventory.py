"""``manage.py evidence_inventory``: the inventory of evidence, as the table in
docs/evidence.md (``--markdown``) or as JSON."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audits.integrity import inventory


class Command(BaseCommand):
    help = "Print every record class modelgov presents as evidence, and its proof."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--markdown", action="store_true", help="as a table")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["markdown"]:
            self.stdout.write(inventory.markdown_table(), ending="")
            return
        rows = [
            {
                "key": e.key,
                "label": e.label,
                "table": e.table,
                "kind": e.kind,
                "leaf": e.leaf,
                "inserted_by": e.inserted_by,
                "update_and_delete": e.guard,
                "not_committed": list(e.exclude),
            }
            for e in inventory.EVIDENCE
        ]
        self.stdout.write(json.dumps(rows, indent=2))
