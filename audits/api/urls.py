"""Ledger API under /api/v1/."""

from django.urls import path

from audits.api import (
    alert_views,
    evidence_views,
    ingest_views,
    refusal_views,
    report_views,
    trail_views,
)

TRAIL = "predictions/<uuid:prediction_id>"

urlpatterns = [
    path(
        "predictions",
        ingest_views.PredictionIngestApi.as_view(),
        name="api-predictions",
    ),
    path("outcomes", ingest_views.OutcomeIngestApi.as_view(), name="api-outcomes"),
    path(
        f"{TRAIL}/trail",
        trail_views.PredictionTrailApi.as_view(),
        name="api-prediction-trail",
    ),
    path(
        f"{TRAIL}/trail.pdf",
        trail_views.PredictionTrailPdfApi.as_view(),
        name="api-prediction-trail-pdf",
    ),
    path(
        f"{TRAIL}/proof",
        trail_views.PredictionProofApi.as_view(),
        name="api-prediction-proof",
    ),
    path(
        f"{TRAIL}/outcome/proof",
        trail_views.OutcomeProofApi.as_view(),
        name="api-prediction-outcome-proof",
    ),
    path(
        "models/<slug:slug>/versions/<str:version>/reports",
        report_views.ReportRunApi.as_view(),
        name="api-report-run",
    ),
    path("reports/<int:pk>", report_views.ReportDetailApi.as_view(), name="api-report"),
    path("alerts/<int:pk>", alert_views.AlertDetailApi.as_view(), name="api-alert"),
    path(
        "models/<slug:slug>/versions/<str:version>/evidence-packs",
        evidence_views.VersionPackRequestApi.as_view(),
        name="api-evidence-pack-version",
    ),
    path(
        "models/<slug:slug>/evidence-packs",
        evidence_views.PeriodPackRequestApi.as_view(),
        name="api-evidence-pack-period",
    ),
    path(
        "evidence-packs/<int:pk>",
        evidence_views.PackDetailApi.as_view(),
        name="api-evidence-pack",
    ),
    path(
        "evidence-packs/<int:pk>/<str:name>",
        evidence_views.PackFileApi.as_view(),
        name="api-evidence-pack-file",
    ),
    path("access-log", evidence_views.AccessLogApi.as_view(), name="api-access-log"),
    path("refusals", refusal_views.RefusalListApi.as_view(), name="api-refusals"),
]
