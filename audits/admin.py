from django.contrib import admin

from audits.models import AuditEvent, RefusedAction
from governance.admin_mixins import ReadOnlyAdminMixin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "occurred_at",
        "event_type",
        "actor_display",
        "object_type",
        "object_repr",
    ]
    list_filter = ["event_type", "object_type"]
    search_fields = ["object_id", "object_repr", "actor_display", "request_id"]
    date_hierarchy = "occurred_at"


@admin.register(RefusedAction)
class RefusedActionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "occurred_at",
        "kind",
        "actor_display",
        "username",
        "ip_address",
        "action",
        "object_type",
        "object_id",
    ]
    list_filter = ["kind", "object_type"]
    search_fields = ["=username", "actor_display", "=ip_address", "request_id"]
    date_hierarchy = "occurred_at"


# --- the ledger: read-only (insert-only in the database as well) --------------------

from audits.ledger.models import (  # noqa: E402
    Alert,
    AlertOccurrence,
    DeploymentState,
    LedgerCheckpoint,
    LedgerEntry,
)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["seq", "entry_type", "entry_id", "received_at", "sequenced_at"]
    list_filter = ["entry_type"]
    search_fields = ["=entry_id"]
    fields = readonly_fields = (
        "seq",
        "entry_id",
        "entry_type",
        "leaf_text",
        "leaf_hash_hex",
        "received_at",
        "sequenced_at",
    )
    show_full_result_count = False  # no COUNT(*) over millions of rows

    @admin.display(description="leaf (canonical JSON, as hashed)")
    def leaf_text(self, obj: LedgerEntry) -> str:
        return bytes(obj.leaf).decode("utf-8", errors="replace")

    @admin.display(description="leaf hash")
    def leaf_hash_hex(self, obj: LedgerEntry) -> str:
        return bytes(obj.leaf_hash).hex()


@admin.register(LedgerCheckpoint)
class LedgerCheckpointAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["size", "created_at"]
    fields = readonly_fields = ("size", "root_hex", "note", "created_at")

    @admin.display(description="root")
    def root_hex(self, obj: LedgerCheckpoint) -> str:
        return bytes(obj.root).hex()


@admin.register(DeploymentState)
class DeploymentStateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "model",
        "environment",
        "model_version",
        "approval",
        "reason",
    ]
    list_filter = ["environment", "reason"]
    exclude = ["leaf_hash"]


class AlertOccurrenceInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Every occurrence of the alert, newest first, with its own message."""

    model = AlertOccurrence
    fields = ("occurred_at", "count", "message", "details", "report")
    readonly_fields = ("occurred_at", "count", "message", "details", "report")
    ordering = ["-occurred_at", "-id"]
    extra = 0
    can_delete = False


@admin.register(AlertOccurrence)
class AlertOccurrenceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["occurred_at", "alert", "count", "report"]
    list_filter = ["alert__kind"]
    list_select_related = ["alert"]
    date_hierarchy = "occurred_at"


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    inlines = [AlertOccurrenceInline]
    list_display = [
        "last_seen_at",
        "kind",
        "severity",
        "model",
        "environment",
        "model_version",
        "occurrences",
        "is_open",
    ]
    list_filter = ["kind", "is_open", "environment"]


# --- monitoring: read-only here; monitors change through the monitoring services ----

from audits.monitoring.models import Monitor, MonitoringReport  # noqa: E402


@admin.register(Monitor)
class MonitorAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "model_version",
        "environment",
        "is_enabled",
        "schedule",
        "window",
        "action_on_breach",
        "updated_at",
    ]
    list_filter = ["environment", "is_enabled", "window", "action_on_breach"]
    list_select_related = ["model_version__model"]


@admin.register(MonitoringReport)
class MonitoringReportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "model_version",
        "environment",
        "kind",
        "window_start",
        "window_end",
        "status",
        "trigger",
        "created_at",
    ]
    list_filter = ["kind", "status", "environment", "trigger"]
    list_select_related = ["model_version__model"]
    date_hierarchy = "window_end"
