"""Security headers: the Content-Security-Policy on every response, pages that need
nothing it refuses (no inline script, style or event handler), and the production
values of HSTS, secure cookies and the other headers (ADR 0023)."""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from governance import services
from governance.models import ReleaseRequest
from registry.models import Model
from tests.factories import UserFactory
from tests.governance.test_settings_deploy import PRODUCTION_ENV, _manage
from tests.governance.workflow_helpers import document_everything

ROOT = Path(__file__).resolve().parents[2]

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}
# Swagger UI's stylesheet draws its icons as data: images; no other page may.
SWAGGER_POLICY = {**POLICY, "img-src": "'self' data:"}
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)
# Templates rendered to PDF by WeasyPrint, never served to a browser: they keep
# their own <style> (CSP does not apply to them).
PDF_TEMPLATES = {
    "audits/trail_pdf.html",
    "audits/evidence/_refusal_rows.html",
    "audits/evidence/_report.html",
    "audits/evidence/base_pack.html",
    "audits/evidence/period_pack.html",
    "audits/evidence/version_pack.html",
}
# Pages a crawl must not follow: they end the session or only answer POST.
NOT_FOLLOWED = ("/accounts/logout/", "/admin/logout/", "/static/", "/media/")
MAX_PAGES = 400


def _policy(response: Any) -> dict[str, str]:
    header = response.headers.get("Content-Security-Policy", "")
    directives = [part.strip() for part in header.split(";") if part.strip()]
    return dict(
        (name, value.strip())
        for name, _, value in (d.partition(" ") for d in directives)
    )


def _expected_policy(path: str) -> dict[str, str]:
    return SWAGGER_POLICY if path == reverse("api-docs") else POLICY


