"""Root URL configuration."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from governance import web_views
from governance.account_forms import LockoutAuthenticationForm
from governance.api import views as api_views
from governance.api_docs import api_docs

# A refused write anywhere (the admin too) goes on the refusal log.
handler403 = "governance.views.permission_denied"

urlpatterns = [
    path("", web_views.home, name="home"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            redirect_authenticated_user=True,
            authentication_form=LockoutAuthenticationForm,
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/schema/", api_views.SchemaApi.as_view(), name="api-schema"),
    path("api/docs/", api_docs, name="api-docs"),
    path("api/v1/", include("governance.api.urls")),
    path("registry/", include("registry.urls")),
    path("accounts/", include("governance.account_urls")),
    path("governance/", include("governance.web_urls")),
    path("audits/", include("audits.web_urls")),
]
