"""Auditor pages, under /audits/."""

from django.urls import path

from audits import web_views

app_name = "audits"

urlpatterns = [
    path("", web_views.home, name="home"),
    path("predictions/<uuid:prediction_id>", web_views.trail, name="trail"),
    path("ledger-public-key.pem", web_views.public_key, name="public_key"),
]
