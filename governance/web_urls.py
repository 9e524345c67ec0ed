"""Browser pages of the approval workflow, under /governance/."""

from django.urls import path

from governance import web_views

app_name = "governance"

REQUEST = "requests/<int:pk>"

urlpatterns = [
    path("approvals/", web_views.queue, name="queue"),
    path("validation/", web_views.validation_queue, name="validation_queue"),
    path(f"{REQUEST}/", web_views.request_detail, name="request_detail"),
    path(f"{REQUEST}/submit/", web_views.request_submit, name="request_submit"),
    path(f"{REQUEST}/withdraw/", web_views.request_withdraw, name="request_withdraw"),
    path(
        f"{REQUEST}/start-validation/",
        web_views.request_start_validation,
        name="request_start_validation",
    ),
    path(
        f"{REQUEST}/validation/",
        web_views.request_record_validation,
        name="request_record_validation",
    ),
    path(f"{REQUEST}/approve/", web_views.request_approve, name="request_approve"),
    path(
        f"{REQUEST}/committee/", web_views.request_committee, name="request_committee"
    ),
    path(f"{REQUEST}/reject/", web_views.request_reject, name="request_reject"),
    path(f"{REQUEST}/revoke/", web_views.request_revoke, name="request_revoke"),
    path(
        "versions/<int:version_id>/request-release/",
        web_views.request_create,
        name="request_create",
    ),
    path("findings/", web_views.findings, name="findings"),
    path(
        "findings/<int:pk>/remediate/",
        web_views.finding_remediate,
        name="finding_remediate",
    ),
    path("findings/<int:pk>/close/", web_views.finding_close, name="finding_close"),
]
