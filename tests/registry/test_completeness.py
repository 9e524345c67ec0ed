"""Completeness of cards and documents, vendor-only fields, validator independence."""

from __future__ import annotations

from typing import Any

import pytest

from audits.models import AuditEvent
from registry import services as registry_services
from registry.models import Document, DocumentTemplate, ModelCard
from tests.conftest import client_for
from tests.factories import ModelFactory, UserFactory, version_payload

V = "/api/v1/models/credit-risk/versions/1.0.0"
# credit_model carries eu_ai_act_high_risk in its regulations and is not a vendor model.
CREDIT_CONTEXT = {"is_vendor": False, "eu_ai_act_high_risk": True}


def _value(fdef: dict[str, Any]) -> Any:
    return {
        "text": "Filled",
        "textarea": "Filled in.",
        "url": "https://example.com/doc",
        "date": "2026-01-15",
        "number": 1,
        "boolean": False,
        "choice": (fdef.get("choices") or [""])[0],
        "multichoice": (fdef.get("choices") or [])[:1],
    }[fdef["type"]]


def _required(fdef: dict[str, Any], context: dict[str, bool]) -> bool:
    if fdef.get("required") is True:
        return True
    return bool(fdef.get("required_if")) and context[fdef["required_if"]]


def _expected(
    definition: dict[str, Any],
    content: dict[str, dict[str, Any]],
    context: dict[str, bool],
) -> dict[str, Any]:
    """Completeness computed independently from the template definition."""
    sections = []
    for section in definition["sections"]:
        values = content.get(section["key"], {})
        required = [f["key"] for f in section["fields"] if _required(f, context)]
        missing = [k for k in required if k not in values]
        filled = len(required) - len(missing)
        sections.append(
            {
                "key": section["key"],
                "title": section["title"],
                "required": len(required),
                "filled": filled,
                "ratio": round(filled / len(required), 4) if required else 1.0,
                "complete": filled == len(required),
                "missing": missing,
            }
        )
    total = sum(s["required"] for s in sections)
    filled = sum(s["filled"] for s in sections)
    return {
        "required": total,
        "filled": filled,
        "ratio": round(filled / total, 4) if total else 1.0,
        "complete": filled == total,
        "sections": sections,
    }


def _fill(
    section: dict[str, Any], context: dict[str, bool], only_required: bool = True
) -> dict[str, Any]:
    return {
        f["key"]: _value(f)
        for f in section["fields"]
        if _required(f, context) or not only_required
    }


@pytest.fixture
def card_template(draft_version: Any) -> DocumentTemplate:
    return ModelCard.objects.get(model_version=draft_version).template


def test_empty_card_is_zero_complete(
    card_template: DocumentTemplate, developer: Any
) -> None:
    # given a freshly registered version / when its card is read
    body = client_for(developer).get(f"{V}/card").json()
    # then every required field is missing
    expected = _expected(card_template.definition, {}, CREDIT_CONTEXT)
    assert body["completeness"] == expected
    assert expected["filled"] == 0
    assert expected["required"] > 0
    assert body["completeness"]["ratio"] == 0.0
    assert body["template"] == {"key": "model-card", "version": card_template.version}


def test_card_completeness_grows_as_sections_are_filled(
    card_template: DocumentTemplate, developer: Any
) -> None:
    client = client_for(developer)
    definition = card_template.definition
    first, second = definition["sections"][0], definition["sections"][1]
    first_fields = _fill(first, CREDIT_CONTEXT)
    one_field = dict(list(_fill(second, CREDIT_CONTEXT).items())[:1])
    # when the first section is filled completely and one field of the second
    r1 = client.put(
        f"{V}/card/sections/{first['key']}", {"values": first_fields}, format="json"
    )
    r2 = client.put(
        f"{V}/card/sections/{second['key']}", {"values": one_field}, format="json"
    )
    # then the first section is complete, the second partly, overall in proportion
    assert r1.status_code == 200
    assert r2.status_code == 200
    content = {first["key"]: first_fields, second["key"]: one_field}
    expected = _expected(definition, content, CREDIT_CONTEXT)
    assert r2.json()["completeness"] == expected
    assert r2.json()["content"] == content
    sections = {s["key"]: s for s in r2.json()["completeness"]["sections"]}
    assert sections[first["key"]]["complete"] is True
    assert sections[first["key"]]["missing"] == []
    assert sections[second["key"]]["filled"] == 1
    assert r2.json()["completeness"]["filled"] == len(first_fields) + 1
    assert client.get(f"{V}/card").json()["completeness"] == expected


