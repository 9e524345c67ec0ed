"""Routes filled in by the gate and workflow APIs."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
