"""A scheduled monitor runs and stores its report: real Redis, real worker and beat.

The beat process (django-celery-beat's DatabaseScheduler) reads the monitor's
PeriodicTask from PostgreSQL and sends ``audits.monitor_run`` through Redis at the
crontab's minute; a separate worker process runs it and stores the reports. Other
processes only see committed rows, so the data lives in a database of this module's
own (:func:`~tests.audits.ledger.test_faults.committed_database`), set up by a
script through the services and the ingest API, and read back with psycopg.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from audits.monitoring import config
from tests.audits.ledger.test_faults import (
    ROOT,
    CommittedDatabase,
    committed_database,
)

# Db 15 belongs to the other broker tests; this module flushes its own.
REDIS = "redis://127.0.0.1:6379/14"
CELERY = str(Path(sys.executable).parent / "celery")
KINDS = ["drift", "fairness", "performance"]
# A "* * * * *" crontab fires at the next minute boundary; allow for process start.
WAIT_SECONDS = 100

# Approves and deploys credit-risk 1.0.0 (the monitor and its beat entry come with
# the deployment), posts predictions through the ingest API with the seeded key,
# sequences them, and sets the monitor to run every minute over the last 24 hours.
SETUP_SCRIPT = r"""
import json
import sys
from datetime import timedelta

import django

django.setup()
from django.contrib.auth import get_user_model
from django.utils import timezone

from audits.monitoring import config
from audits.monitoring import services as monitoring_services
from audits.monitoring.models import Monitor
from governance.services import deployments
from registry import services as registry_services
from registry.models import ModelVersion
from tests.audits.ledger.test_ingest_api import bearer, post, prediction, sequence_all
from tests.audits.monitoring.test_monitoring_flow import batch
from tests.factories import UserFactory
from tests.governance.test_gate_api import approve

seed = json.loads(sys.stdin.read())
users = get_user_model().objects
developer = users.get(username="dana")
service = users.get(username="pipeline-bot")
validator = UserFactory(username="vera", role="validator")
risk_officer = UserFactory(username="rita", role="risk_officer")
version = registry_services.model_version_submit(
    actor=developer, version=ModelVersion.objects.get(pk=seed["version_id"])
)
approve(
    version=version,
    developer=developer,
    validator=validator,
    risk_officer=risk_officer,
    environments=["production"],
)
deployments.deployment_report(actor=service, version=version, environment="production")

hour = config.hour_floor(timezone.now())
records = (
    batch(hour - timedelta(hours=3), group="25+", n=40, approved=29)
    + batch(hour - timedelta(hours=2), group="<25", n=40, approved=23)
    # before the last 24 hours, and in the hour in progress: outside the window
    + batch(hour - timedelta(hours=26), group="25+", n=8, approved=6)
    + [prediction(protected_attributes={"age_group": "<25"}) for _ in range(5)]
)
response = post(bearer(seed["token"]), records)
assert response.status_code == 200, response.content
assert response.json()["accepted"] == len(records), response.content
sequence_all()

monitor = monitoring_services.monitor_update(
    actor=risk_officer,
    monitor=Monitor.objects.get(model_version=version, environment="production"),
    changes={"schedule": "* * * * *", "window": "last_24_hours"},
)
print(
    json.dumps(
        {
            "monitor_id": monitor.pk,
            "periodic_task_id": monitor.periodic_task_id,
            "predicted_at": [r["predicted_at"] for r in records],
            "groups": [r["protected_attributes"]["age_group"] for r in records],
        }
    )
)
"""


class CeleryProcess:
    """``celery -A governance <command>`` in a process group of its own, logging to
    a file (beat and the worker run in ``tmp``, so no schedule or pid file lands in
    the repository)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], tmp: Path):
        self.name = name
        self.log = tmp / f"{name}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [CELERY, "-A", "governance", *args],
                cwd=tmp,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(
                f"{self.name} exited with {self.proc.returncode}:\n{self.output()}"
            )

    def stop(self) -> None:
        """SIGTERM (beat then writes its entries' run counts), SIGKILL after 15 s."""
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]


@contextlib.contextmanager
def running(*processes: CeleryProcess) -> Iterator[None]:
    """Stop ``processes`` at the end, whatever happens; show their logs on failure."""
    try:
        yield
    except BaseException:
        for process in processes:
            print(f"\n--- {process.name} ---\n{process.output()}")
        raise
    finally:
        for process in processes:
            process.stop()


def reports(db: CommittedDatabase, monitor_id: int) -> list[dict[str, Any]]:
    columns = (
        "kind, status, trigger, window_start, window_end, predictions, metrics, "
        "error, created_at, finished_at"
    )
    rows = db.query(
        f"SELECT {columns} FROM audits_monitoringreport WHERE monitor_id = %s "
        "ORDER BY window_end, kind",
        [monitor_id],
    )
    names = [c.strip() for c in columns.split(",")]
    return [dict(zip(names, row, strict=True)) for row in rows]


