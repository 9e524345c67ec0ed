from django.contrib import admin

from audits.models import AuditEvent
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
