"""``bench ingest``: predictions through the real HTTP API, against a raw COPY.

One run, in this order:

1. the bench deployment and a fresh ingest key (:func:`common.deployment_setup`);
2. gunicorn (gthread) serving the project on a free port of 127.0.0.1, and, unless
   ``--no-sequencer``, ``manage.py ledger_sequencer`` beside it as in production;
3. ``--clients`` client processes each generate their request bodies (JSON arrays
   of ``--batch`` records, uuid4 ids, ``predicted_at`` = now), send their share of
   the warm-up batches, wait for each other, then post their bodies over one
   keep-alive connection (http.client: the least client CPU on a 2-core machine
   where the clients compete with the server). A 503 is counted and retried after
   its Retry-After; any other failure is an error;
4. after the last acknowledged batch, the time until the queue is drained;
5. the baseline: the same number of leaves as the API recorded (the same bytes,
   hashes and ids, read back from the ledger) COPYed in binary into a scratch table
   of the queue's shape, one transaction per ``--batch`` rows, one connection.
"""

from __future__ import annotations

import http.client
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
from django.conf import settings
from django.db import connection, connections, transaction

from audits.ledger import records
from audits.ledger.models import EntryType
from governance.bench import common

PATH = "/api/v1/predictions"
# ARCHITECTURE.md section 7.
BUDGET_ROWS_PER_S = 20_000
BUDGET_RATIO = 0.4
BASELINE_TABLE = "mg_bench_copy_baseline"
MAX_ATTEMPTS = 20


@dataclass(frozen=True)
class Plan:
    rows: int
    clients: int
    batch: int
    sequencer: bool
    warmup_batches: int
    workers: int
    threads: int
    rollup: bool = False


