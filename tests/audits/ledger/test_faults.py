"""Fault tests: the ingest path and the sequencer killed mid-batch lose no
acknowledged prediction and duplicate none (reference/ledger.md C1 and C3, small).

Real processes need committed data, which pytest-django's test database cannot
give (each test is one rolled-back transaction, and the flush of transactional
tests is refused by the ledger's append-only TRUNCATE triggers). So this module
creates its own PostgreSQL database (``CREATE DATABASE mg_fault_…`` as the
superuser), migrates and seeds it with ``manage.py`` in subprocesses, serves it with
gunicorn like tests/e2e/conftest.py does, and drops it at the end.

The client side is a Jepsen-style history: every batch is posted until it is
acknowledged (the same bytes on every retry), and each prediction id ends as ``ok``
(a 200 carried its receipt), ``fail`` (only definite refusals) or ``info``
(connection lost, timeout or 5xx: unknown whether it was written).

:class:`CommittedDatabase` and :func:`committed_database` are also used by the
concurrency test D3 in test_ingest_api.py.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[3]
# libpq's application_name of each kind of process, to find its sessions.
INGEST_APP = "mg-fault-ingest"
SEQUENCER_APP = "mg-fault-sequencer"
ADMIN_DSN = os.environ.get(
    "FAULT_ADMIN_DSN",
    os.environ.get(
        "E2E_ADMIN_DSN", "postgresql://postgres:postgres@127.0.0.1:5432/postgres"
    ),
)

# Seeds the new database: the personas, credit-risk 1.0.0 (with the input schema of
# tests/factories.py) and an ingest key bound to credit-risk in production.
SETUP_SCRIPT = r"""
import json
import django

django.setup()
from governance import services as governance_services
from registry import services as registry_services
from tests.factories import ModelFactory, UserFactory, version_payload

developer = UserFactory(username="dana", role="model_developer")
service = UserFactory(username="pipeline-bot", role="service_account")
model = ModelFactory(slug="credit-risk", developers=[developer, service])
version = registry_services.model_version_register(
    actor=developer, model=model, data=version_payload("1.0.0")
)
issued = governance_services.api_token_create(
    actor=None,
    user=service,
    name="credit scorer",
    deployment_model=model,
    deployment_environment="production",
)
print(json.dumps({"token": issued.raw, "model_id": model.pk, "version_id": version.pk}))
"""


def _ed25519_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class CommittedDatabase:
    """A migrated, seeded database of its own, and the environment of app processes."""

    name: str
    dsn: str
    env: dict[str, str]
    token: str
    model_id: int
    version_id: int

    def manage(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def python(
        self, script: str, stdin: str = "", timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run ``script`` with Django set up on this database; raise if it fails."""
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise AssertionError(f"script failed:\n{done.stdout}\n{done.stderr}")
        return done

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return list(conn.execute(sql, params).fetchall())


