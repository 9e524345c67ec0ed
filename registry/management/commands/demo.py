"""``manage.py demo``: load the demonstration data set (idempotent).

Creates the demo personas, trains the demo models for real on the shipped data
sets, registers their versions and writes their cards and documents, all through
the services, so the audit trail shows who did what. Running it again on a loaded
demo changes nothing and only prints the accounts.

The personas share one password: ``MODELGOV_DEMO_PASSWORD`` or, by default,
``modelgov-demo-2026``. It is for a local demo only: never load the demo into a
database that real users reach.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.choices import Role
from registry.demo import loader


class Command(BaseCommand):
    help = (
        "Load the demo: personas, three models trained on the shipped data, "
        "versions in several states, model cards and documents. Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--artifacts-dir",
            type=Path,
            default=None,
            help="Where the trained model files go (default: BASE_DIR/var/artifacts).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        base_dir = Path(settings.BASE_DIR)
        artifacts_dir = Path(options["artifacts_dir"] or base_dir / "var" / "artifacts")
        password = os.environ.get("MODELGOV_DEMO_PASSWORD") or loader.DEFAULT_PASSWORD
        try:
            result = loader.demo_load(
                data_dir=base_dir / "data",
                artifacts_dir=artifacts_dir,
                password=password,
                base_url=os.environ.get("MODELGOV_BASE_URL", "http://127.0.0.1:8000"),
                code_dir=base_dir,
            )
        except ValidationError as exc:
            messages = (
                [f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items()]
                if hasattr(exc, "error_dict")
                else exc.messages
            )
            raise CommandError("; ".join(messages)) from exc
        except (ValueError, LookupError) as exc:
            raise CommandError(str(exc)) from exc

        for line in result.log:
            self.stdout.write(f"  {line}")
        from audits import demo as ledger_demo

        users = {u.username: u for u in loader._users().values()}
        ledger = ledger_demo.ledger_demo_load(
            data_dir=base_dir / "data", artifacts_dir=artifacts_dir, users=users
        )
        for line in ledger.log:
            self.stdout.write(f"  {line}")
        summary = loader.demo_summary()
        state = (
            "Demo loaded" if result.loaded else "Demo already loaded; nothing changed"
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"{state}: {summary['models']} models, {summary['versions']} versions "
                f"({summary['submitted']} submitted, {summary['draft']} draft), "
                f"{summary['documents']} documents."
            )
        )
        self.stdout.write(
            f"Ledger: {ledger_demo.demo_prediction_count()} predictions; look one up "
            f"at /audits/ (e.g. {ledger.example_prediction})."
        )
        self._accounts(result)
        if ledger.ingest_key:
            self.stdout.write(
                "Ingest key of the demo scoring service (credit-risk-sgc in "
                "production; shown once):"
            )
            self.stdout.write(f"  {ledger.ingest_key}")

    def _accounts(self, result: loader.DemoResult) -> None:
        self.stdout.write("")
        self.stdout.write(
            "Demo accounts (demo only: never reuse this password outside a local demo)"
        )
        rows = [("username", "role", "name", "password")]
        for persona in loader.PERSONAS:
            password = (
                "(API token only)"
                if persona.role == Role.SERVICE_ACCOUNT
                else result.password
            )
            rows.append((persona.username, persona.role, persona.full_name, password))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for row in rows:
            cells = (cell.ljust(w) for cell, w in zip(row, widths, strict=True))
            self.stdout.write(("  " + "  ".join(cells)).rstrip())
        existing = [
            p.username
            for p in loader.PERSONAS
            if p.role != Role.SERVICE_ACCOUNT
            and p.username not in result.created_accounts
        ]
        if existing:
            self.stdout.write(
                "  Accounts that already existed keep the password set when they were "
                "created (MODELGOV_DEMO_PASSWORD at that time)."
            )
        self.stdout.write("")
        if result.pipeline_token:
            self.stdout.write(
                "API token of the pipeline service account (shown once; only its "
                "SHA-256 is stored):"
            )
            self.stdout.write(f"  {result.pipeline_token}")
        else:
            self.stdout.write(
                "The pipeline service account's token was shown when the demo was "
                "first loaded (only its SHA-256 is stored). For another one: "
                'manage.py shell -c "from django.contrib.auth.models import User; '
                "from governance import services as s; "
                "u = User.objects.get(username='pipeline'); "
                "print(s.api_token_create(actor=User.objects.get(username='admin'), "
                "user=u, name='demo').raw)\""
            )
