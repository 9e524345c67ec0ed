"""``manage.py create_account``: create an account with one role, optionally a token."""

from __future__ import annotations

import os
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from governance import services
from governance.choices import Role


def validation_error_text(exc: ValidationError) -> str:
    """One line naming each field: ``expires_at: A token may live at most …``."""
    messages = (
        [f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items()]
        if hasattr(exc, "error_dict")
        else exc.messages
    )
    return "; ".join(messages)


class Command(BaseCommand):
    help = "Create an account with a role; print an API token with --token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument(
            "--password-from-env",
            metavar="VAR",
            help="Read the password from this environment variable (never from argv).",
        )
        parser.add_argument("--email", default="")
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")
        parser.add_argument(
            "--token", action="store_true", help="Issue and print a token."
        )
        parser.add_argument("--token-name", default="created by create_account")
        parser.add_argument(
            "--token-expires-days",
            type=int,
            help=(
                "the token's lifetime in days (default: "
                "MODELGOV_TOKEN_DEFAULT_TTL_DAYS; at most MODELGOV_TOKEN_MAX_TTL_DAYS)"
            ),
        )
        parser.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            help="Token scope (repeatable); default: all the role allows.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        password = None
        if options["password_from_env"]:
            var = options["password_from_env"]
            password = os.environ.get(var)
            if not password:
                raise CommandError(f"Environment variable {var} is not set or empty.")
        try:
            # One transaction: no account is left behind when its token is refused.
            with transaction.atomic():
                user = services.account_create(
                    actor=None,
                    username=options["username"],
                    role=options["role"],
                    password=password,
                    email=options["email"],
                    first_name=options["first_name"],
                    last_name=options["last_name"],
                )
                issued = None
                if options["token"]:
                    days = options["token_expires_days"]
                    issued = services.api_token_create(
                        actor=user,
                        user=user,
                        name=options["token_name"],
                        scopes=options["scopes"],
                        expires_at=(
                            None
                            if days is None
                            else services.api_token_expiry(days=days)
                        ),
                    )
        except ValidationError as exc:
            raise CommandError(validation_error_text(exc)) from exc
        self.stdout.write(f"created {user.get_username()} ({options['role']})")
        if issued is not None:
            self.stdout.write(f"token: {issued.raw}")
