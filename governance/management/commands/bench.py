"""``python manage.py bench <target>``: benchmarks that print JSON.

``gate`` creates its own data in a transaction of the configured database and rolls
it back at the end, so it never leaves rows behind. The ledger targets, ``ingest``
(predictions over the real HTTP API against a raw COPY), ``trail`` (a
prediction's trail among millions, and fsck) and ``report`` (a fairness plus a
drift report over millions of predictions, against fairlearn in pandas), commit:
other processes must see their rows. They run against a database of their own
(``--scratch``, or ``--database-url``, or a configured database without real
data; see :mod:`governance.bench.common`). Targets register in
``Command.targets``; add one by writing a ``bench_<name>`` method returning a
JSON-able dict, and its options in ``add_arguments``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.test.utils import override_settings
from django.utils import timezone

from governance import gate, services
from governance.bench import common
from governance.bench import evidence as evidence_bench
from governance.bench import ingest as ingest_bench
from governance.bench import report as report_bench
from governance.bench import trail as trail_bench
from governance.choices import RequestState, Role
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
    help = "Run a benchmark and print its result as JSON."
    targets = ("gate", "ingest", "trail", "report", "evidence")
    # Targets that commit, on a database of their own; the options passed on to the
    # child process that runs them there (--scratch, --database-url).
    ledger_targets = {
        "ingest": (
            "rows",
            "clients",
            "batch",
            "sequencer",
            "rollup",
            "warmup_batches",
            "workers",
            "threads",
        ),
        "trail": ("rows", "samples", "load_batch", "loaders", "via_sequencer"),
        "report": ("rows", "baseline_rows", "load_batch", "loaders"),
        "evidence": ("rows", "days", "pdf_samples", "load_batch", "loaders"),
    }
    default_rows = {
        "ingest": 1_000_000,
        "trail": 10_000_000,
        "report": 10_000_000,
        "evidence": 5_000,
    }

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", choices=self.targets, help="what to benchmark")
        parser.add_argument(
            "--decisions",
            type=int,
            default=1000,
            help="gate: number of decisions to time (default 1000)",
        )
        parser.add_argument(
            "--rows",
            type=int,
            help="ingest: predictions to post (default 1,000,000); trail: entries "
            "the ledger must hold, loaded if fewer (default 10,000,000); report: "
            "predictions the ledger must hold, loaded if fewer (default 10,000,000)",
        )
        parser.add_argument("--clients", type=int, default=4, help="ingest: clients")
        parser.add_argument(
            "--batch", type=int, default=1000, help="ingest: records per request"
        )
        parser.add_argument(
            "--sequencer",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="ingest: run ledger_sequencer meanwhile (default) or not",
        )
        parser.add_argument(
            "--rollup",
            action=argparse.BooleanOptionalAction,
            default=False,
            help="ingest: let the sequencer also count entries into the monitoring "
            "rollups when idle (default: no; their cost is measured by bench report)",
        )
        parser.add_argument(
            "--warmup-batches",
            type=int,
            default=8,
            help="ingest: untimed batches first (default 8)",
        )
        parser.add_argument(
            "--workers", type=int, default=2, help="ingest: gunicorn workers"
        )
        parser.add_argument(
            "--threads", type=int, default=4, help="ingest: threads per worker"
        )
        parser.add_argument(
            "--samples", type=int, default=1000, help="trail: trails to time"
        )
        parser.add_argument(
            "--load-batch",
            type=int,
            default=100_000,
            help="trail, report: entries per loaded and sequenced batch "
            "(default 100,000)",
        )
        parser.add_argument(
            "--loaders",
            type=int,
            default=2,
            help="trail, report: processes making leaves for the bulk load (default 2)",
        )
        parser.add_argument(
            "--baseline-rows",
            type=int,
            default=1_000_000,
            help="report: rows fairlearn runs on, extrapolated to --rows "
            "(default 1,000,000)",
        )
        parser.add_argument(
            "--days",
            type=int,
            default=14,
            help="evidence: days of predictions, one fairness and one drift report "
            "each, all in the pack (default 14)",
        )
        parser.add_argument(
            "--pdf-samples",
            type=int,
            default=5,
            help="evidence: trail PDFs to time after one warm-up (default 5)",
        )
        parser.add_argument(
            "--via-sequencer",
            action=argparse.BooleanOptionalAction,
            default=False,
            help="trail: load through the queue and the real sequencer (slower) "
            "instead of the direct path",
        )
        parser.add_argument(
            "--scratch",
            action="store_true",
            help="ingest, trail, report, evidence: create a database mg_bench_<pid>, run "
            "there, drop it",
        )
        parser.add_argument(
            "--keep", action="store_true", help="with --scratch: keep the database"
        )
        parser.add_argument(
            "--database-url",
            help="ingest, trail, report, evidence: run against this database (a child process)",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="ingest, trail, report, evidence: run even though the database holds real data",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["target"] in self.ledger_targets:
            committed = self._ledger(options["target"], options)
            self.stdout.write(json.dumps(committed, indent=2))
            return
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
        # A gatekeeper sees every model, so the gate judges (and does not conceal).
        user.groups.add(Group.objects.get(name=Role.GATEKEEPER))
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

    # --- the ledger targets ---------------------------------------------------------

    def _ledger(self, target: str, options: dict[str, Any]) -> dict[str, Any]:
        if options["rows"] is None:
            options["rows"] = self.default_rows[target]
        if options["rows"] < 1:
            raise CommandError("--rows must be at least 1")
        if options["scratch"] and options["database_url"]:
            raise CommandError("--scratch and --database-url exclude each other")
        if connection.vendor != "postgresql" and not options["database_url"]:
            raise CommandError(
                f"bench {target} needs PostgreSQL (or --database-url of one)."
            )
        if options["scratch"] or options["database_url"]:
            return common.run_elsewhere(
                target=target,
                args=self._forwarded(target, options),
                url=options["database_url"],
                scratch=options["scratch"],
                keep=options["keep"],
            )
        found = common.real_data()
        if found and not options["force"]:
            raise CommandError(
                f"{connection.settings_dict['NAME']} holds real data "
                f"({'; '.join(found)}): run with --scratch, or --database-url of a "
                "database for benchmarks, or --force"
            )
        name = str(connection.settings_dict["NAME"])
        _, derived = common.ledger_key_pem(name)
        with override_settings(**common.ledger_overrides(name)):
            result: dict[str, Any] = getattr(self, f"bench_{target}")(**options)
        result["ledger_key"] = "derived bench key" if derived else "configured"
        return result

    def _forwarded(self, target: str, options: dict[str, Any]) -> list[str]:
        args = ["--force"] if options["force"] else []
        for dest in self.ledger_targets[target]:
            value = options[dest]
            flag = "--" + dest.replace("_", "-")
            if isinstance(value, bool):
                args.append(flag if value else f"--no-{dest.replace('_', '-')}")
            else:
                args += [flag, str(value)]
        return args

    def _log(self, message: str) -> None:
        self.stderr.write(f"bench: {message}")

    def bench_ingest(
        self,
        *,
        rows: int,
        clients: int,
        batch: int,
        sequencer: bool,
        rollup: bool,
        warmup_batches: int,
        workers: int,
        threads: int,
        **_: Any,
    ) -> dict[str, Any]:
        """Predictions over HTTP (gunicorn, client processes) against a binary COPY
        of the same leaves, in the same run (governance.bench.ingest)."""
        if connection.in_atomic_block:
            raise CommandError(
                "bench ingest commits (the server must see its rows): run it with "
                "--scratch, not inside a transaction"
            )
        if clients < 1 or not 1 <= batch <= 1000 or warmup_batches < 0:
            raise CommandError("need --clients >= 1, 1 <= --batch <= 1000")
        plan = ingest_bench.Plan(
            rows=rows,
            clients=clients,
            batch=batch,
            sequencer=sequencer,
            rollup=rollup,
            warmup_batches=warmup_batches,
            workers=workers,
            threads=threads,
        )
        return ingest_bench.run(plan, log=self._log)

    def bench_trail(
        self,
        *,
        rows: int,
        samples: int,
        load_batch: int,
        loaders: int,
        via_sequencer: bool,
        **_: Any,
    ) -> dict[str, Any]:
        """A prediction's trail among ``rows`` entries, and fsck's rate
        (governance.bench.trail); loads the ledger up to ``rows`` first."""
        if samples < 1 or load_batch < 1 or loaders < 1:
            raise CommandError("--samples, --load-batch and --loaders must be >= 1")
        return trail_bench.run(
            rows=rows,
            samples=samples,
            load_batch=load_batch,
            loaders=loaders,
            via_sequencer=via_sequencer,
            log=self._log,
        )

    def bench_report(
        self,
        *,
        rows: int,
        baseline_rows: int,
        load_batch: int,
        loaders: int,
        **_: Any,
    ) -> dict[str, Any]:
        """A fairness plus a drift report over ``rows`` predictions against
        fairlearn on ``baseline_rows`` raw rows in pandas, in the same run
        (governance.bench.report); loads the ledger up to ``rows`` first."""
        if connection.in_atomic_block:
            raise CommandError(
                "bench report commits (its measuring processes must see its rows): "
                "run it with --scratch, not inside a transaction"
            )
        if baseline_rows < 1 or load_batch < 1 or loaders < 1:
            raise CommandError(
                "--baseline-rows, --load-batch and --loaders must be >= 1"
            )
        return report_bench.run(
            rows=rows,
            baseline_rows=baseline_rows,
            load_batch=load_batch,
            loaders=loaders,
            log=self._log,
        )

    def bench_evidence(
        self,
        *,
        rows: int,
        days: int,
        pdf_samples: int,
        load_batch: int,
        loaders: int,
        **_: Any,
    ) -> dict[str, Any]:
        """The build of a model-version evidence pack of ``days`` daily fairness
        and drift reports over ``rows`` predictions, and a trail PDF
        (governance.bench.evidence)."""
        if connection.in_atomic_block:
            raise CommandError(
                "bench evidence commits (its measuring processes must see its "
                "rows): run it with --scratch, not inside a transaction"
            )
        if days < 1 or pdf_samples < 1 or load_batch < 1 or loaders < 1:
            raise CommandError(
                "--days, --pdf-samples, --load-batch and --loaders must be >= 1"
            )
        return evidence_bench.run(
            rows=rows,
            days=days,
            pdf_samples=pdf_samples,
            load_batch=load_batch,
            loaders=loaders,
            log=self._log,
        )
