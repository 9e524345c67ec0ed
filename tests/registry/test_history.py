""" "As of" reads: cards, documents and inventory entries as they were at a time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from registry import selectors
from registry import services as registry_services
from registry.models import Document, DocumentTemplate, Model, ModelCard
from tests.conftest import client_for

V = "/api/v1/models/credit-risk/versions/1.0.0"


def _text_field(template: DocumentTemplate) -> tuple[str, str]:
    """The first section with a text field, and that field's key."""
    for section in template.definition["sections"]:
        for fdef in section["fields"]:
            if fdef["type"] in {"text", "textarea"}:
                return section["key"], fdef["key"]
    raise AssertionError("the template has no text field")


def _between(a: datetime, b: datetime) -> str:
    assert a < b
    return (a + (b - a) / 2).isoformat()


def _records(obj: Any) -> list[Any]:
    return list(obj.history.order_by("history_date", "history_id"))


@pytest.fixture
def card(draft_version: Any) -> ModelCard:
    return ModelCard.objects.select_related("template").get(model_version=draft_version)


@pytest.fixture
def edited_card(card: ModelCard, developer: Any) -> ModelCard:
    """The card edited twice: "first draft" at t1, then "second draft" at t2."""
    section, field = _text_field(card.template)
    for text in ("first draft", "second draft"):
        registry_services.model_card_section_update(
            actor=developer, card=card, section_key=section, values={field: text}
        )
    return card


def test_card_as_of_between_two_edits_shows_the_first(
    edited_card: ModelCard, developer: Any
) -> None:
    # given three history records: created, first edit, second edit
    created, first, second = _records(edited_card)
    section, field = _text_field(edited_card.template)
    client = client_for(developer)
    # when the card is read as of a moment between the two edits
    at = _between(first.history_date, second.history_date)
    response = client.get(f"{V}/card", {"as_of": at})
    # then exactly the first edit's content is shown, with who made it
    assert response.status_code == 200
    body = response.json()
    assert body["content"] == {section: {field: "first draft"}}
    assert body["updated_by"] == "dana"
    assert body["as_of"] == datetime.fromisoformat(at).isoformat().replace(
        "+00:00", "Z"
    )
    assert body["model"] == "credit-risk"
    assert body["version"] == "1.0.0"
    # and the live card shows the second edit
    live = client.get(f"{V}/card").json()
    assert live["content"] == {section: {field: "second draft"}}
    assert live["as_of"] is None


def test_card_as_of_between_creation_and_first_edit_is_empty(
    edited_card: ModelCard, developer: Any
) -> None:
    created, first, _ = _records(edited_card)
    response = client_for(developer).get(
        f"{V}/card", {"as_of": _between(created.history_date, first.history_date)}
    )
    assert response.status_code == 200
    assert response.json()["content"] == {}


def test_card_as_of_exactly_an_edit_includes_it(
    edited_card: ModelCard, developer: Any
) -> None:
    _, first, _ = _records(edited_card)
    section, field = _text_field(edited_card.template)
    response = client_for(developer).get(
        f"{V}/card", {"as_of": first.history_date.isoformat()}
    )
    assert response.json()["content"] == {section: {field: "first draft"}}


def test_card_as_of_before_it_existed_is_404(
    edited_card: ModelCard, developer: Any
) -> None:
    created = _records(edited_card)[0]
    at = (created.history_date - timedelta(seconds=1)).isoformat()
    response = client_for(developer).get(f"{V}/card", {"as_of": at})
    assert response.status_code == 404
    assert response.json() == {
        "detail": "Not found.",
        "code": "not_found",
        "errors": {},
    }


def test_card_as_of_a_past_date_is_404(edited_card: ModelCard, developer: Any) -> None:
    response = client_for(developer).get(f"{V}/card", {"as_of": "2001-01-01"})
    assert response.status_code == 404


@pytest.mark.parametrize("bad", ["yesterday", "2026-02-30", "31/12/2026"])
def test_bad_as_of_is_a_400_naming_as_of(
    edited_card: ModelCard, developer: Any, bad: str
) -> None:
    response = client_for(developer).get(f"{V}/card", {"as_of": bad})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Invalid input.",
        "code": "invalid",
        "errors": {
            "as_of": [
                "Use an ISO 8601 date (2026-03-31) or date-time (2026-03-31T12:00:00Z)."
            ]
        },
    }


