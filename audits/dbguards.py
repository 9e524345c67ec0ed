"""SQL for database-level guards, used by migrations. Keep these functions stable:
migrations call them, so a change here changes what old migrations would do.

PostgreSQL: statement-level BEFORE UPDATE/DELETE/TRUNCATE triggers marked
``ENABLE ALWAYS`` (they fire even under ``session_replication_role = replica``) and
that have no bypass switch. SQLite (the demo database): BEFORE UPDATE/DELETE triggers
that abort; SQLite has no TRUNCATE, and a DELETE without WHERE fires row triggers.
"""

from __future__ import annotations

from typing import Any

REFUSE_FUNCTION = """
CREATE OR REPLACE FUNCTION modelgov_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'modelgov: % on % is refused: the table is append-only',
    TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;
"""


def _statement_guard_pg(
    table: str, name: str, events: str, function: str, definition: str
) -> list[str]:
    """A statement-level BEFORE trigger, ENABLE ALWAYS, that calls ``function``."""
    return [
        definition,
        f'DROP TRIGGER IF EXISTS "{name}" ON "{table}"',
        f'CREATE TRIGGER "{name}" BEFORE {events} ON "{table}" '
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        f'ALTER TABLE "{table}" ENABLE ALWAYS TRIGGER "{name}"',
    ]


def _abort_sqlite(name: str, event: str, table: str, message: str) -> list[str]:
    return [
        f'DROP TRIGGER IF EXISTS "{name}"',
        f'CREATE TRIGGER "{name}" BEFORE {event} ON "{table}" '
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END",
    ]


def append_only_sql(vendor: str, table: str) -> list[str]:
    """Statements that make ``table`` insert-only on ``vendor``."""
    name = f"{table}_append_only"
    if vendor == "postgresql":
        return _statement_guard_pg(
            table,
            name,
            "UPDATE OR DELETE OR TRUNCATE",
            "modelgov_refuse_change",
            REFUSE_FUNCTION,
        )
    if vendor == "sqlite":
        message = f"modelgov: changes to {table} are refused: the table is append-only"
        return [
            *_abort_sqlite(f"{name}_update", "UPDATE", table, message),
            *_abort_sqlite(f"{name}_delete", "DELETE", table, message),
        ]
    raise NotImplementedError(f"append-only guard not available on {vendor}")


REFUSE_DELETE_FUNCTION = """
CREATE OR REPLACE FUNCTION modelgov_refuse_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'modelgov: % on % is refused: its rows are evidence',
    TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;
"""


def no_delete_sql(vendor: str, table: str) -> list[str]:
    """Statements that refuse DELETE (and TRUNCATE) on ``table``: the current state
    of evidence (a release request, a finding) changes, but is never removed."""
    name = f"{table}_no_delete"
    if vendor == "postgresql":
        return _statement_guard_pg(
            table,
            name,
            "DELETE OR TRUNCATE",
            "modelgov_refuse_delete",
            REFUSE_DELETE_FUNCTION,
        )
    if vendor == "sqlite":
        message = f"modelgov: deleting from {table} is refused: its rows are evidence"
        return _abort_sqlite(name, "DELETE", table, message)
    raise NotImplementedError(f"no-delete guard not available on {vendor}")


def drop_no_delete_sql(vendor: str, table: str) -> list[str]:
    name = f"{table}_no_delete"
    if vendor == "postgresql":
        return [f'DROP TRIGGER IF EXISTS "{name}" ON "{table}"']
    return [f'DROP TRIGGER IF EXISTS "{name}"']


def drop_append_only_sql(vendor: str, table: str) -> list[str]:
    name = f"{table}_append_only"
    if vendor == "postgresql":
        return [f'DROP TRIGGER IF EXISTS "{name}" ON "{table}"']
    return [
        f'DROP TRIGGER IF EXISTS "{name}_update"',
        f'DROP TRIGGER IF EXISTS "{name}_delete"',
    ]


def run(schema_editor: Any, statements: list[str]) -> None:
    # A plain cursor: no parameters, so psycopg does not read "%" in PL/pgSQL
    # format strings as placeholders.
    with schema_editor.connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


