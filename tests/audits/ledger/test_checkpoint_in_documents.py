"""Documents that present ledger evidence carry the checkpoint they were verified
against (origin, size, root and the signed note), read back from the PDF: the
trail PDF and the model-version evidence pack."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from audits.ledger.models import LedgerCheckpoint
from tests.audits.evidence.test_pack_format import page_texts
from tests.audits.evidence.test_version_pack import (  # noqa: F401 (fixtures)
    Scenario,
    build,
    pdf_of,
    scenario,
    source,
)
from tests.audits.ledger.test_ingest_api import (  # noqa: F401 (fixtures)
    ingest_key,
    scorer,
)
from tests.audits.ledger.test_tamper import ENTRY, superuser_tampering
from tests.audits.test_trail import (  # noqa: F401 (fixtures)
    ORIGIN,
    Served,
    _pdf_text,
    deployed,
    served,
    trail_url,
)
from tests.conftest import client_for

pytestmark = pytest.mark.usefixtures("ledger_key")


def _compact(text: str) -> str:
    return "".join(text.split())


def test_the_trail_pdf_carries_its_checkpoint(
    served: Served,  # noqa: F811
    auditor: Any,
    tmp_path: Path,
) -> None:
    # given
    checkpoint = LedgerCheckpoint.objects.order_by("-size").first()
    assert checkpoint is not None
    # when
    response = client_for(auditor).get(trail_url(suffix="trail.pdf"))
    # then
    assert response.status_code == 200
    raw = _pdf_text(response.content, tmp_path)
    text, compact = " ".join(raw.split()), _compact(raw)
    assert f"Checkpoint origin {ORIGIN}" in text
    assert f"Checkpoint size {checkpoint.size}" in text
    assert bytes(checkpoint.root).hex() in compact
    # the signed note itself: body and signature line
    assert _compact(checkpoint.note) in compact
    assert base64.b64encode(bytes(checkpoint.root)).decode() in compact


def test_the_version_pack_carries_its_checkpoint(
    scenario: Scenario,  # noqa: F811
    tmp_path: Path,
) -> None:
    # given
    content = build(scenario)
    integrity = source(content, "ledger_integrity.json")
    row = LedgerCheckpoint.objects.get(size=integrity["checkpoint"]["size"])
    # when
    pages = page_texts(pdf_of(content), tmp_path)
    # then: the JSON source and the printed statement name the same checkpoint
    assert integrity["origin"] == ORIGIN
    assert (
        integrity["checkpoint"]["root"],
        integrity["checkpoint"]["note"],
    ) == (bytes(row.root).hex(), row.note)
    statement = "\n".join(p for p in pages if "Latest checkpoint" in p)
    text, compact = " ".join(statement.split()), _compact(statement)
    assert f"Origin {ORIGIN}" in text
    assert f"Latest checkpoint size {row.size}" in text
    assert bytes(row.root).hex() in compact
    assert _compact(row.note) in compact


def test_a_pack_built_on_a_truncated_ledger_names_the_first_missing_seq(
    scenario: Scenario,  # noqa: F811
    tmp_path: Path,
) -> None:
    # given: the last 5 entries under the latest checkpoint deleted
    size = LedgerCheckpoint.objects.order_by("-size").values_list("size", flat=True)[0]
    cut = size - 5
    with superuser_tampering(ENTRY) as cursor:
        cursor.execute(f'DELETE FROM "{ENTRY}" WHERE "seq" >= %s', [cut])
    # when
    content = build(scenario, as_of=timezone.now())
    pages = page_texts(pdf_of(content), tmp_path)
    # then: the pack is built, and its statement says what is missing
    integrity = source(content, "ledger_integrity.json")
    assert integrity["checkpoint"]["size"] == size
    fsck = integrity["fsck"]
    assert (fsck["ok"], fsck["first_divergent_seq"]) == (False, cut)
    assert fsck["missing"] == {
        "first_seq": cut,
        "last_seq": size - 1,
        "shown_by": [f"checkpoint {size}"],
    }
    statement = " ".join(
        "\n".join(p for p in pages if "Latest checkpoint" in p).split()
    )
    assert f"first divergent entry {cut}." in statement
