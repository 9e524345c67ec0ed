"""Reads of the registry, scoped to what the user may see.

Visibility: validators, risk officers, auditors and administrators
(``registry.view_all_models``) see the whole inventory; developers and service
accounts see the models they are listed on (owner or developers). Everyone else sees
nothing. An object outside a user's scope is reported as missing (404).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from registry.models import Document, DocumentTemplate, Model, ModelCard, ModelVersion


def model_list_for_user(
    *, user: Any, filters: dict[str, Any] | None = None
) -> QuerySet[Model]:
    """Models ``user`` may see, optionally filtered.

    Filters: ``risk_tier``, ``status``, ``business_unit``, ``regulation``, ``q``
    (name, slug or purpose contains).
    """
    qs = Model.objects.select_related("owner")
    if not getattr(user, "is_authenticated", False) or not user.has_perm(
        "registry.view_model"
    ):
        return qs.none()
    if not user.has_perm("registry.view_all_models"):
        qs = qs.filter(Q(owner=user) | Q(developers=user)).distinct()
    filters = filters or {}
    if filters.get("risk_tier"):
        qs = qs.filter(risk_tier=filters["risk_tier"])
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    if filters.get("business_unit"):
        qs = qs.filter(business_unit__iexact=filters["business_unit"])
    if filters.get("regulation"):
        # JSON containment is not portable to SQLite; filter the small id set instead.
        wanted = filters["regulation"]
        ids = [
            pk
            for pk, regulations in qs.values_list("pk", "regulations")
            if wanted in (regulations or [])
        ]
        qs = qs.filter(pk__in=ids)
    if filters.get("q"):
        term = filters["q"]
        qs = qs.filter(
            Q(name__icontains=term)
            | Q(slug__icontains=term)
            | Q(purpose__icontains=term)
        )
    return qs.order_by("name")


def model_ids_visible_to(*, user: Any, model_ids: Iterable[int]) -> set[int]:
    """Which of ``model_ids`` ``user`` may see, in one query."""
    ids = set(model_ids)
    if not ids:
        return set()
    return set(
        model_list_for_user(user=user)
        .filter(pk__in=ids)
        .order_by()
        .values_list("pk", flat=True)
    )


def model_get_for_user(*, user: Any, slug: str) -> Model:
    """The model ``slug`` if ``user`` may see it; Http404 otherwise."""
    model = model_list_for_user(user=user).filter(slug=slug).first()
    if model is None:
        raise Http404("No such model.")
    return model


def model_version_list_for_user(*, user: Any, model: Model) -> QuerySet[ModelVersion]:
    """Versions of a model the user can see (the caller has checked the model)."""
    model_get_for_user(user=user, slug=model.slug)
    return (
        ModelVersion.objects.filter(model=model)
        .select_related("model", "created_by", "submitted_by")
        .order_by("-created_at", "-id")
    )


def model_version_get_for_user(*, user: Any, slug: str, version: str) -> ModelVersion:
    model = model_get_for_user(user=user, slug=slug)
    found = (
        ModelVersion.objects.select_related("model", "created_by", "submitted_by")
        .filter(model=model, version=version)
        .first()
    )
    if found is None:
        raise Http404("No such version.")
    return found


def model_card_get_for_user(*, user: Any, slug: str, version: str) -> ModelCard:
    mv = model_version_get_for_user(user=user, slug=slug, version=version)
    card = (
        ModelCard.objects.select_related("template", "model_version__model")
        .filter(model_version=mv)
        .first()
    )
    if card is None:
        raise Http404("This version has no model card.")
    return card


def document_list_for_user(*, user: Any, slug: str, version: str) -> QuerySet[Document]:
    mv = model_version_get_for_user(user=user, slug=slug, version=version)
    return (
        Document.objects.filter(model_version=mv)
        .select_related("template", "model_version__model", "created_by", "updated_by")
        .order_by("template__key")
    )


def document_get_for_user(*, user: Any, slug: str, version: str, pk: int) -> Document:
    doc = (
        document_list_for_user(user=user, slug=slug, version=version)
        .filter(pk=pk)
        .first()
    )
    if doc is None:
        raise Http404("No such document.")
    return doc


def template_list(*, include_inactive: bool = False) -> QuerySet[DocumentTemplate]:
    """Templates visible to any registry user (templates are not confidential)."""
    qs = DocumentTemplate.objects.all()
    if not include_inactive:
        qs = qs.filter(is_active=True)
    return qs.order_by("key", "-version")


def template_latest(*, key: str) -> DocumentTemplate | None:
    """The newest active version of template ``key``."""
    return template_list().filter(key=key).first()


def historical_as_of(obj: Any, at: datetime) -> Any | None:
    """The historical record of ``obj`` in force at ``at``, or None if it did not exist.

    Works for every registry model (they all carry simple-history records).
    """
    record = (
        obj.history.filter(history_date__lte=at)
        .order_by("-history_date", "-history_id")
        .first()
    )
    if record is None or record.history_type == "-":
        return None
    return record


def history_for(obj: Any, *, limit: int = 200) -> list[Any]:
    """The newest ``limit`` history records of ``obj``, with who changed it."""
    return list(
        obj.history.select_related("history_user").order_by(
            "-history_date", "-history_id"
        )[:limit]
    )


def parse_as_of(value: str) -> datetime:
    """Parse an ``as_of`` query value: an ISO datetime, or a date meaning its end (UTC).

    Raises ValueError with a message naming the accepted forms.
    """
    import datetime as dt

    text = value.strip()
    try:
        if len(text) in (8, 10) and "T" not in text:
            day = dt.date.fromisoformat(text)
            return dt.datetime.combine(day, dt.time.max, tzinfo=dt.UTC)
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(
            "Use an ISO 8601 date (2026-03-31) or date-time (2026-03-31T12:00:00Z)."
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:
        # Comparisons convert it to UTC: 9999-12-31T23:59:59-14:00 is past the last
        # representable instant there and must be refused here, not in a query.
        parsed.astimezone(dt.UTC)
    except (OverflowError, ValueError) as exc:
        raise ValueError(
            "Out of range: the date-time must lie between 0001-01-01 and "
            "9999-12-31 in UTC."
        ) from exc
    return parsed
