"""``manage.py unlock_account``: clear the failed password attempts of an account or
an address (ADR 0021); the unlock is the audit event ``governance.account.unlocked``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.services import lockout


class Command(BaseCommand):
    help = (
        "Unlock an account (--username) or an address (--ip-address), or both, "
        "locked after too many failed sign-ins or signature passwords."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="")
        parser.add_argument("--ip-address", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"].strip()
        ip_address = options["ip_address"].strip()
        if not username and not ip_address:
            raise CommandError("Give --username, --ip-address, or both.")
        cleared = lockout.account_unlock(
            actor=None, username=username, ip_address=ip_address
        )
        what = " and ".join(
            part
            for part in (
                f"account {username!r}" if username else "",
                f"address {ip_address}" if ip_address else "",
            )
            if part
        )
        self.stdout.write(f"unlocked {what}: {cleared} failed attempt(s) cleared")