def test_card_history_lists_records_newest_first_with_usernames(
    card: ModelCard, developer: Any, service: Any
) -> None:
    # given a card created with dana's registration, then edited by her twice
    section, field = _text_field(card.template)
    for text in ("one", "two"):
        registry_services.model_card_section_update(
            actor=developer, card=card, section_key=section, values={field: text}
        )
    records = list(reversed(_records(card)))
    # when the history is listed
    response = client_for(service).get(f"{V}/card/history")
    # then newest first, typed, with who changed it
    assert response.status_code == 200
    assert response.json() == [
        {
            "history_id": r.history_id,
            "at": r.history_date.isoformat().replace("+00:00", "Z"),
            "type": t,
            "by": "dana",
        }
        for r, t in zip(records, ["changed", "changed", "created"], strict=True)
    ]


@pytest.fixture
def document(draft_version: Any, developer: Any) -> Document:
    template = selectors.template_latest(key="sr11-7-development")
    assert template is not None
    return registry_services.document_create(
        actor=developer, version=draft_version, template=template, title="Dev doc"
    )


def test_document_as_of_between_two_edits_shows_the_first(
    document: Document, developer: Any
) -> None:
    # given a document edited twice
    section, field = _text_field(document.template)
    for text in ("first draft", "second draft"):
        registry_services.document_section_update(
            actor=developer,
            document=document,
            section_key=section,
            values={field: text},
        )
    created, first, second = _records(document)
    client = client_for(developer)
    url = f"{V}/documents/{document.pk}"
    # when it is read between the edits, before it existed and with a bad as_of
    between = client.get(
        url, {"as_of": _between(first.history_date, second.history_date)}
    )
    before = client.get(
        url, {"as_of": (created.history_date - timedelta(microseconds=1)).isoformat()}
    )
    bad = client.get(url, {"as_of": "soon"})
    # then the first content, 404 and 400 naming as_of
    assert between.status_code == 200
    assert between.json()["content"] == {section: {field: "first draft"}}
    assert between.json()["title"] == "Dev doc"
    assert between.json()["id"] == document.pk
    assert client.get(url).json()["content"] == {section: {field: "second draft"}}
    assert before.status_code == 404
    assert bad.status_code == 400
    assert list(bad.json()["errors"]) == ["as_of"]


def test_document_history_lists_records_newest_first(
    document: Document, developer: Any, validator: Any
) -> None:
    section, field = _text_field(document.template)
    registry_services.document_section_update(
        actor=developer, document=document, section_key=section, values={field: "x"}
    )
    records = list(reversed(_records(document)))
    response = client_for(validator).get(f"{V}/documents/{document.pk}/history")
    assert response.status_code == 200
    assert [(r["history_id"], r["type"], r["by"]) for r in response.json()] == [
        (records[0].history_id, "changed", "dana"),
        (records[1].history_id, "created", "dana"),
    ]


def test_historical_as_of_returns_the_inventory_entry_in_force(
    risk_officer: Any, developer: Any
) -> None:
    # given a model created at tier 2, re-tiered to 1 by the risk officer
    model = registry_services.model_create(
        actor=developer, data={"name": "Fraud", "slug": "fraud", "purpose": "p"}
    )
    registry_services.model_update(
        actor=risk_officer,
        model=model,
        data={"risk_tier": 1, "tier_rationale": "Exposure grew."},
    )
    # (setting the team on creation records a second, m2m, change)
    records = _records(Model.objects.get(pk=model.pk))
    assert [(r.history_type, r.risk_tier) for r in records] == [
        ("+", 2),
        ("~", 2),
        ("~", 1),
    ]
    created, team_set, changed = records
    # when the entry is asked for before, between and after
    before = selectors.historical_as_of(
        model, created.history_date - timedelta(seconds=1)
    )
    between = selectors.historical_as_of(
        model,
        datetime.fromisoformat(_between(created.history_date, changed.history_date)),
    )
    after = selectors.historical_as_of(model, changed.history_date + timedelta(days=1))
    # then nothing, then tier 2, then tier 1 with who changed it
    assert before is None
    assert (between.risk_tier, between.tier_rationale, between.history_user) == (
        2,
        "",
        developer,
    )
    assert (after.risk_tier, after.tier_rationale, after.history_user) == (
        1,
        "Exposure grew.",
        risk_officer,
    )
    assert after.history_type == "~"


def test_historical_as_of_is_none_after_a_deletion(developer: Any) -> None:
    # given a draft model that is deleted (its history keeps a "-" record)
    model = registry_services.model_create(
        actor=developer, data={"name": "Tmp", "slug": "tmp", "purpose": "p"}
    )
    model.developers.clear()
    pk = model.pk
    model.delete()
    model.pk = pk
    deleted = Model.history.filter(id=pk).order_by("-history_date").first()
    # when asked after the deletion / then nothing was in force
    assert deleted.history_type == "-"
    assert selectors.historical_as_of(model, deleted.history_date) is None
