"""``python manage.py bench <target>``: in-process benchmarks that print JSON.

Each target creates its own data in a transaction of the configured database and
rolls it back at the end, so a benchmark never leaves rows behind. Targets register
in ``Command.targets``; add one by writing a ``bench_<name>`` method returning a
JSON-able dict, and its options in ``add_arguments``.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from governance import gate, services
from governance.choices import RequestState
from governance.models import ReleaseRequest
from registry.choices import VersionStatus
from registry.models import Model, ModelVersion

# docs: the gate must answer within 20 ms at the 99th percentile.
GATE_BUDGET_P99_MS = 20.0


def percentile(sorted_ms: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in (0, 1])."""
    rank = max(1, math.ceil(q * len(sorted_ms)))
    return sorted_ms[rank - 1]


def _timed(n: int, call: Callable[[int], Any]) -> list[float]:
    times: list[float] = []
    for i in range(n):
        start = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - start) * 1000.0)
    return sorted(times)


class _Rollback(Exception):
    """Leaves the benchmark's transaction so that its data is rolled back."""


class Command(BaseCommand):
    help = "Run an in-process benchmark and print its result as JSON."
    targets = ("gate",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", choices=self.targets, help="what to benchmark")
        parser.add_argument(
            "--decisions",
            type=int,
            default=1000,
            help="gate: number of decisions to time (default 1000)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        bench = getattr(self, f"bench_{options['target']}")
        result: dict[str, Any] = {}
        try:
            with transaction.atomic():
                result = bench(**options)
                raise _Rollback
        except _Rollback:
            pass
        self.stdout.write(json.dumps(result, indent=2))

    def _gate_fixture(self) -> tuple[Any, ModelVersion, str]:
        """An approved version (the path the gate takes most often: allow)."""
        now = timezone.now()
        tag = uuid.uuid4().hex[:12]
        user = get_user_model().objects.create(username=f"bench-{tag}")
        model = Model.objects.create(
            name=f"Bench {tag}",
            slug=f"bench-{tag}",
            purpose="Benchmark of the promotion gate.",
            owner=user,
            risk_tier=2,
        )
        digest = uuid.uuid4().hex * 2
        version = ModelVersion.objects.create(
            model=model,
            version="1.0.0",
            status=VersionStatus.SUBMITTED,
            artifact_uri=f"s3://bench/{tag}/model.pkl",
            artifact_sha256=digest,
            content_digest=digest[::-1],
            created_by=user,
            submitted_by=user,
            submitted_at=now,
        )
        environment = settings.MODELGOV_ENVIRONMENTS[-1]
        ReleaseRequest.objects.create(
            model_version=version,
            policy=services.policy_for(version),
            environments=[environment],
            state=RequestState.APPROVED,
            requested_by=user,
            submitted_at=now,
            decided_at=now,
            approved_at=now,
            expires_at=now + timedelta(days=365),
            approved_artifact_sha256=version.artifact_sha256,
            approved_content_digest=version.content_digest,
        )
        return user, version, environment

    def bench_gate(self, *, decisions: int, **_: Any) -> dict[str, Any]:
        """Server-side latency of ``gate_check`` (facts, decision, record, audit)
        against the pure ``gate.decide`` on the same facts, in the same run."""
        if decisions < 1:
            raise CommandError("--decisions must be at least 1")
        user, version, environment = self._gate_fixture()
        slug = version.model.slug
        outcomes: list[bool] = []

        def check(i: int) -> None:
            result = services.gate_check(
                actor=user,
                model=slug,
                version=version.version,
                environment=environment,
                correlation_id=f"bench-{i}",
            )
            outcomes.append(result.decision.allowed)

        served = _timed(decisions, check)
        facts = services.gate_facts(
            version=version, environment=environment, now=timezone.now()
        )
        pure = _timed(decisions, lambda _i: gate.decide(facts))
        p50, p99 = percentile(served, 0.50), percentile(served, 0.99)
        pure_p50 = percentile(pure, 0.50)
        return {
            "decisions": decisions,
            "p50_ms": round(p50, 3),
            "p99_ms": round(p99, 3),
            "max_ms": round(served[-1], 3),
            "pure_p50_ms": round(pure_p50, 4),
            "ratio_p50_to_pure": round(p50 / pure_p50, 1) if pure_p50 > 0 else None,
            "budget_p99_ms": GATE_BUDGET_P99_MS,
            "within_budget": p99 <= GATE_BUDGET_P99_MS,
            "all_allowed": all(outcomes),
            "database": connection.vendor,
        }
