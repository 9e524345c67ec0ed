"""Changes to a model's owner and team after registration (ADR 0025): only the risk
function or an administrator may make them; each is a separation-of-duties event
with before and after; a developer's attempt is refused and recorded, with nothing
changed, through the service, the API and the edit page."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from audits.models import AuditEvent, RefusalKind, RefusedAction
from registry import services
from registry.forms import ModelEntryForm
from registry.models import Model
from tests.conftest import client_for

REFUSAL = (
    "Only a risk officer or an administrator may change the owner or the team of "
    "credit-risk: who is on a model's team decides who may validate and approve it."
)


def _state(model: Model) -> dict[str, Any]:
    """The model row, its team, its history and every audit event, to compare."""
    fresh = Model.objects.get(pk=model.pk)
    return {
        "row": Model.objects.filter(pk=model.pk).values().get(),
        "developers": sorted(fresh.developers.values_list("username", flat=True)),
        "history": fresh.history.count(),
        "events": list(AuditEvent.objects.order_by("pk").values_list("pk", flat=True)),
    }


def _assert_refused_and_recorded(before: dict[str, Any], model: Model, actor: Any):
    assert _state(model) == before
    refusal = RefusedAction.objects.get()
    assert (
        refusal.kind,
        refusal.action,
        refusal.actor,
        refusal.object_type,
        refusal.object_id,
        refusal.reason,
    ) == (
        RefusalKind.SEPARATION_OF_DUTIES,
        "registry.model.team_change",
        actor,
        "registry.model",
        str(model.pk),
        REFUSAL,
    )


@pytest.mark.parametrize(
    "data",
    [
        {"developers": ["dana", "pipeline-bot", "vera"]},
        {"developers": ["dana"]},
        {"owner": "rita"},
        {"name": "Renamed", "owner": "vera"},
    ],
    ids=["add-validator", "remove-colleague", "set-owner", "with-other-fields"],
)
def test_developer_may_not_change_the_team_and_the_attempt_is_recorded(
    credit_model: Model, developer: Any, validator: Any, risk_officer: Any, data: Any
) -> None:
    # given the model's developer and its state
    before = _state(credit_model)
    # when they change who is on the team or who owns it
    with pytest.raises(services.TeamChangeRefused, match="^Only a risk officer"):
        services.model_update(actor=developer, model=credit_model, data=data)
    # then nothing changed, and the refusal is on the record
    _assert_refused_and_recorded(before, credit_model, developer)


def test_developer_may_still_edit_other_fields_with_the_team_unchanged(
    credit_model: Model, developer: Any
) -> None:
    # when the form sends the unchanged team along with a new name
    services.model_update(
        actor=developer,
        model=credit_model,
        data={
            "name": "Credit PD v2",
            "developers": ["pipeline-bot", "dana", "dana"],
        },
    )
    # then the name changed, and there is no team event nor refusal
    assert Model.objects.get(pk=credit_model.pk).name == "Credit PD v2"
    assert not AuditEvent.objects.filter(
        event_type="registry.model.team_changed"
    ).exists()
    assert RefusedAction.objects.count() == 0


@pytest.mark.parametrize("persona", ["risk_officer", "administrator"])
def test_risk_function_changes_the_team_as_a_separation_of_duties_event(
    request: Any, credit_model: Model, validator: Any, persona: str
) -> None:
    # given
    actor = request.getfixturevalue(persona)
    # when the risk function sets the owner and adds a validator to the team
    services.model_update(
        actor=actor,
        model=credit_model,
        data={"owner": "vera", "developers": ["dana", "vera"]},
    )
    # then the team changed and the change is its own audit event, before and after
    model = Model.objects.get(pk=credit_model.pk)
    assert model.owner == validator
    assert sorted(model.developers.values_list("username", flat=True)) == [
        "dana",
        "vera",
    ]
    event = AuditEvent.objects.get(event_type="registry.model.team_changed")
    assert (event.actor, event.object_id) == (actor, str(model.pk))
    assert event.payload == {
        "slug": "credit-risk",
        "owner": {"before": None, "after": "vera"},
        "developers": {
            "before": ["dana", "pipeline-bot"],
            "after": ["dana", "vera"],
            "added": ["vera"],
            "removed": ["pipeline-bot"],
        },
    }
    updated = AuditEvent.objects.get(event_type="registry.model.updated")
    assert updated.payload == {"fields": ["developers", "owner"]}
    assert RefusedAction.objects.count() == 0


def test_api_patch_of_the_team_by_a_developer_is_403_and_recorded(
    credit_model: Model, developer: Any, validator: Any
) -> None:
    # given
    client = client_for(developer)
    before = _state(credit_model)
    # when
    response = client.patch(
        "/api/v1/models/credit-risk",
        {"developers": ["dana", "pipeline-bot", "vera"]},
        format="json",
    )
    # then
    assert response.status_code == 403
    assert response.json() == {
        "detail": REFUSAL,
        "code": "permission_denied",
        "errors": {},
    }
    _assert_refused_and_recorded(before, credit_model, developer)


def test_api_patch_of_the_owner_by_a_risk_officer_is_200(
    credit_model: Model, risk_officer: Any
) -> None:
    # when
    response = client_for(risk_officer).patch(
        "/api/v1/models/credit-risk", {"owner": "rita"}, format="json"
    )
    # then
    assert response.status_code == 200
    assert response.json()["owner"] == "rita"
    assert AuditEvent.objects.get(event_type="registry.model.team_changed").payload[
        "owner"
    ] == {"before": None, "after": "rita"}


def _form_post(model: Model, **changes: Any) -> dict[str, Any]:
    data = ModelEntryForm._initial_from(Model.objects.get(pk=model.pk))
    data.update(changes)
    post = {k: v for k, v in data.items() if v not in (None, False)}
    post["is_vendor"] = "on" if data["is_vendor"] else ""
    return post


def test_edit_page_shows_the_team_read_only_to_a_developer(
    client: Any, credit_model: Model, developer: Any, risk_officer: Any
) -> None:
    # given
    url = reverse("registry:model_edit", args=["credit-risk"])
    # when a developer and a risk officer open the edit page
    client.force_login(developer)
    as_developer = client.get(url).content.decode()
    client.force_login(risk_officer)
    as_risk_officer = client.get(url).content.decode()
    # then only the developer sees owner and team read-only, with why
    assert 'name="developers"' in as_developer
    assert as_developer.count("readonly") == 2
    assert "Only a risk officer or an administrator may change the owner" in (
        as_developer
    )
    assert "readonly" not in as_risk_officer


def test_edit_page_refuses_a_changed_team_from_a_developer(
    client: Any, credit_model: Model, developer: Any, validator: Any
) -> None:
    # given a developer who removed the read-only mark and added a validator
    client.force_login(developer)
    url = reverse("registry:model_edit", args=["credit-risk"])
    before = _state(credit_model)
    # when they post the form
    response = client.post(
        url, _form_post(credit_model, developers="dana, pipeline-bot, vera")
    )
    # then the page says why, nothing changed, and the refusal is recorded
    assert response.status_code == 403
    assert "who is on a model&#x27;s team decides who may validate" in (
        response.content.decode()
    )
    _assert_refused_and_recorded(before, credit_model, developer)


def test_edit_page_saves_other_fields_of_a_developer(
    client: Any, credit_model: Model, developer: Any
) -> None:
    # given
    client.force_login(developer)
    url = reverse("registry:model_edit", args=["credit-risk"])
    # when the developer changes the purpose and leaves the read-only team as it is
    response = client.post(url, _form_post(credit_model, purpose="Score PD."))
    # then it is saved
    assert response.status_code == 302
    assert Model.objects.get(pk=credit_model.pk).purpose == "Score PD."
    assert RefusedAction.objects.count() == 0