def test_card_filled_in_every_required_field_is_complete(
    card_template: DocumentTemplate, developer: Any
) -> None:
    # given every required field of every section, optional ones left out
    content = {
        s["key"]: _fill(s, CREDIT_CONTEXT) for s in card_template.definition["sections"]
    }
    content = {k: v for k, v in content.items() if v}
    # when the card is replaced with it
    response = client_for(developer).put(
        f"{V}/card", {"content": content}, format="json"
    )
    # then it is complete
    assert response.status_code == 200
    completeness = response.json()["completeness"]
    assert completeness == _expected(card_template.definition, content, CREDIT_CONTEXT)
    assert completeness["complete"] is True
    assert completeness["ratio"] == 1.0
    assert completeness["filled"] == completeness["required"]


def test_blank_values_do_not_count_as_filled(
    card_template: DocumentTemplate, developer: Any
) -> None:
    section = card_template.definition["sections"][0]
    text_fields = [
        f["key"]
        for f in section["fields"]
        if f["type"] in {"text", "textarea"} and f.get("required")
    ]
    values = {k: "   " for k in text_fields}
    response = client_for(developer).put(
        f"{V}/card/sections/{section['key']}", {"values": values}, format="json"
    )
    assert response.status_code == 200
    first = response.json()["completeness"]["sections"][0]
    assert text_fields
    assert first["filled"] == 0
    assert first["missing"] == [
        f["key"] for f in section["fields"] if _required(f, CREDIT_CONTEXT)
    ]


def test_eu_high_risk_fields_count_only_for_eu_high_risk_models(
    card_template: DocumentTemplate, developer: Any
) -> None:
    # given the card's fields required only for EU AI Act high-risk models
    conditional = [
        (s["key"], f["key"])
        for s in card_template.definition["sections"]
        for f in s["fields"]
        if f.get("required_if") == "eu_ai_act_high_risk" and not f.get("required")
    ]
    assert conditional, "the model card has no eu_ai_act_high_risk field"
    # when the card of the (high-risk) credit model is read
    body = client_for(developer).get(f"{V}/card").json()
    # then they are listed as missing
    missing = {
        (s["key"], k) for s in body["completeness"]["sections"] for k in s["missing"]
    }
    assert set(conditional) <= missing


def _vendor_template() -> tuple[DocumentTemplate, str, str]:
    """A shipped template with a field required only for vendor models."""
    for key in ("validation-report", "sr11-7-development"):
        template = DocumentTemplate.objects.filter(key=key).order_by("-version").first()
        assert template is not None
        for section in template.definition["sections"]:
            for fdef in section["fields"]:
                if fdef.get("required_if") == "is_vendor" and not fdef.get("required"):
                    return template, section["key"], fdef["key"]
    raise AssertionError("no shipped template has a vendor-only field")


def _author_for(template: DocumentTemplate, developer: Any) -> Any:
    if template.author_role == "validator":
        return UserFactory(username="ivan", role="validator")
    return developer


@pytest.mark.parametrize("is_vendor", [False, True])
def test_vendor_only_field_counts_only_for_a_vendor_model(
    developer: Any, is_vendor: bool
) -> None:
    # given a vendor (or in-house) model with a version, and a vendor-only field
    template, section_key, field_key = _vendor_template()
    ModelFactory(
        slug="scorecard",
        is_vendor=is_vendor,
        vendor_name="Acme Scoring Inc." if is_vendor else "",
        regulations=[],
        developers=[developer],
    )
    client = client_for(developer)
    assert (
        client.post(
            "/api/v1/models/scorecard/versions", version_payload("1.0.0"), format="json"
        ).status_code
        == 201
    )
    author = client_for(_author_for(template, developer))
    # when a document is started from the template
    response = author.post(
        "/api/v1/models/scorecard/versions/1.0.0/documents",
        {"template": template.key},
        format="json",
    )
    # then the vendor-only field is required (and missing) only for the vendor model
    assert response.status_code == 201
    context = {"is_vendor": is_vendor, "eu_ai_act_high_risk": False}
    completeness = response.json()["completeness"]
    assert completeness == _expected(template.definition, {}, context)
    section = next(s for s in completeness["sections"] if s["key"] == section_key)
    assert (field_key in section["missing"]) is is_vendor
    fields = next(
        s["fields"] for s in template.definition["sections"] if s["key"] == section_key
    )
    unconditional = sum(1 for f in fields if f.get("required") is True)
    vendor_only = sum(1 for f in fields if f.get("required_if") == "is_vendor")
    assert section["required"] == unconditional + (vendor_only if is_vendor else 0)


