"""Evidence pack pages, under /audits/: the packs, the packs of a version and of a
model with their request forms (model-version and period packs), one pack's
status page and its downloads.

Auditors and risk officers see every pack and may request one; nothing else
changes here. A pack the user may not see is a 404, like a missing one, and every
file downloaded is recorded as an ``audits.evidence_pack.downloaded`` audit event.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from audits.evidence import selectors, services
from audits.evidence.models import EvidencePack, PackStatus
from audits.integrity import verify as integrity
from audits.monitoring import selectors as monitoring_selectors
from governance.views import page
from registry import selectors as registry_selectors
from registry.models import Model, ModelVersion

PACKS_SHOWN = 100
VERSIONS_SHOWN = 200
DEFAULT_PERIOD_DAYS = 90
CONTENT_TYPES = {
    "pdf": "application/pdf",
    "zip": "application/zip",
    "sig": "application/json",
}


def _require_view(user: Any) -> None:
    if not user.has_perm(services.PERM_VIEW):
        raise PermissionDenied("Your role may not see evidence packs.")


def _version_get(user: Any, version_id: int) -> ModelVersion:
    version = (
        monitoring_selectors.visible_versions(user=user)
        .select_related("model")
        .filter(pk=version_id)
        .first()
    )
    if version is None:
        raise Http404
    return version


def _model_get(user: Any, slug: str) -> Model:
    found = registry_selectors.model_list_for_user(user=user).filter(slug=slug).first()
    if found is None:
        raise Http404
    return found


def _pack_get(user: Any, pk: int) -> EvidencePack:
    try:
        return selectors.evidence_pack_get_for_user(user=user, pk=pk)
    except EvidencePack.DoesNotExist:
        raise Http404 from None


def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


class PackRequestForm(forms.Form):
    label_suffix = ""

    period_start = forms.DateField(
        label="Period start (UTC)",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="From 00:00 UTC of this day.",
    )
    period_end = forms.DateField(
        label="Period end (UTC)",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="Up to 00:00 UTC of this day, excluded; today at the latest.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        today = timezone.now().astimezone(UTC).date()
        self.fields["period_end"].initial = today
        self.fields["period_start"].initial = today - timedelta(
            days=DEFAULT_PERIOD_DAYS
        )

    def period(self) -> tuple[datetime, datetime]:
        data = self.cleaned_data
        return _utc_midnight(data["period_start"]), _utc_midnight(data["period_end"])


def _errors_to_form(form: forms.Form, exc: ValidationError) -> None:
    if not hasattr(exc, "error_dict"):
        for message in exc.messages:
            form.add_error(None, message)
        return
    for key, errors in exc.message_dict.items():
        for message in errors:
            form.add_error(key if key in form.fields else None, message)


@page
@require_GET
def packs(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    _require_view(user)
    found = selectors.evidence_pack_list_for_user(user=user)
    versions = (
        monitoring_selectors.visible_versions(user=user)
        .select_related("model")
        .order_by("model__name", "-created_at", "-id")
    )
    return render(
        request,
        "audits/evidence/packs.html",
        {
            "packs": list(found[:PACKS_SHOWN]),
            "total": found.count(),
            "shown": PACKS_SHOWN,
            "versions": list(versions[:VERSIONS_SHOWN]),
        },
    )


def _request_from_form(
    request: HttpRequest,
    form: PackRequestForm | None,
    *,
    version: ModelVersion | None = None,
    model: Model | None = None,
) -> HttpResponse | int:
    """Queue the pack the form asks for: a redirect to it, or the status of the
    page that shows the form's errors."""
    if form is None:
        raise PermissionDenied("Your role may not request evidence packs.")
    if not form.is_valid():
        return 400
    period_start, period_end = form.period()
    try:
        queued = services.evidence_pack_request(
            actor=request.user,
            version=version,
            model=model,
            period_start=period_start,
            period_end=period_end,
        )
    except ValidationError as exc:
        _errors_to_form(form, exc)
        return 400
    messages.success(
        request,
        f"Evidence pack {queued.pk} is queued; this page shows it when it is built.",
    )
    return redirect("audits:pack", pk=queued.pk)


