"""The pure admission module: parsing reviews, finding the model, answering."""

from __future__ import annotations

from typing import Any

import pytest

from governance import admission

DIGEST = "a" * 64


def review(obj: Any, **request: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "namespace": "credit-prod",
        "name": "scorer",
        "operation": "CREATE",
        "object": obj,
        "oldObject": None,
        "dryRun": False,
    }
    body.update(request)
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": body,
    }


def deployment(
    annotations: dict[str, str] | None = None,
    template_annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "scorer", "annotations": annotations or {}},
        "spec": {
            "template": {
                "metadata": {"annotations": template_annotations or {}},
                "spec": {"containers": [{"name": "s", "image": "scorer:1"}]},
            }
        },
    }


def isvc(predictor: dict[str, Any], annotations: dict[str, str] | None = None) -> Any:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "fraud", "annotations": annotations or {}},
        "spec": {"predictor": predictor},
    }


def seldon(spec: dict[str, Any], annotations: dict[str, str] | None = None) -> Any:
    return {
        "apiVersion": "mlops.seldon.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": "iris", "annotations": annotations or {}},
        "spec": spec,
    }


def test_parse_review_reads_the_fields_the_gate_uses() -> None:
    # given a Deployment CREATE review
    body = review(deployment(), dryRun=True)
    # when it is parsed
    parsed = admission.parse_review(body)
    # then
    assert parsed == admission.AdmissionRequest(
        uid="705ab4f5-6393-11e8-b7cc-42010a800002",
        group="apps",
        version="v1",
        kind="Deployment",
        operation="CREATE",
        namespace="credit-prod",
        name="scorer",
        object=body["request"]["object"],
        dry_run=True,
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "the body must be a JSON object (an AdmissionReview)"),
        (
            {"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"},
            "apiVersion must be 'admission.k8s.io/v1', not 'admission.k8s.io/v1beta1'",
        ),
        (
            {"apiVersion": "admission.k8s.io/v1", "kind": "Review"},
            "kind must be 'AdmissionReview', not 'Review'",
        ),
        (
            {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"},
            "request is missing or not an object",
        ),
        (
            {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "request": {"operation": "CREATE"},
            },
            "request.uid is missing",
        ),
        (
            {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "request": {"uid": "u"},
            },
            "request.operation is missing",
        ),
        (
            {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "request": {"uid": "u", "operation": "CREATE", "object": "x"},
            },
            "request.object must be an object or null",
        ),
    ],
)
def test_parse_review_refuses_malformed_bodies(body: Any, message: str) -> None:
    # when / then
    with pytest.raises(admission.MalformedReview) as caught:
        admission.parse_review(body)
    assert str(caught.value) == message


def test_deployment_without_modelgov_annotations_is_not_governed() -> None:
    # given a Deployment with unrelated annotations only
    obj = deployment({"team": "risk"})
    # when
    found = admission.extract_model_references(obj)
    # then
    assert found == admission.Extraction(
        workload="Deployment",
        governed=False,
        warnings=(
            "modelgov: no modelgov.io/ annotation, so this Deployment is not gated",
        ),
    )


def test_deployment_digest_on_the_pod_template_is_found() -> None:
    # given
    obj = deployment(template_annotations={admission.ANNOTATION_DIGEST: DIGEST})
    # when
    found = admission.extract_model_references(obj)
    # then
    assert found == admission.Extraction(
        workload="Deployment",
        governed=True,
        references=(
            admission.ModelReference(
                artifact_sha256=DIGEST, where="metadata.annotations"
            ),
        ),
    )


def test_deployment_model_and_version_on_the_object_are_found() -> None:
    # given
    obj = deployment(
        {
            admission.ANNOTATION_MODEL: "credit-risk",
            admission.ANNOTATION_VERSION: "1.0.0",
        }
    )
    # when
    found = admission.extract_model_references(obj)
    # then
    assert found.references == (
        admission.ModelReference(
            model="credit-risk", version="1.0.0", where="metadata.annotations"
        ),
    )
    assert found.problem == ""


@pytest.mark.parametrize(
    ("annotations", "template", "problem"),
    [
        (
            {admission.ANNOTATION_MODEL: "credit-risk"},
            {},
            "the annotations modelgov.io/model and modelgov.io/version must be given together",
        ),
        (
            {admission.ANNOTATION_DIGEST: "ABC"},
            {},
            "the annotation modelgov.io/artifact-sha256 on the Deployment must be 64 lowercase hex characters",
        ),
        (
            {admission.ANNOTATION_DIGEST: DIGEST},
            {admission.ANNOTATION_DIGEST: "b" * 64},
            f"the annotation modelgov.io/artifact-sha256 differs between the Deployment ({DIGEST}) and its pod template ({'b' * 64})",
        ),
        (
            {"modelgov.io/owner": "risk"},
            {},
            "the Deployment carries modelgov.io/ annotations but neither modelgov.io/artifact-sha256 nor modelgov.io/model + modelgov.io/version",
        ),
    ],
)
def test_deployment_with_unusable_annotations_has_a_problem(
    annotations: dict[str, str], template: dict[str, str], problem: str
) -> None:
    # when
    found = admission.extract_model_references(deployment(annotations, template))
    # then
    assert found.governed is True
    assert found.references == ()
    assert found.problem == problem


