"""Database roles (ADR 0016; reference/ledger.md tests B1-B4).

The module fixture runs ``db_roles --create`` outside any test transaction, so that
the roles and grants are committed and a second connection logged in as the app
role sees them; it drops the roles at the end. Work done as the app role stays in
that connection's transaction and is rolled back, so the insert-only tables keep
no test rows. Checks on the superuser connection run inside the ``db`` fixture's
transaction (savepoints), as everywhere else in the suite.
"""

from __future__ import annotations

import io
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction
from django.db.utils import Error as DatabaseError
from psycopg import errors

from audits import dbroles
from audits.ledger import merkle, services
from audits.ledger.models import LedgerHead, LedgerQueue
from audits.models import AuditEvent
from governance import services as governance_services

SUFFIX = secrets.token_hex(4)
APP = f"modelgov_app_test_{SUFFIX}"
READONLY = f"modelgov_ro_test_{SUFFIX}"
PASSWORD_ENV = f"MODELGOV_TEST_APP_PASSWORD_{SUFFIX}"
PASSWORD = secrets.token_urlsafe(18)

ENTRY = "audits_ledgerentry"
PARTITION = "audits_ledgerentry_p00000"
# The insert-only tables this release must have; the database may add more.
INSERT_ONLY = {
    ENTRY,
    *(f"audits_ledgerentry_p{n:05d}" for n in range(10)),
    "audits_ledgerkey",
    "audits_ledgernode",
    "audits_ledgercheckpoint",
    "audits_auditevent",
    "audits_refusedaction",
    "audits_deploymentstate",
    "governance_signature",
    "governance_gatedecision",
    "governance_deployment",
    "registry_historicalmodel",
    "registry_historicalmodel_developers",
    "registry_historicalmodelversion",
    "registry_historicalmodelcard",
    "registry_historicaldocument",
    "registry_historicaldocumenttemplate",
    "audits_recordcommitment",
    "audits_protectedattributes",
}
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")

# Also makes pytest-django create the test database for the tests that use only
# the app role's own connection.
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def roles(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock():
        try:
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv(PASSWORD_ENV, PASSWORD)
                call_command(
                    "db_roles",
                    "--app-role",
                    APP,
                    "--readonly-role",
                    READONLY,
                    "--create",
                    "--password-env",
                    PASSWORD_ENV,
                    stdout=io.StringIO(),
                )
        except BaseException:
            _drop_roles()
            raise
    yield
    with django_db_blocker.unblock():
        _drop_roles()


def _drop_roles() -> None:
    with connection.cursor() as cursor:
        for role in (APP, READONLY):
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
            if cursor.fetchone():
                cursor.execute(f'DROP OWNED BY "{role}"')
                cursor.execute(f'DROP ROLE "{role}"')


def _connect(role: str, password: str | None = None) -> psycopg.Connection[Any]:
    settings = connection.settings_dict
    return psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        dbname=settings["NAME"],
        user=role,
        password=password,
    )


@pytest.fixture
def as_app(roles: None) -> Iterator[psycopg.Connection[Any]]:
    conn = _connect(APP, PASSWORD)
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()


@pytest.fixture
def as_readonly(roles: None) -> Iterator[psycopg.Connection[Any]]:
    conn = _connect(READONLY)
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()


@pytest.fixture
def ledger_key(settings: Any) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    settings.MODELGOV_LEDGER_KEY = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    settings.MODELGOV_LEDGER_ORIGIN = "modelgov/ledger"
    return key


def _denied(conn: psycopg.Connection[Any], sql: str) -> psycopg.Error:
    """Run ``sql`` in a savepoint of ``conn``; return the error PostgreSQL raised."""
    with pytest.raises(psycopg.Error) as excinfo, conn.transaction():
        conn.execute(sql)
    return excinfo.value


def _rows(conn: psycopg.Connection[Any], table: str) -> list[tuple[Any, ...]]:
    return conn.execute(f'SELECT * FROM "{table}" ORDER BY 1').fetchall()


