"""Gate API: decisions, the Kubernetes admission webhook, reported deployments.

Views parse input, call a service or selector, and serialize output. Every gate
decision goes through ``services.gate_check``, which stores it with its inputs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audits.integrity import verify
from audits.integrity.api import integrity_of
from governance import admission, services
from governance.api import gate_serializers as s
from governance.choices import GateSource
from governance.models import Deployment, GateDecision
from governance.permissions import HasModelPermission
from governance.services import deployments
from registry import selectors as registry_selectors
from registry.models import ModelVersion

# Tokens ask the gate with gate:check (service accounts); people read decisions and
# deployments with registry:read.
_GATE_SCOPES = {"SAFE": "registry:read", "WRITE": "gate:check"}
CLIENT_HEADER = "X-Modelgov-Client"
# An allowed admission warns when its approval ends within this period.
_EXPIRY_WARNING = timedelta(days=30)


class GateApi(APIView):
    permission_classes = [*APIView.permission_classes, HasModelPermission]
    required_scopes = _GATE_SCOPES


def _parse(serializer_class: Any, data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _decisions(user: Any) -> Any:
    """Decisions ``user`` may read: about models it may see, or about no model."""
    qs = GateDecision.objects.select_related(
        "approval__model_version__model"
    ).prefetch_related("approval__signatures")
    if user.has_perm("registry.view_all_models"):
        return qs
    visible = (
        registry_selectors.model_list_for_user(user=user).order_by().values("slug")
    )
    return qs.filter(Q(model_slug__in=visible) | Q(model_slug="", caller=user))


def _with_integrity(rows: Any) -> list[dict[str, Any]]:
    """Stored gate decisions or deployments as records: each with ``integrity``,
    its verdict against its ledger leaf (one batch for the page). The gate's own
    answer (POST) is not a record listing and carries none."""
    rows = list(rows)
    found = verify.verdicts(rows)
    out = []
    for row in rows:
        serializer = (
            s.DeploymentOutputSerializer
            if isinstance(row, Deployment)
            else s.GateDecisionOutputSerializer
        )
        out.append({**serializer(row).data, "integrity": integrity_of(row, found)})
    return out


class GateDecisionListCreateApi(GateApi):
    permission_by_method = {
        "GET": "governance.view_gatedecision",
        "POST": "governance.check_gate",
    }

    @extend_schema(
        parameters=[
            OpenApiParameter(name, OpenApiTypes.STR)
            for name in ("model", "version", "environment", "source", "allowed")
        ],
        responses=s.GateDecisionOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        qs = _decisions(request.user)
        params = request.query_params
        for param, field in (
            ("model", "model_slug"),
            ("version", "version"),
            ("environment", "environment"),
            ("source", "source"),
        ):
            if params.get(param):
                qs = qs.filter(**{field: params[param]})
        if params.get("allowed"):
            if params["allowed"] not in {"true", "false"}:
                raise ValidationError({"allowed": ["Must be true or false."]})
            qs = qs.filter(allowed=params["allowed"] == "true")
        paginator = LimitOffsetPagination()
        page: Any = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(_with_integrity(page))

    @extend_schema(
        request=s.GateDecisionInputSerializer,
        responses=s.GateDecisionOutputSerializer,
    )
    def post(self, request: Request) -> Response:
        data = _parse(s.GateDecisionInputSerializer, request.data)
        context = data.get("context") or {}
        client = request.headers.get(CLIENT_HEADER, "").strip().lower()
        result = services.gate_check(
            actor=request.user,
            environment=data["environment"],
            model=data.get("model", ""),
            version=data.get("version", ""),
            artifact_sha256=data.get("artifact_sha256", ""),
            source=GateSource.CLI if client == "cli" else GateSource.API,
            correlation_id=context.get("correlation_id", ""),
        )
        # A denial is an answer, not an error: always 200.
        return Response(
            s.gate_answer_data(
                result,
                model=data.get("model", ""),
                version=data.get("version", ""),
                artifact_sha256=data.get("artifact_sha256", ""),
            )
        )


class GateDecisionDetailApi(GateApi):
    permission_by_method = {"GET": "governance.view_gatedecision"}

    @extend_schema(responses=s.GateDecisionOutputSerializer)
    def get(self, request: Request, decision_id: Any) -> Response:
        record = _decisions(request.user).filter(decision_id=decision_id).first()
        if record is None:
            raise Http404("No such decision.")
        return Response(_with_integrity([record])[0])


def _versions_at_uri(uri: str) -> list[ModelVersion]:
    wanted = admission.normalise_uri(uri)
    found = (
        ModelVersion.objects.select_related("model")
        .filter(artifact_uri__in=admission.uri_variants(uri))
        .order_by("-created_at", "-id")
    )
    return [v for v in found if admission.normalise_uri(v.artifact_uri) == wanted]


def _check_reference(
    ref: admission.ModelReference, *, actor: Any, environment: str, uid: str
) -> tuple[services.GateResult, str]:
    """Decide one model reference; return the result and a note on how the storage
    URI resolved (empty when it named exactly one registered version)."""

    def check(model: str = "", version: str = "", digest: str = "") -> Any:
        return services.gate_check(
            actor=actor,
            environment=environment,
            model=model,
            version=version,
            artifact_sha256=digest,
            source=GateSource.ADMISSION,
            correlation_id=uid,
        )

    if not ref.storage_uri:
        return check(ref.model, ref.version, ref.artifact_sha256), ""
    unknown = f"no registered model version has the artifact URI {ref.storage_uri}"
    found = _versions_at_uri(ref.storage_uri)
    visible_ids = registry_selectors.model_ids_visible_to(
        user=actor, model_ids=[v.model_id for v in found]
    )
    if found and not visible_ids:
        # Versions the caller may not see are answered as if absent; the one found
        # is still judged for the record (the gate conceals its answer).
        if len(found) == 1:
            v = found[0]
            return check(v.model.slug, v.version, ref.artifact_sha256), unknown
        return check(), unknown
    found = [v for v in found if v.model_id in visible_ids]
    if ref.artifact_sha256:
        # The digest picks among versions at this URI; none matching is a denial
        # ("not the digest registered") from the rules, on the newest one.
        found = [v for v in found if v.artifact_sha256 == ref.artifact_sha256] or found[
            :1
        ]
    if len(found) == 1:
        v = found[0]
        return check(v.model.slug, v.version, ref.artifact_sha256), ""
    if not found:
        note = unknown
    else:
        note = (
            f"{len(found)} registered versions share the artifact URI "
            f"{ref.storage_uri}; annotate {admission.ANNOTATION_DIGEST} to choose"
        )
    # Recorded as a decision about no subject: the rules deny it.
    return check(), note


def _expiry_warning(result: services.GateResult) -> list[str]:
    approval = result.decision.approval
    if approval is None or approval.expires_at - timezone.now() > _EXPIRY_WARNING:
        return []
    return [
        f"modelgov: approval {approval.approval_id} for {approval.model} "
        f"{approval.version} expires {approval.expires_at:%Y-%m-%d}"
    ]


def _admission_answer(review: admission.AdmissionRequest, actor: Any) -> dict[str, Any]:
    uid = review.uid
    environment = settings.MODELGOV_NAMESPACE_ENVIRONMENTS.get(review.namespace)
    strict = environment in settings.MODELGOV_ADMISSION_STRICT
    if review.operation not in admission.GATED_OPERATIONS:
        if strict:
            # The webhook configuration sends only CREATE and UPDATE: anything else
            # here is a changed configuration or a forged review.
            return admission.review_response(
                uid=uid,
                allowed=False,
                message=admission.strict_operation_message(
                    review, environment=str(environment)
                ),
            )
        # Removing a workload never promotes a model.
        return admission.review_response(
            uid=uid,
            allowed=True,
            warnings=[f"modelgov: {review.operation} is not gated"],
        )
    extraction = admission.extract_model_references(review.object)
    what = f"{extraction.workload or review.kind} {review.namespace}/{review.name}"
    if environment is None:
        return admission.review_response(
            uid=uid,
            allowed=False,
            message=(
                f"modelgov: namespace {review.namespace!r} is not mapped to an "
                "environment (MODELGOV_NAMESPACE_ENVIRONMENTS), so nothing may be "
                f"deployed there; denied {what}"
            ),
        )
    if not extraction.governed and strict:
        return admission.review_response(
            uid=uid,
            allowed=False,
            message=(
                f"modelgov denied {what} in {environment}: {admission.STRICT_UNANNOTATED}"
            ),
        )
    if not extraction.governed:
        return admission.review_response(
            uid=uid, allowed=True, warnings=list(extraction.warnings)
        )
    if extraction.problem:
        return admission.review_response(
            uid=uid,
            allowed=False,
            message=f"modelgov denied {what}: {extraction.problem}",
        )
    warnings: list[str] = []
    decision_ids: list[str] = []
    for ref in extraction.references:
        result, note = _check_reference(
            ref, actor=actor, environment=environment, uid=uid
        )
        decision_id = str(result.record.decision_id)
        decision_ids.append(decision_id)
        if not result.decision.allowed:
            where = f" ({ref.where} {ref.storage_uri})" if ref.storage_uri else ""
            reason = note or result.decision.reason
            return admission.review_response(
                uid=uid,
                allowed=False,
                message=(
                    f"modelgov denied {what} in {environment}{where}: {reason} "
                    f"[decision {decision_id}]"
                ),
                audit_annotations={"decision-id": ",".join(decision_ids)},
            )
        warnings.extend(_expiry_warning(result))
    return admission.review_response(
        uid=uid,
        allowed=True,
        warnings=warnings,
        audit_annotations={"decision-id": ",".join(decision_ids)},
    )


class AdmissionReviewApi(GateApi):
    """Kubernetes ValidatingAdmissionWebhook (AdmissionReview v1 in and out)."""

    permission_by_method = {"POST": "governance.check_gate"}

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request) -> Response:
        try:
            review = admission.parse_review(request.data)
        except admission.MalformedReview as exc:
            # Only unparseable input is an HTTP error; the apiserver then applies
            # the webhook's failurePolicy.
            return Response(
                {
                    "detail": str(exc),
                    "code": "malformed_admission_review",
                    "errors": {},
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(_admission_answer(review, request.user))


class DeploymentListCreateApi(GateApi):
    permission_by_method = {
        "GET": "governance.view_deployment",
        "POST": "governance.add_deployment",
    }

    @extend_schema(
        parameters=[
            OpenApiParameter("environment", OpenApiTypes.STR, required=True),
            OpenApiParameter(
                "at", OpenApiTypes.DATETIME, description="ISO date-time; default now."
            ),
        ],
        responses=s.DeploymentOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        query = _parse(s.DeploymentsQueryInputSerializer, request.query_params)
        environment = query["environment"]
        if environment not in settings.MODELGOV_ENVIRONMENTS:
            known = ", ".join(settings.MODELGOV_ENVIRONMENTS)
            raise ValidationError(
                {
                    "environment": [
                        f"Unknown environment {environment!r}; known: {known}."
                    ]
                }
            )
        at = query.get("at") or timezone.now()
        rows = deployments.deployment_live_at(environment=environment, at=at)
        user: Any = request.user
        if not user.has_perm("registry.view_all_models"):
            visible = set(
                registry_selectors.model_list_for_user(user=user).values_list(
                    "pk", flat=True
                )
            )
            rows = [r for r in rows if r.model_version.model_id in visible]
        return Response(
            {
                "environment": environment,
                "at": s.iso_datetime(at),
                "results": _with_integrity(rows),
            }
        )

    @extend_schema(
        request=s.DeploymentReportInputSerializer,
        responses={201: s.DeploymentOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        data = _parse(s.DeploymentReportInputSerializer, request.data)
        version = registry_selectors.model_version_get_for_user(
            user=request.user, slug=data["model"], version=data["version"]
        )
        decision = None
        if data.get("decision_id"):
            decision = GateDecision.objects.filter(
                decision_id=data["decision_id"]
            ).first()
            if decision is None:
                raise ValidationError({"decision_id": ["No such gate decision."]})
        report = deployments.deployment_report(
            actor=request.user,
            version=version,
            environment=data["environment"],
            action=data["action"],
            deployed_at=data.get("deployed_at"),
            target=data.get("target", ""),
            external_id=data.get("external_id", ""),
            gate_decision=decision,
        )
        body = dict(s.DeploymentOutputSerializer(report.deployment).data)
        body["warnings"] = list(report.warnings)
        return Response(body, status=status.HTTP_201_CREATED)
