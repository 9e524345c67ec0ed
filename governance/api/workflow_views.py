"""Workflow API: release requests, e-signatures, attestations and findings.

Views parse input, call a selector or a service, and serialize output. The
e-signature operations (validate, approve, reject) need the password and a browser
session: a bearer token is refused before any service runs, so nothing is recorded.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audits.integrity import verify
from governance import services
from governance.api import workflow_serializers as s
from governance.choices import RequestState
from governance.models import Finding, ReleaseRequest
from governance.permissions import ANY_TOKEN, SESSION_ONLY, HasModelPermission
from governance.services import attestations as attestation_services
from registry import selectors as registry_selectors

SIGNATURE_NEEDS_SESSION = "signatures are given in the browser with the password"


def release_request_list_for_user(*, user: Any) -> QuerySet[ReleaseRequest]:
    """Requests ``user`` may see: those of models they may see (the team sees its
    own models; validators, risk officers and auditors see every model)."""
    qs = ReleaseRequest.objects.select_related(
        "model_version__model", "policy", "requested_by", "validator"
    )
    if not user.has_perm("governance.view_releaserequest"):
        return qs.none()
    models = registry_selectors.model_list_for_user(user=user)
    return qs.filter(model_version__model__in=models.values("pk"))


def release_request_get_for_user(*, user: Any, pk: int) -> ReleaseRequest:
    """One visible request; an invisible one is reported missing (404)."""
    found = release_request_list_for_user(user=user).filter(pk=pk).first()
    if found is None:
        raise Http404("No such release request.")
    return found


def finding_get_for_user(*, user: Any, pk: int) -> Finding:
    """One visible finding (its model is visible); otherwise 404."""
    if not user.has_perm("governance.view_finding"):
        raise Http404("No such finding.")
    models = registry_selectors.model_list_for_user(user=user)
    found = (
        Finding.objects.select_related(
            "model_version__model", "owner", "raised_by", "closed_by"
        )
        .filter(pk=pk, model_version__model__in=models.values("pk"))
        .first()
    )
    if found is None:
        raise Http404("No such finding.")
    return found


def _parse(serializer_class: Any, request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _detail(rr: ReleaseRequest) -> dict[str, Any]:
    rr = (
        ReleaseRequest.objects.select_related(
            "model_version__model", "policy", "requested_by", "validator"
        )
        .prefetch_related("signatures__signer")
        .get(pk=rr.pk)
    )
    checklist = [
        {"item": item, "satisfied": ok, "detail": detail}
        for item, ok, detail in services.approval_checklist(rr)
    ]
    findings = list(
        Finding.objects.filter(model_version=rr.model_version).select_related(
            "model_version__model", "owner", "raised_by", "closed_by"
        )
    )
    # One batch for every evidence row of the answer.
    verdicts = verify.verdicts([rr, *rr.signatures.all(), *findings])
    serializer = s.ReleaseRequestDetailOutputSerializer(
        rr,
        context={"checklist": checklist, "findings": findings, "verdicts": verdicts},
    )
    return dict(serializer.data)


def _findings_out(findings: Any) -> list[dict[str, Any]]:
    findings = list(findings)
    return list(
        s.FindingOutputSerializer(
            findings, many=True, context={"verdicts": verify.verdicts(findings)}
        ).data
    )


class WorkflowApi(APIView):
    required_scopes = {"SAFE": "registry:read", "WRITE": "registry:write"}


class ReleaseRequestListCreateApi(WorkflowApi):
    @extend_schema(responses=s.ReleaseRequestOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        qs = release_request_list_for_user(user=request.user)
        state = request.query_params.get("state")
        if state:
            if state not in RequestState.values:
                raise ValidationError(
                    {"state": [f"One of: {', '.join(RequestState.values)}."]}
                )
            qs = qs.filter(state=state)
        paginator = LimitOffsetPagination()
        page: Any = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(
            s.ReleaseRequestOutputSerializer(
                page, many=True, context={"verdicts": verify.verdicts(page)}
            ).data
        )

    @extend_schema(
        request=s.ReleaseRequestCreateInputSerializer,
        responses={201: s.ReleaseRequestDetailOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        data = _parse(s.ReleaseRequestCreateInputSerializer, request)
        version = registry_selectors.model_version_get_for_user(
            user=request.user, slug=data["model"], version=data["version"]
        )
        rr = services.release_request_create(
            actor=request.user,
            version=version,
            environments=data["environments"],
            justification=data["justification"],
        )
        return Response(_detail(rr), status=status.HTTP_201_CREATED)


class ReleaseRequestDetailApi(WorkflowApi):
    @extend_schema(responses=s.ReleaseRequestDetailOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        rr = release_request_get_for_user(user=request.user, pk=pk)
        return Response(_detail(rr))


class _TransitionApi(WorkflowApi):
    """POST without a body: one service call on a visible request."""

    def transition(self, request: Request, rr: ReleaseRequest) -> ReleaseRequest:
        raise NotImplementedError

    @extend_schema(request=None, responses=s.ReleaseRequestDetailOutputSerializer)
    def post(self, request: Request, pk: int) -> Response:
        rr = release_request_get_for_user(user=request.user, pk=pk)
        _parse(_EmptyInputSerializer, request)
        return Response(_detail(self.transition(request, rr)))


class _EmptyInputSerializer(s.StrictInputSerializer):
    pass


class ReleaseRequestSubmitApi(_TransitionApi):
    def transition(self, request: Request, rr: ReleaseRequest) -> ReleaseRequest:
        return services.release_request_submit(actor=request.user, request=rr)


class ReleaseRequestWithdrawApi(_TransitionApi):
    def transition(self, request: Request, rr: ReleaseRequest) -> ReleaseRequest:
        return services.release_request_withdraw(actor=request.user, request=rr)


class ReleaseRequestStartValidationApi(_TransitionApi):
    def transition(self, request: Request, rr: ReleaseRequest) -> ReleaseRequest:
        return services.release_request_start_validation(actor=request.user, request=rr)


class ReleaseRequestRevokeApi(WorkflowApi):
    @extend_schema(
        request=s.ReleaseRequestRevokeInputSerializer,
        responses=s.ReleaseRequestDetailOutputSerializer,
    )
    def post(self, request: Request, pk: int) -> Response:
        rr = release_request_get_for_user(user=request.user, pk=pk)
        data = _parse(s.ReleaseRequestRevokeInputSerializer, request)
        rr = services.release_request_revoke(
            actor=request.user, request=rr, reason=data["reason"]
        )
        return Response(_detail(rr))


class _SignatureApi(WorkflowApi):
    """An e-signature: session only, password re-entered, session key rotated."""

    # A token is never a signature, whatever its scopes: refused as token misuse.
    required_scopes = {"POST": SESSION_ONLY}
    session_only_message = SIGNATURE_NEEDS_SESSION
    input_serializer: Any = None

    def sign(
        self, request: Request, rr: ReleaseRequest, data: dict[str, Any]
    ) -> ReleaseRequest:
        raise NotImplementedError

    def post(self, request: Request, pk: int) -> Response:
        if not isinstance(request.successful_authenticator, SessionAuthentication):
            # A token is not the person: Part 11 signatures need the password, given
            # in a signed-in browser session.
            raise PermissionDenied(SIGNATURE_NEEDS_SESSION)
        rr = release_request_get_for_user(user=request.user, pk=pk)
        data = _parse(self.input_serializer, request)
        rr = self.sign(request, rr, data)
        # After a signature the session identifier changes (fixation defence); the
        # user stays signed in.
        request._request.session.cycle_key()
        return Response(_detail(rr))


class ReleaseRequestRecordValidationApi(_SignatureApi):
    input_serializer = s.ReleaseRequestValidationInputSerializer

    @extend_schema(
        request=s.ReleaseRequestValidationInputSerializer,
        responses=s.ReleaseRequestDetailOutputSerializer,
    )
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def sign(
        self, request: Request, rr: ReleaseRequest, data: dict[str, Any]
    ) -> ReleaseRequest:
        return services.release_request_record_validation(
            actor=request.user,
            request=rr,
            outcome=data["outcome"],
            password=data["password"],
            conditions=data["conditions"],
            comment=data["comment"],
        )


class ReleaseRequestApproveApi(_SignatureApi):
    input_serializer = s.ReleaseRequestApproveInputSerializer

    @extend_schema(
        request=s.ReleaseRequestApproveInputSerializer,
        responses=s.ReleaseRequestDetailOutputSerializer,
    )
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def sign(
        self, request: Request, rr: ReleaseRequest, data: dict[str, Any]
    ) -> ReleaseRequest:
        return services.release_request_approve(
            actor=request.user,
            request=rr,
            password=data["password"],
            comment=data["comment"],
            committee=data["committee"],
        )


class ReleaseRequestRejectApi(_SignatureApi):
    input_serializer = s.ReleaseRequestRejectInputSerializer

    @extend_schema(
        request=s.ReleaseRequestRejectInputSerializer,
        responses=s.ReleaseRequestDetailOutputSerializer,
    )
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def sign(
        self, request: Request, rr: ReleaseRequest, data: dict[str, Any]
    ) -> ReleaseRequest:
        return services.release_request_reject(
            actor=request.user,
            request=rr,
            password=data["password"],
            comment=data["comment"],
        )


class ReleaseRequestAttestationApi(WorkflowApi):
    @extend_schema(
        responses=inline_serializer(
            "DsseEnvelope",
            {
                "payloadType": serializers.CharField(),
                "payload": serializers.CharField(),
                "signatures": serializers.ListField(child=serializers.DictField()),
            },
        )
    )
    def get(self, request: Request, pk: int) -> Response:
        rr = release_request_get_for_user(user=request.user, pk=pk)
        envelope = attestation_services.attestation_for(rr)
        return Response(
            envelope,
            headers={
                "Content-Disposition": f'attachment; filename="rr-{rr.pk}.intoto.json"'
            },
        )


class AttestationPublicKeyApi(APIView):
    # The key that verifies attestations offline is for every client.
    required_scope = ANY_TOKEN

    @extend_schema(
        responses=inline_serializer(
            "AttestationPublicKey",
            {
                "keyid": serializers.CharField(),
                "algorithm": serializers.CharField(),
                "public_key_pem": serializers.CharField(),
            },
        )
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "keyid": attestation_services.keyid(),
                "algorithm": "ed25519",
                "public_key_pem": attestation_services.public_key_pem(),
            }
        )


class FindingListCreateApi(WorkflowApi):
    permission_classes = [*APIView.permission_classes, HasModelPermission]
    permission_by_method = {
        "GET": "governance.view_finding",
        "POST": "governance.raise_finding",
    }

    @extend_schema(responses=s.FindingOutputSerializer(many=True))
    def get(self, request: Request, slug: str, version: str) -> Response:
        mv = registry_selectors.model_version_get_for_user(
            user=request.user, slug=slug, version=version
        )
        qs = Finding.objects.filter(model_version=mv).select_related(
            "model_version__model", "owner", "raised_by", "closed_by"
        )
        paginator = LimitOffsetPagination()
        page: Any = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(_findings_out(page))

    @extend_schema(
        request=s.FindingRaiseInputSerializer,
        responses={201: s.FindingOutputSerializer},
    )
    def post(self, request: Request, slug: str, version: str) -> Response:
        mv = registry_selectors.model_version_get_for_user(
            user=request.user, slug=slug, version=version
        )
        data = _parse(s.FindingRaiseInputSerializer, request)
        owner = None
        if data["owner"]:
            owner = get_user_model().objects.filter(username=data["owner"]).first()
            if owner is None:
                raise ValidationError({"owner": ["No such user."]})
        rr = None
        if data["request"] is not None:
            rr = (
                release_request_list_for_user(user=request.user)
                .filter(pk=data["request"], model_version=mv)
                .first()
            )
            if rr is None:
                raise ValidationError(
                    {"request": ["No such release request of this version."]}
                )
        finding = services.finding_raise(
            actor=request.user,
            version=mv,
            severity=data["severity"],
            title=data["title"],
            description=data["description"],
            owner=owner,
            due_date=data["due_date"],
            sr_section=data["sr_section"],
            request=rr,
        )
        return Response(_findings_out([finding])[0], status=status.HTTP_201_CREATED)


class FindingRemediationApi(WorkflowApi):
    @extend_schema(
        request=s.FindingRemediationInputSerializer,
        responses=s.FindingOutputSerializer,
    )
    def post(self, request: Request, pk: int) -> Response:
        finding = finding_get_for_user(user=request.user, pk=pk)
        data = _parse(s.FindingRemediationInputSerializer, request)
        finding = services.finding_submit_remediation(
            actor=request.user, finding=finding, remediation=data["remediation"]
        )
        return Response(_findings_out([finding])[0])


class FindingCloseApi(WorkflowApi):
    @extend_schema(
        request=s.FindingCloseInputSerializer, responses=s.FindingOutputSerializer
    )
    def post(self, request: Request, pk: int) -> Response:
        finding = finding_get_for_user(user=request.user, pk=pk)
        data = _parse(s.FindingCloseInputSerializer, request)
        finding = services.finding_close(
            actor=request.user, finding=finding, evidence=data["evidence"]
        )
        return Response(_findings_out([finding])[0])
