"""Routes of the workflow API: release requests, e-signatures, attestations, findings."""

from django.urls import path

from governance.api import workflow_views as views

RR = "release-requests/<int:pk>"

urlpatterns = [
    path(
        "release-requests",
        views.ReleaseRequestListCreateApi.as_view(),
        name="api-release-requests",
    ),
    path(RR, views.ReleaseRequestDetailApi.as_view(), name="api-release-request"),
    path(
        f"{RR}/submit",
        views.ReleaseRequestSubmitApi.as_view(),
        name="api-release-request-submit",
    ),
    path(
        f"{RR}/withdraw",
        views.ReleaseRequestWithdrawApi.as_view(),
        name="api-release-request-withdraw",
    ),
    path(
        f"{RR}/start-validation",
        views.ReleaseRequestStartValidationApi.as_view(),
        name="api-release-request-start-validation",
    ),
    path(
        f"{RR}/record-validation",
        views.ReleaseRequestRecordValidationApi.as_view(),
        name="api-release-request-record-validation",
    ),
    path(
        f"{RR}/approve",
        views.ReleaseRequestApproveApi.as_view(),
        name="api-release-request-approve",
    ),
    path(
        f"{RR}/reject",
        views.ReleaseRequestRejectApi.as_view(),
        name="api-release-request-reject",
    ),
    path(
        f"{RR}/revoke",
        views.ReleaseRequestRevokeApi.as_view(),
        name="api-release-request-revoke",
    ),
    path(
        f"{RR}/attestation",
        views.ReleaseRequestAttestationApi.as_view(),
        name="api-release-request-attestation",
    ),
    path(
        "attestations/public-key",
        views.AttestationPublicKeyApi.as_view(),
        name="api-attestation-public-key",
    ),
    path(
        "models/<slug:slug>/versions/<str:version>/findings",
        views.FindingListCreateApi.as_view(),
        name="api-findings",
    ),
    path(
        "findings/<int:pk>/remediation",
        views.FindingRemediationApi.as_view(),
        name="api-finding-remediation",
    ),
    path(
        "findings/<int:pk>/close",
        views.FindingCloseApi.as_view(),
        name="api-finding-close",
    ),
]