@pytest.fixture
def dev_document(draft_version: Any, developer: Any) -> Document:
    template = DocumentTemplate.objects.filter(key="sr11-7-development").first()
    return registry_services.document_create(
        actor=developer, version=draft_version, template=template
    )


def test_document_completeness_grows_as_fields_are_filled(
    dev_document: Document, developer: Any
) -> None:
    # given an empty development document
    client = client_for(developer)
    url = f"{V}/documents/{dev_document.pk}"
    definition = dev_document.template.definition
    assert client.get(url).json()["completeness"] == _expected(
        definition, {}, CREDIT_CONTEXT
    )
    # when two sections are filled, one completely and one in part
    first, last = definition["sections"][0], definition["sections"][-1]
    full = _fill(first, CREDIT_CONTEXT)
    part = dict(list(_fill(last, CREDIT_CONTEXT).items())[:2])
    client.put(f"{url}/sections/{first['key']}", {"values": full}, format="json")
    response = client.put(
        f"{url}/sections/{last['key']}", {"values": part}, format="json"
    )
    # then the document's completeness is exactly that
    assert response.status_code == 200
    content = {first["key"]: full, last["key"]: part}
    assert response.json()["content"] == content
    assert response.json()["completeness"] == _expected(
        definition, content, CREDIT_CONTEXT
    )
    assert response.json()["completeness"]["filled"] == len(full) + 2


