"""Browser pages of the approval workflow: queues, the request page, signatures and
the findings editor.

The pages only offer what the services will accept (``_actions``), but the services
decide: a refused signature renders the request page with the refusal (403), a
state conflict with its message (409). A signature rotates the session key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from audits.integrity import verify
from audits.models import AuditEvent
from governance import forms, refusals, services
from governance.choices import (
    OPEN_STATES,
    FindingStatus,
    RequestState,
    Role,
    ValidationOutcome,
)
from governance.exceptions import Conflict
from governance.models import Finding, ReleaseRequest
from governance.services import dossier, workflow
from governance.views import page
from registry import services as registry_services
from registry.models import Document, ModelCard, ModelVersion

PERM_VIEW = "governance.view_releaserequest"
EXPIRING_WITHIN_DAYS = 30
RECENT_DECISIONS = 20
OBJECT_TYPE = "governance.releaserequest"


# --- Scoping -------------------------------------------------------------------


def _require_view(user: Any) -> None:
    if not user.has_perm(PERM_VIEW):
        raise PermissionDenied("Your role may not see release requests.")


def _visible_requests(user: Any) -> QuerySet[ReleaseRequest]:
    """Requests the user may see: all for governance roles, else their models'."""
    _require_view(user)
    qs = ReleaseRequest.objects.select_related(
        "model_version__model", "policy", "requested_by", "validator"
    )
    if user.has_perm("registry.view_all_models"):
        return qs
    return qs.filter(
        Q(model_version__model__owner=user) | Q(model_version__model__developers=user)
    ).distinct()


def _request_get(user: Any, pk: int) -> ReleaseRequest:
    found = _visible_requests(user).filter(pk=pk).first()
    if found is None:
        raise Http404
    return found


def _excluded_signers(request: ReleaseRequest) -> set[int]:
    """People who may not sign an approval of ``request`` (separation of duties)."""
    people = set(workflow.involved_people(request.model_version))
    people.add(request.requested_by_id)
    if request.validator_id:
        people.add(request.validator_id)
    people.update(request.signatures.values_list("signer_id", flat=True))
    return people


def _awaiting_signature(user: Any) -> list[ReleaseRequest]:
    if not user.has_perm(workflow.PERM_APPROVE):
        return []
    validated = _visible_requests(user).filter(state=RequestState.VALIDATED)
    return [
        r
        for r in validated.order_by("validated_at", "id")
        if user.pk not in _excluded_signers(r)
    ]


# --- What the user may do on a request -------------------------------------------


@dataclass(frozen=True)
class Actions:
    submit: bool = False
    withdraw: bool = False
    start_validation: bool = False
    record_validation: bool = False
    approve: bool = False
    committee: bool = False
    reject: bool = False
    revoke: bool = False

    @property
    def any(self) -> bool:
        return any(vars(self).values())


def _actions(user: Any, request: ReleaseRequest) -> Actions:
    state = request.state
    model = request.model_version.model
    member = registry_services.is_model_member(user, model)
    independent = user.pk not in workflow.involved_people(request.model_version) and (
        user.pk != request.requested_by_id
    )
    validator = user.has_perm(workflow.PERM_VALIDATE) and independent
    approver = (
        user.has_perm(workflow.PERM_APPROVE)
        and state == RequestState.VALIDATED
        and user.pk not in _excluded_signers(request)
    )
    committee_open = request.policy.requires_committee and not (
        request.signatures.filter(meaning="committee").exists()
    )
    return Actions(
        submit=member and state == RequestState.DRAFT,
        withdraw=member
        and state
        in (
            RequestState.DRAFT,
            RequestState.SUBMITTED,
            RequestState.IN_VALIDATION,
            RequestState.VALIDATED,
        ),
        start_validation=validator and state == RequestState.SUBMITTED,
        record_validation=validator
        and state == RequestState.IN_VALIDATION
        and request.validator_id == user.pk,
        approve=approver,
        committee=approver
        and committee_open
        and user.has_perm(workflow.PERM_COMMITTEE),
        reject=approver,
        revoke=user.has_perm(workflow.PERM_REVOKE) and state == RequestState.APPROVED,
    )


# --- Queues ----------------------------------------------------------------------


