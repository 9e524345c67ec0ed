"""Auditor pages, under /audits/."""

from django.urls import path

from audits import web_views
from audits.evidence import web_views as evidence_views
from audits.monitoring import web_views as monitoring_views

app_name = "audits"

urlpatterns = [
    path("", web_views.home, name="home"),
    path("predictions/<uuid:prediction_id>", web_views.trail, name="trail"),
    path("ledger-public-key.pem", web_views.public_key, name="public_key"),
    path("access-log", web_views.access_log, name="access_log"),
    path("refusals", web_views.refusals, name="refusals"),
    path("monitoring/", monitoring_views.monitoring, name="monitoring"),
    path("reports/<int:pk>", monitoring_views.report, name="report"),
    path("alerts/<int:pk>", monitoring_views.alert, name="alert"),
    path(
        "versions/<int:version_id>/reports",
        monitoring_views.version_reports,
        name="version_reports",
    ),
    path("monitors/<int:pk>/edit", monitoring_views.monitor_edit, name="monitor_edit"),
    path("packs/", evidence_views.packs, name="packs"),
    path(
        "versions/<int:version_id>/packs",
        evidence_views.version_packs,
        name="version_packs",
    ),
    path("models/<slug:slug>/packs", evidence_views.model_packs, name="model_packs"),
    path("packs/<int:pk>", evidence_views.pack, name="pack"),
    path("packs/<int:pk>/pack.pdf", evidence_views.pack_pdf, name="pack_pdf"),
    path("packs/<int:pk>/pack.zip", evidence_views.pack_zip, name="pack_zip"),
    path(
        "packs/<int:pk>/pack.pdf.sig",
        evidence_views.pack_signature,
        name="pack_signature",
    ),
]
