"""Registry pages: inventory, models, versions, model cards, documents, templates.

A view parses input, calls a selector (reads, scoped: out of scope is a 404) or a
service (writes, which enforce every rule), and renders. Model cards and documents
share one set of views through ``Paper``: both are filled section by section from a
template definition, so nothing here knows a template's sections.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import OuterRef, Prefetch, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audits.integrity import verify as integrity
from governance.exceptions import Conflict
from governance.services import dossier as dossier_services
from governance.views import page
from registry import forms, selectors, services, template_schema, tiering
from registry.choices import (
    AuthorRole,
    DocumentKind,
    Regulation,
    VersionStatus,
)
from registry.models import Document, DocumentTemplate, Model, ModelCard, ModelVersion

INVENTORY_PAGE_SIZE = 50
HISTORY_LIMIT = 100


# --- Permissions as the UI shows them (the services enforce them) ----------------


def can_author(user: Any, model: Model, author_role: str) -> bool:
    """Whether ``user`` may write documents of ``author_role`` for ``model``.

    Mirrors the service rule so the UI only offers what will succeed: validation
    reports by independent validators, everything else by the model's team.
    """
    if author_role == AuthorRole.VALIDATOR:
        return user.has_perm(
            "registry.author_validation_documents"
        ) and not services.is_model_member(user, model)
    return user.has_perm(
        "registry.author_development_documents"
    ) and services.is_model_member(user, model)


def _can_edit_model(user: Any, model: Model) -> bool:
    return user.has_perm("registry.change_model") and (
        user.has_perm("registry.view_all_models")
        or services.is_model_member(user, model)
    )


# --- Generic rendering of a template-based paper (model card or document) --------


@dataclass(frozen=True)
class FieldView:
    key: str
    label: str
    type: str
    value: Any
    required: bool
    filled: bool
    help: str


@dataclass(frozen=True)
class SectionView:
    key: str
    title: str
    citation: str
    guidance: str
    completeness: template_schema.SectionCompleteness
    fields: list[FieldView]
    edit_url: str | None = None


def section_views(
    definition: Mapping[str, Any],
    content: Mapping[str, Any],
    context: Mapping[str, bool],
    edit_url: Callable[[str], str] | None = None,
) -> tuple[template_schema.Completeness, list[SectionView]]:
    """Sections of ``definition`` filled from ``content``, ready to render."""
    completeness = template_schema.completeness(definition, content, context)
    by_key = {s.key: s for s in completeness.sections}
    views = []
    for section in definition["sections"]:
        values = content.get(section["key"]) or {}
        fields = [
            FieldView(
                key=fdef["key"],
                label=fdef["label"],
                type=fdef["type"],
                value=values.get(fdef["key"]),
                required=template_schema.is_required(fdef, context),
                filled=template_schema.is_filled(values.get(fdef["key"])),
                help=fdef.get("help", ""),
            )
            for fdef in section["fields"]
        ]
        views.append(
            SectionView(
                key=section["key"],
                title=section["title"],
                citation=section.get("citation", ""),
                guidance=section.get("guidance", ""),
                completeness=by_key[section["key"]],
                fields=fields,
                edit_url=edit_url(section["key"]) if edit_url else None,
            )
        )
    return completeness, views


@dataclass(frozen=True)
class Paper:
    """A model card or a document, seen through what the pages need of it."""

    obj: ModelCard | Document
    kind: str  # "card" or "document": the prefix of its URL names
    title: str
    url_kwargs: dict[str, Any]
    update: Callable[..., Any] = field(repr=False)

    @property
    def version(self) -> ModelVersion:
        return self.obj.model_version

    @property
    def model(self) -> Model:
        return self.obj.model_version.model

    @property
    def template(self) -> DocumentTemplate:
        return self.obj.template

    def url(self, name: str, **kwargs: Any) -> str:
        return reverse(
            f"registry:{self.kind}_{name}", kwargs={**self.url_kwargs, **kwargs}
        )

    @property
    def detail_url(self) -> str:
        return self.url("detail")

    @property
    def history_url(self) -> str:
        return self.url("history")

    def section_url(self, section_key: str) -> str:
        return self.url("section_edit", section=section_key)


def _card_paper(card: ModelCard) -> Paper:
    mv = card.model_version

    def update(*, actor: Any, section_key: str, values: Mapping[str, Any]) -> Any:
        return services.model_card_section_update(
            actor=actor, card=card, section_key=section_key, values=values
        )

    return Paper(
        obj=card,
        kind="card",
        title="Model card",
        url_kwargs={"slug": mv.model.slug, "version": mv.version},
        update=update,
    )


def _document_paper(document: Document) -> Paper:
    mv = document.model_version

    def update(*, actor: Any, section_key: str, values: Mapping[str, Any]) -> Any:
        return services.document_section_update(
            actor=actor, document=document, section_key=section_key, values=values
        )

    return Paper(
        obj=document,
        kind="document",
        title=document.title,
        url_kwargs={"slug": mv.model.slug, "version": mv.version, "pk": document.pk},
        update=update,
    )


def _paper_detail(request: HttpRequest, paper: Paper) -> HttpResponse:
    editable = can_author(request.user, paper.model, paper.template.author_role)
    # An author is told before trying when the dossier's freeze refuses the edit,
    # or when saving puts a live approval under review (ADR 0026).
    rule = (
        dossier_services.dossier_edit_rule(actor=request.user, paper=paper.obj)
        if editable
        else None
    )
    editable = editable and not (rule and rule.refusal)
    completeness, sections = section_views(
        paper.template.definition,
        paper.obj.content,
        paper.model.template_context,
        edit_url=paper.section_url if editable else None,
    )
    return render(
        request,
        "registry/paper_detail.html",
        {
            "paper": paper,
            "model": paper.model,
            "version": paper.version,
            "completeness": completeness,
            "sections": sections,
            "can_edit": editable,
            "dossier_rule": rule,
        },
    )


def _paper_section_edit(
    request: HttpRequest, paper: Paper, section_key: str
) -> HttpResponse:
    section = template_schema.section_map(paper.template.definition).get(section_key)
    if section is None:
        raise Http404("No such section.")
    if request.method == "GET" and not can_author(
        request.user, paper.model, paper.template.author_role
    ):
        authors = (
            "validators independent of the model"
            if paper.template.author_role == AuthorRole.VALIDATOR
            else "the model's developers"
        )
        raise PermissionDenied(
            f"Only {authors} may edit this {paper.template.get_kind_display().lower()}."
        )
    form_class = forms.section_form_class(section, paper.model.template_context)
    current = paper.obj.content.get(section_key) or {}
    initial = forms.section_initial(section, current)
    if request.method == "POST":
        form = form_class(request.POST, initial=initial)
        if form.is_valid():
            try:
                # The service checks the author rules again and audits the change.
                paper.update(
                    actor=request.user, section_key=section_key, values=form.values()
                )
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            except Conflict as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, f"Saved “{section['title']}”.")
                return redirect(f"{paper.url('detail')}#section-{section_key}")
    else:
        form = form_class(initial=initial)
    return render(
        request,
        "registry/paper_section_edit.html",
        {
            "paper": paper,
            "model": paper.model,
            "version": paper.version,
            "section": section,
            "form": form,
        },
    )


@dataclass(frozen=True)
class HistoryEntry:
    record: Any
    action: str
    changed: list[str]
    as_of_url: str


def _history_context(
    obj: Any,
    *,
    describe: Callable[[Any, Any | None], tuple[str, list[str]]],
    base_url: str,
) -> dict[str, Any]:
    """History rows of ``obj`` (newest first), each described against the one before."""
    records = selectors.history_for(obj, limit=HISTORY_LIMIT)
    entries = []
    for i, record in enumerate(records):
        previous = records[i + 1] if i + 1 < len(records) else None
        action, changed = describe(record, previous)
        query = urlencode({"as_of": record.history_date.isoformat()})
        entries.append(
            HistoryEntry(
                record=record,
                action=action,
                changed=changed,
                as_of_url=f"{base_url}?{query}",
            )
        )
    return {
        "entries": entries,
        "history_truncated": len(records) == HISTORY_LIMIT,
        # Each history row checked against its record leaf, in one batch.
        "verdicts": integrity.verdicts(records),
    }


def _describe_paper_change(
    titles: Mapping[str, str],
) -> Callable[[Any, Any | None], tuple[str, list[str]]]:
    def describe(record: Any, previous: Any | None) -> tuple[str, list[str]]:
        if record.history_type == "+":
            return "Created", []
        if record.history_type == "-":
            return "Deleted", []
        if previous is None:
            return "Changed", []
        old, new = previous.content or {}, record.content or {}
        keys = [*titles, *sorted((set(old) | set(new)) - set(titles))]
        return "Changed", [titles.get(k, k) for k in keys if old.get(k) != new.get(k)]

    return describe


def _as_of(request: HttpRequest) -> tuple[datetime | None, str, str]:
    """The ``as_of`` query value parsed, the raw value, and an error message."""
    raw = request.GET.get("as_of", "").strip()
    if not raw:
        return None, "", ""
    try:
        return selectors.parse_as_of(raw), raw, ""
    except ValueError as exc:
        return None, raw, str(exc)


def _template_context_at(model: Model, at: datetime) -> dict[str, bool]:
    """The model's flags (vendor, EU AI Act high-risk) as they were at ``at``."""
    record = selectors.historical_as_of(model, at)
    if record is None:
        return model.template_context
    return {
        "is_vendor": record.is_vendor,
        "eu_ai_act_high_risk": "eu_ai_act_high_risk" in (record.regulations or []),
    }


