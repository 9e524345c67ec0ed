"""Find (and in drafts repair) values stored before the input boundary (ADR 0019).

Scans every JSON, text and character field of the registry, governance and audits
tables (history tables included) for what :mod:`governance.inputs` now refuses:
NUL, lone surrogates, integers beyond 64 bits, non-finite numbers, nesting deeper
than the documented limit. JSON is read as the database's text and parsed by the
boundary itself, so a value too deep for Python's parser is still reported.

``--repair`` rewrites the rows of draft versions (the version, its card, its
documents) with :func:`governance.inputs.repaired`, through
``registry.services.stored_input_repair`` (audited). Anything else (frozen versions,
insert-only audit and ledger rows, history) is reported, never rewritten.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandParser
from django.db import models
from django.db.models.functions import Cast

from governance import inputs
from governance.exceptions import Conflict
from registry import services as registry_services
from registry.models import Document, ModelCard, ModelVersion

APPS = ("registry", "governance", "audits")
REPAIRABLE = (ModelVersion, ModelCard, Document)
_NO_LIMIT = 1 << 62


def _prefixed(field: str, where: str) -> str:
    if where == "body":
        return field
    if where.startswith("body["):
        return field + where[4:]
    return f"{field}.{where}"


def _json_problems(field: str, raw: str | None) -> list[tuple[str, str]]:
    if raw is None:
        return []
    try:
        value = json.loads(raw)
    except (RecursionError, ValueError):
        # Too deep for Python's parser: the boundary's scan names where.
        try:
            inputs.loads(raw, max_bytes=_NO_LIMIT)
        except inputs.InvalidInput as exc:
            return [
                (_prefixed(field, where), message)
                for where, messages in exc.errors.items()
                for message in messages
            ]
        return []
    return inputs.problems(value, path=field)


def _scan(model: type[models.Model]) -> dict[Any, list[tuple[str, str]]]:
    """Every row of ``model`` with a refused value: pk -> [(path, message)]."""
    found: dict[Any, list[tuple[str, str]]] = defaultdict(list)
    manager = model._default_manager
    for field in model._meta.concrete_fields:
        if isinstance(field, models.JSONField):
            rows = manager.annotate(
                _raw=Cast(field.name, output_field=models.TextField())
            ).values_list("pk", "_raw")
            for pk, raw in rows.iterator(chunk_size=500):
                found[pk].extend(_json_problems(field.name, raw))
        elif isinstance(field, models.CharField | models.TextField):
            for pk, text in manager.values_list("pk", field.name).iterator(
                chunk_size=500
            ):
                if text:
                    found[pk].extend(inputs.problems(text, path=field.name))
    return {pk: problems for pk, problems in found.items() if problems}


class Command(BaseCommand):
    help = (
        "Report values stored before the input boundary (NUL, lone surrogates, "
        "integers beyond 64 bits, non-finite numbers, deep nesting); --repair "
        "rewrites those of draft versions, with an audit event."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--repair",
            action="store_true",
            help="Rewrite the values in drafts (versions, cards, documents).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        total = repaired = 0
        for label in APPS:
            for model in apps.get_app_config(label).get_models():
                for pk, problems in sorted(_scan(model).items(), key=str):
                    for where, message in problems:
                        total += 1
                        self.stdout.write(
                            f"{model._meta.label_lower} {pk} {where}: {message}"
                        )
                    if options["repair"] and model in REPAIRABLE:
                        repaired += self._repair(model, pk, problems)
                    elif options["repair"]:
                        self.stdout.write(
                            f"{model._meta.label_lower} {pk}: not repaired "
                            "(insert-only or history; reported only)"
                        )
        self.stdout.write(
            f"{total} value(s) not accepted by the input boundary"
            + (f"; {repaired} row(s) repaired." if options["repair"] else ".")
        )

    def _repair(
        self, model: type[models.Model], pk: Any, problems: list[tuple[str, str]]
    ) -> int:
        obj: Any = model._default_manager.get(pk=pk)
        names = {where.split(".", 1)[0].split("[", 1)[0] for where, _ in problems}
        fields = {name: inputs.repaired(getattr(obj, name)) for name in names}
        try:
            registry_services.stored_input_repair(
                actor=None,
                obj=obj,
                fields=fields,
                paths=sorted({where for where, _ in problems}),
            )
        except Conflict as exc:
            self.stdout.write(
                f"{model._meta.label_lower} {pk}: not repaired ({exc.message})"
            )
            return 0
        self.stdout.write(f"{model._meta.label_lower} {pk}: repaired")
        return 1
