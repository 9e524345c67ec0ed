"""Helpers of the evidence-mark tests: alter a row as the superuser (triggers
disabled), drop its record leaf, sequence the ledger, and read one row's mark in
a page."""

from __future__ import annotations

import re
from typing import Any

from django.db import connection

from audits.ledger import services as ledger_services


def tamper(table: str, assignments: str, pk: Any, params: tuple[Any, ...] = ()) -> None:
    """``UPDATE table SET assignments WHERE id = pk`` as the superuser, with the
    table's triggers (append-only guards) disabled for the statement."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER ALL')
        cursor.execute(
            f'UPDATE "{table}" SET {assignments} WHERE "{_pk_column(table)}" = %s',
            [*params, pk],
        )
        assert cursor.rowcount == 1
        cursor.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER ALL')


def _pk_column(table: str) -> str:
    return "history_id" if "_historical" in table else "id"


def drop_commitments(table: str, pk: Any) -> int:
    """Delete the record-leaf index rows of one row (so no leaf commits to it)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute('ALTER TABLE "audits_recordcommitment" DISABLE TRIGGER ALL')
        cursor.execute(
            'DELETE FROM "audits_recordcommitment" WHERE "table" = %s '
            'AND "object_pk" = %s',
            [table, str(pk)],
        )
        deleted = cursor.rowcount
        cursor.execute('ALTER TABLE "audits_recordcommitment" ENABLE TRIGGER ALL')
    assert deleted >= 1
    return deleted


def sequence() -> None:
    """Sequence every queued leaf under a signed checkpoint (seqs are known)."""
    signer = ledger_services.ledger_signer()
    while ledger_services.ledger_sequence(signer=signer) is not None:
        pass


def element(html: str, element_id: str) -> str:
    """The HTML of the element with ``id``, up to its matching closing tag."""
    match = re.search(rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"', html)
    assert match is not None, f"no element {element_id}"
    tag = match.group(1)
    depth = 1
    for found in re.finditer(rf"<(/?){tag}\b[^>]*>", html[match.end() :]):
        depth += -1 if found.group(1) else 1
        if depth == 0:
            return html[match.start() : match.end() + found.start()]
    raise AssertionError(f"element {element_id} is not closed")


def marks(fragment: str) -> list[str]:
    """The data-integrity states in an HTML fragment, in order."""
    return re.findall(r'data-integrity="([a-z_]+)"', fragment)


def row_of(html: str, element_id: str) -> str:
    """The table row (``<tr>`` … ``</tr>``) that holds the element with ``id``."""
    match = re.search(rf'\bid="{re.escape(element_id)}"', html)
    assert match is not None, f"no element {element_id}"
    start = html.rfind("<tr", 0, match.start())
    end = html.find("</tr>", match.end())
    assert start != -1 and end != -1
    return html[start:end]
