"""``manage.py db_roles``: (re)apply or check the app role's privileges (ADR 0016).

Run it as the role that owns the tables, after every ``migrate``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from audits import dbroles


class Command(BaseCommand):
    help = (
        "Grant the application's database role what it needs and nothing that can "
        "change the insert-only tables; --check verifies, --print shows the SQL."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--app-role",
            required=True,
            help="LOGIN role of the web, Celery and sequencer processes",
        )
        parser.add_argument(
            "--readonly-role", help="optional role that gets SELECT only"
        )
        parser.add_argument(
            "--create",
            action="store_true",
            help="create the roles (or reset their attributes) first; needs CREATEROLE",
        )
        parser.add_argument(
            "--password-env",
            metavar="VAR",
            help="with --create: environment variable holding the app role's password",
        )
        parser.add_argument(
            "--readonly-password-env",
            metavar="VAR",
            help="with --create: environment variable holding the read-only "
            "role's password",
        )
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--print",
            action="store_true",
            help="print the SQL and change nothing",
        )
        mode.add_argument(
            "--check",
            action="store_true",
            help="change nothing; exit 1 and list violations if there are any",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError(
                f"db_roles needs PostgreSQL; this database is {connection.vendor}. "
                "SQLite has no roles or privileges: there the append-only triggers "
                "are the only guard."
            )
        app_role: str = options["app_role"]
        readonly_role: str | None = options["readonly_role"]
        try:
            for role in filter(None, [app_role, readonly_role]):
                dbroles.check_role_name(role)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if readonly_role == app_role:
            raise CommandError("the read-only role must differ from the app role")
        if options["readonly_password_env"] and readonly_role is None:
            raise CommandError("--readonly-password-env needs --readonly-role")
        if (options["password_env"] or options["readonly_password_env"]) and not (
            options["create"]
        ):
            raise CommandError("a password is only set with --create")
        if options["check"]:
            self._check(app_role, readonly_role)
            return
        roles = {app_role: self._password(options["password_env"])}
        if readonly_role is not None:
            roles[readonly_role] = self._password(options["readonly_password_env"])
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            if cursor.fetchone()[0] in roles:
                raise CommandError(
                    "run db_roles as the role that owns the tables, not as the "
                    "role it grants to"
                )
            grants = dbroles.grants_sql(
                dbroles.read_schema(cursor),
                app_role=app_role,
                readonly_role=readonly_role,
            )
            created = []
            if options["create"]:
                created = [
                    self._role(cursor, role, password, dry_run=options["print"])
                    for role, password in roles.items()
                ]
            if options["print"]:
                for statement in created + grants:
                    self.stdout.write(statement + ";")
                return
            dbroles.apply(cursor, grants)
        self.stdout.write(
            f"db_roles: {len(created)} role(s) created or reset, "
            f"{len(grants)} statements applied"
        )
        # A role can still break the design in ways a REVOKE does not undo (a
        # superuser, membership in the owner role): check what was applied.
        self._check(app_role, readonly_role)

    def _role(
        self, cursor: Any, role: str, password: str | None, *, dry_run: bool
    ) -> str:
        """Create or reset ``role`` (unless ``dry_run``); return printable SQL."""
        if dry_run:
            verifier = None if password is None else dbroles.MASK
            exists = dbroles.role_exists(cursor, role)
            return dbroles.role_sql(role, exists=exists, verifier=verifier)
        if password is not None:
            password = dbroles.scram_verifier(cursor, role, password)
        return dbroles.role_ensure(cursor, role, verifier=password)

    def _password(self, variable: str | None) -> str | None:
        if variable is None:
            return None
        value = os.environ.get(variable, "")
        if not value:
            raise CommandError(f"the environment variable {variable} is unset or empty")
        return value

    def _check(self, app_role: str, readonly_role: str | None) -> None:
        with connection.cursor() as cursor:
            schema = dbroles.read_schema(cursor)
            found = dbroles.violations(
                cursor, app_role=app_role, readonly_role=readonly_role
            )
        if found:
            self.stdout.write(f"db_roles: {len(found)} violation(s)")
            for line in found:
                self.stdout.write(line)
            sys.exit(1)
        self.stdout.write(
            f"db_roles: no violation ({len(schema.tables)} tables, "
            f"{len(schema.insert_only)} insert-only)"
        )
