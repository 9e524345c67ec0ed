"""The Kubernetes admission webhook: AdmissionReview v1 fixtures in and out."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from rest_framework.test import APIClient

from governance.models import GateDecision, ReleaseRequest
from tests.conftest import client_for
from tests.factories import sha
from tests.governance.test_gate_api import approve

URL = "/api/v1/gate/admission"
UID = "0b1c9d2e-0000-4000-8000-000000000001"
ARTIFACT_URI = "s3://models/credit/1.0.0/model.pkl"
DIGEST = sha("artifact-1.0.0")


@pytest.fixture(autouse=True)
def namespaces(settings: Any) -> None:
    settings.MODELGOV_NAMESPACE_ENVIRONMENTS = {
        "credit-prod": "production",
        "credit-staging": "staging",
    }


@pytest.fixture
def approval(
    submitted_version: Any, developer: Any, validator: Any, risk_officer: Any
) -> ReleaseRequest:
    return approve(
        version=submitted_version,
        developer=developer,
        validator=validator,
        risk_officer=risk_officer,
        environments=["production"],
    )


@pytest.fixture
def webhook(service: Any) -> APIClient:
    """The kube-apiserver, authenticated by a service account's token."""
    return client_for(service)


GROUPS = {
    "Deployment": ("apps", "v1", "deployments"),
    "InferenceService": ("serving.kserve.io", "v1beta1", "inferenceservices"),
    "Model": ("mlops.seldon.io", "v1alpha1", "models"),
}


def review(
    obj: dict[str, Any],
    *,
    namespace: str = "credit-prod",
    operation: str = "CREATE",
    uid: str = UID,
) -> dict[str, Any]:
    """An AdmissionReview v1 as the apiserver sends it (kube-review's shape)."""
    group, version, resource = GROUPS[obj["kind"]]
    obj = copy.deepcopy(obj)
    obj["metadata"]["namespace"] = namespace
    kind = {"group": group, "version": version, "kind": obj["kind"]}
    res = {"group": group, "version": version, "resource": resource}
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": kind,
            "resource": res,
            "requestKind": kind,
            "requestResource": res,
            "name": obj["metadata"]["name"],
            "namespace": namespace,
            "operation": operation,
            "userInfo": {
                "username": "system:serviceaccount:argocd:argocd-application-controller",
                "groups": ["system:serviceaccounts"],
            },
            "object": obj if operation != "DELETE" else None,
            "oldObject": obj if operation in ("UPDATE", "DELETE") else None,
            "dryRun": False,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        },
    }


def deployment(annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "credit-scorer", "labels": {"app": "credit-scorer"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "credit-scorer"}},
            "template": {
                "metadata": {
                    "labels": {"app": "credit-scorer"},
                    "annotations": annotations or {},
                },
                "spec": {
                    "containers": [
                        {"name": "scorer", "image": "registry.example/scorer:2.1"}
                    ]
                },
            },
        },
    }


def inference_service(
    storage_uri: str, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": "credit",
            "labels": {"modelgov.io/model": "credit-risk"},
            "annotations": annotations or {},
        },
        "spec": {
            "predictor": {
                "model": {"modelFormat": {"name": "sklearn"}, "storageUri": storage_uri}
            }
        },
    }


def seldon_model(storage_uri: str) -> dict[str, Any]:
    return {
        "apiVersion": "mlops.seldon.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": "credit"},
        "spec": {
            "storageUri": storage_uri,
            "requirements": ["sklearn"],
            "memory": "100Ki",
        },
    }


def post(client: APIClient, body: Any) -> Any:
    return client.post(URL, body, format="json")


ANNOTATED = {"modelgov.io/model": "credit-risk", "modelgov.io/version": "1.0.0"}


@pytest.mark.parametrize(
    "obj",
    [
        deployment(ANNOTATED),
        deployment({"modelgov.io/artifact-sha256": DIGEST}),
        inference_service(ARTIFACT_URI),
        inference_service("s3a://models/credit/1.0.0/model.pkl/"),
        inference_service(ARTIFACT_URI, {"modelgov.io/artifact-sha256": DIGEST}),
        seldon_model(ARTIFACT_URI),
    ],
    ids=[
        "deployment-by-name",
        "deployment-by-digest",
        "kserve",
        "kserve-equivalent-uri",
        "kserve-with-digest",
        "seldon",
    ],
)
def test_approved_model_is_admitted_and_the_decision_recorded(
    approval: ReleaseRequest, webhook: APIClient, obj: dict[str, Any]
) -> None:
    # when the apiserver asks about an approved model in a production namespace
    response = post(webhook, review(obj))
    # then it is allowed, the uid echoed, and the decision recorded
    assert response.status_code == 200
    record = GateDecision.objects.get()
    assert response.json() == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {
            "uid": UID,
            "allowed": True,
            "warnings": [],
            "auditAnnotations": {"decision-id": str(record.decision_id)},
        },
    }
    assert (record.source, record.correlation_id, record.allowed) == (
        "admission",
        UID,
        True,
    )
    assert (record.model_slug, record.version, record.environment) == (
        "credit-risk",
        "1.0.0",
        "production",
    )
    assert record.approval == approval