def _paper_history(request: HttpRequest, paper: Paper) -> HttpResponse:
    titles = {s["key"]: s["title"] for s in paper.template.sections}
    at, raw, error = _as_of(request)
    snapshot: dict[str, Any] | None = None
    if at is not None:
        record = selectors.historical_as_of(paper.obj, at)
        snapshot = {"at": at, "record": record}
        if record is not None:
            template = (
                paper.template
                if record.template_id == paper.template.pk
                else DocumentTemplate.objects.get(pk=record.template_id)
            )
            completeness, sections = section_views(
                template.definition,
                record.content or {},
                _template_context_at(paper.model, at),
            )
            snapshot.update(
                completeness=completeness,
                sections=sections,
                verdict=integrity.verdict(record),
            )
    return render(
        request,
        "registry/paper_history.html",
        {
            "paper": paper,
            "model": paper.model,
            "version": paper.version,
            "as_of_raw": raw if len(raw) == 10 else "",
            "as_of_error": error,
            "snapshot": snapshot,
            **_history_context(
                paper.obj,
                describe=_describe_paper_change(titles),
                base_url=paper.url("history"),
            ),
        },
    )


# --- Inventory and models -------------------------------------------------------


def _latest_version_subquery() -> Subquery:
    return Subquery(
        ModelVersion.objects.filter(model=OuterRef("pk"))
        .order_by("-created_at", "-id")
        .values("version")[:1]
    )