@page
@require_http_methods(["GET"])
def queue(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    visible = _visible_requests(user)
    now = timezone.now()
    expiring = visible.filter(
        state=RequestState.APPROVED,
        expires_at__gt=now,
        expires_at__lte=now + timedelta(days=EXPIRING_WITHIN_DAYS),
    ).order_by("expires_at")
    recent = visible.filter(decided_at__isnull=False).order_by("-decided_at", "-id")[
        :RECENT_DECISIONS
    ]
    open_requests = visible.filter(state__in=OPEN_STATES).exclude(
        state=RequestState.APPROVED
    )
    awaiting = _awaiting_signature(user)
    # What awaits the user is listed once, in its own section.
    open_requests = open_requests.exclude(pk__in=[r.pk for r in awaiting])
    return render(
        request,
        "governance/queue.html",
        {
            "is_approver": user.has_perm(workflow.PERM_APPROVE),
            "awaiting": awaiting,
            "expiring": list(expiring),
            "recent": list(recent),
            "open_requests": list(open_requests),
            "expiring_days": EXPIRING_WITHIN_DAYS,
        },
    )


@page
@require_http_methods(["GET"])
def validation_queue(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    if not user.has_perm(workflow.PERM_VALIDATE):
        raise PermissionDenied("Only validators have a validation queue.")
    visible = _visible_requests(user)
    available = [
        r
        for r in visible.filter(state=RequestState.SUBMITTED).order_by("submitted_at")
        if _actions(user, r).start_validation
    ]
    mine = visible.filter(state=RequestState.IN_VALIDATION, validator=user)
    return render(
        request,
        "governance/validation_queue.html",
        {"available": available, "mine": list(mine.order_by("submitted_at"))},
    )


# --- The request page ------------------------------------------------------------


def _papers(version: ModelVersion) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    card = ModelCard.objects.select_related("template").filter(model_version=version)
    for c in card:
        c.model_version = version
        rows.append(
            {
                "title": "Model card",
                "url": reverse(
                    "registry:card_detail", args=[version.model.slug, version.version]
                ),
                "completeness": c.completeness(),
            }
        )
    documents = Document.objects.select_related("template").filter(
        model_version=version
    )
    for d in documents.order_by("template__key"):
        d.model_version = version
        rows.append(
            {
                "title": d.title,
                "url": reverse(
                    "registry:document_detail",
                    args=[version.model.slug, version.version, d.pk],
                ),
                "completeness": d.completeness(),
            }
        )
    return rows


def _dossier_context(rr: ReleaseRequest) -> dict[str, Any]:
    """The dossier of the request's latest signature that bound one, checked now
    (ADR 0026); a signature whose binding fails vouches for nothing."""
    signature = (
        rr.signatures.exclude(dossier=None)
        .select_related("signer", "model_version__model")
        .order_by("-signed_at", "-id")
        .first()
    )
    if signature is None:
        return {"dossier_signature": None, "dossier_lines": []}
    return {
        "dossier_signature": signature,
        "dossier_intact": workflow.signature_binding_is_intact(signature),
        "dossier_lines": dossier.dossier_check(signature),
    }


def _detail_context(user: Any, rr: ReleaseRequest) -> dict[str, Any]:
    version = rr.model_version
    outcomes = dict(ValidationOutcome.choices)
    checklist = [
        (item, ok, outcomes.get(detail, detail))
        for item, ok, detail in services.approval_checklist(rr)
    ]
    events = list(
        AuditEvent.objects.filter(
            object_type=OBJECT_TYPE, object_id=str(rr.pk)
        ).order_by("occurred_at", "id")
    )
    findings = list(
        Finding.objects.filter(model_version=version).select_related("owner")
    )
    signatures = list(rr.signatures.select_related("signer"))
    # Every record the page shows as evidence, checked against the ledger at once.
    verdicts = verify.verdicts([rr, *signatures, *findings, *events])
    rollback = sorted((rr.rollback_targets or {}).items())
    environments = ", ".join(rr.environments)
    outcome = dict(ValidationOutcome.choices).get(rr.validation_outcome, "")
    return {
        "crumb": f"Release request RR-{rr.pk}",
        "outcome_label": outcome,
        "finding_statuses": dict(FindingStatus.choices),
        "rr": rr,
        "version": version,
        "model": version.model,
        "papers": _papers(version),
        "checklist": checklist,
        "checklist_ok": all(ok for _, ok, _ in checklist),
        "findings": findings,
        "signatures": signatures,
        "events": events,
        "verdicts": verdicts,
        "rr_verdict": verdicts[verify.key_of(rr)],
        "rollback": rollback,
        "actions": _actions(user, rr),
        "approve_meaning": f"approved for use in {environments}",
        "committee_meaning": f"approved by the model risk committee for use in {environments}",
        "sign_form": forms.SignatureForm(auto_id="approve_%s"),
        "committee_form": forms.SignatureForm(auto_id="committee_%s"),
        "reject_form": forms.RejectForm(auto_id="reject_%s"),
        "validation_form": forms.ValidationRecordForm(auto_id="validation_%s"),
        "revoke_form": forms.RevokeForm(auto_id="revoke_%s"),
        **_dossier_context(rr),
    }


def _render_detail(
    request: HttpRequest,
    rr: ReleaseRequest,
    *,
    status: int = 200,
    error: str = "",
    **overrides: Any,
) -> HttpResponse:
    rr.refresh_from_db()
    context = _detail_context(request.user, rr)
    context.update(overrides, error=error)
    return render(request, "governance/request_detail.html", context, status=status)


@page
@require_http_methods(["GET"])
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    rr = _request_get(request.user, pk)
    return _render_detail(request, rr)


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _perform(
    request: HttpRequest,
    rr: ReleaseRequest,
    action: Any,
    *,
    success: str,
    signed: bool = False,
    **overrides: Any,
) -> HttpResponse:
    """Run ``action``; redirect with ``success`` or render the refusal."""
    try:
        action()
    except PermissionDenied as exc:
        # The workflow services record their refusals; anything else is recorded here.
        refusals.write_refusal_record(request=request, exc=exc)
        return _render_detail(request, rr, status=403, error=str(exc), **overrides)
    except Conflict as exc:
        return _render_detail(request, rr, status=409, error=exc.message, **overrides)
    except ValidationError as exc:
        return _render_detail(
            request, rr, status=400, error=_error_text(exc), **overrides
        )
    if signed:
        # A signature is a re-authentication: rotate the session against fixation.
        request.session.cycle_key()
    messages.success(request, success)
    return redirect("governance:request_detail", pk=rr.pk)


def _signature_page(
    request: HttpRequest, rr: ReleaseRequest, kind: str, form: Any
) -> HttpResponse:
    """The no-JavaScript page of one signature form."""
    context = _detail_context(request.user, rr)
    allowed = {
        "validation": context["actions"].record_validation,
        "approve": context["actions"].approve,
        "committee": context["actions"].committee,
        "reject": context["actions"].reject,
    }
    if not allowed[kind]:
        raise PermissionDenied(f"You may not sign RR-{rr.pk} now.")
    return render(
        request,
        "governance/sign.html",
        {**context, "kind": kind, "form": form},
    )


@page
@require_POST
def request_submit(request: HttpRequest, pk: int) -> HttpResponse:
    rr = _request_get(request.user, pk)
    return _perform(
        request,
        rr,
        lambda: services.release_request_submit(actor=request.user, request=rr),
        success=f"RR-{rr.pk} is submitted.",
    )


@page
@require_POST
def request_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    rr = _request_get(request.user, pk)
    return _perform(
        request,
        rr,
        lambda: services.release_request_withdraw(actor=request.user, request=rr),
        success=f"RR-{rr.pk} is withdrawn.",
    )


@page
@require_POST
def request_start_validation(request: HttpRequest, pk: int) -> HttpResponse:
    rr = _request_get(request.user, pk)
    return _perform(
        request,
        rr,
        lambda: services.release_request_start_validation(
            actor=request.user, request=rr
        ),
        success=f"You are validating RR-{rr.pk}.",
    )


@page
@require_http_methods(["GET", "POST"])
def request_record_validation(request: HttpRequest, pk: int) -> HttpResponse:
    rr = _request_get(request.user, pk)
    if request.method == "GET":
        return _signature_page(request, rr, "validation", forms.ValidationRecordForm())
    form = forms.ValidationRecordForm(request.POST, auto_id="validation_%s")
    if not form.is_valid():
        return _render_detail(
            request,
            rr,
            status=400,
            error="The validation was not recorded: correct the form.",
            validation_form=form,
        )
    data = form.cleaned_data
    return _perform(
        request,
        rr,
        lambda: services.release_request_record_validation(
            actor=request.user,
            request=rr,
            outcome=data["outcome"],
            password=data["password"],
            conditions=data["conditions"],
            comment=data["comment"],
        ),
        success=f"Your validation of RR-{rr.pk} is signed.",
        signed=True,
    )


def _approve(request: HttpRequest, pk: int, *, committee: bool) -> HttpResponse:
    rr = _request_get(request.user, pk)
    kind = "committee" if committee else "approve"
    if request.method == "GET":
        return _signature_page(request, rr, kind, forms.SignatureForm())
    form = forms.SignatureForm(request.POST, auto_id=f"{kind}_%s")
    if not form.is_valid():
        return _render_detail(
            request,
            rr,
            status=400,
            error="The signature was not applied: enter your password.",
        )
    data = form.cleaned_data

    def sign() -> None:
        signed = services.release_request_approve(
            actor=request.user,
            request=rr,
            password=data["password"],
            comment=data["comment"],
            committee=committee,
        )
        rr.state = signed.state

    response = _perform(
        request,
        rr,
        sign,
        success=f"Your signature on RR-{rr.pk} is recorded.",
        signed=True,
    )
    if response.status_code == 302 and rr.state == RequestState.APPROVED:
        messages.success(request, f"RR-{rr.pk} is approved.")
    return response


@page
@require_http_methods(["GET", "POST"])
def request_approve(request: HttpRequest, pk: int) -> HttpResponse:
    return _approve(request, pk, committee=False)


@page
@require_http_methods(["GET", "POST"])
def request_committee(request: HttpRequest, pk: int) -> HttpResponse:
    return _approve(request, pk, committee=True)


@page
@require_http_methods(["GET", "POST"])
def request_reject(request: HttpRequest, pk: int) -> HttpResponse:
    rr = _request_get(request.user, pk)
    if request.method == "GET":
        return _signature_page(request, rr, "reject", forms.RejectForm())
    form = forms.RejectForm(request.POST, auto_id="reject_%s")
    if not form.is_valid():
        return _render_detail(
            request,
            rr,
            status=400,
            error="The rejection was not signed: enter your password and the reason.",
        )
    data = form.cleaned_data
    return _perform(
        request,
        rr,
        lambda: services.release_request_reject(
            actor=request.user,
            request=rr,
            password=data["password"],
            comment=data["comment"],
        ),
        success=f"RR-{rr.pk} is rejected.",
        signed=True,
    )


@page
@require_POST
def request_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    rr = _request_get(request.user, pk)
    form = forms.RevokeForm(request.POST, auto_id="revoke_%s")
    if not form.is_valid():
        return _render_detail(
            request, rr, status=400, error="A revocation needs its reason."
        )
    return _perform(
        request,
        rr,
        lambda: services.release_request_revoke(
            actor=request.user, request=rr, reason=form.cleaned_data["reason"]
        ),
        success=f"RR-{rr.pk} is revoked; the gate denies it from now on.",
    )


# --- Requesting a release from a version -----------------------------------------


@page
@require_http_methods(["GET", "POST"])
def request_create(request: HttpRequest, version_id: int) -> HttpResponse:
    user: Any = request.user
    version = ModelVersion.objects.select_related("model").filter(pk=version_id).first()
    if version is None or not (
        user.has_perm("registry.view_all_models")
        or registry_services.is_model_member(user, version.model)
    ):
        raise Http404
    if not user.has_perm("governance.add_releaserequest"):
        raise PermissionDenied("Your role may not request releases.")
    form = forms.ReleaseRequestCreateForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            rr = services.release_request_create(
                actor=user,
                version=version,
                environments=form.cleaned_data["environments"],
                justification=form.cleaned_data["justification"],
            )
        except (Conflict, ValidationError) as exc:
            message = exc.message if isinstance(exc, Conflict) else _error_text(exc)
            form.add_error(None, message)
            status = 409 if isinstance(exc, Conflict) else 400
        else:
            messages.success(
                request,
                f"RR-{rr.pk} is a draft: check it, then submit it for validation.",
            )
            return redirect("governance:request_detail", pk=rr.pk)
    elif request.method == "POST":
        status = 400
    return render(
        request,
        "governance/request_create.html",
        {"version": version, "model": version.model, "form": form},
        status=status,
    )


# --- Findings --------------------------------------------------------------------


def _finding_versions(user: Any) -> list[tuple[str, str]]:
    versions = ModelVersion.objects.select_related("model").order_by(
        "model__slug", "version"
    )
    return [
        (str(v.pk), f"{v.model.name} {v.version}")
        for v in versions
        if user.pk not in workflow.involved_people(v)
    ]


@page
@require_http_methods(["GET", "POST"])
def findings(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    if not user.has_perm("governance.view_finding"):
        raise PermissionDenied("Your role may not see findings.")
    can_raise = user.has_perm(workflow.PERM_FINDINGS)
    form = None
    status = 200
    if can_raise:
        form = forms.FindingRaiseForm(
            request.POST or None, versions=_finding_versions(user)
        )
    if request.method == "POST":
        if form is None:
            raise PermissionDenied("Only a validator may raise findings.")
        if form.is_valid():
            data = form.cleaned_data
            version = ModelVersion.objects.get(pk=data["version"])
            try:
                finding = services.finding_raise(
                    actor=user,
                    version=version,
                    severity=data["severity"],
                    title=data["title"],
                    description=data["description"],
                    owner=data["owner"],
                    due_date=data["due_date"],
                    sr_section=data["sr_section"],
                )
            except ValidationError as exc:
                form.add_error(None, _error_text(exc))
                status = 400
            else:
                messages.success(request, f"F-{finding.pk} is raised.")
                return redirect("governance:findings")
        else:
            status = 400
    qs = Finding.objects.select_related(
        "model_version__model", "owner", "raised_by", "closed_by"
    )
    if not user.has_perm("registry.view_all_models"):
        qs = qs.filter(
            Q(model_version__model__owner=user)
            | Q(model_version__model__developers=user)
        ).distinct()
    found = list(qs)
    verdicts = verify.verdicts(found)
    rows = [
        {
            "finding": f,
            "verdict": verdicts[verify.key_of(f)],
            "can_remediate": f.status != FindingStatus.CLOSED
            and (
                f.owner_id == user.pk
                or registry_services.is_model_member(user, f.model_version.model)
            ),
            "can_close": can_raise
            and f.status != FindingStatus.CLOSED
            and user.pk not in {f.owner_id, f.remediation_submitted_by_id}
            and user.pk not in workflow.involved_people(f.model_version),
        }
        for f in found
    ]
    return render(
        request,
        "governance/findings.html",
        {"form": form, "rows": rows, "finding_statuses": dict(FindingStatus.choices)},
        status=status,
    )


def _finding_get(user: Any, pk: int) -> Finding:
    if not user.has_perm("governance.view_finding"):
        raise PermissionDenied("Your role may not see findings.")
    finding = (
        Finding.objects.select_related("model_version__model").filter(pk=pk).first()
    )
    if finding is None or not (
        user.has_perm("registry.view_all_models")
        or registry_services.is_model_member(user, finding.model_version.model)
        or finding.owner_id == user.pk
    ):
        raise Http404
    return finding


def _finding_action(request: HttpRequest, action: Any, success: str) -> HttpResponse:
    try:
        action()
    except Conflict as exc:
        messages.error(request, exc.message)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, success)
    return redirect("governance:findings")


@page
@require_POST
def finding_remediate(request: HttpRequest, pk: int) -> HttpResponse:
    finding = _finding_get(request.user, pk)
    text = request.POST.get("remediation", "")
    return _finding_action(
        request,
        lambda: services.finding_submit_remediation(
            actor=request.user, finding=finding, remediation=text
        ),
        f"The remediation of F-{finding.pk} is submitted.",
    )


@page
@require_POST
def finding_close(request: HttpRequest, pk: int) -> HttpResponse:
    finding = _finding_get(request.user, pk)
    evidence = request.POST.get("evidence", "")
    return _finding_action(
        request,
        lambda: services.finding_close(
            actor=request.user, finding=finding, evidence=evidence
        ),
        f"F-{finding.pk} is closed.",
    )


@require_http_methods(["GET", "HEAD"])
def home(request: HttpRequest) -> HttpResponse:
    """Where ``/`` and a fresh login lead: an auditor's work starts at the audit
    trails (with the prediction search); everyone else's at the inventory."""
    if services.user_roles(request.user) == {Role.AUDITOR}:
        return redirect("audits:home")
    return redirect("registry:inventory")
