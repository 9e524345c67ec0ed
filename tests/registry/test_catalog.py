"""The shipped template catalog: every YAML validates and scores as expected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from registry import catalog, digests, template_schema
from registry.models import DocumentTemplate

SHIPPED = sorted(catalog.CATALOG_DIR.glob("*.yaml"))
EXPECTED = {
    "model-card": ("model_card", "model_developer"),
    "sr11-7-development": ("development", "model_developer"),
    "validation-report": ("validation", "validator"),
    "sr26-2-materiality": ("materiality", "model_developer"),
    "eu-ai-act-annex-iv": ("annex_iv", "model_developer"),
}
SAMPLE_BY_TYPE: dict[str, Any] = {
    "text": "A single line",
    "textarea": "First line\nSecond line",
    "date": "2026-04-17",
    "number": 12,
    "boolean": True,
    "url": "https://example.com/evidence",
}


def by_key(key: str) -> dict[str, Any]:
    return next(
        s.definition for s in catalog.load_catalog() if s.definition["key"] == key
    )


def sample_value(fdef: dict[str, Any]) -> Any:
    if fdef["type"] == "choice":
        return fdef["choices"][0]
    if fdef["type"] == "multichoice":
        return fdef["choices"][:2]
    return SAMPLE_BY_TYPE[fdef["type"]]


def filled(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every field of ``definition`` answered, cleaned as the services clean it."""
    return {
        section["key"]: template_schema.clean_section_values(
            section, {f["key"]: sample_value(f) for f in section["fields"]}
        )
        for section in definition["sections"]
    }


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_yaml_is_a_valid_definition(path: Path) -> None:
    # given a shipped template file
    definition = yaml.safe_load(path.read_text(encoding="utf-8"))
    # when it is validated / then it passes, with version 1 and sources listed
    template_schema.validate_definition(definition)
    assert definition["version"] == 1
    assert definition["sources"]
    assert all(isinstance(s, str) and s for s in definition["sources"])


def test_catalog_ships_the_five_templates_with_unique_keys() -> None:
    # when the catalog is loaded
    shipped = catalog.load_catalog()
    keys = [s.definition["key"] for s in shipped]
    # then the five templates are there once each, with their kind and author role
    assert len(keys) == len(set(keys)) == 5
    assert {
        s.definition["key"]: (s.definition["kind"], s.definition["author_role"])
        for s in shipped
    } == EXPECTED


def test_validation_report_is_written_by_validators() -> None:
    assert by_key("validation-report")["author_role"] == "validator"


def test_development_template_has_the_eleven_sections_0_to_10() -> None:
    # given the SR 11-7 / SR 26-2 development template
    definition = by_key("sr11-7-development")
    # then its sections are numbered 0 to 10 in order, each with a citation
    titles = [s["title"] for s in definition["sections"]]
    assert len(titles) == 11
    assert [t.split(".", 1)[0] for t in titles] == [str(n) for n in range(11)]
    assert [s["key"] for s in definition["sections"]] == [
        "document_control",
        "executive_summary",
        "purpose_scope",
        "methodology",
        "data",
        "assumptions_limitations",
        "developmental_testing",
        "implementation",
        "use",
        "monitoring_plan",
        "governance",
    ]
    assert all(s["citation"].startswith("SR 11-7") for s in definition["sections"])
    assert definition["name"] == (
        "Model Development Documentation (SR 11-7 / SR 26-2 aligned)"
    )


def test_model_card_has_the_mitchell_sections_and_the_bank_section() -> None:
    definition = by_key("model-card")
    assert [s["key"] for s in definition["sections"]] == [
        "details",
        "intended_use",
        "factors",
        "metrics",
        "evaluation_data",
        "training_data",
        "quantitative_analyses",
        "ethical_considerations",
        "caveats_recommendations",
        "risk_and_regulatory",
    ]


def test_validation_report_offers_the_three_conclusions_and_an_attestation() -> None:
    sections = template_schema.section_map(by_key("validation-report"))
    summary = {f["key"]: f for f in sections["executive_summary"]["fields"]}
    control = {f["key"]: f for f in sections["control"]["fields"]}
    assert summary["overall_conclusion"]["choices"] == [
        "Approve",
        "Approve with conditions",
        "Reject / Redevelop",
    ]
    assert control["independence_attestation"]["type"] == "boolean"
    assert control["independence_attestation"]["required"] is True


