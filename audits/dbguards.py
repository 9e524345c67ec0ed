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


def append_only_sql(vendor: str, table: str) -> list[str]:
    """Statements that make ``table`` insert-only on ``vendor``."""
    name = f"{table}_append_only"
    if vendor == "postgresql":
        return [
            REFUSE_FUNCTION,
            f'DROP TRIGGER IF EXISTS "{name}" ON "{table}"',
            f'CREATE TRIGGER "{name}" BEFORE UPDATE OR DELETE OR TRUNCATE ON "{table}" '
            "FOR EACH STATEMENT EXECUTE FUNCTION modelgov_refuse_change()",
            f'ALTER TABLE "{table}" ENABLE ALWAYS TRIGGER "{name}"',
        ]
    if vendor == "sqlite":
        message = f"modelgov: changes to {table} are refused: the table is append-only"
        return [
            f'DROP TRIGGER IF EXISTS "{name}_update"',
            f'CREATE TRIGGER "{name}_update" BEFORE UPDATE ON "{table}" '
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END",
            f'DROP TRIGGER IF EXISTS "{name}_delete"',
            f'CREATE TRIGGER "{name}_delete" BEFORE DELETE ON "{table}" '
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END",
        ]
    raise NotImplementedError(f"append-only guard not available on {vendor}")


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