def _seed_as_app(conn: psycopg.Connection[Any]) -> None:
    """Two rows in each guarded table, written by the app role (INSERT is granted)."""
    seq = conn.execute(f"SELECT coalesce(max(seq), -1) + 1 FROM {ENTRY}").fetchone()
    size = conn.execute(
        "SELECT coalesce(max(size), 0) FROM audits_ledgercheckpoint"
    ).fetchone()
    assert seq is not None and size is not None
    for i in range(2):
        leaf = f'{{"seed":{i}}}'.encode()
        entry_id = uuid.uuid4()
        conn.execute(
            f"INSERT INTO {ENTRY} (seq, entry_id, entry_type, leaf, leaf_hash, "
            "received_at, sequenced_at) VALUES (%s, %s, 1, %s, %s, now(), now())",
            [seq[0] + i, entry_id, leaf, merkle.leaf_hash(leaf)],
        )
        conn.execute(
            "INSERT INTO audits_ledgerkey (entry_id, entry_type, payload_sha256, "
            "leaf_hash, binding, received_at) VALUES (%s, 1, %s, %s, '', now())",
            [entry_id, bytes(32), merkle.leaf_hash(leaf)],
        )
        conn.execute(
            'INSERT INTO audits_ledgernode (level, "index", hash) VALUES (%s, %s, %s)',
            [60, secrets.randbits(40), bytes(32)],
        )
        conn.execute(
            "INSERT INTO audits_ledgercheckpoint (size, root, note, created_at) "
            "VALUES (%s, %s, 'seed', now())",
            [size[0] + 1_000_000 + i, bytes(32)],
        )
        conn.execute(
            "INSERT INTO audits_auditevent (occurred_at, event_type, actor_display, "
            "object_type, object_id, object_repr, payload, request_id) "
            "VALUES (now(), 'test.seed', '', '', '', '', '{}', '')"
        )


def _count(conn: psycopg.Connection[Any], table: str) -> int:
    row = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    assert row is not None
    return int(row[0])


# --- B1: no UPDATE, DELETE or TRUNCATE on the insert-only tables --------------------

UPDATES = {
    ENTRY: "entry_type = entry_type",
    PARTITION: "entry_type = entry_type",
    "audits_ledgernode": "hash = hash",
    "audits_ledgercheckpoint": "note = note",
    "audits_ledgerkey": "binding = binding",
    "audits_auditevent": "payload = payload",
}


@pytest.mark.parametrize("table", list(UPDATES))
@pytest.mark.parametrize("operation", ["UPDATE", "DELETE", "TRUNCATE"])
def test_app_role_cannot_update_delete_or_truncate_insert_only_tables(
    as_app: psycopg.Connection[Any], table: str, operation: str
) -> None:
    # given rows written by the app role itself
    base = _count(as_app, table)
    _seed_as_app(as_app)
    before = _rows(as_app, table)
    assert len(before) == base + 2
    sql = {
        "UPDATE": f"UPDATE {table} SET {UPDATES[table]}",
        "DELETE": f"DELETE FROM {table}",
        "TRUNCATE": f"TRUNCATE {table}",
    }[operation]
    # when the app role tries to change them
    error = _denied(as_app, sql)
    # then the privilege check refuses it (before any trigger) and nothing changed
    assert isinstance(error, errors.InsufficientPrivilege)
    assert error.diag.message_primary == f"permission denied for table {table}"
    assert _rows(as_app, table) == before