# --- the partitioned ledger table (PostgreSQL) -------------------------------------

LEDGER_ENTRY_TABLE = "audits_ledgerentry"


def ledger_entry_table_sql(vendor: str) -> list[str]:
    """Create the (empty) ledger entry table: partitioned by seq on PostgreSQL.

    Row-level BEFORE UPDATE/DELETE triggers on the parent are cloned to every
    partition; TRUNCATE triggers are statement-level and are created per partition
    by :func:`ledger_partition_sql`. Both are ``ENABLE ALWAYS``.
    """
    t = LEDGER_ENTRY_TABLE
    if vendor == "postgresql":
        return [
            REFUSE_FUNCTION,
            f'CREATE TABLE "{t}" ('
            '"seq" bigint NOT NULL PRIMARY KEY CHECK ("seq" >= 0), '
            '"entry_id" uuid NOT NULL, "entry_type" smallint NOT NULL, '
            '"leaf" bytea NOT NULL, '
            '"leaf_hash" bytea NOT NULL CHECK (octet_length("leaf_hash") = 32), '
            '"received_at" timestamp with time zone NOT NULL, '
            '"sequenced_at" timestamp with time zone NOT NULL'
            ') PARTITION BY RANGE ("seq")',
            f'CREATE INDEX "{t}_entry_id" ON "{t}" ("entry_id")',
            f'CREATE INDEX "{t}_received_brin" ON "{t}" USING brin ("received_at")',
            f'CREATE TRIGGER "{t}_append_only_rows" BEFORE UPDATE OR DELETE ON "{t}" '
            "FOR EACH ROW EXECUTE FUNCTION modelgov_refuse_change()",
            f'ALTER TABLE "{t}" ENABLE ALWAYS TRIGGER "{t}_append_only_rows"',
            f'CREATE TRIGGER "{t}_append_only" BEFORE TRUNCATE ON "{t}" '
            "FOR EACH STATEMENT EXECUTE FUNCTION modelgov_refuse_change()",
            f'ALTER TABLE "{t}" ENABLE ALWAYS TRIGGER "{t}_append_only"',
        ]
    if vendor == "sqlite":
        return [
            f'CREATE TABLE "{t}" ('
            '"seq" bigint NOT NULL PRIMARY KEY, "entry_id" char(32) NOT NULL, '
            '"entry_type" smallint NOT NULL, "leaf" BLOB NOT NULL, '
            '"leaf_hash" BLOB NOT NULL, "received_at" datetime NOT NULL, '
            '"sequenced_at" datetime NOT NULL)',
            f'CREATE INDEX "{t}_entry_id" ON "{t}" ("entry_id")',
            *append_only_sql("sqlite", t),
        ]
    raise NotImplementedError(f"ledger table not available on {vendor}")


def ledger_partition_name(number: int) -> str:
    return f"{LEDGER_ENTRY_TABLE}_p{number:05d}"


def ledger_partition_sql(number: int, rows_per_partition: int) -> list[str]:
    """Partition ``number`` (seq in [number*rows, (number+1)*rows)), guarded."""
    t = LEDGER_ENTRY_TABLE
    name = ledger_partition_name(number)
    lo, hi = number * rows_per_partition, (number + 1) * rows_per_partition
    return [
        f'CREATE TABLE IF NOT EXISTS "{name}" PARTITION OF "{t}" '
        f"FOR VALUES FROM ({lo}) TO ({hi})",
        f'ALTER TABLE "{name}" ENABLE ALWAYS TRIGGER "{t}_append_only_rows"',
        f'DROP TRIGGER IF EXISTS "{name}_append_only" ON "{name}"',
        f'CREATE TRIGGER "{name}_append_only" BEFORE TRUNCATE ON "{name}" '
        "FOR EACH STATEMENT EXECUTE FUNCTION modelgov_refuse_change()",
        f'ALTER TABLE "{name}" ENABLE ALWAYS TRIGGER "{name}_append_only"',
    ]


def run_on(conn: Any, statements: list[str]) -> None:
    """:func:`run` for a connection rather than a schema editor."""
    with conn.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
