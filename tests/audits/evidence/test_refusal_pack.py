"""Refused actions in the period evidence pack (audits.evidence.refusals): the
refusals on the model, its versions and the tokens bound to it, and the failed
sign-ins and lockouts of its people, in the PDF and in ``refusals.json``; other
models' and other people's refusals are left out, and the pack stays the same
bytes whatever is refused after its as-of time."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from audits.evidence import collect, pdfa
from audits.models import RefusalKind
from audits.services import actor_display_name
from tests.audits.evidence.test_pack_format import page_texts
from tests.audits.evidence.test_version_pack import pdf_of
from tests.audits.refusal_fixtures import Refusals, refusals, refuse  # noqa: F401
from tests.factories import ModelFactory

pytestmark = pytest.mark.usefixtures("ledger_key")

ON_MODEL = [
    "signature_password",
    "separation_of_duties",
    "permission",
    "token_scope",
    "token_misuse",
]
OF_PEOPLE = ["login_failed", "locked_out"]


def _source(content: collect.PackContent) -> Any:
    found = next(s for s in content.sources if s.name == "refusals.json")
    return json.loads(found.content)


def _section_words(pdf: bytes, tmp_path: Path) -> str:
    """The words of the pack's "Refused actions" section, in reading order (raw
    mode keeps a wrapped table cell's lines together)."""
    path = tmp_path / "refusals.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-raw", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    section = text.split("Attempts refused in the period", 1)[1]
    return " ".join(section.split("Ledger integrity statement", 1)[0].split())


def _not_concerned(outsider: Any) -> None:
    """Refusals the pack must leave out: another model, another person."""
    other = ModelFactory(slug="fraud", name="Fraud score", developers=[outsider])
    refuse(
        ip_address="192.0.2.99",
        actor=outsider,
        action="registry.model.change",
        obj=other,
        reason="Your role may not change models.",
    )
    refuse(
        ip_address="192.0.2.98",
        actor=None,
        action="auth.login",
        reason="Wrong user name or password.",
        kind=RefusalKind.LOGIN_FAILED,
        username="zed",
    )


def test_period_pack_shows_each_kind_of_refusal_in_pdf_and_source(
    refusals: Refusals,  # noqa: F811
    submitted_version: Any,
    outsider: Any,
    service: Any,
    tmp_path: Path,
) -> None:
    # given the seven refusals, and two that do not concern the model
    _not_concerned(outsider)
    start = min(r.occurred_at for r in refusals.by_kind.values()) - timedelta(hours=1)
    as_of = timezone.now()
    # when the period pack of the model is built
    content = collect.period_pack_content(
        model=submitted_version.model,
        period_start=start,
        period_end=as_of + timedelta(hours=1),
        as_of=as_of,
    )
    # then the source lists the model's refusals and its people's sign-ins
    data = _source(content)
    assert [r["kind"] for r in data["on_model"]] == ON_MODEL
    assert [r["kind"] for r in data["of_people"]] == OF_PEOPLE
    assert data["accounts"] == ["dana", "pipeline-bot"]
    misuse = refusals.by_kind[RefusalKind.TOKEN_MISUSE]
    assert data["on_model"][-1] == {
        "id": misuse.pk,
        "occurred_at": collect._iso(misuse.occurred_at),
        "kind": "token_misuse",
        "kind_label": "Token misuse",
        "action": "governance.token.revoke",
        "who": actor_display_name(service),
        "username": "pipeline-bot",
        "object": {"type": "governance.apitoken", "id": str(refusals.ingest_key.pk)},
        "reason": "A token may not revoke tokens.",
        "ip_address": "192.0.2.7",
        "method": "DELETE",
        "path": f"/api/v1/tokens/{refusals.ingest_key.pk}",
        "token_id": refusals.ingest_key.pk,
        "request_id": "",
        "seq": None,  # not in a checkpoint by the as-of time
        # matches its ledger leaf (queued, so no seq is named)
        "integrity": {"state": "verified", "seq": None, "label": "verified"},
    }
    # and the PDF's section names each kind, who, the address and the reason
    pdf = pdf_of(content)
    assert pdfa.pdfa3b_problems(pdf) == []
    words = _section_words(pdf, tmp_path)
    for refused in refusals.by_kind.values():
        label = str(RefusalKind(refused.kind).label)
        assert label in words, label
        assert refused.reason in words, refused.reason
        assert str(refused.ip_address) in words
    assert "192.0.2.99" not in words and "zed" not in words
    everything = " ".join(" ".join(page_texts(pdf, tmp_path)).split())
    assert "Refused actions 5 on the model, 2 failed sign-ins or lockouts" in everything


def test_refusals_after_the_as_of_time_leave_the_pack_unchanged(
    refusals: Refusals,  # noqa: F811
    submitted_version: Any,
    developer: Any,
) -> None:
    # given a pack as of now
    start = timezone.now() - timedelta(days=1)
    as_of = timezone.now()

    def build() -> collect.PackContent:
        return collect.period_pack_content(
            model=submitted_version.model,
            period_start=start,
            period_end=as_of + timedelta(days=1),
            as_of=as_of,
        )

    first = build()
    # when the developer fails to sign in, and is refused on the version, later
    refuse(
        ip_address="203.0.113.50",
        actor=None,
        action="auth.login",
        reason="Wrong user name or password.",
        kind=RefusalKind.LOGIN_FAILED,
        username=developer.username,
    )
    refuse(
        ip_address="203.0.113.51",
        actor=developer,
        action="governance.request.approve",
        obj=submitted_version,
        reason="You may not approve your own model.",
        kind=RefusalKind.SEPARATION_OF_DUTIES,
    )
    # then the same pack, byte for byte
    again = build()
    assert again.manifest == first.manifest
    assert pdf_of(again) == pdf_of(first)
    assert len(_source(again)["on_model"]) == 5
