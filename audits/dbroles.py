"""Database roles: what the application's PostgreSQL role may do (ADR 0016).

Migrations run as the role that owns the tables. The web, Celery and sequencer
processes connect as a separate LOGIN role (the "app role") that owns nothing and
gets, on the schema as it is after ``migrate``:

- ``CONNECT`` and ``TEMPORARY`` on the database, ``USAGE`` on the schema;
- ``SELECT, INSERT`` on every table, ``USAGE, SELECT`` on every sequence;
- ``UPDATE, DELETE`` on every table except the insert-only ones, which are the
  tables carrying a trigger named ``*_append_only*`` (read from ``pg_trigger``, so
  the list follows the migrations); ``audits_ledgerhead`` gets ``UPDATE`` only;
- on ``django_migrations`` only ``SELECT``;
- ``TRUNCATE`` on nothing.

An optional read-only role gets ``CONNECT``, ``USAGE`` and ``SELECT``, except on
``django_session``.

Applying is idempotent: every privilege of the roles on the database, the schema,
its tables and sequences is revoked first, then granted again. New tables get no
privileges until this is applied again (no ``ALTER DEFAULT PRIVILEGES``), so the
statements are re-run after each ``migrate``. The functions that build SQL are pure;
:func:`read_schema`, :func:`apply` and :func:`violations` take a cursor.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.backends.utils import CursorWrapper

SCHEMA = "public"
# LIKE pattern of the guard triggers that dbguards.py creates.
APPEND_ONLY_TRIGGER = r"%\_append\_only%"
# ... and of the guards that refuse only DELETE (current state of evidence).
NO_DELETE_TRIGGER = r"%\_no\_delete%"
# Mutable tables that get only part of UPDATE, DELETE. The tree head moves by
# compare-and-set; deleting its row would stop the sequencer.
LIMITED: dict[str, tuple[str, ...]] = {"audits_ledgerhead": ("UPDATE",)}
# SELECT only for the app role: a forged row here would make the owner's next
# migrate skip a migration (a new guard, say).
READ_ONLY = ("django_migrations",)
# Not readable by the read-only role: session keys are bearer credentials.
SECRET = ("django_session",)

_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_B64 = r"[A-Za-z0-9+/]+={0,2}"
_SCRAM = re.compile(rf"SCRAM-SHA-256\$\d+:{_B64}\${_B64}:{_B64}")
# Printed instead of a password verifier.
MASK = "********"


@dataclass(frozen=True)
class Schema:
    """The objects that privileges are granted on, as read from the catalog."""

    database: str
    tables: tuple[str, ...]
    insert_only: tuple[str, ...]
    name: str = SCHEMA
    update_only: tuple[str, ...] = ()


def quote(identifier: str) -> str:
    """The identifier as a double-quoted SQL identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def check_role_name(name: str) -> str:
    """Return ``name`` if it is a plain lower-case role name; raise ValueError.

    Names are restricted (rather than only quoted) so that the role in the printed
    SQL, in ``DATABASE_URL`` and in ``pg_roles`` is spelled the same way.
    """
    if not _ROLE_NAME.fullmatch(name) or name.startswith("pg_"):
        raise ValueError(
            f"invalid role name {name!r}: use lower-case letters, digits and "
            "underscores, at most 63 characters, not starting with a digit or pg_"
        )
    return name


def role_sql(role: str, *, exists: bool, verifier: str | None) -> str:
    """``CREATE ROLE`` (or ``ALTER ROLE`` when it exists) as a plain LOGIN role.

    ``verifier`` is a SCRAM verifier (see :func:`scram_verifier`), never a clear
    password: server logs (``log_statement = 'ddl'``, pgaudit) record this text.
    """
    verb = "ALTER" if exists else "CREATE"
    attributes = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS"
    password = (
        "" if verifier is None else " PASSWORD '" + verifier.replace("'", "''") + "'"
    )
    return f"{verb} ROLE {quote(check_role_name(role))} {attributes}{password}"


def _revoke_sql(schema: Schema, role: str) -> list[str]:
    r, s = quote(role), quote(schema.name)
    return [
        f"REVOKE ALL ON DATABASE {quote(schema.database)} FROM {r}",
        f"REVOKE ALL ON SCHEMA {s} FROM {r}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {r}",
    ]


