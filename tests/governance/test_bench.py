"""``manage.py bench gate``: JSON shape and no data left behind (no timing asserts)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audits.models import AuditEvent
from governance.models import GateDecision, ReleaseRequest
from registry.models import Model


def test_bench_gate_prints_latency_json_and_rolls_back(db: Any) -> None:
    # given
    events = AuditEvent.objects.count()
    out = io.StringIO()
    # when
    call_command("bench", "gate", "--decisions", "50", stdout=out)
    # then
    result = json.loads(out.getvalue())
    assert set(result) == {
        "decisions",
        "p50_ms",
        "p99_ms",
        "max_ms",
        "pure_p50_ms",
        "ratio_p50_to_pure",
        "budget_p99_ms",
        "within_budget",
        "all_allowed",
        "database",
    }
    assert result["decisions"] == 50
    assert result["budget_p99_ms"] == 20.0
    assert result["all_allowed"] is True
    assert result["database"] == "postgresql"
    assert isinstance(result["within_budget"], bool)
    # and the benchmark's rows are gone
    assert GateDecision.objects.count() == 0
    assert ReleaseRequest.objects.count() == 0
    assert Model.objects.count() == 0
    assert AuditEvent.objects.count() == events


def test_bench_refuses_an_unknown_target(db: Any) -> None:
    with pytest.raises(CommandError):
        call_command("bench", "nothing")