def test_app_role_runs_the_queue_and_the_head(as_app: psycopg.Connection[Any]) -> None:
    # given
    entry_id = uuid.uuid4()
    head = as_app.execute("SELECT size FROM audits_ledgerhead WHERE id = 1").fetchone()
    # when the app role queues, locks and consumes an entry and moves the head
    row = as_app.execute(
        "INSERT INTO audits_ledgerqueue (entry_id, entry_type, leaf, leaf_hash, "
        "received_at) VALUES (%s, 1, %s, %s, now()) RETURNING queue_id",
        [entry_id, b"{}", merkle.leaf_hash(b"{}")],
    ).fetchone()
    assert row is not None
    locked = as_app.execute(
        "SELECT entry_id FROM audits_ledgerqueue WHERE queue_id = %s FOR UPDATE", row
    ).fetchall()
    deleted = as_app.execute(
        "DELETE FROM audits_ledgerqueue WHERE queue_id = %s", row
    ).rowcount
    moved = as_app.execute(
        "UPDATE audits_ledgerhead SET size = size WHERE id = 1 AND size = %s", head
    ).rowcount
    # then each statement did its one row
    assert (locked, deleted, moved) == ([(entry_id,)], 1, 1)
    gone = as_app.execute(
        "SELECT count(*) FROM audits_ledgerqueue WHERE entry_id = %s", [entry_id]
    ).fetchone()
    assert gone == (0,)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "DELETE FROM audits_ledgerhead",
            "permission denied for table audits_ledgerhead",
        ),
        (
            "INSERT INTO django_migrations (app, name, applied) "
            "VALUES ('audits', '9999_skip_guards', now())",
            "permission denied for table django_migrations",
        ),
        (
            "UPDATE django_migrations SET name = name",
            "permission denied for table django_migrations",
        ),
        (
            "SELECT setval('audits_auditevent_id_seq', 1)",
            "permission denied for sequence audits_auditevent_id_seq",
        ),
    ],
)
def test_app_role_cannot_delete_the_head_or_forge_migrations(
    as_app: psycopg.Connection[Any], sql: str, message: str
) -> None:
    # given
    head = _rows(as_app, "audits_ledgerhead")
    migrations = _rows(as_app, "django_migrations")
    # when
    error = _denied(as_app, sql)
    # then
    assert isinstance(error, errors.InsufficientPrivilege)
    assert error.diag.message_primary == message
    assert _rows(as_app, "audits_ledgerhead") == head
    assert _rows(as_app, "django_migrations") == migrations


# --- B2: no DDL on the guarded tables ------------------------------------------------


def _guards(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT c.relname, t.tgname, t.tgenabled FROM pg_trigger t "
        "JOIN pg_class c ON c.oid = t.tgrelid WHERE t.tgname LIKE %s "
        "ORDER BY 1, 2",
        [dbroles.APPEND_ONLY_TRIGGER],
    ).fetchall()


def _partitions(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT inhrelid::regclass::text FROM pg_inherits "
        "WHERE inhparent = 'audits_ledgerentry'::regclass ORDER BY 1"
    ).fetchall()


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            f"ALTER TABLE {ENTRY} DISABLE TRIGGER audits_ledgerentry_append_only_rows",
            f"must be owner of table {ENTRY}",
        ),
        (
            f"ALTER TABLE {PARTITION} DISABLE TRIGGER ALL",
            f"must be owner of table {PARTITION}",
        ),
        (
            "ALTER TABLE audits_auditevent DISABLE TRIGGER audits_auditevent_append_only",
            "must be owner of table audits_auditevent",
        ),
        (
            "DROP TRIGGER audits_ledgernode_append_only ON audits_ledgernode",
            "must be owner of relation audits_ledgernode",
        ),
        (
            f"ALTER TABLE {ENTRY} DETACH PARTITION {PARTITION}",
            f"must be owner of table {ENTRY}",
        ),
        (
            "DROP TABLE audits_ledgerentry_p00009",
            "must be owner of table audits_ledgerentry_p00009",
        ),
        (f"DROP TABLE {ENTRY}", f"must be owner of table {ENTRY}"),
        (f"TRUNCATE {PARTITION}", f"permission denied for table {PARTITION}"),
        (
            f"ALTER TABLE {ENTRY} OWNER TO CURRENT_USER",
            f"must be owner of table {ENTRY}",
        ),
        (
            "CREATE OR REPLACE FUNCTION modelgov_refuse_change() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
            "permission denied for schema public",
        ),
        ("CREATE TABLE audits_shadow (id int)", "permission denied for schema public"),
        (
            "SET session_replication_role = replica",
            'permission denied to set parameter "session_replication_role"',
        ),
    ],
)
def test_app_role_cannot_alter_the_guards(
    as_app: psycopg.Connection[Any], sql: str, message: str
) -> None:
    # given
    guards, partitions = _guards(as_app), _partitions(as_app)
    assert len(partitions) == 10
    assert {enabled for _, _, enabled in guards} == {"A"}
    # when
    error = _denied(as_app, sql)
    # then
    assert isinstance(error, errors.InsufficientPrivilege)
    assert error.diag.message_primary == message
    assert _guards(as_app) == guards
    assert _partitions(as_app) == partitions


