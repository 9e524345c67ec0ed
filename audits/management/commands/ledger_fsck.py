"""``manage.py ledger_fsck``: check the whole ledger; exit 1 on any divergence."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand

from audits.ledger import fsck


class Command(BaseCommand):
    help = "Rehash every ledger leaf and verify every checkpoint; print a JSON report."

    def handle(self, *args: Any, **options: Any) -> None:
        report = fsck.check_database()
        self.stdout.write(json.dumps(report.as_dict(), indent=2, sort_keys=True))
        if not report.ok:
            sys.exit(1)
