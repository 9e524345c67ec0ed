"""The registry's HTML pages: access, filters, section editing, submit, history."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.urls import reverse

from audits.models import AuditEvent
from registry import digests, services, template_schema
from registry.models import DocumentTemplate, ModelCard, ModelVersion
from tests.factories import ModelFactory

# Own templates, so the tests do not depend on the shipped catalog's wording. The
# card template's version is above any shipped one: versions take the newest.
CARD_DEFINITION: dict[str, Any] = {
    "key": "model-card",
    "version": 10_000,
    "name": "Test model card",
    "kind": "model_card",
    "author_role": "model_developer",
    "sections": [
        {
            "key": "overview",
            "title": "1. Overview",
            "citation": "Mitchell et al. 2019",
            "guidance": "Say what the model does.",
            "fields": [
                {
                    "key": "summary",
                    "label": "Summary",
                    "type": "textarea",
                    "required": True,
                },
                {"key": "short_name", "label": "Short name", "type": "text"},
                {
                    "key": "family",
                    "label": "Model family",
                    "type": "choice",
                    "choices": ["logistic regression", "gradient boosting"],
                    "required": True,
                },
                {
                    "key": "users",
                    "label": "Intended users",
                    "type": "multichoice",
                    "choices": ["underwriters", "collections", "marketing"],
                },
                {"key": "released_on", "label": "Release date", "type": "date"},
                {"key": "cutoff", "label": "Score cut-off", "type": "number"},
                {"key": "human_review", "label": "Human review", "type": "boolean"},
                {"key": "paper", "label": "Reference", "type": "url"},
            ],
        },
        {
            "key": "limitations",
            "title": "2. Limitations",
            "fields": [
                {
                    "key": "known",
                    "label": "Known limitations",
                    "type": "textarea",
                    "required": True,
                }
            ],
        },
    ],
}
DEV_DOC_DEFINITION: dict[str, Any] = {
    "key": "test-development",
    "version": 1,
    "name": "Test development document",
    "kind": "development",
    "author_role": "model_developer",
    "sections": [
        {
            "key": "data",
            "title": "Data",
            "fields": [
                {
                    "key": "sources",
                    "label": "Sources",
                    "type": "textarea",
                    "required": True,
                }
            ],
        }
    ],
}


def _template(definition: dict[str, Any]) -> DocumentTemplate:
    template_schema.validate_definition(definition)
    return DocumentTemplate.objects.create(
        key=definition["key"],
        version=definition["version"],
        name=definition["name"],
        kind=definition["kind"],
        author_role=definition["author_role"],
        definition=definition,
        definition_sha256=digests.content_digest(definition),
    )


@pytest.fixture(autouse=True)
def card_template(db: Any) -> DocumentTemplate:
    return _template(CARD_DEFINITION)


@pytest.fixture
def document(draft_version: ModelVersion, developer: Any) -> Any:
    return services.document_create(
        actor=developer, version=draft_version, template=_template(DEV_DOC_DEFINITION)
    )


def _url(name: str, mv: ModelVersion | None = None, /, **kwargs: Any) -> str:
    if mv is not None:
        kwargs = {"slug": mv.model.slug, "version": mv.version, **kwargs}
    return reverse(f"registry:{name}", kwargs=kwargs)


def _card_events() -> Any:
    return AuditEvent.objects.filter(event_type="registry.card.section_updated")


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("inventory", None),
        ("model_create", None),
        ("templates", None),
        ("template_detail", "template"),
        ("model_detail", "model"),
        ("model_edit", "model"),
        ("model_history", "model"),
        ("version_detail", "version"),
        ("version_submit", "version"),
        ("card_detail", "version"),
        ("card_section_edit", "section"),
        ("card_history", "version"),
        ("document_list", "version"),
        ("document_detail", "document"),
        ("document_section_edit", "document_section"),
        ("document_history", "document"),
    ],
)
def test_anonymous_is_redirected_to_login_on_every_page(
    client: Any, document: Any, card_template: Any, name: str, extra: str | None
) -> None:
    # given a version with a card and a document, and nobody logged in
    mv = document.model_version
    kwargs = {
        None: {},
        "template": {"key": "model-card", "version": card_template.version},
        "model": {"slug": mv.model.slug},
        "version": {"slug": mv.model.slug, "version": mv.version},
        "section": {
            "slug": mv.model.slug,
            "version": mv.version,
            "section": "overview",
        },
        "document": {"slug": mv.model.slug, "version": mv.version, "pk": document.pk},
        "document_section": {
            "slug": mv.model.slug,
            "version": mv.version,
            "pk": document.pk,
            "section": "data",
        },
    }[extra]
    url = reverse(f"registry:{name}", kwargs=kwargs)
    # when an anonymous visitor asks for the page
    response = client.get(url)
    # then they are sent to the login page, coming back afterwards
    assert response.status_code == 302
    assert response.url == f"/accounts/login/?next={url}"


def test_outsider_gets_403_on_inventory(client: Any, outsider: Any) -> None:
    # given an account with no role
    client.force_login(outsider)
    # when it opens the inventory
    response = client.get(_url("inventory"))
    # then it is refused with the error page
    assert response.status_code == 403
    assert "Access denied" in response.content.decode()


@pytest.mark.parametrize("name", ["model_detail", "version_detail", "card_detail"])
def test_developer_off_the_team_gets_404_on_model_pages(
    client: Any, other_developer: Any, draft_version: ModelVersion, name: str
) -> None:
    # given a developer who is not on credit_model's team
    client.force_login(other_developer)
    kwargs = {"slug": draft_version.model.slug}
    if name != "model_detail":
        kwargs["version"] = draft_version.version
    # when they open the model's pages
    response = client.get(_url(name, **kwargs))
    # then the model looks missing
    assert response.status_code == 404


@pytest.mark.parametrize(
    "persona", ["developer", "validator", "auditor", "risk_officer"]
)
@pytest.mark.parametrize("name", ["model_detail", "version_detail", "card_detail"])
def test_team_and_oversight_roles_see_model_pages(
    client: Any,
    request: Any,
    draft_version: ModelVersion,
    persona: str,
    name: str,
) -> None:
    # given a team member or an inventory-wide role
    client.force_login(request.getfixturevalue(persona))
    kwargs = {"slug": draft_version.model.slug}
    if name != "model_detail":
        kwargs["version"] = draft_version.version
    # when they open the model's pages
    response = client.get(_url(name, **kwargs))
    # then they see them
    assert response.status_code == 200
    assert "Credit risk PD" in response.content.decode()


@pytest.fixture
def inventory_models(credit_model: Any) -> None:
    ModelFactory(slug="credit-card-fraud", name="Credit card fraud", risk_tier=3)
    ModelFactory(slug="mortgage-approval", name="Mortgage approval", risk_tier=1)
    ModelFactory(slug="collections-priority", name="Collections priority", risk_tier=2)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            {},
            [
                "collections-priority",
                "credit-card-fraud",
                "credit-risk",
                "mortgage-approval",
            ],
        ),
        ({"q": "credit"}, ["credit-card-fraud", "credit-risk"]),
        ({"risk_tier": "1"}, ["credit-risk", "mortgage-approval"]),
        ({"q": "credit", "risk_tier": "1"}, ["credit-risk"]),
        ({"q": "nothing-like-this"}, []),
    ],
)
def test_inventory_filters_show_exactly_the_matching_models(
    client: Any,
    risk_officer: Any,
    inventory_models: None,
    query: dict[str, str],
    expected: list[str],
) -> None:
    # given four models and a risk officer, who sees the whole inventory
    client.force_login(risk_officer)
    # when they filter the inventory
    response = client.get(_url("inventory"), query)
    # then exactly the matching models are listed, in name order, with their count
    assert response.status_code == 200
    assert [m.slug for m in response.context["models"]] == expected
    body = response.content.decode()
    rows = re.findall(r'<th scope="row"><a href="/registry/([a-z0-9-]+)/">', body)
    assert rows == expected
    noun = "model" if len(expected) == 1 else "models"
    assert f"{len(expected)} {noun}" in body


def test_inventory_filters_by_regulation_and_business_unit(
    client: Any, developer: Any, inventory_models: None
) -> None:
    # given a developer, who sees only the models of their team
    ModelFactory(
        slug="hmda-model",
        name="HMDA model",
        regulations=["hmda"],
        business_unit="Mortgages",
        developers=[developer],
    )
    client.force_login(developer)
    # when they filter by regulation, and by business unit
    by_regulation = client.get(_url("inventory"), {"regulation": "hmda"})
    by_unit = client.get(_url("inventory"), {"business_unit": "Retail lending"})
    # then only their own matching models are listed
    assert [m.slug for m in by_regulation.context["models"]] == ["hmda-model"]
    assert [m.slug for m in by_unit.context["models"]] == ["credit-risk"]


def test_inventory_query_count_does_not_grow_with_models(
    client: Any, risk_officer: Any, django_assert_max_num_queries: Any
) -> None:
    # given five models, each with two versions
    for i in range(5):
        model = ModelFactory(slug=f"model-{i}", name=f"Model {i}")
        for n in range(2):
            ModelVersion.objects.create(
                model=model,
                version=f"1.{n}.0",
                artifact_uri="s3://m/model.pkl",
                artifact_sha256=f"{i}{n}".ljust(64, "a"),
            )
    client.force_login(risk_officer)
    # when the inventory is rendered
    with django_assert_max_num_queries(12):
        response = client.get(_url("inventory"))
    # then every model is on it, with its latest version
    assert response.status_code == 200
    assert len(response.context["models"]) == 5
    assert all(m.latest_version == "1.1.0" for m in response.context["models"])


def test_card_section_form_saves_exactly_the_posted_values(
    client: Any, developer: Any, draft_version: ModelVersion
) -> None:
    # given the developer on the model's team and an empty card
    client.force_login(developer)
    card = ModelCard.objects.get(model_version=draft_version)
    assert card.content == {}
    # when they post the overview section through the form
    response = client.post(
        _url("card_section_edit", draft_version, section="overview"),
        {
            "summary": "Scores retail loan applicants.\nMonthly refresh.",
            "short_name": "PD retail",
            "family": "gradient boosting",
            "users": ["underwriters", "collections"],
            "released_on": "2026-03-31",
            "cutoff": "0.35",
            "human_review": "true",
            "paper": "https://example.com/pd.pdf",
        },
    )
    # then the card holds exactly those values and one audit event records it
    assert response.status_code == 302
    assert response.url == _url("card_detail", draft_version) + "#section-overview"
    card.refresh_from_db()
    assert card.content == {
        "overview": {
            "summary": "Scores retail loan applicants.\nMonthly refresh.",
            "short_name": "PD retail",
            "family": "gradient boosting",
            "users": ["underwriters", "collections"],
            "released_on": "2026-03-31",
            "cutoff": 0.35,
            "human_review": True,
            "paper": "https://example.com/pd.pdf",
        }
    }
    events = list(_card_events())
    assert len(events) == 1
    assert events[0].actor == developer
    assert events[0].object_id == str(card.pk)
    assert events[0].payload == {"section": "overview", "version": str(draft_version)}


def test_card_section_form_keeps_empty_answers_empty(
    client: Any, developer: Any, draft_version: ModelVersion
) -> None:
    # given the developer and an empty card
    client.force_login(developer)
    # when they save the section with nothing filled in
    client.post(_url("card_section_edit", draft_version, section="overview"), {})
    # then every field is stored as unanswered and the section counts as incomplete
    card = ModelCard.objects.get(model_version=draft_version)
    assert card.content == {
        "overview": {
            "summary": "",
            "short_name": "",
            "family": "",
            "users": [],
            "released_on": "",
            "cutoff": None,
            "human_review": None,
            "paper": "",
        }
    }
    assert card.completeness().sections[0].filled == 0


def test_card_section_form_shows_service_errors_next_to_fields(
    client: Any, developer: Any, draft_version: ModelVersion
) -> None:
    # given the developer
    client.force_login(developer)
    # when they post a URL the template does not accept
    response = client.post(
        _url("card_section_edit", draft_version, section="overview"),
        {"paper": "ftp://example.com/pd.pdf"},
    )
    # then the form comes back with the message on that field and nothing is saved
    assert response.status_code == 200
    assert response.context["form"].errors["paper"] == [
        "Must be an http(s), s3 or gs URL."
    ]
    assert 'id="id_paper_error"' in response.content.decode()
    assert ModelCard.objects.get(model_version=draft_version).content == {}
    assert not _card_events().exists()


def test_validator_cannot_edit_a_card_section(
    client: Any, validator: Any, draft_version: ModelVersion
) -> None:
    # given a validator (cards are written by the model's team)
    client.force_login(validator)
    url = _url("card_section_edit", draft_version, section="overview")
    # when they open and post the section form
    page = client.get(url)
    response = client.post(
        url, {"summary": "Validator text", "family": "gradient boosting"}
    )
    # then both are refused and nothing changes
    assert page.status_code == 403
    assert response.status_code == 403
    assert ModelCard.objects.get(model_version=draft_version).content == {}
    assert not _card_events().exists()


def test_card_page_offers_edit_links_only_to_authors(
    client: Any, developer: Any, validator: Any, draft_version: ModelVersion
) -> None:
    # given the card of a draft version
    edit_url = _url("card_section_edit", draft_version, section="overview")
    # when its developer and a validator open it
    client.force_login(developer)
    as_developer = client.get(_url("card_detail", draft_version)).content.decode()
    client.force_login(validator)
    as_validator = client.get(_url("card_detail", draft_version)).content.decode()
    # then only the developer gets the edit links; both see every section
    assert edit_url in as_developer
    assert edit_url not in as_validator
    for body in (as_developer, as_validator):
        assert "1. Overview" in body and "2. Limitations" in body


def test_frozen_version_page_shows_its_content_digest(
    client: Any, auditor: Any, submitted_version: ModelVersion
) -> None:
    # given a submitted version
    client.force_login(auditor)
    # when an auditor opens it
    response = client.get(_url("version_detail", submitted_version))
    # then the page shows the full digest and that the content is frozen
    body = response.content.decode()
    assert response.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{64}", submitted_version.content_digest)
    assert submitted_version.content_digest in body
    assert "Frozen" in body
    assert "Submit for review" not in body


def test_submit_button_freezes_a_draft(
    client: Any, developer: Any, draft_version: ModelVersion
) -> None:
    # given a draft and its developer, who sees the button
    client.force_login(developer)
    page = client.get(_url("version_detail", draft_version)).content.decode()
    assert "Submit for review" in page
    # when they press it
    response = client.post(_url("version_submit", draft_version), follow=True)
    # then the version is submitted with a content digest, shown on the page
    draft_version.refresh_from_db()
    assert draft_version.status == "submitted"
    assert draft_version.content_digest == digests.content_digest(
        draft_version.content()
    )
    assert draft_version.content_digest in response.content.decode()
    assert (
        AuditEvent.objects.filter(
            event_type="registry.version.submitted", object_id=str(draft_version.pk)
        ).count()
        == 1
    )


def test_submitting_twice_shows_the_conflict_as_a_message(
    client: Any, developer: Any, submitted_version: ModelVersion
) -> None:
    # given a version that is already submitted
    client.force_login(developer)
    digest = submitted_version.content_digest
    # when the submit form is posted again
    response = client.post(_url("version_submit", submitted_version), follow=True)
    # then an error message explains it and nothing changes
    assert "only a draft can be submitted" in response.content.decode()
    submitted_version.refresh_from_db()
    assert submitted_version.content_digest == digest


def test_card_history_as_of_shows_the_earlier_content(
    client: Any, developer: Any, draft_version: ModelVersion
) -> None:
    # given a card edited twice
    card = ModelCard.objects.get(model_version=draft_version)
    card = services.model_card_section_update(
        actor=developer,
        card=card,
        section_key="overview",
        values={"summary": "First text"},
    )
    first_saved_at = card.history.order_by("-history_date").first().history_date
    services.model_card_section_update(
        actor=developer,
        card=card,
        section_key="overview",
        values={"summary": "Second text"},
    )
    client.force_login(developer)
    # when the history is asked for the moment of the first edit
    response = client.get(
        _url("card_history", draft_version), {"as_of": first_saved_at.isoformat()}
    )
    # then the card is shown as it was then
    body = response.content.decode()
    assert response.status_code == 200
    assert response.context["snapshot"]["record"].content == {
        "overview": {"summary": "First text"}
    }
    assert "First text" in body
    assert "Second text" not in body


def test_card_history_as_of_a_date_before_the_card_says_it_did_not_exist(
    client: Any, developer: Any, draft_version: ModelVersion
) -> None:
    # given a card created today
    client.force_login(developer)
    yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    # when the history is asked for the end of yesterday
    response = client.get(_url("card_history", draft_version), {"as_of": yesterday})
    # then it says the card did not exist yet
    assert response.status_code == 200
    assert response.context["snapshot"]["record"] is None
    assert "did not exist yet" in response.content.decode()


def test_document_can_be_started_and_a_section_edited(
    client: Any, developer: Any, draft_version: ModelVersion
) -> None:
    # given a development template and the model's developer
    template = _template(DEV_DOC_DEFINITION)
    client.force_login(developer)
    # when they start a document from it and fill its section
    response = client.post(
        _url("document_list", draft_version), {"template": template.pk, "title": ""}
    )
    document = draft_version.documents.get()
    edit = client.post(
        _url("document_section_edit", draft_version, pk=document.pk, section="data"),
        {"sources": "Bureau data 2019-2024"},
    )
    # then the document exists with that content and both writes are audited
    assert response.status_code == 302
    assert edit.status_code == 302
    document.refresh_from_db()
    assert document.content == {"data": {"sources": "Bureau data 2019-2024"}}
    assert list(
        AuditEvent.objects.filter(object_id=str(document.pk))
        .filter(event_type__startswith="registry.document.")
        .order_by("id")
        .values_list("event_type", flat=True)
    ) == ["registry.document.created", "registry.document.section_updated"]


def test_model_page_states_when_eu_ai_act_obligations_apply(
    client: Any, risk_officer: Any, credit_model: Any, settings: Any
) -> None:
    settings.MODELGOV_EU_AI_ACT_HIGH_RISK_FROM = "2027-12-02"
    client.force_login(risk_officer)
    response = client.get(f"/registry/{credit_model.slug}/")
    assert (
        "EU AI Act high-risk obligations (Annex III 5(b)) apply from 2027-12-02."
        in (response.content.decode())
    )