def test_readonly_role_reads_and_changes_nothing(
    as_readonly: psycopg.Connection[Any],
) -> None:
    # given
    queued = _count(as_readonly, "audits_ledgerqueue")
    # when
    insert = _denied(
        as_readonly,
        "INSERT INTO audits_ledgerqueue (entry_id, entry_type, leaf, leaf_hash, "
        f"received_at) VALUES ('{uuid.uuid4()}', 1, '', '', now())",
    )
    sessions = _denied(as_readonly, "SELECT * FROM django_session")
    # then
    assert insert.diag.message_primary == (
        "permission denied for table audits_ledgerqueue"
    )
    assert sessions.diag.message_primary == "permission denied for table django_session"
    assert _count(as_readonly, "audits_ledgerqueue") == queued


# --- the grants themselves -----------------------------------------------------------


def _privileges(role: str) -> dict[str, set[str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, "
            + ", ".join(
                f"has_any_column_privilege(%s, c.oid, '{p}')"
                if p in ("SELECT", "INSERT", "UPDATE")
                else f"has_table_privilege(%s, c.oid, '{p}')"
                for p in PRIVILEGES
            )
            + " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')",
            [role] * len(PRIVILEGES),
        )
        return {
            name: {p for p, held in zip(PRIVILEGES, flags, strict=True) if held}
            for name, *flags in cursor.fetchall()
        }


def _insert_only_in_database() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname LIKE %s",
            ["%append_only%"],
        )
        return {name for (name,) in cursor.fetchall()}


# The current state of evidence: updated, never deleted (ADR 0027).
NO_DELETE = {
    "governance_releaserequest",
    "governance_finding",
    "audits_monitor",
    "audits_monitoringreport",
    "audits_alert",
    "audits_evidencepack",
}


def _expected(tables: set[str], insert_only: set[str]) -> dict[str, set[str]]:
    expected = {}
    for table in tables:
        if table in insert_only:
            expected[table] = {"SELECT", "INSERT"}
        elif table in NO_DELETE:
            expected[table] = {"SELECT", "INSERT", "UPDATE"}
        elif table == "audits_ledgerhead":
            expected[table] = {"SELECT", "INSERT", "UPDATE"}
        elif table == "django_migrations":
            expected[table] = {"SELECT"}
        else:
            expected[table] = {"SELECT", "INSERT", "UPDATE", "DELETE"}
    return expected


def test_grants_follow_the_design(roles: None) -> None:
    # given the grants applied by the module fixture
    insert_only = _insert_only_in_database()
    # when
    app, readonly = _privileges(APP), _privileges(READONLY)
    # then
    assert INSERT_ONLY <= insert_only
    assert app == _expected(set(app), insert_only)
    assert {t: p for t, p in app.items() if t.startswith("audits_ledger")} == {
        **{t: {"SELECT", "INSERT"} for t in INSERT_ONLY if t.startswith(ENTRY)},
        "audits_ledgerkey": {"SELECT", "INSERT"},
        "audits_ledgernode": {"SELECT", "INSERT"},
        "audits_ledgercheckpoint": {"SELECT", "INSERT"},
        "audits_ledgerhead": {"SELECT", "INSERT", "UPDATE"},
        "audits_ledgerqueue": {"SELECT", "INSERT", "UPDATE", "DELETE"},
    }
    assert readonly == {
        t: set() if t == "django_session" else {"SELECT"} for t in readonly
    }


