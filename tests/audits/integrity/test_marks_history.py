"""History pages of models, model cards and documents mark every history row
against its record leaf; the as-of snapshot carries the mark of the row it shows
(issue 13, item 5)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from governance.models import ReleaseRequest
from registry.models import Document, ModelCard
from tests.audits.integrity.marks_helpers import (
    drop_commitments,
    element,
    marks,
    sequence,
    tamper,
)

pytestmark = pytest.mark.usefixtures("ledger_key")


def _get(user: Any, url: str) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_card_history_row_with_forged_user_and_date_is_altered(
    approved: ReleaseRequest, developer: Any, approver: Any
) -> None:
    sequence()
    version = approved.model_version
    card = ModelCard.objects.get(model_version=version)
    forged, *others = list(card.history.order_by("-history_id"))
    assert others
    tamper(
        "registry_historicalmodelcard",
        "history_user_id = %s, history_date = history_date - interval '30 days'",
        forged.history_id,
        (approver.pk,),
    )
    url = reverse("registry:card_history", args=[version.model.slug, version.version])

    html = _get(developer, url)

    row = element(html, f"history-{forged.history_id}")
    assert "rita" in row
    assert marks(row) == ["altered"]
    assert "history_date" in row and "history_user" in row
    for other in others:
        assert marks(element(html, f"history-{other.history_id}")) == ["verified"]


def test_document_history_and_snapshot_marks(
    approved: ReleaseRequest, developer: Any
) -> None:
    sequence()
    version = approved.model_version
    document = Document.objects.filter(model_version=version).order_by("pk").first()
    (row_before,) = document.history.all()
    url = reverse(
        "registry:document_history",
        args=[version.model.slug, version.version, document.pk],
    )
    as_of = {"as_of": row_before.history_date.isoformat()}

    clean = _get(developer, url)
    snapshot = Client()
    snapshot.force_login(developer)
    before = snapshot.get(url, as_of).content.decode()
    tamper(
        "registry_historicaldocument",
        "content = %s::jsonb",
        row_before.history_id,
        ('{"purpose": "rewritten after approval"}',),
    )
    after = snapshot.get(url, as_of).content.decode()

    assert marks(element(clean, f"history-{row_before.history_id}")) == ["verified"]
    assert marks(element(before, "snapshot-integrity")) == ["verified"]
    assert marks(element(after, "snapshot-integrity")) == ["altered"]
    assert marks(element(after, f"history-{row_before.history_id}")) == ["altered"]
    assert "content" in element(after, f"history-{row_before.history_id}")


def test_model_history_marks_and_a_missing_leaf_is_not_verified(
    approved: ReleaseRequest, developer: Any
) -> None:
    model = approved.model_version.model
    rows = list(model.history.order_by("-history_id"))
    dropped, kept = rows[0], rows[-1]
    assert dropped.history_id != kept.history_id
    drop_commitments("registry_historicalmodel", dropped.history_id)

    html = _get(developer, reverse("registry:model_history", args=[model.slug]))

    assert marks(element(html, f"history-{dropped.history_id}")) == ["not_verified"]
    assert marks(element(html, f"history-{kept.history_id}")) == ["verified"]


def test_version_page_checks_its_status_against_its_history(
    approved: ReleaseRequest, developer: Any
) -> None:
    sequence()
    version = approved.model_version
    url = reverse("registry:version_detail", args=[version.model.slug, version.version])

    clean = _get(developer, url)
    # the status flipped in the row only: the history row still says "submitted"
    tamper("registry_modelversion", "status = 'draft'", version.pk)
    flipped = _get(developer, url)

    assert marks(element(clean, "version-integrity")) == ["verified"]
    mark = element(flipped, "version-integrity")
    assert marks(mark) == ["altered"]
    assert "differs from its latest history row in status" in mark, mark
