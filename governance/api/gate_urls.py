"""Routes of the gate API: decisions, the admission webhook, reported deployments."""

from django.urls import path

from governance.api import gate_views as views

urlpatterns = [
    path(
        "gate/decisions",
        views.GateDecisionListCreateApi.as_view(),
        name="api-gate-decisions",
    ),
    path(
        "gate/decisions/<uuid:decision_id>",
        views.GateDecisionDetailApi.as_view(),
        name="api-gate-decision",
    ),
    path(
        "gate/admission",
        views.AdmissionReviewApi.as_view(),
        name="api-gate-admission",
    ),
    path(
        "deployments",
        views.DeploymentListCreateApi.as_view(),
        name="api-deployments",
    ),
]