def test_reapplying_removes_hand_made_grants(roles: None) -> None:
    # given privileges granted by hand, at table and at column level
    with connection.cursor() as cursor:
        cursor.execute(f'GRANT UPDATE, TRUNCATE ON audits_ledgerkey TO "{APP}"')
        cursor.execute(f'GRANT UPDATE (leaf) ON {PARTITION} TO "{APP}"')
        cursor.execute(f'GRANT DELETE ON audits_alert TO "{READONLY}"')
    assert _privileges(APP)["audits_ledgerkey"] == {
        "SELECT",
        "INSERT",
        "UPDATE",
        "TRUNCATE",
    }
    out = io.StringIO()
    # when
    call_command("db_roles", "--app-role", APP, "--readonly-role", READONLY, stdout=out)
    # then
    app, readonly = _privileges(APP), _privileges(READONLY)
    assert app == _expected(set(app), _insert_only_in_database())
    assert readonly["audits_alert"] == {"SELECT"}
    tables, insert_only = len(app), len(_insert_only_in_database())
    assert out.getvalue().splitlines() == [
        "db_roles: 0 role(s) created or reset, 20 statements applied",
        f"db_roles: no violation ({tables} tables, {insert_only} insert-only)",
    ]


def test_create_stores_a_scram_verifier_not_the_password(roles: None) -> None:
    # given the roles created by the module fixture
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolname, rolcanlogin, rolsuper, rolcreaterole, rolpassword "
            "FROM pg_authid WHERE rolname IN (%s, %s) ORDER BY rolname",
            [APP, READONLY],
        )
        (app, *app_flags, verifier), (ro, *ro_flags, ro_password) = cursor.fetchall()
    # then
    assert (app, app_flags, ro, ro_flags) == (
        APP,
        [True, False, False],
        READONLY,
        [True, False, False],
    )
    assert verifier.startswith("SCRAM-SHA-256$4096:")
    assert PASSWORD not in verifier
    assert ro_password is None


# --- --check ---------------------------------------------------------------------


def _check() -> tuple[int, list[str]]:
    out = io.StringIO()
    try:
        call_command(
            "db_roles",
            "--app-role",
            APP,
            "--readonly-role",
            READONLY,
            "--check",
            stdout=out,
        )
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue().splitlines()
    return 0, out.getvalue().splitlines()


def test_check_passes_after_apply(roles: None) -> None:
    # when
    code, lines = _check()
    # then
    tables, insert_only = len(_privileges(APP)), len(_insert_only_in_database())
    assert (code, lines) == (
        0,
        [f"db_roles: no violation ({tables} tables, {insert_only} insert-only)"],
    )


VIOLATIONS = [
    (f'GRANT UPDATE ON {ENTRY} TO "{APP}"', [f"{APP}: UPDATE on {ENTRY}"]),
    (
        f'GRANT UPDATE (leaf) ON audits_ledgerentry_p00003 TO "{APP}"',
        [f"{APP}: UPDATE on audits_ledgerentry_p00003"],
    ),
    (
        f'GRANT DELETE ON audits_auditevent TO "{APP}"',
        [f"{APP}: DELETE on audits_auditevent"],
    ),
    (
        "GRANT TRUNCATE ON audits_alert TO PUBLIC",
        [
            f"{APP}: TRUNCATE on audits_alert",
            f"{READONLY}: TRUNCATE on audits_alert",
        ],
    ),
    (
        f'GRANT INSERT ON django_migrations TO "{APP}"',
        [f"{APP}: INSERT on django_migrations"],
    ),
    (
        f'GRANT CREATE ON SCHEMA public TO "{APP}"',
        [f"{APP}: CREATE on schema public"],
    ),
    (
        f'ALTER TABLE audits_ledgercheckpoint OWNER TO "{APP}"',
        [
            f"{APP}: owns audits_ledgercheckpoint",
            f"{APP}: UPDATE on audits_ledgercheckpoint",
            f"{APP}: DELETE on audits_ledgercheckpoint",
            f"{APP}: TRUNCATE on audits_ledgercheckpoint",
        ],
    ),
    (f'ALTER ROLE "{APP}" SUPERUSER', [f"{APP}: is a superuser"]),
    (f'ALTER ROLE "{APP}" CREATEROLE', [f"{APP}: has CREATEROLE"]),
    (
        f'GRANT INSERT ON audits_ledgerqueue TO "{READONLY}"',
        [f"{READONLY}: INSERT on audits_ledgerqueue"],
    ),
    (
        f'GRANT SELECT ON django_session TO "{READONLY}"',
        [f"{READONLY}: SELECT on django_session"],
    ),
]