def first_window_done(rows: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The reports of the first window fired, once every kind is done; raises on a
    failed report."""
    if failed := [r for r in rows if r["status"] == "failed"]:
        raise AssertionError(f"a report failed: {failed}")
    if not rows:
        return None
    first = [r for r in rows if r["window_end"] == rows[0]["window_end"]]
    if sorted(r["kind"] for r in first) == KINDS and all(
        r["status"] == "done" for r in first
    ):
        return first
    return None


@pytest.fixture
def monitored_db(tmp_path: Path) -> Iterator[tuple[CommittedDatabase, dict[str, Any]]]:
    with committed_database(tmp_path, "monitor") as db:
        seed = json.dumps({"token": db.token, "version_id": db.version_id})
        done = db.python(SETUP_SCRIPT, stdin=seed)
        yield db, json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.celery_broker
def test_scheduled_monitor_runs_on_beat_and_a_worker_and_stores_its_reports(
    monitored_db: tuple[CommittedDatabase, dict[str, Any]], tmp_path: Path
) -> None:
    # given a deployed version whose monitor runs every minute over the last 24
    # hours, 80 predictions in that window and 13 outside it (5 of them in the hour
    # in progress), an empty broker db, and beat (without its ledger-sequencing
    # entry) and a worker as separate processes
    db, setup = monitored_db
    broker = redis.Redis.from_url(REDIS)
    broker.flushdb()
    env = {
        **db.env,
        "CELERY_BROKER_URL": REDIS,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "MODELGOV_SEQUENCER_BEAT_SECONDS": "0",
        "PYTHONPATH": str(ROOT),
    }
    started = time.monotonic()
    worker = CeleryProcess(
        "worker",
        [
            "worker",
            "--pool=solo",
            "--hostname=monitor-test@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=INFO",
        ],
        env,
        tmp_path,
    )
    beat = CeleryProcess(
        "beat",
        [
            "beat",
            "--scheduler=django_celery_beat.schedulers:DatabaseScheduler",
            f"--schedule={tmp_path / 'celerybeat-schedule'}",
            f"--pidfile={tmp_path / 'celerybeat.pid'}",
            "--loglevel=INFO",
        ],
        env,
        tmp_path,
    )
    with running(beat, worker):
        # when beat fires the monitor's crontab and the worker runs it
        done = None
        while done is None:
            assert time.monotonic() - started < WAIT_SECONDS, "no report in time"
            beat.check_alive()
            worker.check_alive()
            time.sleep(0.5)
            done = first_window_done(reports(db, setup["monitor_id"]))
        print(f"\nreports done {time.monotonic() - started:.1f} s after the start")
        beat.stop()  # beat writes last_run_at and total_run_count as it stops
        (task,) = db.query(
            "SELECT task, args, enabled, total_run_count, last_run_at "
            "FROM django_celery_beat_periodictask WHERE id = %s",
            [setup["periodic_task_id"]],
        )

        # then beat sent the monitor's entry at least once
        name, args, enabled, runs, last_run_at = task
        assert (name, json.loads(args), enabled) == (
            "audits.monitor_run",
            [setup["monitor_id"]],
            True,
        )
        assert runs >= 1
        assert last_run_at is not None
        # and each kind has one scheduled report over the last 24 whole hours before
        # the run (monitor_run takes the time, then creates one report per kind),
        # counting exactly the predictions ingested in that window
        fired = min(r["created_at"] for r in done)
        start, end = config.window_bounds("last_24_hours", fired)
        in_window = [
            group
            for at, group in zip(setup["predicted_at"], setup["groups"], strict=True)
            if start <= datetime.fromisoformat(at) < end
        ]
        # 85 when the 5 latest predictions lie in a complete hour by the time it runs
        assert len(in_window) in (80, 85)
        assert [
            (r["kind"], r["status"], r["trigger"], r["window_start"], r["window_end"])
            for r in done
        ] == [(kind, "done", "schedule", start, end) for kind in KINDS]
        assert [r["predictions"] for r in done] == [len(in_window)] * 3
        assert all(r["error"] == "" and r["finished_at"] >= fired for r in done)
        metrics = {r["kind"]: r["metrics"] for r in done}
        assert set(metrics["fairness"]) == {
            "undecided",
            "attributes",
            "fairness",
            "approval_drift",
            "series",
            "baseline_approval_rate",
            "integrity",
        }
        assert set(metrics["drift"]) == {
            "features",
            "breaches",
            "watch",
            "settings",
            "integrity",
        }
        assert set(metrics["performance"]) == {
            "n",
            "positives",
            "auc",
            "gini",
            "ks",
            "calibration",
            "baseline",
            "changes",
            "status",
            "breaches",
            "integrity",
        }
        # and every input passed its integrity check
        assert {kind: m["integrity"] for kind, m in metrics.items()} == {
            kind: {"failed": 0, "by_check": {}, "prediction_ids": []}
            for kind in ("fairness", "drift", "performance")
        }
        # and the metrics were computed from those predictions' rollups
        current = metrics["fairness"]["approval_drift"]["current"]
        assert current["overall"]["n"] == len(in_window)
        assert {
            group: counts["n"]
            for group, counts in current["by_group"]["age_group"].items()
        } == dict(Counter(in_window))
        assert [(f["feature"], f["n"]) for f in metrics["drift"]["features"]] == [
            ("amount", len(in_window)),
            ("purpose", len(in_window)),
        ]
        # no outcomes have matured, so performance has nothing to measure yet
        assert (metrics["performance"]["n"], metrics["performance"]["status"]) == (
            0,
            "insufficient",
        )
