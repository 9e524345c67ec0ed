"""The application code uses no query feature that only PostgreSQL has, so the demo's
SQLite database serves the same pages (ADR 0020). The crawl test proves it page by
page on both databases; this is the fast guard for the construct that broke the
Monitoring page: ``.distinct(fields)``, PostgreSQL's ``DISTINCT ON``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPS = ("governance", "registry", "audits")
# Code that runs on PostgreSQL only, by design: benchmarks and operator commands
# that refuse other databases.
EXCLUDED = ("migrations", "bench")


def _sources() -> list[Path]:
    return sorted(
        path
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if not any(part in EXCLUDED for part in path.relative_to(ROOT).parts)
    )


def test_no_distinct_on_fields_in_application_code() -> None:
    # given every module of the three apps
    sources = _sources()
    assert len(sources) > 50
    # when their calls are read
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in sources
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "distinct"
        and (node.args or node.keywords)
    ]
    # then none is a .distinct(fields): use a window function (RowNumber) instead
    assert found == []