# The ids leave out the roles' random suffix: pytest-xdist's workers (each with roles
# of its own) must collect the same test ids.
@pytest.mark.parametrize(
    ("sql", "violations"),
    VIOLATIONS,
    ids=[
        sql.replace(APP, "app_role").replace(READONLY, "readonly_role")
        for sql, _ in VIOLATIONS
    ],
)
def test_check_reports_each_violation(
    roles: None, sql: str, violations: list[str]
) -> None:
    # given a privilege added by hand (rolled back with the test's transaction)
    with connection.cursor() as cursor:
        cursor.execute(sql)
    # when
    code, lines = _check()
    # then
    assert (code, lines) == (
        1,
        [f"db_roles: {len(violations)} violation(s)", *violations],
    )


# --- the command's other paths -------------------------------------------------------


def test_print_shows_the_sql_and_changes_nothing(
    roles: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a role that does not exist yet
    new_role = f"modelgov_print_test_{SUFFIX}"
    before = _privileges(APP)
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    out = io.StringIO()
    # when
    call_command(
        "db_roles",
        "--app-role",
        new_role,
        "--create",
        "--password-env",
        PASSWORD_ENV,
        "--print",
        stdout=out,
    )
    # then
    lines = out.getvalue().splitlines()
    database = connection.settings_dict["NAME"]
    assert lines[:8] == [
        f'CREATE ROLE "{new_role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE '
        "NOBYPASSRLS PASSWORD '********';",
        f'REVOKE ALL ON DATABASE "{database}" FROM "{new_role}";',
        f'REVOKE ALL ON SCHEMA "public" FROM "{new_role}";',
        f'REVOKE ALL ON ALL TABLES IN SCHEMA "public" FROM "{new_role}";',
        f'REVOKE ALL ON ALL SEQUENCES IN SCHEMA "public" FROM "{new_role}";',
        f'GRANT CONNECT, TEMPORARY ON DATABASE "{database}" TO "{new_role}";',
        f'GRANT USAGE ON SCHEMA "public" TO "{new_role}";',
        f'GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA "public" TO "{new_role}";',
    ]
    assert PASSWORD not in out.getvalue()
    update_delete = out.getvalue().split("GRANT UPDATE, DELETE ON\n")[1].split("TO")[0]
    assert '"audits_ledgerqueue"' in update_delete
    assert not any(f'"{t}"' in update_delete for t in INSERT_ONLY | NO_DELETE)
    update_only = out.getvalue().split("GRANT UPDATE ON\n")[1].split("TO")[0]
    assert sorted(update_only.replace(",", " ").split()) == sorted(
        f'"{t}"' for t in NO_DELETE
    )
    assert lines[-1] == f'GRANT UPDATE ON "audits_ledgerhead" TO "{new_role}";'
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", [new_role])
        assert cursor.fetchone() == (0,)
    assert _privileges(APP) == before


def test_refused_on_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a database without roles
    monkeypatch.setattr(connections["default"], "vendor", "sqlite")
    # when
    with pytest.raises(CommandError) as excinfo:
        call_command("db_roles", "--app-role", APP, stdout=io.StringIO())
    # then
    assert str(excinfo.value) == (
        "db_roles needs PostgreSQL; this database is sqlite. SQLite has no roles "
        "or privileges: there the append-only triggers are the only guard."
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--app-role", "Modelgov-App"],
            "invalid role name 'Modelgov-App': use lower-case letters, digits and "
            "underscores, at most 63 characters, not starting with a digit or pg_",
        ),
        (
            ["--app-role", APP, "--readonly-role", APP],
            "the read-only role must differ from the app role",
        ),
        (
            ["--app-role", APP, "--password-env", PASSWORD_ENV],
            "a password is only set with --create",
        ),
        (
            ["--app-role", APP, "--create", "--password-env", "MODELGOV_UNSET_VAR"],
            "the environment variable MODELGOV_UNSET_VAR is unset or empty",
        ),
        (
            ["--app-role", "postgres"],
            "run db_roles as the role that owns the tables, not as the role it "
            "grants to",
        ),
    ],
)
def test_refuses_bad_arguments(roles: None, arguments: list[str], message: str) -> None:
    # given
    before = _privileges(APP)
    # when
    with pytest.raises(CommandError) as excinfo:
        call_command("db_roles", *arguments, stdout=io.StringIO())
    # then
    assert str(excinfo.value) == message
    assert _privileges(APP) == before


