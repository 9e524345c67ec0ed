"""End-to-end fixtures: a real server process on its own PostgreSQL database.

The server is gunicorn with production settings (DEBUG off, static files collected and
served by WhiteNoise), loaded with `manage.py demo`. Each e2e session creates the
database and drops it afterwards. A separate database (not pytest-django's test
database) is used because the audit tables are append-only: the flush that
transactional tests rely on would be refused by their TRUNCATE triggers.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("MODELGOV_CHROMIUM", "/usr/bin/chromium")
ADMIN_DSN = os.environ.get(
    "E2E_ADMIN_DSN", "postgresql://postgres:postgres@127.0.0.1:5432/postgres"
)
DEMO_PASSWORD = "e2e-demo-password-2026"


@dataclass(frozen=True)
class LiveApp:
    url: str
    env: dict[str, str]
    password: str

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )


def _new_attestation_key() -> str:
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str, proc: subprocess.Popen[Any], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"server did not answer {url}")


@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    dbname = f"modelgov_e2e_{os.getpid()}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{dbname}"')
    work = tmp_path_factory.mktemp("e2e")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "governance.settings",
            "DATABASE_URL": ADMIN_DSN.rsplit("/", 1)[0] + f"/{dbname}",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DJANGO_SESSION_COOKIE_SECURE": "0",
            "DJANGO_CSRF_COOKIE_SECURE": "0",
            "DJANGO_SECURE_HSTS_SECONDS": "0",
            "DJANGO_STATIC_ROOT": str(work / "static"),
            "DJANGO_MEDIA_ROOT": str(work / "media"),
            "CELERY_TASK_ALWAYS_EAGER": "1",
            # A real signing key, so attestations are downloaded as in production.
            "MODELGOV_ATTESTATION_KEY": _new_attestation_key(),
            # No mail server here: keep notification mail in memory.
            "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "MODELGOV_DEMO_PASSWORD": DEMO_PASSWORD,
        }
    )
    app = LiveApp(url=f"http://127.0.0.1:{port}", env=env, password=DEMO_PASSWORD)
    proc: subprocess.Popen[Any] | None = None
    try:
        app.manage("migrate", "--no-input", "-v", "0")
        app.manage("collectstatic", "--no-input", "-v", "0")
        app.manage("demo", "--artifacts-dir", str(work / "artifacts"))
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "governance.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        _wait_for(f"{app.url}/accounts/login/", proc)
        yield app
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=20)
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


# Module scope, not session: Playwright's sync API runs an event loop in the main
# thread while it is open, and Django refuses ORM calls from tests that run after it
# (SynchronousOnlyOperation) if the browser outlived the e2e modules.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install Debian's chromium (make test does)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


# Every page of every browser test listens for Content-Security-Policy violations
# (ADR 0023): the event, reported to the test through a binding, and Chromium's own
# console error for each blocked script, style, image or eval. The init script and
# the binding come through the DevTools protocol, which the policy does not govern.
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__modelgovCspViolation(
    `${event.effectiveDirective} refused ${event.blockedURI || "inline code"} ` +
    `on ${event.documentURI} line ${event.lineNumber}: ${event.sample}`
  );
});
"""


@pytest.fixture
def csp_violations() -> list[str]:
    """The policy violations seen by the test's ``page`` (none expected)."""
    return []


@pytest.fixture
def page(browser: Any, csp_violations: list[str]) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})

    def violation(text: str) -> None:
        csp_violations.append(text)

    context.expose_function("__modelgovCspViolation", violation)
    context.add_init_script(_CSP_LISTENER)
    page = context.new_page()
    page.on(
        "console",
        lambda message: (
            csp_violations.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    page.set_default_timeout(15_000)
    yield page
    context.close()
    assert csp_violations == [], "Content-Security-Policy violations in the browser"