@contextlib.contextmanager
def committed_database(tmp: Path, tag: str) -> Iterator[CommittedDatabase]:
    """Create, migrate and seed ``mg_<tag>_<random>``; drop it afterwards."""
    name = f"mg_{tag}_{os.getpid()}_{secrets.token_hex(3)}"
    base = ADMIN_DSN.rsplit("/", 1)[0]
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.pop("TEST_DATABASE_URL", None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "governance.settings",
            "DATABASE_URL": f"{base}/{name}",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DJANGO_SESSION_COOKIE_SECURE": "0",
            "DJANGO_CSRF_COOKIE_SECURE": "0",
            "DJANGO_SECURE_HSTS_SECONDS": "0",
            "DJANGO_STATIC_ROOT": str(tmp / "static"),
            "DJANGO_MEDIA_ROOT": str(tmp / "media"),
            "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "CELERY_TASK_ALWAYS_EAGER": "1",
            "MODELGOV_ATTESTATION_KEY": _ed25519_pem(),
            "MODELGOV_LEDGER_KEY": _ed25519_pem(),
            "MODELGOV_LEDGER_ORIGIN": "modelgov.fault/ledger",
            # The signer's own memory, outside the database, as in production.
            "MODELGOV_LEDGER_SIGNER_STATE": str(tmp / "signer-state.json"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    (tmp / "static").mkdir(parents=True, exist_ok=True)
    try:
        partial = CommittedDatabase(name, f"{base}/{name}", env, "", 0, 0)
        partial.manage("migrate", "--no-input", "-v", "0", timeout=300)
        seeded = json.loads(
            partial.python(SETUP_SCRIPT).stdout.strip().splitlines()[-1]
        )
        yield CommittedDatabase(
            name,
            f"{base}/{name}",
            env,
            seeded["token"],
            seeded["model_id"],
            seeded["version_id"],
        )
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def uuid7(at: datetime | None = None) -> str:
    millis = int((at or datetime.now(UTC)).timestamp() * 1000)
    tail = secrets.randbits(62)
    return str(uuid.UUID(int=(millis << 80) | (0x7 << 76) | (0b10 << 62) | tail))


def prediction_record() -> dict[str, Any]:
    at = datetime.now(UTC) - timedelta(seconds=5)
    return {
        "prediction_id": uuid7(at),
        "model": "credit-risk",
        "version": "1.0.0",
        "predicted_at": at.isoformat().replace("+00:00", "Z"),
        "features": {
            "amount": random.randint(100, 25_000),
            "duration": random.randint(6, 72),
            "purpose": random.choice(["car", "furniture", "business"]),
        },
        "score": round(random.random(), 6),
        "decision": random.choice(["approve", "decline"]),
    }


# --- the system under test: gunicorn and the sequencer ----------------------------------


class Server:
    """gunicorn (sync workers) serving governance.wsgi on a free port."""

    def __init__(self, db: CommittedDatabase, workers: int = 3) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "governance.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--timeout",
                "30",
                # Workers fork from a loaded app, so a killed one is back at once.
                "--preload",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env={**db.env, "PGAPPNAME": INGEST_APP},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}")
            with contextlib.suppress(OSError):
                if request(self.port, "GET", "/api/v1/predictions", b"", {})[0]:
                    return
            time.sleep(0.2)
        raise TimeoutError("gunicorn did not answer")

    def workers(self) -> list[int]:
        """Pids of the master's children (its workers), from /proc."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                # pid (comm) state ppid …; comm may hold spaces: split after ")".
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                if ppid == self.proc.pid:
                    found.append(int(entry.name))
        return found

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Sequencer:
    """``manage.py ledger_sequencer --interval 0.05`` as a killable subprocess."""

    def __init__(self, db: CommittedDatabase) -> None:
        self.db = db
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "ledger_sequencer", "--interval", "0.05"],
            cwd=ROOT,
            env={**self.db.env, "PGAPPNAME": SEQUENCER_APP},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.kills += 1


def request(
    port: int, method: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any] | None]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        try:
            parsed = orjson.loads(data) if data else None
        except orjson.JSONDecodeError:
            parsed = None
        return response.status, parsed
    finally:
        conn.close()


# --- the client history ---------------------------------------------------------------


@dataclass
class BatchHistory:
    records: list[dict[str, Any]]
    body: bytes
    attempts: list[tuple[int | None, str]] = field(default_factory=list)
    receipts: dict[str, str] | None = None

    @property
    def outcome(self) -> str:
        if self.receipts is not None:
            return "ok"
        if all(
            status is not None and (400 <= status < 500 or code == "overloaded")
            for status, code in self.attempts
        ):
            return "fail"
        return "info"


def client_loop(
    port: int,
    token: str,
    stop: threading.Event,
    history: list[BatchHistory],
    batch_size: int,
) -> None:
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
    }
    while not stop.is_set():
        records = [prediction_record() for _ in range(batch_size)]
        entry = BatchHistory(records=records, body=orjson.dumps(records))
        history.append(entry)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                status, body = request(
                    port, "POST", "/api/v1/predictions", entry.body, headers
                )
            except (OSError, http.client.HTTPException) as exc:
                entry.attempts.append((None, type(exc).__name__))
                time.sleep(0.1)
                continue
            code = str((body or {}).get("code", ""))
            entry.attempts.append((status, code))
            if status == 200 and body is not None:
                entry.receipts = {
                    r["prediction_id"]: r["leaf_hash"] for r in body["records"]
                }
                break
            if 400 <= status < 500 and status != 429:
                break  # a definite refusal: nothing of the batch was written
            time.sleep(0.2)  # 429 (throttled, ADR 0021) and 5xx: retry


# --- faults ---------------------------------------------------------------------------


def _sessions(db: CommittedDatabase, application: str, *, waiting: str = "") -> int:
    """Sessions of ``application``; with ``waiting``, those waiting on a lock while
    running a query that starts so."""
    sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = %s"
    params: list[str] = [db.name, application]
    if waiting:
        sql += " AND wait_event_type = 'Lock' AND query LIKE %s"
        params.append(waiting + "%")
    return int(db.query(sql, params)[0][0])


def _wait_until(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def kill_workers_mid_batch(db: CommittedDatabase, server: Server) -> bool:
    """Hold the queue so that ingest requests stop inside their transaction (keys
    inserted, queue COPY waiting), then kill -9 every worker; True if one was
    caught there."""
    with psycopg.connect(db.dsn) as holder:
        holder.execute("LOCK TABLE audits_ledgerqueue IN SHARE MODE")
        blocked = _wait_until(
            lambda: _sessions(db, INGEST_APP, waiting='COPY "audits_ledgerqueue"'),
            timeout=3,
        )
        for pid in server.workers():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        holder.rollback()
    return blocked


def kill_sequencer_mid_batch(db: CommittedDatabase, sequencer: Sequencer) -> bool:
    """Hold the checkpoint table so that the sequencer stops after it has copied the
    entries and nodes and signed, before the checkpoint row; then kill -9 it and
    start a new one. True if it was caught there."""
    _wait_until(lambda: _sessions(db, SEQUENCER_APP), timeout=10)
    with psycopg.connect(db.dsn) as holder:
        holder.execute("LOCK TABLE audits_ledgercheckpoint IN SHARE MODE")
        blocked = _wait_until(
            lambda: _sessions(
                db, SEQUENCER_APP, waiting='INSERT INTO "audits_ledgercheckpoint"'
            ),
            # generous: on a loaded 2-core machine the next batch (and an idle
            # monitoring rollup before it) can take seconds to reach that insert
            timeout=10,
        )
        sequencer.kill()
        holder.rollback()
    sequencer.start()
    return blocked


def kill_random_worker(server: Server) -> None:
    workers = server.workers()
    if workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(random.choice(workers), signal.SIGKILL)


def drain(db: CommittedDatabase) -> None:
    """Sequence until the queue is empty (a killed sequencer's session may still
    hold the lock for a moment, so --once is retried)."""
    for _ in range(50):
        done = db.manage("ledger_sequencer", "--once", check=False)
        if done.returncode == 0 and not db.query(
            "SELECT 1 FROM audits_ledgerqueue LIMIT 1"
        ):
            return
        time.sleep(0.2)
    raise AssertionError(f"the queue did not drain: {done.stderr[-2000:]}")


@pytest.fixture(scope="module")
def fault_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CommittedDatabase]:
    with committed_database(tmp_path_factory.mktemp("fault"), "fault") as db:
        yield db


@pytest.mark.fault
def test_killed_workers_and_sequencer_lose_no_acknowledged_prediction(
    fault_db: CommittedDatabase,
) -> None:
    # given gunicorn (3 workers), the sequencer looping every 50 ms, and 4 clients
    # posting batches of 25 predictions, retrying each batch until it is acknowledged
    db = fault_db
    server = Server(db, workers=3)
    sequencer = Sequencer(db)
    sequencer.start()
    stop = threading.Event()
    history: list[BatchHistory] = []
    clients = [
        threading.Thread(
            target=client_loop, args=(server.port, db.token, stop, history, 25)
        )
        for _ in range(4)
    ]
    mid_batch: Counter[str] = Counter()
    try:
        for client in clients:
            client.start()
        # when workers and the sequencer are killed, at random and mid-batch
        for _ in range(3):
            time.sleep(0.5)
            kill_random_worker(server)
            time.sleep(0.5)
            mid_batch["ingest"] += kill_workers_mid_batch(db, server)
            mid_batch["sequencer"] += kill_sequencer_mid_batch(db, sequencer)
            time.sleep(random.uniform(0.5, 1.5))
            sequencer.kill()
            sequencer.start()
        time.sleep(0.5)
        stop.set()
        for client in clients:
            client.join(timeout=60)
        killed_under_load = sequencer.kills
        sequencer.kill()
        drain(db)
    finally:
        stop.set()
        if sequencer.proc is not None and sequencer.proc.poll() is None:
            sequencer.kill()
        server.stop()

    # then the faults happened where intended
    assert not any(client.is_alive() for client in clients)
    assert mid_batch["ingest"] >= 2, mid_batch
    assert mid_batch["sequencer"] >= 2, mid_batch
    assert killed_under_load == 6
    outcomes: dict[str, str] = {}
    acknowledged: dict[str, str] = {}
    sent: dict[str, dict[str, Any]] = {}
    for entry in history:
        for record in entry.records:
            outcomes[record["prediction_id"]] = entry.outcome
            sent[record["prediction_id"]] = record
        if entry.receipts is not None:
            acknowledged.update(entry.receipts)
    counts = Counter(outcomes.values())
    print(f"outcomes {dict(counts)}, mid-batch kills {dict(mid_batch)}")
    assert counts["ok"] >= 500, counts
    assert counts["fail"] == 0, counts
    # and every acknowledged id is present exactly once, with the acknowledged leaf
    rows = db.query(
        "SELECT entry_id::text, leaf_hash, leaf FROM audits_ledgerentry "
        "WHERE entry_type = 1"
    )
    times = Counter(row[0] for row in rows)
    present = {
        row[0]: (bytes(row[1]).hex(), orjson.loads(bytes(row[2]))) for row in rows
    }
    missing = [i for i, o in outcomes.items() if o == "ok" and i not in present]
    assert missing == []
    assert [i for i, n in times.items() if n != 1] == []
    assert {i: present[i][0] for i in acknowledged} == acknowledged
    for pid in acknowledged:
        leaf = present[pid][1]
        assert (leaf["score"], leaf["features"]) == (
            sent[pid]["score"],
            sent[pid]["features"],
        )
    # and no id that was never sent is present; unknown outcomes at most once
    assert set(present) <= set(sent)
    # and seq runs 0..n-1 with no gap, under a checkpoint of that size
    ((size, low, high, distinct),) = db.query(
        "SELECT count(*), min(seq), max(seq), count(DISTINCT seq) "
        "FROM audits_ledgerentry"
    )
    ((head,),) = db.query("SELECT size FROM audits_ledgerhead WHERE id = 1")
    ((checkpoint,),) = db.query("SELECT max(size) FROM audits_ledgercheckpoint")
    assert (low, high, distinct, head, checkpoint) == (0, size - 1, size, size, size)
    ((keys,),) = db.query("SELECT count(*) FROM audits_ledgerkey")
    assert keys == size
    # and fsck finds nothing wrong
    fsck = db.manage("ledger_fsck", check=False)
    assert fsck.returncode == 0, fsck.stdout[-3000:] + fsck.stderr[-2000:]
    assert json.loads(fsck.stdout)["ok"] is True