@page
@require_http_methods(["GET", "POST"])
def model_packs(request: HttpRequest, slug: str) -> HttpResponse:
    user: Any = request.user
    _require_view(user)
    model = _model_get(user, slug)
    can_request = user.has_perm(services.PERM_REQUEST)
    form = PackRequestForm(request.POST or None) if can_request else None
    status = 200
    if request.method == "POST":
        outcome = _request_from_form(request, form, model=model)
        if isinstance(outcome, HttpResponse):
            return outcome
        status = outcome
    found = selectors.evidence_pack_list_for_user(user=user, model=model)
    return render(
        request,
        "audits/evidence/model_packs.html",
        {
            "model": model,
            "form": form,
            "packs": list(found[:PACKS_SHOWN]),
            "total": found.count(),
            "shown": PACKS_SHOWN,
        },
        status=status,
    )


@page
@require_http_methods(["GET", "POST"])
def version_packs(request: HttpRequest, version_id: int) -> HttpResponse:
    user: Any = request.user
    _require_view(user)
    version = _version_get(user, version_id)
    can_request = user.has_perm(services.PERM_REQUEST)
    form = PackRequestForm(request.POST or None) if can_request else None
    status = 200
    if request.method == "POST":
        if form is None:
            raise PermissionDenied("Your role may not request evidence packs.")
        if form.is_valid():
            period_start, period_end = form.period()
            try:
                queued = services.evidence_pack_request(
                    actor=user,
                    version=version,
                    period_start=period_start,
                    period_end=period_end,
                )
            except ValidationError as exc:
                _errors_to_form(form, exc)
                status = 400
            else:
                messages.success(
                    request,
                    f"Evidence pack {queued.pk} is queued; this page shows it when "
                    "it is built.",
                )
                return redirect("audits:pack", pk=queued.pk)
        else:
            status = 400
    found = selectors.evidence_pack_list_for_user(user=user, version=version)
    return render(
        request,
        "audits/evidence/version_packs.html",
        {
            "version": version,
            "model": version.model,
            "form": form,
            "packs": list(found[:PACKS_SHOWN]),
            "total": found.count(),
            "shown": PACKS_SHOWN,
        },
        status=status,
    )


@page
@require_GET
def pack(request: HttpRequest, pk: int) -> HttpResponse:
    found = _pack_get(request.user, pk)
    return render(
        request,
        "audits/evidence/pack.html",
        {
            "pack": found,
            "version": found.model_version,
            "model": (
                found.model_version.model
                if found.model_version is not None
                else found.model
            ),
            "names": {
                kind: services.file_name(found, kind).rsplit("/", 1)[-1]
                for kind in services.FILE_KINDS
            },
            # Its status and digests against their record leaf.
            "pack_verdict": integrity.verdict(found),
        },
    )


# Downloads are not wrapped in ``page``: a file URL answers a plain 404, not a page.


def _download(request: HttpRequest, pk: int, file_kind: str) -> FileResponse:
    found = _pack_get(request.user, pk)
    if found.status != PackStatus.DONE:
        raise Http404
    name = services.file_name(found, file_kind).rsplit("/", 1)[-1]
    if file_kind == "sig":
        handle: Any = io.BytesIO(found.signature.encode("ascii"))
    else:
        stored = found.pdf if file_kind == "pdf" else found.zip
        if not stored.name or not default_storage.exists(stored.name):
            raise Http404
        handle = default_storage.open(stored.name, "rb")
    services.evidence_pack_download_record(
        actor=request.user, pack=found, file_kind=file_kind
    )
    return FileResponse(
        handle,
        as_attachment=True,
        filename=name,
        content_type=CONTENT_TYPES[file_kind],
    )


@login_required
@require_GET
def pack_pdf(request: HttpRequest, pk: int) -> FileResponse:
    return _download(request, pk, "pdf")


@login_required
@require_GET
def pack_zip(request: HttpRequest, pk: int) -> FileResponse:
    return _download(request, pk, "zip")


@login_required
@require_GET
def pack_signature(request: HttpRequest, pk: int) -> FileResponse:
    return _download(request, pk, "sig")