def test_grants_sql_for_a_small_schema() -> None:
    # given
    schema = dbroles.Schema(
        database="mg",
        tables=("audits_auditevent", "audits_ledgerhead", "django_migrations", "t"),
        insert_only=("audits_auditevent",),
    )
    # when
    statements = dbroles.grants_sql(schema, app_role="app", readonly_role="ro")
    # then
    assert statements == [
        'REVOKE ALL ON DATABASE "mg" FROM "app"',
        'REVOKE ALL ON SCHEMA "public" FROM "app"',
        'REVOKE ALL ON ALL TABLES IN SCHEMA "public" FROM "app"',
        'REVOKE ALL ON ALL SEQUENCES IN SCHEMA "public" FROM "app"',
        'GRANT CONNECT, TEMPORARY ON DATABASE "mg" TO "app"',
        'GRANT USAGE ON SCHEMA "public" TO "app"',
        'GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA "public" TO "app"',
        'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "public" TO "app"',
        'REVOKE INSERT ON "django_migrations" FROM "app"',
        'GRANT UPDATE, DELETE ON\n  "t"\nTO "app"',
        'GRANT UPDATE ON "audits_ledgerhead" TO "app"',
        'REVOKE ALL ON DATABASE "mg" FROM "ro"',
        'REVOKE ALL ON SCHEMA "public" FROM "ro"',
        'REVOKE ALL ON ALL TABLES IN SCHEMA "public" FROM "ro"',
        'REVOKE ALL ON ALL SEQUENCES IN SCHEMA "public" FROM "ro"',
        'GRANT CONNECT ON DATABASE "mg" TO "ro"',
        'GRANT USAGE ON SCHEMA "public" TO "ro"',
        'GRANT SELECT ON ALL TABLES IN SCHEMA "public" TO "ro"',
    ]


# --- the application works as the app role -----------------------------------------


def test_ledger_and_audit_services_work_as_the_app_role(
    roles: None, ledger_key: Any, developer: Any
) -> None:
    # given the test connection acting as the app role for this transaction
    head = LedgerHead.objects.get(id=1).size
    # (the fixtures' own record leaves, e.g. the developer's history, wait too)
    pending = LedgerQueue.objects.count()
    events = AuditEvent.objects.count()
    with connection.cursor() as cursor:
        cursor.execute(f'SET LOCAL ROLE "{APP}"')
    entries = [(uuid.uuid4(), 1, f'{{"i":{i}}}'.encode()) for i in range(3)]
    # when the ingest, the sequencer and an audited service run
    queued = services.ledger_enqueue(entries=entries)
    made = services.ledger_sequence(signer=services.ledger_signer())
    governance_services.api_token_create(actor=developer, user=developer, name="x")
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        acting = cursor.fetchone()
        cursor.execute("RESET ROLE")
    # then
    assert acting == (APP,)
    assert (queued, made is not None and made.size) == (3, head + pending + 3)
    last = AuditEvent.objects.order_by("-pk").values_list("event_type", flat=True)
    assert last.first() == "governance.token.created"
    assert AuditEvent.objects.count() == events + 1