def _table_list(tables: Sequence[str]) -> str:
    return ",\n  ".join(quote(t) for t in tables)


def app_grants_sql(schema: Schema, role: str) -> list[str]:
    """REVOKE ALL, then the app role's grants (see the module docstring)."""
    r, s = quote(check_role_name(role)), quote(schema.name)
    insert_only = set(schema.insert_only)
    mutable = [t for t in schema.tables if t not in insert_only and t not in READ_ONLY]
    statements = [
        *_revoke_sql(schema, role),
        f"GRANT CONNECT, TEMPORARY ON DATABASE {quote(schema.database)} TO {r}",
        f"GRANT USAGE ON SCHEMA {s} TO {r}",
        f"GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA {s} TO {r}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}",
    ]
    statements += [
        f"REVOKE INSERT ON {quote(t)} FROM {r}" for t in READ_ONLY if t in schema.tables
    ]
    update_only = set(schema.update_only)
    full = [t for t in mutable if t not in LIMITED and t not in update_only]
    if full:
        statements.append(f"GRANT UPDATE, DELETE ON\n  {_table_list(full)}\nTO {r}")
    changed = [t for t in mutable if t in update_only and t not in LIMITED]
    if changed:
        statements.append(f"GRANT UPDATE ON\n  {_table_list(changed)}\nTO {r}")
    for table in mutable:
        if table in LIMITED:
            privileges = ", ".join(LIMITED[table])
            statements.append(f"GRANT {privileges} ON {quote(table)} TO {r}")
    return statements


def readonly_grants_sql(schema: Schema, role: str) -> list[str]:
    """REVOKE ALL, then ``CONNECT``, schema ``USAGE`` and ``SELECT`` on every table
    except the sessions."""
    r, s = quote(check_role_name(role)), quote(schema.name)
    return [
        *_revoke_sql(schema, role),
        f"GRANT CONNECT ON DATABASE {quote(schema.database)} TO {r}",
        f"GRANT USAGE ON SCHEMA {s} TO {r}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {r}",
        *[
            f"REVOKE SELECT ON {quote(t)} FROM {r}"
            for t in SECRET
            if t in schema.tables
        ],
    ]


def grants_sql(
    schema: Schema, *, app_role: str, readonly_role: str | None
) -> list[str]:
    """Every statement that (re)applies the privileges of both roles."""
    if readonly_role is not None and readonly_role == app_role:
        raise ValueError("the read-only role must differ from the app role")
    statements = app_grants_sql(schema, app_role)
    if readonly_role is not None:
        statements += readonly_grants_sql(schema, readonly_role)
    return statements


# --- through a cursor ----------------------------------------------------------------


def read_schema(cursor: CursorWrapper, name: str = SCHEMA) -> Schema:
    """Tables (partitioned parents and partitions included) and insert-only tables."""
    cursor.execute("SELECT current_database()")
    database: str = cursor.fetchone()[0]
    cursor.execute(
        "SELECT c.relname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY c.relname",
        [name],
    )
    tables = tuple(row[0] for row in cursor.fetchall())
    cursor.execute(
        "SELECT DISTINCT c.relname FROM pg_trigger t "
        "JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND t.tgname LIKE %s "
        "ORDER BY c.relname",
        [name, APPEND_ONLY_TRIGGER],
    )
    insert_only = tuple(row[0] for row in cursor.fetchall())
    cursor.execute(
        "SELECT DISTINCT c.relname FROM pg_trigger t "
        "JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND t.tgname LIKE %s "
        "ORDER BY c.relname",
        [name, NO_DELETE_TRIGGER],
    )
    update_only = tuple(
        row[0] for row in cursor.fetchall() if row[0] not in insert_only
    )
    return Schema(
        database=database,
        tables=tables,
        insert_only=insert_only,
        name=name,
        update_only=update_only,
    )


