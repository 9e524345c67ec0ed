from django.urls import path

from registry.api import views

V = "models/<slug:slug>/versions/<str:version>"

urlpatterns = [
    path("models", views.ModelListCreateApi.as_view(), name="api-models"),
    path("models/<slug:slug>", views.ModelDetailApi.as_view(), name="api-model"),
    path(
        "models/<slug:slug>/versions",
        views.VersionListCreateApi.as_view(),
        name="api-versions",
    ),
    path(V, views.VersionDetailApi.as_view(), name="api-version"),
    path(f"{V}/submit", views.VersionSubmitApi.as_view(), name="api-version-submit"),
    path(f"{V}/card", views.CardApi.as_view(), name="api-card"),
    path(f"{V}/card/history", views.CardHistoryApi.as_view(), name="api-card-history"),
    path(
        f"{V}/card/sections/<str:section>",
        views.CardSectionApi.as_view(),
        name="api-card-section",
    ),
    path(f"{V}/documents", views.DocumentListCreateApi.as_view(), name="api-documents"),
    path(
        f"{V}/documents/<int:pk>",
        views.DocumentDetailApi.as_view(),
        name="api-document",
    ),
    path(
        f"{V}/documents/<int:pk>/history",
        views.DocumentHistoryApi.as_view(),
        name="api-document-history",
    ),
    path(
        f"{V}/documents/<int:pk>/sections/<str:section>",
        views.DocumentSectionApi.as_view(),
        name="api-document-section",
    ),
    path("templates", views.TemplateListCreateApi.as_view(), name="api-templates"),
    path(
        "templates/<slug:key>/<int:version>",
        views.TemplateDetailApi.as_view(),
        name="api-template",
    ),
]
