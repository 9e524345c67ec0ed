"""``manage.py issue_token``: issue a new token for an existing account (rotation)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance import services
from governance.management.commands.create_account import validation_error_text


class Command(BaseCommand):
    help = (
        "Issue an API token for an existing account (e.g. to rotate a service "
        "account's token); print it once. Revoke the old one at /admin/ or with "
        "POST /api/v1/tokens/{id}/revoke (a session, or a token with tokens:manage)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--name", default="issued by issue_token")
        parser.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            help="repeatable; default: the role's",
        )
        parser.add_argument(
            "--model",
            help="bind an ingest key (predictions:write) to this model's slug",
        )
        parser.add_argument(
            "--environment",
            help="… in this environment (required with --model)",
        )
        parser.add_argument(
            "--expires-days",
            type=int,
            help=(
                "lifetime in days (default: MODELGOV_TOKEN_DEFAULT_TTL_DAYS; at most "
                "MODELGOV_TOKEN_MAX_TTL_DAYS)"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No account {options['username']!r}.")
        model = None
        if options["model"]:
            from registry.models import Model

            model = Model.objects.filter(slug=options["model"]).first()
            if model is None:
                raise CommandError(f"No model {options['model']!r}.")
        try:
            expires_at = None
            if options["expires_days"] is not None:
                expires_at = services.api_token_expiry(days=options["expires_days"])
            issued = services.api_token_create(
                actor=None,
                user=user,
                name=options["name"],
                scopes=options["scopes"],
                expires_at=expires_at,
                deployment_model=model,
                deployment_environment=options["environment"] or "",
            )
        except ValidationError as exc:
            raise CommandError(validation_error_text(exc)) from exc
        self.stdout.write(
            f"token {issued.token.prefix} expires {issued.token.expires_at:%Y-%m-%d}"
        )
        self.stdout.write(f"token: {issued.raw}")
