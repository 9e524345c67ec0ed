"""Everything under /api/v1/."""

from django.urls import include, path

from governance.api import views

urlpatterns = [
    path("me", views.MeApi.as_view(), name="api-me"),
    path("tokens", views.TokenListCreateApi.as_view(), name="api-tokens"),
    path(
        "tokens/<int:pk>/revoke",
        views.TokenRevokeApi.as_view(),
        name="api-token-revoke",
    ),
    path("", include("governance.api.gate_urls")),
    path("", include("governance.api.workflow_urls")),
    path("", include("registry.api.urls")),
    path("", include("audits.api.urls")),
]
