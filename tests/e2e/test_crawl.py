"""Every page reachable from the navigation, as every demo role, on both databases,
answers without a server error.

The real demo (``manage.py migrate`` + ``manage.py demo``) is loaded into a temporary
SQLite file, served as ``make demo`` serves it (DEBUG on, tasks in-process), and into
a fresh PostgreSQL database (the e2e ``live_app``: production settings, DEBUG off).
Each role logs in through the login form and crawls breadth-first from ``/`` over
the links and GET forms of the pages themselves (``tests/e2e/crawler.py``); the
administrator also from ``/admin/``. Downloads (PDF, ZIP, signatures) are fetched,
not parsed. A failure names the role, the status and the URL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from audits.demo import prediction_uuid
from tests.e2e.conftest import ROOT, LiveApp, _free_port, _wait_for
from tests.e2e.crawler import CrawlResult, Session, _Links, crawl

pytestmark = pytest.mark.e2e

ROLES = ("dev", "dev2", "validator", "risk", "auditor", "admin")
# The demo's example prediction (a UUIDv5 of its applicant, the same in every load):
# its trail is reached from the search form with an id typed in, not from a link.
PREDICTION = str(prediction_uuid(1))
CREDIT = "/api/v1/models/credit-risk-sgc"
# The API's reads with the session of the page, beside the pages: what a browser
# (or the API docs' "Try it out") asks for. JSON is not parsed for links.
API_READS = (
    "/api/v1/me",
    "/api/v1/tokens",
    "/api/v1/gate/decisions",
    "/api/v1/deployments?environment=production",
    "/api/v1/release-requests",
    "/api/v1/release-requests/1",
    "/api/v1/attestations/public-key",
    "/api/v1/models",
    CREDIT,
    f"{CREDIT}/versions",
    f"{CREDIT}/versions/1.0.0",
    f"{CREDIT}/versions/1.0.0/findings",
    f"{CREDIT}/versions/1.0.0/card",
    f"{CREDIT}/versions/1.0.0/card/history",
    f"{CREDIT}/versions/1.0.0/documents",
    f"{CREDIT}/versions/1.0.0/documents/1",
    f"{CREDIT}/versions/1.0.0/documents/1/history",
    "/api/v1/templates",
    "/api/v1/templates/model-card/1",
    f"/api/v1/predictions/{PREDICTION}/trail",
    f"/api/v1/predictions/{PREDICTION}/trail.pdf",
    f"/api/v1/predictions/{PREDICTION}/proof",
    "/api/v1/reports/1",
    "/api/v1/evidence-packs/1",
    "/api/v1/evidence-packs/1/pack.pdf",
    "/api/v1/access-log",
    "/api/schema/",
)
START = {
    "dev": ("/", *API_READS),
    "auditor": ("/", f"/audits/predictions/{PREDICTION}", *API_READS),
    "admin": ("/", "/admin/"),
}
# A ceiling, not a sample: a role that reaches it fails the test (raise it when the
# demo grows), so "no 5xx" always means every reachable page.
MAX_PAGES = 800
# Pages every role must have reached, so the test cannot pass by visiting nothing;
# the monitoring pages are listed because their overview once failed on SQLite.
MUST_VISIT = {
    "dev": {"/registry/", "/accounts/tokens/", "/registry/credit-risk-sgc/"},
    "dev2": {"/registry/", "/registry/mortgage-approval-hmda/"},
    "validator": {"/registry/", "/governance/findings/"},
    "risk": {
        "/governance/approvals/",
        "/governance/requests/1/",
        "/audits/monitoring/",
        "/audits/reports/1",
        "/audits/monitors/1/edit",
    },
    "auditor": {
        "/audits/",
        "/audits/monitoring/",
        "/audits/reports/1",
        "/audits/access-log",
        "/audits/packs/1",
        "/audits/packs/1/pack.pdf",
        "/audits/packs/1/pack.zip",
        f"/audits/predictions/{PREDICTION}",
        f"/api/v1/predictions/{PREDICTION}/trail.pdf",
    },
    "admin": {"/admin/", "/registry/", "/registry/templates/"},
}
MIN_PAGES = 60


@pytest.fixture(scope="module")
def sqlite_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """The demo as ``make demo`` runs it, on an SQLite file, behind gunicorn."""
    work = tmp_path_factory.mktemp("crawl-sqlite")
    password = "crawl-demo-password-2026"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "governance.settings",
            "DJANGO_DEBUG": "1",
            "CELERY_TASK_ALWAYS_EAGER": "1",
            "DATABASE_URL": f"sqlite:///{work / 'modelgov.sqlite3'}",
            "DJANGO_MEDIA_ROOT": str(work / "media"),
            "DJANGO_STATIC_ROOT": str(work / "static"),
            "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "MODELGOV_DEMO_PASSWORD": password,
        }
    )
    port = _free_port()
    app = LiveApp(url=f"http://127.0.0.1:{port}", env=env, password=password)
    app.manage("migrate", "--no-input", "-v", "0")
    app.manage("demo", "--artifacts-dir", str(work / "artifacts"))
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "governance.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--timeout",
            "120",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        _wait_for(f"{app.url}/accounts/login/", proc)
        yield app
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _crawl_every_role(app: LiveApp) -> dict[str, CrawlResult]:
    def one(role: str) -> CrawlResult:
        return crawl(
            app.url, role, role, app.password, MAX_PAGES, START.get(role, ("/",))
        )

    # Two at a time: the server has two workers on a two-core machine.
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(ROLES, pool.map(one, ROLES), strict=True))


def _assert_every_page_answers(app: LiveApp, database: str) -> None:
    started = time.monotonic()
    results = _crawl_every_role(app)
    elapsed = time.monotonic() - started
    summary = ", ".join(f"{role} {len(r.visits)}" for role, r in results.items())
    print(f"\ncrawl on {database}: pages visited {summary} in {elapsed:.0f} s")
    failures = [f for r in results.values() for f in r.failures]
    assert failures == [], f"server errors on {database}"
    for role, result in results.items():
        assert not result.capped, f"{role} reached {MAX_PAGES} pages: raise MAX_PAGES"
        assert len(result.visits) >= MIN_PAGES, (role, len(result.visits))
        assert MUST_VISIT[role] <= result.paths, (
            role,
            sorted(MUST_VISIT[role] - result.paths),
        )


def test_every_page_answers_without_server_error_on_sqlite(
    sqlite_demo: LiveApp,
) -> None:
    # given the demo loaded into SQLite and served as `make demo` serves it
    # when every role follows every link and GET form from the home page
    # then no page answers 5xx, and each role reached its pages
    _assert_every_page_answers(sqlite_demo, "SQLite")


def test_two_signatures_at_the_same_instant_on_sqlite_give_no_server_error(
    sqlite_demo: LiveApp,
) -> None:
    # given the risk officer signed in twice, on RR-1's approval form in each session
    # (after the crawl above, which only reads)
    url = f"{sqlite_demo.url}/governance/requests/1/approve/"
    forms: list[tuple[Session, str]] = []
    for _ in range(2):
        session = Session(sqlite_demo.url)
        session.login("risk", sqlite_demo.password)
        status, _, body = session.request(url)
        assert status == 200
        page = _Links()
        page.feed(body.decode())
        assert page.csrf
        forms.append((session, page.csrf))
    # when both sign at the same instant
    ready = threading.Barrier(2)
    statuses: list[int] = []

    def sign(session: Session, csrf: str) -> None:
        ready.wait(timeout=60)
        status, _, _ = session.request(
            url,
            {
                "csrfmiddlewaretoken": csrf,
                "password": sqlite_demo.password,
                "comment": "Same instant.",
            },
        )
        statuses.append(status)

    threads = [threading.Thread(target=sign, args=form) for form in forms]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # then one signature is recorded and the other refused as a conflict, not a 500
    # ("database is locked" before transactions took the lock at BEGIN)
    assert sorted(statuses) == [302, 409]
    auditor = Session(sqlite_demo.url)
    auditor.login("auditor", sqlite_demo.password)
    status, _, body = auditor.request(f"{sqlite_demo.url}/api/v1/release-requests/1")
    assert status == 200
    rr = json.loads(body)
    assert rr["state"] == "approved"
    assert [(s["signer"], s["meaning"]) for s in rr["signatures"]] == [
        ("validator", "validated"),
        ("risk", "approved"),
    ]


def test_every_page_answers_without_server_error_on_postgresql(
    live_app: Any,
) -> None:
    # given the demo loaded into PostgreSQL and served with production settings
    # when every role follows every link and GET form from the home page
    # then no page answers 5xx, and each role reached its pages
    _assert_every_page_answers(live_app, "PostgreSQL")
