"""Registry pages, under /registry/."""

from django.urls import path

from registry import views

app_name = "registry"

VERSION = "<slug:slug>/versions/<str:version>"
DOCUMENT = f"{VERSION}/documents/<int:pk>"

urlpatterns = [
    path("", views.inventory, name="inventory"),
    path("new/", views.model_create, name="model_create"),
    path("templates/", views.template_list, name="templates"),
    path(
        "templates/<slug:key>/<int:version>/",
        views.template_detail,
        name="template_detail",
    ),
    path("<slug:slug>/", views.model_detail, name="model_detail"),
    path("<slug:slug>/edit/", views.model_edit, name="model_edit"),
    path("<slug:slug>/history/", views.model_history, name="model_history"),
    path(f"{VERSION}/", views.version_detail, name="version_detail"),
    path(f"{VERSION}/submit/", views.version_submit, name="version_submit"),
    path(f"{VERSION}/card/", views.card_detail, name="card_detail"),
    path(f"{VERSION}/card/history/", views.card_history, name="card_history"),
    path(
        f"{VERSION}/card/<slug:section>/edit/",
        views.card_section_edit,
        name="card_section_edit",
    ),
    path(f"{VERSION}/documents/", views.document_list, name="document_list"),
    path(f"{DOCUMENT}/", views.document_detail, name="document_detail"),
    path(f"{DOCUMENT}/history/", views.document_history, name="document_history"),
    path(
        f"{DOCUMENT}/<slug:section>/edit/",
        views.document_section_edit,
        name="document_section_edit",
    ),
]