def test_section_values_are_validated_by_field(
    dev_document: Document, developer: Any
) -> None:
    section = dev_document.template.definition["sections"][0]
    client = client_for(developer)
    before = Document.objects.filter(pk=dev_document.pk).values().get()
    events = AuditEvent.objects.count()
    response = client.put(
        f"{V}/documents/{dev_document.pk}/sections/{section['key']}",
        {"values": {"no_such_field": "x"}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "no_such_field": [f"Unknown field for section {section['key']!r}."]
    }
    unknown = client.put(
        f"{V}/documents/{dev_document.pk}/sections/no_such_section",
        {"values": {}},
        format="json",
    )
    assert unknown.status_code == 400
    assert unknown.json()["errors"] == {
        "section": ["Unknown section 'no_such_section'."]
    }
    assert Document.objects.filter(pk=dev_document.pk).values().get() == before
    assert AuditEvent.objects.count() == events


def _report_template() -> DocumentTemplate:
    template = DocumentTemplate.objects.filter(key="validation-report").first()
    assert template is not None
    assert template.author_role == "validator"
    return template


def test_validator_on_the_models_team_cannot_write_its_validation_report(
    credit_model: Any, draft_version: Any, validator: Any
) -> None:
    # given a validator who is on the model's team
    credit_model.developers.add(validator)
    client = client_for(validator)
    events = AuditEvent.objects.count()
    # when they start its validation report
    response = client.post(
        f"{V}/documents", {"template": "validation-report"}, format="json"
    )
    # then 403 for lack of independence, and nothing is written
    assert response.status_code == 403
    assert response.json() == {
        "detail": (
            "A validator must be independent of the model: you are on its team "
            "(SR 11-7 §V)."
        ),
        "code": "permission_denied",
        "errors": {},
    }
    assert Document.objects.count() == 0
    assert AuditEvent.objects.count() == events


def test_validator_who_owns_the_model_is_not_independent(
    credit_model: Any, draft_version: Any, validator: Any
) -> None:
    credit_model.owner = validator
    credit_model.save(update_fields=["owner"])
    client = client_for(validator)
    events = AuditEvent.objects.count()
    response = client.post(
        f"{V}/documents", {"template": "validation-report"}, format="json"
    )
    assert response.status_code == 403
    assert Document.objects.count() == 0
    assert AuditEvent.objects.count() == events


def test_independent_validator_writes_the_validation_report(
    draft_version: Any, validator: Any
) -> None:
    # given an independent validator
    client = client_for(validator)
    template = _report_template()
    section = template.definition["sections"][0]
    values = _fill(section, CREDIT_CONTEXT)
    # when they start the report with a first section
    response = client.post(
        f"{V}/documents",
        {"template": "validation-report", "content": {section["key"]: values}},
        format="json",
    )
    # then it is stored, titled after the template, and audited
    assert response.status_code == 201
    body = response.json()
    document = Document.objects.get()
    assert body["id"] == document.pk
    assert body["title"] == f"{template.name}: Credit risk PD 1.0.0"
    assert body["template"] == {
        "key": "validation-report",
        "version": template.version,
        "kind": "validation",
        "author_role": "validator",
    }
    assert body["created_by"] == "vera"
    assert body["content"] == {section["key"]: values}
    assert body["url"] == f"{V}/documents/{document.pk}"
    event = AuditEvent.objects.get(event_type="registry.document.created")
    assert event.actor == validator
    assert event.payload == {
        "template": "validation-report",
        "template_version": template.version,
    }


def test_developer_cannot_write_the_validation_report(
    draft_version: Any, developer: Any
) -> None:
    client = client_for(developer)
    events = AuditEvent.objects.count()
    response = client.post(
        f"{V}/documents", {"template": "validation-report"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "Only a validator may write a validation report."
    )
    assert Document.objects.count() == 0
    assert AuditEvent.objects.count() == events


def test_validator_joining_the_team_can_no_longer_edit_the_report(
    credit_model: Any, draft_version: Any, validator: Any
) -> None:
    # given a report written by an independent validator who then joins the team
    report = registry_services.document_create(
        actor=validator, version=draft_version, template=_report_template()
    )
    credit_model.developers.add(validator)
    section = report.template.definition["sections"][0]
    client = client_for(validator)
    before = Document.objects.filter(pk=report.pk).values().get()
    events = AuditEvent.objects.count()
    # when they edit a section
    response = client.put(
        f"{V}/documents/{report.pk}/sections/{section['key']}",
        {"values": _fill(section, CREDIT_CONTEXT)},
        format="json",
    )
    # then 403 and the report is unchanged
    assert response.status_code == 403
    assert Document.objects.filter(pk=report.pk).values().get() == before
    assert AuditEvent.objects.count() == events


def test_one_document_per_template_key_per_version(
    draft_version: Any, developer: Any, validator: Any
) -> None:
    # given a validation report of 1.0.0
    client = client_for(validator)
    template = _report_template()
    assert (
        client.post(
            f"{V}/documents", {"template": "validation-report"}, format="json"
        ).status_code
        == 201
    )
    events = AuditEvent.objects.count()
    # when a second one is started
    response = client.post(
        f"{V}/documents",
        {"template": "validation-report", "title": "Again"},
        format="json",
    )
    # then 409 duplicate and still one document
    assert response.status_code == 409
    assert response.json() == {
        "detail": f"credit-risk 1.0.0 already has a {template.name} document.",
        "code": "duplicate",
        "errors": {},
    }
    assert Document.objects.count() == 1
    assert AuditEvent.objects.count() == events
    # and another version of the model may have its own
    registry_services.model_version_register(
        actor=developer, model=draft_version.model, data=version_payload("1.1.0")
    )
    other = client.post(
        "/api/v1/models/credit-risk/versions/1.1.0/documents",
        {"template": "validation-report"},
        format="json",
    )
    assert other.status_code == 201
    assert Document.objects.count() == 2


def test_model_card_template_cannot_start_a_document(
    draft_version: Any, developer: Any
) -> None:
    client = client_for(developer)
    events = AuditEvent.objects.count()
    response = client.post(f"{V}/documents", {"template": "model-card"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "template": ["The model card is created with the version."]
    }
    assert Document.objects.count() == 0
    assert AuditEvent.objects.count() == events


def test_unknown_template_is_a_400(draft_version: Any, developer: Any) -> None:
    client = client_for(developer)
    events = AuditEvent.objects.count()
    response = client.post(
        f"{V}/documents", {"template": "no-such-template"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "template": ["No active template with this key and version."]
    }
    assert Document.objects.count() == 0
    assert AuditEvent.objects.count() == events
