"""Reads of evidence packs, scoped to what the user may see."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from audits.evidence.models import EvidencePack
from audits.evidence.services import PERM_VIEW
from registry import selectors as registry_selectors
from registry.models import Model, ModelVersion


def evidence_pack_list_for_user(
    *,
    user: Any,
    version: ModelVersion | None = None,
    model: Model | None = None,
) -> QuerySet[EvidencePack]:
    """Packs of the models ``user`` may see (model-version and period packs),
    newest first, optionally of one version or one model; none without
    ``audits.view_evidencepack``."""
    if not user.has_perm(PERM_VIEW):
        return EvidencePack.objects.none()
    models = registry_selectors.model_list_for_user(user=user)
    packs = EvidencePack.objects.filter(
        Q(model_version__model__in=models)
        | Q(model_version__isnull=True, model__in=models)
    ).select_related("model", "model_version__model", "requested_by")
    if version is not None:
        packs = packs.filter(model_version=version)
    if model is not None:
        packs = packs.filter(Q(model=model) | Q(model_version__model=model))
    return packs.order_by("-created_at", "-id")


def evidence_pack_get_for_user(*, user: Any, pk: int) -> EvidencePack:
    """One pack; DoesNotExist (a 404) when missing or not visible."""
    return evidence_pack_list_for_user(user=user).get(pk=pk)