def test_templates_call_low_air_a_screening_flag_never_a_violation() -> None:
    # given the raw text of every shipped template
    text = " ".join(p.read_text(encoding="utf-8") for p in SHIPPED).lower()
    # then the wording of the fairness guidance is the agreed one
    assert "screening flag" in text
    assert "ecoa violation" not in text


@pytest.mark.parametrize("key", sorted(EXPECTED))
@pytest.mark.parametrize(
    "context",
    [
        {"is_vendor": False, "eu_ai_act_high_risk": False},
        {"is_vendor": True, "eu_ai_act_high_risk": True},
    ],
    ids=["plain", "vendor-high-risk"],
)
def test_empty_document_scores_zero_and_full_document_scores_one(
    key: str, context: dict[str, bool]
) -> None:
    # given a template
    definition = by_key(key)
    # when an empty and a fully answered document are scored
    empty = template_schema.completeness(definition, {}, context)
    full = template_schema.completeness(definition, filled(definition), context)
    # then they score 0 and 1, and nothing is missing from the full one
    assert empty.required > 0
    assert (empty.filled, empty.ratio) == (0, 0.0)
    assert (full.filled, full.ratio, full.is_complete) == (full.required, 1.0, True)
    assert [s.missing for s in full.sections] == [[] for _ in full.sections]


@pytest.mark.parametrize(
    ("key", "vendor_fields"),
    [
        ("sr11-7-development", ["vendor_documentation", "contingency_plan"]),
        (
            "validation-report",
            [
                "vendor_evidence",
                "customisations",
                "own_data_outcomes",
                "contingency_plan",
            ],
        ),
    ],
)
def test_vendor_fields_count_only_for_vendor_models(
    key: str, vendor_fields: list[str]
) -> None:
    # given a template with fields required only for vendor models
    definition = by_key(key)
    conditional = [
        f["key"]
        for s in definition["sections"]
        for f in s["fields"]
        if f.get("required_if") == "is_vendor"
    ]
    # when an empty document is scored for an in-house and for a vendor model
    in_house = template_schema.completeness(definition, {}, {"is_vendor": False})
    vendor = template_schema.completeness(definition, {}, {"is_vendor": True})
    # then exactly the vendor fields are added to what is required
    assert conditional == vendor_fields
    assert vendor.required - in_house.required == len(vendor_fields)
    missing_in_house = {k for s in in_house.sections for k in s.missing}
    missing_vendor = {k for s in vendor.sections for k in s.missing}
    assert missing_vendor - missing_in_house == set(vendor_fields)


def test_vendor_field_left_empty_keeps_a_vendor_document_incomplete() -> None:
    # given a development document complete except for the vendor fields
    definition = by_key("sr11-7-development")
    values = filled(definition)
    del values["governance"]["vendor_documentation"]
    del values["governance"]["contingency_plan"]
    # when scored for an in-house and for a vendor model
    in_house = template_schema.completeness(definition, values, {"is_vendor": False})
    vendor = template_schema.completeness(definition, values, {"is_vendor": True})
    # then only the vendor model misses them
    assert in_house.is_complete is True
    governance = vendor.sections[-1]
    assert governance.missing == ["vendor_documentation", "contingency_plan"]
    assert vendor.filled == vendor.required - 2


def test_high_risk_flag_makes_the_fria_required_in_annex_iv() -> None:
    definition = by_key("eu-ai-act-annex-iv")
    low = template_schema.completeness(definition, {}, {"eu_ai_act_high_risk": False})
    high = template_schema.completeness(definition, {}, {"eu_ai_act_high_risk": True})
    assert high.required - low.required == 2
    assert high.sections[-1].missing[:2] == ["fria_reference", "fria_date"]


def test_migrate_stores_exactly_the_shipped_templates_as_builtin(db: Any) -> None:
    # given the test database, migrated (the catalog syncs after migrate)
    shipped = {
        (s.definition["key"], s.definition["version"]): s
        for s in catalog.load_catalog()
    }
    # when the stored templates are read
    stored = list(DocumentTemplate.objects.all())
    # then they are exactly the shipped (key, version) set, built in, same digest
    assert {(t.key, t.version) for t in stored} == set(shipped)
    assert all(t.is_builtin and t.is_active for t in stored)
    for template in stored:
        expected = shipped[(template.key, template.version)]
        assert template.definition_sha256 == expected.sha256
        assert template.definition_sha256 == digests.content_digest(template.definition)
        assert (template.kind, template.author_role) == EXPECTED[template.key]