@page
@require_GET
def inventory(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("registry.view_model"):
        raise PermissionDenied("Your account has no role that may see the inventory.")
    units = (
        selectors.model_list_for_user(user=request.user)
        .exclude(business_unit="")
        .order_by("business_unit")
        .values_list("business_unit", flat=True)
        .distinct()
    )
    form = forms.InventoryFilterForm(request.GET, business_units=units)
    filters = form.filters()
    models = selectors.model_list_for_user(user=request.user, filters=filters)
    models = models.annotate(latest_version=_latest_version_subquery())
    paginator = Paginator(models, INVENTORY_PAGE_SIZE)
    page_obj = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "registry/inventory.html",
        {
            "form": form,
            "page_obj": page_obj,
            "models": page_obj.object_list,
            "count": paginator.count,
            "is_filtered": bool(filters),
            "query": query.urlencode(),
            "can_add": request.user.has_perm("registry.add_model"),
        },
    )


@page
@require_http_methods(["GET", "POST"])
def model_create(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("registry.add_model"):
        raise PermissionDenied("Your role may not add models to the inventory.")
    form = forms.ModelEntryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            model = services.model_create(actor=request.user, data=form.service_data())
        except ValidationError as exc:
            forms.add_service_errors(form, exc)
        else:
            messages.success(request, f"Registered “{model.name}”.")
            return redirect("registry:model_detail", slug=model.slug)
    return render(request, "registry/model_form.html", {"form": form, "model": None})


@page
@require_http_methods(["GET", "POST"])
def model_edit(request: HttpRequest, slug: str) -> HttpResponse:
    model = selectors.model_get_for_user(user=request.user, slug=slug)
    if not _can_edit_model(request.user, model):
        raise PermissionDenied("You may not change this inventory entry.")
    form = forms.ModelEntryForm(
        request.POST or None,
        instance=model,
        may_change_team=request.user.has_perm("registry.govern_model"),
    )
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            model = services.model_update(
                actor=request.user, model=model, data=form.service_data()
            )
        except ValidationError as exc:
            forms.add_service_errors(form, exc)
        except services.TeamChangeRefused as exc:
            # Refused and recorded by the service; nothing was saved.
            form.add_error(None, str(exc))
            status = 403
        else:
            messages.success(request, f"Saved “{model.name}”.")
            return redirect("registry:model_detail", slug=model.slug)
    return render(
        request,
        "registry/model_form.html",
        {"form": form, "model": model},
        status=status,
    )


def _paper_rows(
    card: ModelCard | None, documents: Sequence[Document]
) -> list[dict[str, Any]]:
    """The card and documents of a version, with their completeness."""
    papers = [_card_paper(card)] if card is not None else []
    papers += [_document_paper(doc) for doc in documents]
    return [
        {
            "title": paper.title,
            "template": paper.template,
            "url": paper.url("detail"),
            "completeness": paper.obj.completeness(),
            "updated_at": paper.obj.updated_at,
        }
        for paper in papers
    ]


def _with_papers(versions: Any) -> Any:
    return versions.prefetch_related(
        "card__template",
        Prefetch(
            "documents",
            queryset=Document.objects.select_related("template").order_by(
                "template__key"
            ),
        ),
    )


@page
@require_GET
def model_detail(request: HttpRequest, slug: str) -> HttpResponse:
    model = selectors.model_get_for_user(user=request.user, slug=slug)
    versions = list(
        _with_papers(
            selectors.model_version_list_for_user(user=request.user, model=model)
        )
    )
    for mv in versions:
        # Versions share the already loaded model, so cards need no extra query.
        mv.model = model
    rows = [
        {
            "version": mv,
            "papers": _paper_rows(getattr(mv, "card", None), mv.documents.all()),
        }
        for mv in versions
    ]
    regulation_labels = dict(Regulation.choices)
    return render(
        request,
        "registry/model_detail.html",
        {
            "model": model,
            "developers": list(model.developers.order_by("username")),
            "regulations": [
                regulation_labels.get(r, r) for r in (model.regulations or [])
            ],
            "suggested_tier": tiering.suggested_tier(
                model.materiality_exposure, model.materiality_purpose
            ),
            "rows": rows,
            "latest": rows[0] if rows else None,
            "can_edit": _can_edit_model(request.user, model),
        },
    )


def _model_change_values(
    model_history: Sequence[Any],
) -> Callable[[Any, Any | None], tuple[str, list[str]]]:
    """Describe model history records as "field: old → new" lines."""
    user_ids: set[int] = set()
    for record in model_history:
        if record.owner_id:
            user_ids.add(record.owner_id)
    users = {
        u.pk: u.get_username() for u in get_user_model().objects.filter(pk__in=user_ids)
    }
    fields = {f.name: f for f in Model._meta.get_fields() if hasattr(f, "verbose_name")}
    regulation_labels = dict(Regulation.choices)

    def show(name: str, value: Any) -> str:
        if value in (None, "", []):
            return "—"
        if name == "owner":
            return users.get(value, f"user #{value}")
        if name == "regulations":
            return ", ".join(regulation_labels.get(v, v) for v in value)
        if name == "developers":
            names: list[str] = []
            for row in value:
                ids = [v for k, v in row.items() if k != "model"]
                names.extend(str(users.get(i, f"user #{i}")) for i in ids)
            return ", ".join(sorted(names)) or "—"
        choices = dict(getattr(fields.get(name), "choices", None) or [])
        text = str(choices.get(value, value))
        return text if len(text) <= 200 else text[:199] + "…"

    def describe(record: Any, previous: Any | None) -> tuple[str, list[str]]:
        if record.history_type == "+":
            return "Created", []
        if previous is None:
            return "Changed", []
        delta = record.diff_against(previous)
        for change in delta.changes:
            if change.field == "developers":
                for row in [*(change.old or []), *(change.new or [])]:
                    user_ids.update(v for k, v in row.items() if k != "model")
        missing = user_ids - set(users)
        if missing:
            users.update(
                (u.pk, u.get_username())
                for u in get_user_model().objects.filter(pk__in=missing)
            )
        lines = []
        for change in delta.changes:
            label = str(getattr(fields.get(change.field), "verbose_name", change.field))
            lines.append(
                f"{label.capitalize()}: {show(change.field, change.old)} → "
                f"{show(change.field, change.new)}"
            )
        return "Changed", lines

    return describe


@page
@require_GET
def model_history(request: HttpRequest, slug: str) -> HttpResponse:
    model = selectors.model_get_for_user(user=request.user, slug=slug)
    records = selectors.history_for(model, limit=HISTORY_LIMIT)
    describe = _model_change_values(records)
    entries = []
    for i, record in enumerate(records):
        previous = records[i + 1] if i + 1 < len(records) else None
        action, changed = describe(record, previous)
        entries.append(
            HistoryEntry(record=record, action=action, changed=changed, as_of_url="")
        )
    return render(
        request,
        "registry/model_history.html",
        {
            "model": model,
            "entries": entries,
            "history_truncated": len(records) == HISTORY_LIMIT,
            "verdicts": integrity.verdicts(records),
        },
    )


# --- Versions --------------------------------------------------------------------


def _format_edge(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _numeric_bins(edges: Sequence[Any]) -> list[str]:
    if not edges:
        return ["all values"]
    labels = [f"< {_format_edge(edges[0])}"]
    labels += [
        f"{_format_edge(a)} to < {_format_edge(b)}"
        for a, b in zip(edges, edges[1:], strict=False)
    ]
    labels.append(f"≥ {_format_edge(edges[-1])}")
    return labels


def baseline_view(baseline: Any) -> dict[str, Any] | None:
    """The baseline statistics arranged for tables; None when there are none."""
    if not isinstance(baseline, Mapping) or not baseline:
        return None
    features = []
    for name, spec in (baseline.get("features") or {}).items():
        if not isinstance(spec, Mapping):
            continue
        proportions = spec.get("proportions")
        if spec.get("type") == "numeric" and isinstance(proportions, list):
            bins = list(
                zip(_numeric_bins(spec.get("edges") or []), proportions, strict=False)
            )
        elif isinstance(proportions, Mapping):
            bins = list(proportions.items())
        else:
            bins = []
        features.append({"name": name, "type": spec.get("type", ""), "bins": bins})
    rates = baseline.get("approval_rate") or {}
    groups = [
        {"attribute": attr, "rates": sorted(values.items())}
        for attr, values in sorted((rates.get("by_group") or {}).items())
        if isinstance(values, Mapping)
    ]
    performance = baseline.get("performance") or {}
    return {
        "n": baseline.get("n"),
        "features": features,
        "overall_rate": rates.get("overall"),
        "groups": groups,
        "performance": sorted(performance.items())
        if isinstance(performance, Mapping)
        else [],
    }


def _items(value: Any) -> list[tuple[str, Any]]:
    return sorted(value.items()) if isinstance(value, Mapping) else []


def _version(request: HttpRequest, slug: str, version: str) -> ModelVersion:
    return selectors.model_version_get_for_user(
        user=request.user, slug=slug, version=version
    )


@page
@require_GET
def version_detail(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    mv = _version(request, slug, version)
    documents = list(
        selectors.document_list_for_user(user=request.user, slug=slug, version=version)
    )
    card = ModelCard.objects.select_related("template").filter(model_version=mv).first()
    if card is not None:
        card.model_version = mv
    papers = _paper_rows(card, documents)
    can_submit = (
        mv.status == VersionStatus.DRAFT
        and request.user.has_perm("registry.submit_modelversion")
        and services.is_model_member(request.user, mv.model)
    )
    return render(
        request,
        "registry/version_detail.html",
        {
            "model": mv.model,
            "version": mv,
            "papers": papers,
            "hyperparameters": _items(mv.hyperparameters),
            "metrics": _items(mv.metrics),
            "baseline": baseline_view(mv.baseline),
            "can_submit": can_submit,
            # The version row against its latest history row, and that row
            # against its record leaf.
            "version_verdict": integrity.verdict(mv),
        },
    )


@page
@require_POST
def version_submit(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    mv = _version(request, slug, version)
    try:
        mv = services.model_version_submit(actor=request.user, version=mv)
    except Conflict as exc:
        messages.error(request, exc.message)
    except ValidationError as exc:
        errors = getattr(exc, "message_dict", None) or {"": exc.messages}
        for field_name, field_errors in errors.items():
            prefix = (
                f"{field_name.replace('_', ' ').capitalize()}: " if field_name else ""
            )
            for message in field_errors:
                messages.error(request, f"Cannot submit. {prefix}{message}")
    else:
        messages.success(
            request,
            f"Version {mv.version} is submitted for review; its content is frozen "
            f"(digest {mv.content_digest[:12]}…).",
        )
    return redirect("registry:version_detail", slug=slug, version=version)


# --- Model cards -----------------------------------------------------------------


def _card(request: HttpRequest, slug: str, version: str) -> Paper:
    return _card_paper(
        selectors.model_card_get_for_user(user=request.user, slug=slug, version=version)
    )


@page
@require_GET
def card_detail(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    return _paper_detail(request, _card(request, slug, version))


@page
@require_http_methods(["GET", "POST"])
def card_section_edit(
    request: HttpRequest, slug: str, version: str, section: str
) -> HttpResponse:
    return _paper_section_edit(request, _card(request, slug, version), section)


@page
@require_GET
def card_history(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    return _paper_history(request, _card(request, slug, version))


# --- Documents -------------------------------------------------------------------


def _document(request: HttpRequest, slug: str, version: str, pk: int) -> Paper:
    return _document_paper(
        selectors.document_get_for_user(
            user=request.user, slug=slug, version=version, pk=pk
        )
    )


def _startable_templates(
    user: Any, mv: ModelVersion, documents: Sequence[Document]
) -> list[DocumentTemplate]:
    """The newest active template of each key this user may start for ``mv``."""
    if not user.has_perm("registry.add_document"):
        return []
    used = {doc.template.key for doc in documents}
    newest: dict[str, DocumentTemplate] = {}
    for template in selectors.template_list():
        if template.kind == DocumentKind.MODEL_CARD or template.key in used:
            continue
        newest.setdefault(template.key, template)
    return [t for t in newest.values() if can_author(user, mv.model, t.author_role)]


@page
@require_http_methods(["GET", "POST"])
def document_list(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    mv = _version(request, slug, version)
    documents = list(
        selectors.document_list_for_user(user=request.user, slug=slug, version=version)
    )
    startable = _startable_templates(request.user, mv, documents)
    form = forms.DocumentStartForm(request.POST or None, templates=startable)
    if request.method == "POST":
        if not startable:
            raise PermissionDenied("There is no template you may start here.")
        if form.is_valid():
            try:
                document = services.document_create(
                    actor=request.user,
                    version=mv,
                    template=form.cleaned_data["template"],
                    title=form.cleaned_data["title"],
                )
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            except Conflict as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, f"Started “{document.title}”.")
                return redirect(_document_paper(document).url("detail"))
    rows = [
        {
            "document": doc,
            "url": _document_paper(doc).url("detail"),
            "completeness": doc.completeness(),
        }
        for doc in documents
    ]
    return render(
        request,
        "registry/document_list.html",
        {
            "model": mv.model,
            "version": mv,
            "rows": rows,
            "form": form if startable else None,
        },
    )


@page
@require_GET
def document_detail(
    request: HttpRequest, slug: str, version: str, pk: int
) -> HttpResponse:
    return _paper_detail(request, _document(request, slug, version, pk))


@page
@require_http_methods(["GET", "POST"])
def document_section_edit(
    request: HttpRequest, slug: str, version: str, pk: int, section: str
) -> HttpResponse:
    return _paper_section_edit(request, _document(request, slug, version, pk), section)


@page
@require_GET
def document_history(
    request: HttpRequest, slug: str, version: str, pk: int
) -> HttpResponse:
    return _paper_history(request, _document(request, slug, version, pk))


# --- Templates -------------------------------------------------------------------


def _require_template_view(user: Any) -> None:
    if not user.has_perm("registry.view_documenttemplate"):
        raise PermissionDenied("Your account has no role that may see templates.")


@page
@require_GET
def template_list(request: HttpRequest) -> HttpResponse:
    _require_template_view(request.user)
    templates = selectors.template_list(include_inactive=True)
    return render(request, "registry/template_list.html", {"templates": templates})


@page
@require_GET
def template_detail(request: HttpRequest, key: str, version: int) -> HttpResponse:
    _require_template_view(request.user)
    template = (
        selectors.template_list(include_inactive=True)
        .filter(key=key, version=version)
        .first()
    )
    if template is None:
        raise Http404("No such template.")
    return render(request, "registry/template_detail.html", {"template": template})