@pytest.mark.parametrize(
    "obj",
    [
        deployment(ANNOTATED),
        inference_service(ARTIFACT_URI),
        seldon_model(ARTIFACT_URI),
    ],
    ids=["deployment", "kserve", "seldon"],
)
def test_model_approved_for_production_only_is_denied_in_staging(
    approval: ReleaseRequest, webhook: APIClient, obj: dict[str, Any]
) -> None:
    # when the same object goes to a staging namespace
    response = post(webhook, review(obj, namespace="credit-staging", uid="uid-2"))
    # then it is denied with the gate's reason and the decision id
    assert response.status_code == 200
    record = GateDecision.objects.get()
    answer = response.json()["response"]
    assert answer["uid"] == "uid-2"
    assert answer["allowed"] is False
    assert answer["status"]["code"] == 403
    assert answer["status"]["message"].startswith(f"modelgov denied {obj['kind']} ")
    assert answer["status"]["message"].endswith(
        "credit-risk 1.0.0 is approved for production only, not staging "
        f"[decision {record.decision_id}]"
    )
    assert (record.allowed, record.environment, record.correlation_id) == (
        False,
        "staging",
        "uid-2",
    )


def test_kserve_with_an_unregistered_storage_uri_is_denied(
    approval: ReleaseRequest, webhook: APIClient
) -> None:
    # when
    response = post(webhook, review(inference_service("s3://elsewhere/model")))
    # then
    record = GateDecision.objects.get()
    assert response.json()["response"]["status"]["message"] == (
        "modelgov denied InferenceService credit-prod/credit in production "
        "(spec.predictor.model.storageUri s3://elsewhere/model): no registered model "
        f"version has the artifact URI s3://elsewhere/model [decision {record.decision_id}]"
    )
    assert record.allowed is False


def test_kserve_whose_digest_annotation_differs_is_denied(
    approval: ReleaseRequest, webhook: APIClient
) -> None:
    # given bytes at the approved path that are not the approved ones
    obj = inference_service(ARTIFACT_URI, {"modelgov.io/artifact-sha256": "f" * 64})
    # when
    response = post(webhook, review(obj))
    # then
    answer = response.json()["response"]
    assert answer["allowed"] is False
    assert (
        f"the artifact digest {'f' * 64} is not the one registered for credit-risk 1.0.0"
        in answer["status"]["message"]
    )


def test_unapproved_seldon_model_is_denied(
    submitted_version: Any, webhook: APIClient
) -> None:
    # when
    response = post(webhook, review(seldon_model(ARTIFACT_URI)))
    # then
    answer = response.json()["response"]
    assert answer["allowed"] is False
    assert (
        "credit-risk 1.0.0 has no approval for production"
        in answer["status"]["message"]
    )
    assert GateDecision.objects.get().allowed is False


def test_kserve_without_a_storage_uri_is_denied_without_a_decision(
    approval: ReleaseRequest, webhook: APIClient
) -> None:
    # given an InferenceService naming its model by label only
    obj = inference_service(ARTIFACT_URI)
    obj["spec"]["predictor"] = {"containers": [{"image": "custom:1"}]}
    # when
    response = post(webhook, review(obj))
    # then
    assert response.json()["response"] == {
        "uid": UID,
        "allowed": False,
        "warnings": [],
        "status": {
            "code": 403,
            "reason": "Forbidden",
            "message": (
                "modelgov denied InferenceService credit-prod/credit: the "
                "InferenceService names no model: spec.predictor.model.storageUri "
                "(or spec.predictor.<framework>.storageUri) is missing"
            ),
        },
    }
    assert GateDecision.objects.count() == 0


def test_deployment_without_modelgov_annotations_is_allowed_with_a_warning(
    webhook: APIClient,
) -> None:
    # when
    response = post(webhook, review(deployment()))
    # then
    assert response.json()["response"] == {
        "uid": UID,
        "allowed": True,
        "warnings": [
            "modelgov: no modelgov.io/ annotation, so this Deployment is not gated"
        ],
    }
    assert GateDecision.objects.count() == 0


def test_unknown_namespace_is_denied(
    approval: ReleaseRequest, webhook: APIClient
) -> None:
    # when an approved model arrives in a namespace that maps to no environment
    response = post(webhook, review(deployment(ANNOTATED), namespace="sandbox"))
    # then
    answer = response.json()["response"]
    assert answer["uid"] == UID
    assert answer["allowed"] is False
    assert answer["status"]["message"] == (
        "modelgov: namespace 'sandbox' is not mapped to an environment "
        "(MODELGOV_NAMESPACE_ENVIRONMENTS), so nothing may be deployed there; "
        "denied Deployment sandbox/credit-scorer"
    )


def test_delete_is_allowed(webhook: APIClient) -> None:
    # when
    response = post(
        webhook, review(seldon_model("s3://x/y"), operation="DELETE", uid="del-1")
    )
    # then
    assert response.json()["response"] == {
        "uid": "del-1",
        "allowed": True,
        "warnings": ["modelgov: DELETE is not gated"],
    }
    assert GateDecision.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        {"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"},
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"},
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {}},
        [1, 2],
    ],
)
def test_malformed_review_is_400_json(webhook: APIClient, body: Any) -> None:
    # when
    response = post(webhook, body)
    # then
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "malformed_admission_review"
    assert GateDecision.objects.count() == 0


def test_unparseable_body_is_400_json(webhook: APIClient) -> None:
    # when
    response = webhook.post(URL, "{not json", content_type="application/json")
    # then
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_anonymous_apiserver_is_401_json(db: Any) -> None:
    # when
    response = post(APIClient(), review(deployment(ANNOTATED)))
    # then
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_token_without_gate_check_is_403(developer: Any) -> None:
    # when
    response = post(client_for(developer), review(deployment(ANNOTATED)))
    # then
    assert response.status_code == 403
    assert GateDecision.objects.count() == 0