# --- B3, B4: the triggers hold for the owner, in replica mode and against pgtrigger --


def _refused(sql: str) -> DatabaseError:
    with pytest.raises(DatabaseError) as excinfo:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    return excinfo.value


def _ledger_rows() -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ENTRY} ORDER BY seq")
        return cursor.fetchall()


@pytest.fixture
def sequenced(ledger_key: Any) -> list[tuple[Any, ...]]:
    services.ledger_enqueue(
        entries=[(uuid.uuid4(), 1, f'{{"b":{i}}}'.encode()) for i in range(3)]
    )
    services.ledger_sequence(signer=services.ledger_signer())
    rows = _ledger_rows()
    assert len(rows) >= 3
    return rows


def test_owner_in_replica_mode_is_still_refused(
    sequenced: list[tuple[Any, ...]],
) -> None:
    # given a non-superuser owner of the ledger table that may set replica mode
    owner = f"modelgov_owner_test_{SUFFIX}"
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE ROLE "{owner}" NOLOGIN')
            cursor.execute(f'ALTER TABLE {ENTRY} OWNER TO "{owner}"')
            cursor.execute(f'ALTER TABLE {PARTITION} OWNER TO "{owner}"')
            cursor.execute(
                f'GRANT SET ON PARAMETER session_replication_role TO "{owner}"'
            )
            cursor.execute(f'SET LOCAL ROLE "{owner}"')
        # when it updates, then updates and deletes in replica mode
        plain = _refused(f"UPDATE {ENTRY} SET entry_type = entry_type")
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute(
                "SELECT current_user, current_setting('session_replication_role')"
            )
            state = cursor.fetchone()
        replica_update = _refused(f"UPDATE {ENTRY} SET entry_type = entry_type")
        replica_delete = _refused(f"DELETE FROM {ENTRY}")
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = DEFAULT")
            cursor.execute("RESET ROLE")
        transaction.set_rollback(True)
    # then the ENABLE ALWAYS row trigger refuses all three; nothing changed
    assert state == (owner, "replica")
    refused = f"modelgov: %s on {PARTITION} is refused: the table is append-only"
    assert [
        str(e).splitlines()[0] for e in (plain, replica_update, replica_delete)
    ] == [
        refused % "UPDATE",
        refused % "UPDATE",
        refused % "DELETE",
    ]
    assert _ledger_rows() == sequenced


def test_pgtrigger_ignore_does_not_bypass_the_ledger_guards(
    sequenced: list[tuple[Any, ...]],
) -> None:
    # given every guard trigger name in pgtrigger's ignore setting
    names = "{audits_ledgerentry_append_only_rows,audits_ledgerentry_append_only}"
    errors_seen = []
    # when
    for sql in (f"UPDATE {ENTRY} SET leaf = leaf", f"DELETE FROM {ENTRY}"):
        with pytest.raises(DatabaseError) as excinfo:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('pgtrigger.ignore', %s, false)", [names]
                )
                cursor.execute("SELECT current_setting('pgtrigger.ignore')")
                assert cursor.fetchone() == (names,)
                cursor.execute(sql)
        errors_seen.append(str(excinfo.value).splitlines()[0])
    # then
    refused = f"modelgov: %s on {PARTITION} is refused: the table is append-only"
    assert errors_seen == [refused % "UPDATE", refused % "DELETE"]
    assert _ledger_rows() == sequenced