class _PageScan(HTMLParser):
    """Links to follow and everything the policy would refuse in one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.refused: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.append(str(values["href"]))
        # A JSON data block (json_script) is never run, so the policy allows it.
        data_block = values.get("type") == "application/json"
        if tag == "script" and not values.get("src") and not data_block:
            self.refused.append("inline <script>")
        if tag == "style":
            self.refused.append("inline <style>")
        for name, value in attrs:
            if name == "style":
                self.refused.append(f'style="{value}" on <{tag}>')
            elif name.startswith("on"):
                self.refused.append(f"{name}= handler on <{tag}>")
            elif name in {"href", "src", "action", "formaction"} and (
                (value or "").strip().lower().startswith("javascript:")
            ):
                self.refused.append(f"javascript: URL on <{tag}>")


def _scan(response: Any) -> _PageScan:
    scan = _PageScan()
    if response.headers.get("Content-Type", "").startswith("text/html"):
        scan.feed(response.content.decode())
        scan.close()
    return scan


def _crawl(client: Client, start: list[str]) -> Iterator[tuple[str, Any]]:
    """GET every same-site page reachable by links from ``start``, once each."""
    seen = set(start)
    queue = deque(start)
    while queue:
        url = queue.popleft()
        response = client.get(url)
        yield url, response
        hrefs = _scan(response).links
        if response.status_code in {301, 302}:
            hrefs.append(response.headers["Location"])
        for href in hrefs:
            target = urljoin(url, href)
            parts = urlsplit(target)
            if parts.scheme or parts.netloc:
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if target in seen or target.startswith(NOT_FOLLOWED):
                continue
            seen.add(target)
            assert len(seen) <= MAX_PAGES, "the crawl found more pages than expected"
            queue.append(target)


@pytest.fixture
def release_request(
    submitted_version: Any, developer: Any, validator: Any
) -> ReleaseRequest:
    """A tier-2 version, fully documented, with a request under validation."""
    Model.objects.filter(pk=submitted_version.model_id).update(risk_tier=2)
    submitted_version.refresh_from_db()
    document_everything(
        version=submitted_version, developer=developer, validator=validator
    )
    rr = services.release_request_create(
        actor=developer, version=submitted_version, environments=["production"]
    )
    rr = services.release_request_submit(actor=developer, request=rr)
    return services.release_request_start_validation(actor=validator, request=rr)


@pytest.mark.parametrize(
    "persona",
    [
        "developer",
        "validator",
        "risk_officer",
        "auditor",
        "administrator",
        "outsider",
    ],
)
def test_every_page_reachable_from_the_navigation_carries_the_policy(
    client: Client,
    release_request: ReleaseRequest,
    ledger_key: Any,
    persona: str,
    request: Any,
) -> None:
    # given a persona signed in, a model with a version under validation and the
    # ledger's key
    client.force_login(request.getfixturevalue(persona))
    # when every page reachable from the home page's links is fetched
    pages = list(_crawl(client, [reverse("home")]))
    # then each answers with the exact policy and needs nothing it refuses
    assert len(pages) >= 5
    for url, response in pages:
        assert response.status_code < 500, url
        assert _policy(response) == _expected_policy(urlsplit(url).path), url
        assert _scan(response).refused == [], url


def test_the_login_page_carries_the_policy_to_anonymous_visitors(
    client: Client,
) -> None:
    # when nobody signed in opens the login page
    response = client.get(reverse("login"))
    # then it carries the policy and needs nothing it refuses
    assert response.status_code == 200
    assert _policy(response) == POLICY
    assert _scan(response).refused == []


def test_error_pages_carry_the_policy(client: Client, developer: Any) -> None:
    # given a developer signed in
    client.force_login(developer)
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(developer)
    # when they ask for a missing page, a page of another role and post without
    # a CSRF token
    missing = client.get("/no-such-page/")
    forbidden = client.get(reverse("admin:index"))
    no_csrf = csrf_client.post(reverse("tokens"), {"name": "ci"})
    unauthenticated_api = Client().get(reverse("api-me"))
    # then every answer, HTML or JSON, carries the policy
    assert [r.status_code for r in (missing, no_csrf, unauthenticated_api)] == [
        404,
        403,
        401,
    ]
    assert forbidden.status_code == 302
    for response in (missing, forbidden, no_csrf, unauthenticated_api):
        assert _policy(response) == POLICY
        assert _scan(response).refused == []


def test_every_admin_page_carries_the_policy_and_needs_no_inline_code(
    client: Client, release_request: ReleaseRequest
) -> None:
    # given a superuser (who sees every admin page) signed in to the admin
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    urls = [reverse("admin:index"), reverse("admin:password_change")]
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        urls.append(reverse("admin:{}_{}_changelist".format(*info)))
        # An append-only model's admin refuses its add page (403), with the policy.
        urls.append(reverse("admin:{}_{}_add".format(*info)))
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            urls.append(reverse("admin:{}_{}_change".format(*info), args=[first.pk]))
            urls.append(reverse("admin:{}_{}_history".format(*info), args=[first.pk]))
    # when each page is opened
    responses = {url: client.get(url) for url in urls}
    # then each carries the policy and needs nothing it refuses
    assert len(urls) > 10
    for url, response in responses.items():
        assert response.status_code == (403 if url.endswith("/add/") else 200) or (
            response.status_code == 200
        ), url
        assert _policy(response) == POLICY, url
        assert _scan(response).refused == [], url


def test_swagger_ui_loads_its_start_up_script_from_a_file(
    client: Client, developer: Any
) -> None:
    # given a developer signed in
    client.force_login(developer)
    # when they open the API docs and the script the page loads
    page = client.get(reverse("api-docs"))
    script = client.get(reverse("api-docs") + "?script=")
    # then the page has no inline script or style, and the script is JavaScript
    assert page.status_code == 200
    assert _scan(page).refused == []
    assert '<script src="/api/docs/?script="></script>' in page.content.decode()
    assert script.status_code == 200
    assert script.headers["Content-Type"] == "application/javascript"
    assert "SwaggerUIBundle(" in script.content.decode()
    assert _policy(page) == _policy(script) == SWAGGER_POLICY


def test_served_templates_have_no_inline_script_style_or_handler() -> None:
    # given every template a browser may be served (PDF templates excepted)
    templates = ROOT / "templates"
    found = {}
    for path in sorted(templates.rglob("*.html")):
        name = path.relative_to(templates).as_posix()
        if name in PDF_TEMPLATES:
            continue
        # when its markup is scanned, with template tags blanked out
        scan = _PageScan()
        scan.feed(re.sub(r"{[%{#].*?[%}#]}", "x", path.read_text()))
        scan.close()
        if scan.refused:
            found[name] = scan.refused
    # then none holds anything the policy refuses
    assert found == {}


def test_production_settings_send_hsts_secure_cookies_and_the_policy() -> None:
    # given the production environment (DEBUG off)
    code = (
        "import json; from django.test import Client; from django.conf import settings; "
        "host = 'modelgov.bank.example'; "
        "r = Client().get('/api/v1/me', secure=True, HTTP_HOST=host); "
        "plain = Client().get('/api/v1/me', HTTP_HOST=host); "
        "names = ['Strict-Transport-Security', 'Content-Security-Policy', "
        "'Cross-Origin-Opener-Policy', 'Cross-Origin-Resource-Policy', "
        "'Permissions-Policy', 'Referrer-Policy', 'X-Content-Type-Options', "
        "'X-Frame-Options']; "
        "print(json.dumps({'status': r.status_code, "
        "'headers': {n: r.headers.get(n) for n in names}, "
        "'redirect': [plain.status_code, plain.headers.get('Location')], "
        "'cookies': [settings.SESSION_COOKIE_SECURE, settings.SESSION_COOKIE_HTTPONLY, "
        "settings.SESSION_COOKIE_SAMESITE, settings.CSRF_COOKIE_SECURE]}))"
    )
    # when the API is asked, over HTTPS and over plain HTTP, under those settings
    result = _manage(["shell", "-c", code], PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    # then HSTS, the policy and the other headers are sent, cookies are secure,
    # and plain HTTP is redirected to HTTPS
    assert answer["status"] == 401
    directives = dict(
        d.strip().partition(" ")[::2]
        for d in answer["headers"].pop("Content-Security-Policy").split(";")
    )
    assert directives == POLICY
    assert answer["headers"] == {
        "Strict-Transport-Security": "max-age=31536000; includeSubDomains; preload",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": PERMISSIONS_POLICY,
        "Referrer-Policy": "same-origin",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
    }
    assert answer["cookies"] == [True, True, "Lax", True]
    assert answer["redirect"] == [301, "https://modelgov.bank.example/api/v1/me"]
