"""Helpers for workflow tests: complete documentation, a releasable version."""

from __future__ import annotations

from typing import Any

from registry import selectors as registry_selectors
from registry import services as registry_services
from registry.models import DocumentTemplate, ModelCard, ModelVersion


def complete_values(template: DocumentTemplate) -> dict[str, dict[str, Any]]:
    """A value for every field of ``template`` that counts as filled."""
    content: dict[str, dict[str, Any]] = {}
    for section in template.definition["sections"]:
        values: dict[str, Any] = {}
        for f in section["fields"]:
            kind = f["type"]
            values[f["key"]] = {
                "text": "Filled",
                "textarea": "Filled in full.",
                "url": "https://example.com/doc",
                "choice": (f.get("choices") or [""])[0],
                "multichoice": (f.get("choices") or [])[:1],
                "date": "2026-01-31",
                "number": 1,
                "boolean": True,
            }[kind]
        content[section["key"]] = values
    return content


def document_everything(
    *, version: ModelVersion, developer: Any, validator: Any
) -> None:
    """Complete the card and every shipped document of ``version``."""
    card = ModelCard.objects.select_related("template").get(model_version=version)
    registry_services.model_card_replace(
        actor=developer, card=card, content=complete_values(card.template)
    )
    for key in ("sr11-7-development", "sr26-2-materiality", "eu-ai-act-annex-iv"):
        template = registry_selectors.template_latest(key=key)
        assert template is not None
        registry_services.document_create(
            actor=developer,
            version=version,
            template=template,
            content=complete_values(template),
        )
    template = registry_selectors.template_latest(key="validation-report")
    assert template is not None
    registry_services.document_create(
        actor=validator,
        version=version,
        template=template,
        content=complete_values(template),
    )
