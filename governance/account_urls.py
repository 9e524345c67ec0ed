"""Account pages, under /accounts/ (login and logout are in the root URLconf)."""

from django.urls import path

from governance import views

urlpatterns = [
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
]
