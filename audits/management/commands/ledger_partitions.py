"""``manage.py ledger_partitions``: list the ledger's partitions, add more ahead.

Run as the role that owns the tables (the migration role), like ``migrate``: the
application's role cannot create partitions, by design.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from audits import dbguards
from audits.ledger.models import LedgerHead

ROWS_PER_PARTITION = 100_000_000


class Command(BaseCommand):
    help = "List the ledger entry partitions; --ahead N keeps N empty ones ahead."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--ahead", type=int, default=0)

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("Partitions exist on PostgreSQL only.")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) "
                "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent "
                "WHERE p.relname = %s ORDER BY c.relname",
                [dbguards.LEDGER_ENTRY_TABLE],
            )
            partitions = cursor.fetchall()
        size = LedgerHead.objects.get(id=1).size
        numbers = [int(name.rsplit("_p", 1)[1]) for name, _ in partitions]
        current = size // ROWS_PER_PARTITION
        added = []
        if options["ahead"] > 0:
            wanted = range(current, current + options["ahead"] + 1)
            for number in wanted:
                if number not in numbers:
                    dbguards.run_on(
                        connection,
                        dbguards.ledger_partition_sql(number, ROWS_PER_PARTITION),
                    )
                    added.append(dbguards.ledger_partition_name(number))
        self.stdout.write(
            json.dumps(
                {
                    "entries": size,
                    "rows_per_partition": ROWS_PER_PARTITION,
                    "partitions": [name for name, _ in partitions] + added,
                    "added": added,
                    "empty_ahead": max(numbers + [-1]) - current + len(added),
                },
                indent=2,
            )
        )
