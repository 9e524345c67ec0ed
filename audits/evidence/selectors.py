"""Reads of evidence packs, scoped to what the user may see."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from audits.evidence.models import EvidencePack
from audits.evidence.services import PERM_VIEW
from audits.monitoring import selectors as monitoring_selectors
from registry.models import ModelVersion


def evidence_pack_list_for_user(
    *, user: Any, version: ModelVersion | None = None
) -> QuerySet[EvidencePack]:
    """Packs of the versions ``user`` may see, newest first; none without
    ``audits.view_evidencepack``."""
    if not user.has_perm(PERM_VIEW):
        return EvidencePack.objects.none()
    packs = EvidencePack.objects.filter(
        model_version__in=monitoring_selectors.visible_versions(user=user)
    ).select_related("model_version__model", "requested_by")
    if version is not None:
        packs = packs.filter(model_version=version)
    return packs.order_by("-created_at", "-id")


def evidence_pack_get_for_user(*, user: Any, pk: int) -> EvidencePack:
    """One pack; DoesNotExist (a 404) when missing or not visible."""
    return evidence_pack_list_for_user(user=user).get(pk=pk)
