"""The shipped template catalog: YAML files in ``registry/templates_catalog/``.

Templates are versioned data. Syncing inserts each shipped (key, version) that the
database lacks and never rewrites an existing one: a changed shipped template must
carry a new version number, and a digest mismatch is reported, not applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from registry import digests, template_schema

CATALOG_DIR = Path(__file__).resolve().parent / "templates_catalog"


@dataclass(frozen=True)
class ShippedTemplate:
    path: Path
    definition: dict[str, Any]

    @property
    def sha256(self) -> str:
        return digests.content_digest(self.definition)


def load_catalog(directory: Path = CATALOG_DIR) -> list[ShippedTemplate]:
    """Read and validate every shipped template; raise on the first invalid one."""
    shipped = []
    for path in sorted(directory.glob("*.yaml")):
        definition = yaml.safe_load(path.read_text(encoding="utf-8"))
        try:
            template_schema.validate_definition(definition)
        except template_schema.SchemaError as exc:
            raise template_schema.SchemaError(
                {f"{path.name}:{k}": v for k, v in exc.errors.items()}
            ) from exc
        shipped.append(ShippedTemplate(path=path, definition=definition))
    return shipped