def batch_sizes(rows: int, batch: int) -> list[int]:
    """``rows`` split into batches of ``batch`` (the last one may be smaller)."""
    sizes = [batch] * (rows // batch)
    if rows % batch:
        sizes.append(rows % batch)
    return sizes


def deal(sizes: list[int], clients: int) -> list[list[int]]:
    """Batches dealt round-robin to the clients."""
    return [sizes[i::clients] for i in range(clients)]


# --- clients ------------------------------------------------------------------------


@dataclass
class ClientStats:
    accepted: int = 0
    duplicates: int = 0
    errors: int = 0
    overloaded: int = 0
    backoff_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0


def _post(
    conn: http.client.HTTPConnection,
    body: bytes,
    headers: dict[str, str],
    stats: ClientStats,
) -> None:
    for _ in range(MAX_ATTEMPTS):
        started = time.monotonic()
        try:
            conn.request("POST", PATH, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            stats.errors += 1
            if len(stats.error_samples) < 5:
                stats.error_samples.append(repr(exc))
            conn.close()  # reconnects on the next request; a retry is idempotent
            continue
        elapsed_ms = (time.monotonic() - started) * 1000.0
        if response.status == 200:
            receipt = orjson.loads(data)
            stats.accepted += receipt["accepted"]
            stats.duplicates += receipt["duplicates"]
            stats.latencies_ms.append(elapsed_ms)
            return
        if response.status == 503:
            stats.overloaded += 1
            delay = float(response.getheader("Retry-After") or "1")
            stats.backoff_s += delay
            time.sleep(delay)
            continue
        stats.errors += 1
        if len(stats.error_samples) < 5:
            stats.error_samples.append(f"{response.status}: {data[:300]!r}")
        return
    stats.errors += 1


def _bodies(
    rng: random.Random, sizes: list[int], slug: str, version: str
) -> list[bytes]:
    out = []
    for size in sizes:
        at = records.iso(datetime.now(UTC))
        out.append(
            orjson.dumps(
                [
                    common.sample_record(
                        rng, slug=slug, version=version, predicted_at=at
                    )
                    for _ in range(size)
                ]
            )
        )
    return out


def _client(
    sizes: list[int],
    warmup: list[int],
    port: int,
    token: str,
    slug: str,
    version: str,
    barrier: Any,
    results: Any,
) -> None:
    stats = ClientStats()
    try:
        rng = random.Random(os.urandom(16))
        warm = _bodies(rng, warmup, slug, version)
        bodies = _bodies(rng, sizes, slug, version)
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
        }
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        for body in warm:
            _post(conn, body, headers, ClientStats())
        barrier.wait(timeout=900)
        stats.started = time.monotonic()
        for body in bodies:
            _post(conn, body, headers, stats)
        stats.finished = time.monotonic()
        conn.close()
    except Exception as exc:  # reported, never hangs the parent
        stats.errors += 1
        stats.error_samples.append(f"client crashed: {exc!r}")
        try:
            barrier.abort()
        except Exception:
            pass
    results.put(stats)


# --- server and sequencer -----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_listening(port: int, process: subprocess.Popen[Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", PATH)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer in time")


def _stop(process: subprocess.Popen[Any] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- the database, from this process -----------------------------------------------


def _scalar(query: str, params: list[Any] | None = None) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(query, params or [])
        return cursor.fetchone()[0]


def _wal_lsn() -> int:
    return int(_scalar("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))


class _LagSampler(threading.Thread):
    """Samples the queue depth and the age of its oldest row, on its own connection."""

    def __init__(self, conninfo: str, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self._conninfo = conninfo
        self._interval = interval
        self._stop_event = threading.Event()
        self.max_depth = 0
        self.max_age_s = 0.0

    def run(self) -> None:
        with psycopg.connect(self._conninfo, autocommit=True) as conn:
            while not self._stop_event.is_set():
                row = conn.execute(
                    "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM "
                    "clock_timestamp() - min(received_at)), 0) FROM audits_ledgerqueue"
                ).fetchone()
                assert row is not None
                self.max_depth = max(self.max_depth, int(row[0]))
                self.max_age_s = max(self.max_age_s, float(row[1]))
                self._stop_event.wait(self._interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)


def conninfo() -> str:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    params.pop("options", None)
    return psycopg.conninfo.make_conninfo(
        "", **{k: v for k, v in params.items() if isinstance(v, str | int) and v != ""}
    )


def _wait_drained(timeout: float) -> float | None:
    """Seconds until the queue is empty, or None after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if not _scalar("SELECT EXISTS (SELECT 1 FROM audits_ledgerqueue)"):
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def _lag(first_seq: int) -> dict[str, float | None]:
    """Received-to-sequenced time of the predictions sequenced in this run."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY d), "
            "percentile_disc(0.99) WITHIN GROUP (ORDER BY d), max(d) FROM ("
            "SELECT EXTRACT(EPOCH FROM sequenced_at - received_at) * 1000 AS d "
            "FROM audits_ledgerentry WHERE seq >= %s AND entry_type = %s) t",
            [first_seq, EntryType.PREDICTION],
        )
        p50, p99, top = cursor.fetchone()
    return {
        "sequencing_lag_p50_ms": None if p50 is None else round(float(p50), 1),
        "sequencing_lag_p99_ms": None if p99 is None else round(float(p99), 1),
        "sequencing_lag_max_ms": None if top is None else round(float(top), 1),
    }


def copy_baseline(*, rows: int, batch: int, first_seq: int) -> dict[str, Any]:
    """Binary COPY of ``rows`` leaves the API recorded (bytes, hashes, ids) into a
    fresh table of the queue's shape, one transaction per ``batch`` rows."""
    connection.ensure_connection()
    # A server-side-binding cursor: Django's client-side ones have no binary results.
    with psycopg.Cursor(connection.connection) as raw:
        raw.execute(
            "SELECT entry_id, entry_type, leaf, leaf_hash, received_at FROM ("
            "SELECT entry_id, entry_type, leaf, leaf_hash, received_at, seq AS o "
            "FROM audits_ledgerentry WHERE seq >= %s AND entry_type = %s "
            "UNION ALL SELECT entry_id, entry_type, leaf, leaf_hash, received_at, "
            "queue_id + (1::bigint << 62) FROM audits_ledgerqueue "
            "WHERE entry_type = %s) t ORDER BY o LIMIT %s",
            [first_seq, EntryType.PREDICTION, EntryType.PREDICTION, rows],
            binary=True,
        )
        leaves = raw.fetchall()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {BASELINE_TABLE}")
        cursor.execute(
            f"CREATE TABLE {BASELINE_TABLE} ("
            "queue_id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
            "entry_id uuid NOT NULL, entry_type smallint NOT NULL, "
            "leaf bytea NOT NULL, leaf_hash bytea NOT NULL, "
            "received_at timestamptz NOT NULL)"
        )
    leaf_bytes = sum(len(row[2]) for row in leaves)
    wal_before = _wal_lsn()
    started = time.perf_counter()
    for start in range(0, len(leaves), batch):
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.cursor.copy(
                f"COPY {BASELINE_TABLE} (entry_id, entry_type, leaf, leaf_hash, "
                "received_at) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["uuid", "int2", "bytea", "bytea", "timestamptz"])
                for row in leaves[start : start + batch]:
                    copy.write_row(row)
    elapsed = time.perf_counter() - started
    wal = _wal_lsn() - wal_before
    copied = int(_scalar(f"SELECT count(*) FROM {BASELINE_TABLE}"))
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {BASELINE_TABLE}")
    return {
        "copy_rows": copied,
        "copy_seconds": round(elapsed, 3),
        "copy_rows_per_s": round(copied / elapsed) if elapsed > 0 else None,
        "copy_wal_bytes_per_row": round(wal / copied) if copied else None,
        "leaf_bytes_avg": round(leaf_bytes / len(leaves)) if leaves else None,
    }


# --- the run ------------------------------------------------------------------------


def _counts(first_seq: int, binding: str) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM audits_ledgerkey WHERE binding = %s "
            "AND entry_type = %s), "
            "(SELECT count(*) FROM audits_ledgerentry WHERE seq >= %s "
            "AND entry_type = %s), "
            "(SELECT count(*) FROM audits_ledgerqueue WHERE entry_type = %s), "
            "(SELECT size FROM audits_ledgerhead WHERE id = 1)",
            [
                binding,
                EntryType.PREDICTION,
                first_seq,
                EntryType.PREDICTION,
                EntryType.PREDICTION,
            ],
        )
        keys, entries, queued, head = cursor.fetchone()
    return {"keys": keys, "entries": entries, "queued": queued, "head": head}


def run(plan: Plan, *, log: Callable[[str], None]) -> dict[str, Any]:
    """Run the ingest benchmark on the configured database (which it commits to)."""
    if connection.in_atomic_block:
        raise RuntimeError("bench ingest commits: it cannot run inside a transaction")
    load_average = os.getloadavg()  # other work on the machine skews every figure
    pem = str(settings.MODELGOV_LEDGER_KEY)  # see common.ledger_overrides
    deployment = common.deployment_setup()
    binding = deployment.binding.label
    first_seq = int(_scalar("SELECT size FROM audits_ledgerhead WHERE id = 1"))
    before = _counts(first_seq, binding)
    url = common.url_of(connection.settings_dict)
    info = conninfo()
    port = free_port()
    sizes = batch_sizes(plan.rows, plan.batch)
    shares = deal(sizes, plan.clients)
    warmup = deal([plan.batch] * plan.warmup_batches, plan.clients)
    env = common.child_environment(
        url,
        {
            "MODELGOV_LEDGER_KEY": pem,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DATABASE_CONN_MAX_AGE": "600",
            "DJANGO_LOG_LEVEL": "WARNING",
        },
    )
    if not plan.sequencer:
        # Measures ingest alone: nothing drains the queue, so lift its limit.
        env["MODELGOV_INGEST_MAX_OUTSTANDING"] = str(
            plan.rows + plan.warmup_batches * plan.batch + 1_000_000
        )
    connections.close_all()  # the client processes are forked
    server = sequencer = None
    sampler: _LagSampler | None = None
    with tempfile.TemporaryDirectory(prefix="mg-bench-ingest-") as tmp:
        logs = Path(tmp)
        try:
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "governance.wsgi:application",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--worker-class",
                    "gthread",
                    "--workers",
                    str(plan.workers),
                    "--threads",
                    str(plan.threads),
                    "--timeout",
                    "300",
                    "--keep-alive",
                    "300",
                    "--error-logfile",
                    str(logs / "gunicorn.log"),
                ],
                env=env,
                cwd=settings.BASE_DIR,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if plan.sequencer:
                sequencer = subprocess.Popen(
                    [
                        *common.manage_py(),
                        "ledger_sequencer",
                        "--interval",
                        "0.25",
                        *([] if plan.rollup else ["--no-rollup"]),
                    ],
                    env=env,
                    cwd=settings.BASE_DIR,
                    stdout=(logs / "sequencer.out").open("w"),
                    stderr=(logs / "sequencer.err").open("w"),
                )
            _wait_listening(port, server, timeout=120)
            log(
                f"gunicorn on 127.0.0.1:{port} ({plan.workers}x{plan.threads} "
                f"gthread); {plan.rows} rows in {len(sizes)} batches, "
                f"{plan.clients} clients"
            )
            context = multiprocessing.get_context("fork")
            barrier = context.Barrier(plan.clients + 1)
            results = context.Queue()
            processes = [
                context.Process(
                    target=_client,
                    args=(
                        shares[i],
                        warmup[i],
                        port,
                        deployment.token,
                        deployment.model.slug,
                        deployment.version.version,
                        barrier,
                        results,
                    ),
                )
                for i in range(plan.clients)
            ]
            for process in processes:
                process.start()
            barrier.wait(timeout=900)
            wal_before = _wal_lsn()
            sampler = _LagSampler(info)
            sampler.start()
            stats: list[ClientStats] = [results.get() for _ in processes]
            for process in processes:
                process.join()
            last_ack = max(s.finished for s in stats)
            started = min(s.started for s in stats)
            drained_s = None
            if plan.sequencer:
                drained_s = _wait_drained(timeout=max(120.0, plan.rows / 2000))
            sampler.stop()
            wal = _wal_lsn() - wal_before
            checkpoints = 0
            if sequencer is not None:
                _stop(sequencer)
                checkpoints = (logs / "sequencer.out").read_text().count("checkpoint")
        finally:
            if sampler is not None and sampler.is_alive():
                sampler.stop()
            _stop(sequencer)
            _stop(server)
        server_log = (logs / "gunicorn.log").read_text()[-2000:]
    after = _counts(first_seq, binding)
    log("ingest done; timing the COPY baseline")
    baseline = copy_baseline(rows=plan.rows, batch=plan.batch, first_seq=first_seq)
    elapsed = last_ack - started
    latencies = sorted(x for s in stats for x in s.latencies_ms)
    api_rate = plan.rows / elapsed if elapsed > 0 else 0.0
    copy_rate = baseline["copy_rows_per_s"] or 0
    ratio = api_rate / copy_rate if copy_rate else None
    errors = sum(s.errors for s in stats)
    result: dict[str, Any] = {
        "rows": plan.rows,
        "accepted": sum(s.accepted for s in stats),
        "duplicates": sum(s.duplicates for s in stats),
        "warmup_rows": sum(sum(w) for w in warmup),
        "clients": plan.clients,
        "batch": plan.batch,
        "batches": len(sizes),
        "server": {
            "worker_class": "gthread",
            "workers": plan.workers,
            "threads": plan.threads,
        },
        "api_seconds": round(elapsed, 3),
        "api_rows_per_s": round(api_rate),
        **{k: baseline[k] for k in ("copy_rows", "copy_seconds", "copy_rows_per_s")},
        "ratio": None if ratio is None else round(ratio, 3),
        "batch_p50_ms": round(common.percentile(latencies, 0.50), 1),
        "batch_p99_ms": round(common.percentile(latencies, 0.99), 1),
        "batch_max_ms": round(latencies[-1], 1) if latencies else None,
        "errors": errors,
        "error_samples": [e for s in stats for e in s.error_samples][:5],
        "overloaded_503": sum(s.overloaded for s in stats),
        "backoff_s": round(sum(s.backoff_s for s in stats), 1),
        "sequencer": plan.sequencer,
        "rollup_in_sequencer": plan.sequencer and plan.rollup,
        "drained_after_s": None if drained_s is None else round(drained_s, 3),
        "checkpoints": checkpoints,
        "queue_max_depth": sampler.max_depth if sampler else None,
        "queue_max_age_s": round(sampler.max_age_s, 3) if sampler else None,
        **(_lag(first_seq) if plan.sequencer else {}),
        "predictions_keyed": after["keys"] - before["keys"],
        "predictions_sequenced": after["entries"] - before["entries"],
        "predictions_queued": after["queued"],
        "ledger_size": after["head"],
        "wal_bytes_per_row": round(wal / plan.rows) if plan.rows else None,
        "copy_wal_bytes_per_row": baseline["copy_wal_bytes_per_row"],
        "leaf_bytes_avg": baseline["leaf_bytes_avg"],
        "budget": {"api_rows_per_s": BUDGET_ROWS_PER_S, "ratio": BUDGET_RATIO},
        "within_budget": bool(
            errors == 0
            and api_rate >= BUDGET_ROWS_PER_S
            and ratio is not None
            and ratio >= BUDGET_RATIO
        ),
        "database": connection.settings_dict["NAME"],
        "postgres_settings": common.postgres_settings(),
        "loadavg_before": [round(x, 2) for x in load_average],
    }
    if errors:
        result["server_log_tail"] = server_log
    return result
