"""Root URL configuration."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from governance import web_views
from governance.api_docs import api_docs

urlpatterns = [
    path("", web_views.home, name="home"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs, name="api-docs"),
    path("api/v1/", include("governance.api.urls")),
    path("registry/", include("registry.urls")),
    path("accounts/", include("governance.account_urls")),
    path("governance/", include("governance.web_urls")),
    path("audits/", include("audits.web_urls")),
]
