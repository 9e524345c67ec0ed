"""The demo's SQLite database under concurrent writers: two transactions that read
then write at the same instant both succeed, one after the other (transaction mode
IMMEDIATE); a lock still held past the timeout is a 503 with Retry-After, not a 500.

The SQLite cases run in a subprocess on a temporary SQLite file with the real
settings module (the suite's own database is PostgreSQL); the last test drives the
whole middleware stack in-process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError
from django.http import HttpResponse
from django.test import Client, RequestFactory

from governance import services
from governance.middleware import DatabaseBusyMiddleware, database_busy
from tests.conftest import client_for

ROOT = Path(__file__).resolve().parents[2]

# Two threads, each in its own connection, read a counter and write it back plus
# one. The barrier inside the transaction makes both read before either writes,
# which on SQLite's default (DEFERRED) transactions makes one of them fail with
# "database is locked"; in IMMEDIATE mode the second waits at BEGIN for the first
# to commit, so the barrier times out and both go through in turn.
TWO_WRITERS = """
import json, sys, threading, django
django.setup()
from django.conf import settings
if len(sys.argv) > 1:
    settings.DATABASES["default"]["OPTIONS"]["transaction_mode"] = sys.argv[1]
from django.db import connection, connections, transaction
with connection.cursor() as c:
    c.execute("CREATE TABLE counter (id integer primary key, n integer)")
    c.execute("INSERT INTO counter VALUES (1, 0)")
connection.close()
start, both_read = threading.Barrier(2), threading.Barrier(2)
errors = []
def writer():
    try:
        start.wait(timeout=30)
        with transaction.atomic(), connection.cursor() as c:
            c.execute("SELECT n FROM counter WHERE id = 1")
            n = c.fetchone()[0]
            try:
                both_read.wait(timeout=1)
            except threading.BrokenBarrierError:
                pass
            c.execute("UPDATE counter SET n = %s WHERE id = 1", [n + 1])
    except Exception as exc:
        errors.append(str(exc))
    finally:
        connections.close_all()
threads = [threading.Thread(target=writer) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join(timeout=60)
with connection.cursor() as c:
    c.execute("SELECT n FROM counter WHERE id = 1")
    n = c.fetchone()[0]
print(json.dumps({
    "n": n,
    "errors": errors,
    "options": settings.DATABASES["default"]["OPTIONS"],
}))
"""

# Another process holds the write lock; a write through Django gives up after the
# configured timeout, and the middleware answers that as 503.
LOCK_HELD = """
import json, sqlite3, sys, time, django
django.setup()
from django.conf import settings
from django.db import connection, transaction
from django.http import HttpResponse
from django.test import RequestFactory
from governance.middleware import DatabaseBusyMiddleware, database_busy
with connection.cursor() as c:
    c.execute("CREATE TABLE counter (id integer primary key, n integer)")
    c.execute("INSERT INTO counter VALUES (1, 0)")
holder = sqlite3.connect(settings.DATABASES["default"]["NAME"], isolation_level=None)
holder.execute("BEGIN IMMEDIATE")
started = time.monotonic()
try:
    with transaction.atomic(), connection.cursor() as c:
        c.execute("UPDATE counter SET n = 1 WHERE id = 1")
except Exception as exc:
    caught = exc
waited = time.monotonic() - started
holder.execute("ROLLBACK")
out = {"error": str(caught), "busy": database_busy(caught), "waited": waited}
middleware = DatabaseBusyMiddleware(lambda request: HttpResponse())
for path in ("/governance/requests/1/approve", "/api/v1/release-requests/1/approve"):
    request = RequestFactory().post(path)
    response = middleware.process_exception(request, caught)
    out[path] = {
        "status": response.status_code,
        "retry_after": response["Retry-After"],
        "content_type": response["Content-Type"],
        "body": response.content.decode(),
    }
with connection.cursor() as c:
    c.execute("SELECT n FROM counter WHERE id = 1")
    out["n"] = c.fetchone()[0]
print(json.dumps(out))
"""


def _run(script: str, tmp_path: Path, *args: str, **env: str) -> dict[str, Any]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "governance.settings",
            "DJANGO_DEBUG": "1",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
            **env,
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_two_writers_at_the_same_instant_both_succeed_on_sqlite(
    tmp_path: Path,
) -> None:
    # given the settings' SQLite connection options
    # when two transactions read the same row and write it back at the same time
    out = _run(TWO_WRITERS, tmp_path)
    # then neither fails and neither update is lost
    assert out["options"] == {"transaction_mode": "IMMEDIATE", "timeout": 20}
    assert out["errors"] == []
    assert out["n"] == 2


def test_without_immediate_mode_the_same_writers_collide(tmp_path: Path) -> None:
    # given SQLite's default transaction mode (what the demo had before)
    # when the same two writers run
    out = _run(TWO_WRITERS, tmp_path, "DEFERRED")
    # then one of them is refused with "database is locked": the scenario above is real
    assert out["errors"] == ["database is locked"]
    assert out["n"] == 1


def test_a_lock_held_past_the_timeout_is_a_503_with_retry_after(
    tmp_path: Path,
) -> None:
    # given another connection holding SQLite's write lock and a 1-second timeout
    # when a request's transaction tries to write
    out = _run(LOCK_HELD, tmp_path, DATABASE_SQLITE_TIMEOUT="1")
    # then the write gives up after the timeout with a busy error
    assert out["error"] == "database is locked"
    assert out["busy"] is True
    assert 0.9 <= out["waited"] < 15
    # and a page and an API call answer 503 asking to retry, having written nothing
    page = out["/governance/requests/1/approve"]
    assert page["status"] == 503
    assert page["retry_after"] == "5"
    assert page["content_type"] == "text/html; charset=utf-8"
    assert "The database is busy; nothing was changed." in page["body"]
    api = out["/api/v1/release-requests/1/approve"]
    assert api["status"] == 503
    assert api["retry_after"] == "5"
    assert json.loads(api["body"]) == {
        "detail": "The database is busy; nothing was changed. Try again shortly.",
        "code": "database_busy",
        "errors": {},
    }
    assert out["n"] == 0


def test_other_database_errors_are_not_taken_for_a_busy_database() -> None:
    # given a database error that is not about a lock, and a non-database error
    middleware = DatabaseBusyMiddleware(lambda request: HttpResponse())
    request = RequestFactory().post("/api/v1/models")
    # when the middleware sees them
    # then it leaves them alone (they stay a 500, logged)
    assert database_busy(OperationalError("no such table: counter")) is False
    assert database_busy(ValueError("database is locked")) is False
    assert (
        middleware.process_exception(request, OperationalError("disk I/O error"))
        is None
    )


def test_a_busy_database_in_a_view_is_a_503_through_the_whole_stack(
    developer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a view whose database work times out waiting for the lock
    client = Client()
    client.force_login(developer)
    api = client_for(developer)

    def locked(user: Any) -> set[str]:
        raise OperationalError("database is locked")

    monkeypatch.setattr(services, "user_roles", locked)
    # when a page and an API endpoint run into it
    page = client.get("/")
    response = api.get("/api/v1/me")
    # then both answer 503 asking to retry, the API in its error shape
    assert page.status_code == 503
    assert page["Retry-After"] == "5"
    assert "The database is busy" in page.content.decode()
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "detail": "The database is busy; nothing was changed. Try again shortly.",
        "code": "database_busy",
        "errors": {},
    }