def test_kserve_new_schema_storage_uri_and_digest_are_found() -> None:
    # given
    obj = isvc(
        {
            "model": {
                "modelFormat": {"name": "sklearn"},
                "storageUri": "s3://ml/1/abc/artifacts/model",
            }
        },
        {admission.ANNOTATION_DIGEST: DIGEST},
    )
    # when
    found = admission.extract_model_references(obj)
    # then
    assert found == admission.Extraction(
        workload="InferenceService",
        governed=True,
        references=(
            admission.ModelReference(
                storage_uri="s3://ml/1/abc/artifacts/model",
                artifact_sha256=DIGEST,
                where="spec.predictor.model.storageUri",
            ),
        ),
    )


def test_kserve_legacy_framework_storage_uri_is_found() -> None:
    # given the old schema
    obj = isvc(
        {"sklearn": {"storageUri": "gs://kfserving-samples/models/sklearn/iris"}}
    )
    # when
    found = admission.extract_model_references(obj)
    # then
    assert found.references == (
        admission.ModelReference(
            storage_uri="gs://kfserving-samples/models/sklearn/iris",
            where="spec.predictor.sklearn.storageUri",
        ),
    )


def test_kserve_without_storage_uri_is_a_problem_even_with_labels() -> None:
    # given an InferenceService naming its model by labels and a custom container
    obj = isvc({"containers": [{"image": "x"}]})
    obj["metadata"]["labels"] = {"modelgov.io/model": "credit-risk"}
    # when
    found = admission.extract_model_references(obj)
    # then
    assert found.governed is True
    assert found.problem == (
        "the InferenceService names no model: spec.predictor.model.storageUri "
        "(or spec.predictor.<framework>.storageUri) is missing"
    )


def test_seldon_model_storage_uri_is_found() -> None:
    # given
    obj = seldon(
        {"storageUri": "gs://seldon-models/iris", "requirements": ["sklearn"]},
    )
    # when
    found = admission.extract_model_references(obj)
    # then
    assert found.references == (
        admission.ModelReference(
            storage_uri="gs://seldon-models/iris", where="spec.storageUri"
        ),
    )


def test_seldon_model_without_storage_uri_is_a_problem() -> None:
    # when
    found = admission.extract_model_references(seldon({"requirements": ["sklearn"]}))
    # then
    assert (
        found.problem == "the Seldon Model names no model: spec.storageUri is missing"
    )


def test_unknown_kind_is_governed_and_has_a_problem() -> None:
    # when
    found = admission.extract_model_references(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {}}
    )
    # then
    assert found.governed is True
    assert found.problem == "the modelgov gate does not handle v1 Pod objects"


@pytest.mark.parametrize(
    ("uri", "normal"),
    [
        ("s3://ml/model/", "s3://ml/model"),
        ("s3a://ml/model", "s3://ml/model"),
        ("S3N://ml/model//", "s3://ml/model"),
        ("  gs://b/k ", "gs://b/k"),
        ("/mnt/models", "/mnt/models"),
    ],
)
def test_normalise_uri_folds_equivalent_spellings(uri: str, normal: str) -> None:
    assert admission.normalise_uri(uri) == normal


def test_uri_variants_list_the_spellings_to_look_up() -> None:
    assert admission.uri_variants("s3a://ml/model/") == [
        "s3://ml/model",
        "s3://ml/model/",
        "s3a://ml/model",
        "s3a://ml/model/",
        "s3n://ml/model",
        "s3n://ml/model/",
    ]


def test_review_response_denial_carries_status_403_and_the_uid() -> None:
    # when
    answer = admission.review_response(uid="u-1", allowed=False, message="no")
    # then
    assert answer == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {
            "uid": "u-1",
            "allowed": False,
            "warnings": [],
            "status": {"code": 403, "reason": "Forbidden", "message": "no"},
        },
    }


def test_review_response_allow_shortens_long_warnings() -> None:
    # when
    answer = admission.review_response(uid="u-2", allowed=True, warnings=["w" * 200])
    # then
    assert answer["response"] == {
        "uid": "u-2",
        "allowed": True,
        "warnings": ["w" * 119 + "…"],
    }
