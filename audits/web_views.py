"""Auditor pages, under /audits/: the search (by prediction id, or by version
and time range with an optional trace id), the trail of a prediction, the
ledger's public key for offline verification, the access log (who viewed
what) and the refused actions (what was attempted and refused).

The trail selector checks the permission (403) and answers 404 for an id that is
not a recorded prediction; every trail page shown is recorded as an audit event.
"""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from audits import selectors
from audits import services as audit_services
from audits import trail as trail_selectors
from audits.integrity import marks
from audits.ledger import integrity
from audits.ledger import services as ledger_services
from audits.ledger.integrity import LedgerIntegrityError
from audits.ledger.models import LedgerCheckpoint
from audits.models import AuditEvent, RefusalKind, RefusedAction
from governance import attestations
from governance.exceptions import Conflict
from governance.views import page
from registry.models import ModelVersion

RECENT_VIEWS = 10
EXAMPLE_ID = "0193a0e2-7c1a-7cc3-9f7e-1d2c3b4a5f60"
SEARCH_MAX_RANGE = timedelta(days=31)


def _require_trail_permission(user: Any) -> None:
    if not user.has_perm(trail_selectors.PERM_TRAIL):
        raise PermissionDenied("Your role may not see prediction audit trails.")


def _public_key_pem() -> str | None:
    try:
        return attestations.public_key_pem(ledger_services.ledger_signing_key())
    except Conflict:
        return None


