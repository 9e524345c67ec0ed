"""Audit events: the append-only record of every state change.

Each service writes its event in the same transaction as the change. The table is
insert-only in the database itself (triggers in migration 0002, on PostgreSQL and on
SQLite), so neither the application nor a stray SQL session can rewrite history.
The tamper-evident per-prediction ledger (issue 4) chains these events into its log.
"""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Dotted names: "registry.version.registered", "governance.token.revoked".
    event_type = models.CharField(max_length=100, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    # The actor's name at the time: later renames must not rewrite the record.
    actor_display = models.CharField(max_length=300, blank=True)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=100, blank=True, db_index=True)
    object_repr = models.CharField(max_length=300, blank=True)
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    request_id = models.CharField(max_length=36, blank=True, db_index=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id", "occurred_at"])]

    def __str__(self) -> str:
        return (
            f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.event_type} {self.object_repr}"
        )


class RefusalKind(models.TextChoices):
    """What kind of attempt was refused (the "Refused actions" filter)."""

    LOGIN_FAILED = "login_failed", "Failed sign-in"
    LOCKED_OUT = "locked_out", "Locked out"
    SIGNATURE_PASSWORD = "signature_password", "Wrong signature password"
    SEPARATION_OF_DUTIES = "separation_of_duties", "Separation of duties"
    PERMISSION = "permission", "Permission refused"
    TOKEN_SCOPE = "token_scope", "Token without the scope"
    TOKEN_MISUSE = "token_misuse", "Token misuse"


class RefusedAction(models.Model):
    """A refused attempt: a failed sign-in or lockout, a wrong signature password, a
    separation-of-duties or permission refusal, a token used beyond its scope.
    (State conflicts, 409, are answers, not refusals.)

    Written in its own transaction after the refused service rolled back, so the
    refusal is on record while the governed state and its audit trail stay untouched.
    Insert-only in the database, and a leaf of the ledger like every audit event.
    """

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(
        max_length=30,
        choices=RefusalKind.choices,
        default=RefusalKind.PERMISSION,
        db_index=True,
    )
    action = models.CharField(max_length=100)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_display = models.CharField(max_length=300, blank=True)
    # The account name that was tried (a failed sign-in has no actor).
    username = models.CharField(max_length=150, blank=True, db_index=True)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=100, blank=True)
    reason = models.TextField()
    request_id = models.CharField(max_length=36, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    method = models.CharField(max_length=10, blank=True)
    path = models.CharField(max_length=300, blank=True)
    # The API token that was used, if any (its id; tokens are never deleted).
    token_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} refused {self.action}: {self.reason[:80]}"


from audits.evidence.models import *  # noqa: E402, F401, F403
from audits.ledger.models import *  # noqa: E402, F401, F403
from audits.monitoring.models import *  # noqa: E402, F401, F403
