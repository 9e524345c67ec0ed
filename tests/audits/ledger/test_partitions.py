"""The partitioned ledger entry table: partitions, their guards, the command."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from audits import dbguards


def _refused(sql: str) -> Exception:
    with pytest.raises(Exception) as info:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    return info.value


def test_ledger_partitions_lists_ten_and_keeps_them_ahead(db: Any) -> None:
    # when
    out = io.StringIO()
    call_command("ledger_partitions", "--ahead", "3", stdout=out)
    # then the migration's ten partitions cover the first 10^9 entries: none added
    report = json.loads(out.getvalue())
    assert report["entries"] == 0
    assert report["added"] == []
    assert report["partitions"] == [
        dbguards.ledger_partition_name(n) for n in range(10)
    ]
    assert report["empty_ahead"] == 9


def test_every_partition_refuses_update_delete_truncate(db: Any) -> None:
    # given a row in the first partition (inserting is allowed)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audits_ledgerentry VALUES (0, gen_random_uuid(), 1, "
            "'\\x7b7d', decode(repeat('00', 32), 'hex'), now(), now())"
        )
    partition = dbguards.ledger_partition_name(0)
    # when the partition itself is changed
    errors = [
        _refused(f'UPDATE "{partition}" SET entry_type = 2'),
        _refused(f'DELETE FROM "{partition}"'),
        _refused(f'TRUNCATE "{partition}"'),
        _refused(f'TRUNCATE "{dbguards.ledger_partition_name(7)}"'),
        _refused("TRUNCATE audits_ledgerentry"),
    ]
    # then every statement is refused by the append-only trigger; the row is intact
    assert all("append-only" in str(error) for error in errors)
    with connection.cursor() as cursor:
        cursor.execute("SELECT seq, entry_type FROM audits_ledgerentry")
        assert cursor.fetchall() == [(0, 1)]


def test_triggers_fire_in_replica_mode(db: Any) -> None:
    # given a row, and a session in replica mode (as logical replication runs)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audits_ledgerentry VALUES (5, gen_random_uuid(), 1, "
            "'\\x7b7d', decode(repeat('00', 32), 'hex'), now(), now())"
        )
    # when
    error = _refused(
        "SET LOCAL session_replication_role = replica; "
        "UPDATE audits_ledgerentry SET entry_type = 3"
    )
    # then ENABLE ALWAYS triggers still refuse
    assert "append-only" in str(error)
    with connection.cursor() as cursor:
        cursor.execute("SELECT entry_type FROM audits_ledgerentry WHERE seq = 5")
        assert cursor.fetchone() == (1,)