class PredictionSearchForm(forms.Form):
    label_suffix = ""

    version = forms.ModelChoiceField(
        queryset=ModelVersion.objects.none(), label="Model version"
    )
    start = forms.DateTimeField(
        label="Predicted from (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    end = forms.DateTimeField(
        label="Predicted before (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    trace_id = forms.CharField(
        label="Trace id",
        required=False,
        max_length=200,
        help_text="Optional: only the predictions with this trace id.",
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["version"]
        field.queryset = selectors.prediction_versions_for_user(user=user)
        field.label_from_instance = lambda v: f"{v.model.name} {v.version}"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        # The inputs carry no zone: they are read as UTC, as the page says.
        for name in ("start", "end"):
            if data.get(name) is not None:
                data[name] = data[name].replace(tzinfo=UTC)
        start, end = data.get("start"), data.get("end")
        if start is not None and end is not None:
            if end <= start:
                self.add_error("end", "The range must end after it starts.")
            elif end - start > SEARCH_MAX_RANGE:
                self.add_error("end", "Search at most 31 days at a time.")
        return data


def _search(request: HttpRequest) -> tuple[PredictionSearchForm, Any, int]:
    """The range search of the page: its form, its result (or None) and status."""
    searching = "version" in request.GET
    form = PredictionSearchForm(request.GET if searching else None, user=request.user)
    if not searching:
        return form, None, 200
    if not form.is_valid():
        return form, None, 400
    data = form.cleaned_data
    found = selectors.prediction_list_for_user(
        user=request.user,
        version=data["version"],
        start=data["start"],
        end=data["end"],
        trace_id=data["trace_id"].strip() or None,
    )
    return form, found, 200


def _parse_id(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


@page
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    _require_trail_permission(request.user)
    raw = request.GET.get("prediction_id", "").strip()
    error = ""
    status = 200
    if raw:
        prediction_id = _parse_id(raw)
        if prediction_id is None:
            shown = raw if len(raw) <= 80 else f"{raw[:80]}…"
            error = (
                f"“{shown}” is not a prediction id. A prediction id is a UUID, "
                f"such as {EXAMPLE_ID}."
            )
            status = 400
        elif trail_selectors.prediction_is_recorded(prediction_id):
            return redirect("audits:trail", prediction_id=prediction_id)
        else:
            error = f"No prediction with id {prediction_id} is recorded in the ledger."
            status = 404
    search_form, search, search_status = _search(request)
    status = max(status, search_status)
    recent = AuditEvent.objects.filter(
        actor_id=request.user.pk, event_type=trail_selectors.TRAIL_VIEWED
    ).order_by("-occurred_at", "-id")[: RECENT_VIEWS * 4]
    seen: dict[str, Any] = {}
    for event in recent:
        prediction = str(event.payload.get("prediction_id", ""))
        if prediction and prediction not in seen and len(seen) < RECENT_VIEWS:
            seen[prediction] = event.occurred_at
    return render(
        request,
        "audits/home.html",
        {
            "raw": raw,
            "error": error,
            "example_id": EXAMPLE_ID,
            "checkpoint": LedgerCheckpoint.objects.order_by("-size").first(),
            "origin": ledger_services.ledger_origin(),
            "public_key_pem": _public_key_pem(),
            "recent": list(seen.items()),
            "search_form": search_form,
            "search": search,
            "search_limit": selectors.SEARCH_LIMIT,
        },
        status=status,
    )


def _integrity_page(
    request: HttpRequest, prediction_id: uuid.UUID, error: LedgerIntegrityError
) -> HttpResponse:
    return render(
        request,
        "audits/integrity.html",
        {"error": error, "prediction_id": prediction_id},
        status=409,
    )


@page
@require_GET
def trail(request: HttpRequest, prediction_id: uuid.UUID) -> HttpResponse:
    try:
        try:
            found = trail_selectors.prediction_trail(
                user=request.user, prediction_id=prediction_id
            )
        except Http404:
            integrity.check_entry_missing(prediction_id)
            raise
    except LedgerIntegrityError as error:
        return _integrity_page(request, prediction_id, error)
    trail_selectors.trail_view_record(
        actor=request.user, trail=found, view_format="html"
    )
    return render(
        request,
        "audits/trail.html",
        {
            "trail": found,
            "links": trail_selectors.trail_links(prediction_id),
            "origin": ledger_services.ledger_origin(),
        },
    )


@page
@require_GET
def public_key(request: HttpRequest) -> HttpResponse:
    pem = _public_key_pem()
    if pem is None:
        return HttpResponse(
            "The ledger signing key is not configured.\n",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
    response = HttpResponse(pem, content_type="application/x-pem-file")
    response["Content-Disposition"] = 'attachment; filename="modelgov-ledger.pub.pem"'
    return response


# --- The access log -------------------------------------------------------------


class _LogPageForm(forms.Form):
    """A time range in UTC and the keyset cursor of a log page (the access log and
    the refused actions); subclasses add their filters, shown before the range."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        range_fields = ("start", "end", "before")
        self.order_fields([n for n in self.fields if n not in range_fields])

    start = forms.DateTimeField(
        label="From (UTC)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    end = forms.DateTimeField(
        label="Before (UTC)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput())

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        # The inputs carry no zone: they are read as UTC, as the labels say.
        for name in ("start", "end"):
            if data.get(name) is not None:
                data[name] = data[name].replace(tzinfo=UTC)
        start, end = data.get("start"), data.get("end")
        if start is not None and end is not None and end <= start:
            self.add_error("end", "The range must end after it starts.")
        return data


class AccessLogForm(_LogPageForm):
    """The access log's filters; every field is optional. Times are UTC."""

    label_suffix = ""

    who = forms.CharField(
        label="Person",
        required=False,
        max_length=150,
        help_text="A user name, or part of a name.",
    )
    prediction = forms.UUIDField(
        label="Prediction id", required=False, help_text="Views of this trail only."
    )
    pack = forms.IntegerField(
        label="Pack number",
        required=False,
        min_value=1,
        help_text="Requests and downloads of this evidence pack only.",
    )
    kind = forms.ChoiceField(
        label="Access",
        required=False,
        choices=[
            ("", "Every kind"),
            ("trails", "Trail views"),
            ("packs", "Evidence packs"),
            ("log", "Views of the logs"),
        ],
    )


def _query(data: dict[str, Any], **changes: Any) -> str:
    """The page's query string for ``data`` with ``changes`` (None drops a key)."""
    values = {**data, **changes}
    shown = {}
    for name, value in values.items():
        if value in (None, ""):
            continue
        if hasattr(value, "strftime"):
            value = value.strftime("%Y-%m-%dT%H:%M")
        shown[name] = str(value)
    return urlencode(shown)


@page
@require_GET
def access_log(request: HttpRequest) -> HttpResponse:
    """Who viewed what: trail views, evidence-pack requests and downloads, and
    views of this page, newest first. Reading the log is itself recorded."""
    user: Any = request.user
    if not user.has_perm(selectors.PERM_ACCESS_LOG):
        raise PermissionDenied("Your role may not see the access log.")
    form = AccessLogForm(request.GET or None)
    log = None
    status = 200
    data: dict[str, Any] = {}
    if request.GET and not form.is_valid():
        status = 400
    else:
        data = form.cleaned_data if request.GET else {}
        filters: dict[str, Any] = {
            "who": (data.get("who") or "").strip() or None,
            "prediction_id": data.get("prediction"),
            "pack_id": data.get("pack"),
            "kind": data.get("kind") or None,
            "start": data.get("start"),
            "end": data.get("end"),
        }
        log = selectors.access_log_for_user(
            user=user,
            before=data.get("before"),
            limit=selectors.ACCESS_PAGE,
            **filters,
        )
        # Recorded after the read, so a page does not list its own reading.
        recorded = {**filters, "before": data.get("before")}
        audit_services.access_log_view_record(
            actor=user,
            filters={
                key: value.isoformat() if hasattr(value, "isoformat") else value
                for key, value in recorded.items()
            },
        )
    verdicts = marks.verdicts_by_pk(
        AuditEvent, [row.event_id for row in log.rows] if log else []
    )
    return render(
        request,
        "audits/access_log.html",
        {
            "form": form,
            "log": log,
            "marked_rows": [
                (row, verdicts.get(row.event_id)) for row in (log.rows if log else [])
            ],
            "filtered": any(
                data.get(name) not in (None, "") for name in data if name != "before"
            ),
            "paged": bool(data.get("before")),
            "newest_query": _query(data, before=None),
            "older_query": (
                _query(data, before=log.older) if log and log.older else ""
            ),
            "page_size": selectors.ACCESS_PAGE,
        },
        status=status,
    )


# --- Refused actions --------------------------------------------------------------


class RefusalFilterForm(_LogPageForm):
    """The refused actions' filters; every field is optional. Times are UTC."""

    label_suffix = ""

    kind = forms.ChoiceField(
        label="Kind",
        required=False,
        choices=[("", "Every kind"), *RefusalKind.choices],
    )
    who = forms.CharField(
        label="Person",
        required=False,
        max_length=150,
        help_text="The account name tried, or part of a person's name.",
    )
    address = forms.GenericIPAddressField(
        label="Address", required=False, help_text="The client's IP address."
    )
    object = forms.RegexField(
        label="Object",
        required=False,
        max_length=200,
        regex=selectors.REFUSAL_OBJECT_PATTERN,
        error_messages={
            "invalid": "Enter an object as app.model or app.model:id, "
            "e.g. governance.releaserequest:12."
        },
        help_text="e.g. governance.releaserequest:12, or registry.modelversion.",
    )


@page
@require_GET
def refusals(request: HttpRequest) -> HttpResponse:
    """Refused attempts, newest first, filterable; reading them is recorded as an
    access (it shows in the access log)."""
    user: Any = request.user
    if not user.has_perm(selectors.PERM_REFUSALS):
        raise PermissionDenied("Your role may not see refused actions.")
    form = RefusalFilterForm(request.GET or None)
    log = None
    status = 200
    data: dict[str, Any] = {}
    if request.GET and not form.is_valid():
        status = 400
    else:
        data = form.cleaned_data if request.GET else {}
        log = selectors.refusal_list_for_user(
            user=user,
            before=data.get("before"),
            limit=selectors.REFUSAL_PAGE,
            **selectors.refusal_filters(data),
        )
        audit_services.refusals_view_record(
            actor=user, filters=selectors.refusal_recorded_filters(data)
        )
    verdicts = marks.verdicts_by_pk(
        RefusedAction, [row.refusal_id for row in log.rows] if log else []
    )
    return render(
        request,
        "audits/refusals.html",
        {
            "form": form,
            "log": log,
            "marked_rows": [
                (row, verdicts.get(row.refusal_id)) for row in (log.rows if log else [])
            ],
            "filtered": any(
                data.get(name) not in (None, "") for name in data if name != "before"
            ),
            "paged": bool(data.get("before")),
            "newest_query": _query(data, before=None),
            "older_query": (
                _query(data, before=log.older) if log and log.older else ""
            ),
            "page_size": selectors.REFUSAL_PAGE,
        },
        status=status,
    )