def role_exists(cursor: CursorWrapper, role: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
    return cursor.fetchone() is not None


def apply(cursor: CursorWrapper, statements: Sequence[str]) -> None:
    """Execute ``statements`` in order, without parameters.

    Without parameters a ``%`` is not read as a placeholder. Run inside a
    transaction, so that a failure leaves the privileges as they were.
    """
    for statement in statements:
        cursor.execute(statement)


def scram_verifier(cursor: CursorWrapper, role: str, password: str) -> str:
    """The SCRAM-SHA-256 verifier of ``password``, computed by libpq on the client.

    This is what ``psql``'s ``\\password`` sends, so the clear password never
    reaches the server or its logs.
    """
    pgconn = cursor.cursor.connection.pgconn
    encrypted: bytes = pgconn.encrypt_password(
        password.encode(), role.encode(), b"scram-sha-256"
    )
    verifier = encrypted.decode("ascii")
    if not _SCRAM.fullmatch(verifier):
        raise ValueError("libpq returned no SCRAM-SHA-256 verifier")
    return verifier


def role_ensure(cursor: CursorWrapper, role: str, *, verifier: str | None) -> str:
    """Create ``role`` as a plain LOGIN role, or reset an existing one to that.

    Returns the statement as printable SQL, the verifier masked.
    """
    exists = role_exists(cursor, role)
    cursor.execute(role_sql(role, exists=exists, verifier=verifier))
    return role_sql(role, exists=exists, verifier=None if verifier is None else MASK)


def violations(
    cursor: CursorWrapper,
    *,
    app_role: str,
    readonly_role: str | None = None,
    name: str = SCHEMA,
) -> list[str]:
    """What breaks ADR 0016 on the live database, one line each; [] when none.

    The app role must exist, be no superuser and have no CREATEROLE, own no
    relation of the schema (directly or through a role it can become), hold no
    CREATE on the schema, no TRUNCATE on any table, no UPDATE (also on a single
    column) or DELETE on an insert-only table and nothing but SELECT on
    ``READ_ONLY``. The read-only role, if given, the same, no INSERT, UPDATE or
    DELETE on any table, and nothing on ``SECRET``. Privileges held through
    PUBLIC or role membership count.
    """
    schema = read_schema(cursor, name)
    found = _role_violations(cursor, app_role, schema, readonly=False)
    if readonly_role is not None:
        found += _role_violations(cursor, readonly_role, schema, readonly=True)
    return found


def _role_violations(
    cursor: CursorWrapper, role: str, schema: Schema, *, readonly: bool
) -> list[str]:
    cursor.execute(
        "SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = %s", [role]
    )
    row = cursor.fetchone()
    if row is None:
        return [f"{role}: the role does not exist"]
    if row[0]:
        # A superuser passes every privilege check: nothing below would mean much.
        return [f"{role}: is a superuser"]
    found = [f"{role}: has CREATEROLE"] if row[1] else []
    cursor.execute(
        "SELECT c.relname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') "
        "AND pg_has_role(%s, c.relowner, 'MEMBER') ORDER BY c.relname",
        [schema.name, role],
    )
    found += [f"{role}: owns {relname}" for (relname,) in cursor.fetchall()]
    cursor.execute("SELECT has_schema_privilege(%s, %s, 'CREATE')", [role, schema.name])
    if cursor.fetchone()[0]:
        found.append(f"{role}: CREATE on schema {schema.name}")
    cursor.execute(
        "SELECT c.relname, "
        "has_any_column_privilege(%s, c.oid, 'SELECT'), "
        "has_any_column_privilege(%s, c.oid, 'INSERT'), "
        "has_any_column_privilege(%s, c.oid, 'UPDATE'), "
        "has_table_privilege(%s, c.oid, 'DELETE'), "
        "has_table_privilege(%s, c.oid, 'TRUNCATE') "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY c.relname",
        [role, role, role, role, role, schema.name],
    )
    insert_only = set(schema.insert_only)
    for relname, select, insert, update, delete, truncate in cursor.fetchall():
        held = {"SELECT": select, "INSERT": insert, "UPDATE": update, "DELETE": delete}
        if readonly and relname in SECRET:
            forbidden = ["SELECT", "INSERT", "UPDATE", "DELETE"]
        elif readonly or relname in READ_ONLY:
            forbidden = ["INSERT", "UPDATE", "DELETE"]
        elif relname in insert_only:
            forbidden = ["UPDATE", "DELETE"]
        elif relname in schema.update_only:
            forbidden = ["DELETE"]
        else:
            forbidden = []
        found += [f"{role}: {p} on {relname}" for p in forbidden if held[p]]
        if truncate:
            found.append(f"{role}: TRUNCATE on {relname}")
    return found
