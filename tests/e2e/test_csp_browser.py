"""Real headless Chromium under the Content-Security-Policy (ADR 0023): every page
reachable from the navigation, as every demo role, the Django admin and Swagger UI
work with no policy violation.

The ``page`` fixture collects violations (the ``securitypolicyviolation`` event and
Chromium's console errors) for every e2e test, so the approval, trail, monitoring
and evidence tests walk their flows under the same check; these tests cover the
pages those flows do not reach.
"""

from __future__ import annotations

import re
import time
from collections import deque
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from playwright.sync_api import Error as PlaywrightError

pytestmark = pytest.mark.e2e

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
# Links a crawl does not follow: they end the session, download a file or are the
# raw schema.
NOT_FOLLOWED = re.compile(
    r"^/(accounts/logout/|admin/logout/|static/|media/|api/schema/)"
    r"|\.(pdf|zip|sig|pem|json|csv)$"
)
# The header of every page is checked without a browser (tests/governance/
# test_security_headers.py); Chromium opens the first pages of each role's walk,
# which reach every kind of page (lists, details, forms, charts), within the suite's
# time budget.
PAGES_PER_ROLE = 25


def _login(page: Any, live_app: Any, username: str) -> None:
    page.goto(f"{live_app.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(live_app.password)
    page.get_by_role("button", name=re.compile("log in|sign in", re.I)).click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def _policy(response: Any) -> dict[str, str]:
    header = response.headers.get("content-security-policy", "")
    return {
        name: value.strip()
        for name, _, value in (
            d.strip().partition(" ") for d in header.split(";") if d.strip()
        )
    }


def _same_site_links(page: Any, live_app: Any) -> list[str]:
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    links = []
    for href in hrefs:
        parts = urlsplit(urljoin(page.url, href))
        if f"{parts.scheme}://{parts.netloc}" != live_app.url:
            continue
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if not NOT_FOLLOWED.search(parts.path):
            links.append(path)
    return links


def _expected_policy(path: str) -> dict[str, str]:
    # Swagger UI's stylesheet draws its icons as data: images; no other page may.
    if urlsplit(path).path == "/api/docs/":
        return {**POLICY, "img-src": "'self' data:"}
    return POLICY


def _directives(violations: list[str]) -> set[str]:
    """The directives named by the securitypolicyviolation events collected."""
    return {v.split(" refused ")[0] for v in violations if " refused " in v}


def _walk(page: Any, live_app: Any, start: str, within: str = "/") -> dict[str, int]:
    """Open every same-site page under ``within`` reachable from ``start`` (up to
    a bound)."""
    statuses: dict[str, int] = {}
    queue = deque([start])
    seen = {start}
    while queue and len(statuses) < PAGES_PER_ROLE:
        path = queue.popleft()
        try:
            response = page.goto(f"{live_app.url}{path}")
        except PlaywrightError as exc:  # a file to download, not a page
            if "Download is starting" not in str(exc):
                raise
            continue
        page.wait_for_load_state("load")
        statuses[path] = response.status
        assert _policy(response) == _expected_policy(path), path
        for link in _same_site_links(page, live_app):
            if link not in seen and link.startswith(within):
                seen.add(link)
                queue.append(link)
    return statuses


@pytest.mark.parametrize("username", ["dev", "validator", "risk", "auditor", "admin"])
def test_every_page_from_the_navigation_works_under_the_policy(
    live_app: Any, page: Any, csp_violations: list[str], username: str
) -> None:
    # given a demo persona signed in
    _login(page, live_app, username)
    # when they open every page reachable from the links of their home page
    statuses = _walk(page, live_app, "/")
    # then every page answered without a server error and nothing was refused
    assert len(statuses) >= 5
    assert {path: s for path, s in statuses.items() if s >= 500} == {}
    assert csp_violations == []


def test_django_admin_works_under_the_policy(
    live_app: Any, page: Any, csp_violations: list[str]
) -> None:
    # given the demo's administrator signed in
    _login(page, live_app, "admin")
    # when they open the admin, its change lists and a change form, and filter one
    statuses = _walk(page, live_app, "/admin/", within="/admin/")
    page.goto(f"{live_app.url}/admin/registry/model/")
    page.locator("#changelist-search input[name=q]").fill("mortgage")
    page.locator("#changelist-search input[type=submit]").click()
    page.wait_for_url(re.compile(r"\?q=mortgage"))
    # then the admin's scripts ran (the sidebar toggle is wired) and nothing was
    # refused
    assert {path: s for path, s in statuses.items() if s >= 500} == {}
    assert any(path.startswith("/admin/registry/") for path in statuses)
    assert page.locator("#result_list tbody tr").count() >= 1
    assert page.locator("#toggle-nav-sidebar").count() == 1
    page.locator("#toggle-nav-sidebar").click()
    assert page.evaluate("localStorage.getItem('django.admin.navSidebarIsOpen')") in {
        "true",
        "false",
    }
    assert csp_violations == []


def test_swagger_ui_renders_the_api_under_the_policy(
    live_app: Any, page: Any, csp_violations: list[str]
) -> None:
    # given a developer signed in
    _login(page, live_app, "dev")
    # when they open the API docs and expand an operation
    response = page.goto(f"{live_app.url}/api/docs/")
    page.locator(".opblock").first.wait_for()
    page.locator(".opblock-summary").first.click()
    page.locator(".opblock-body").first.wait_for()
    # then Swagger UI drew every operation from the schema, its icons are data:
    # images on this page only, and nothing was refused
    assert response.status == 200
    assert _policy(response) == {**POLICY, "img-src": "'self' data:"}
    assert page.locator(".opblock").count() > 20
    assert csp_violations == []


def test_the_browser_check_sees_what_the_policy_refuses(
    live_app: Any, page: Any, csp_violations: list[str]
) -> None:
    # given the login page, under the policy
    page.goto(f"{live_app.url}/accounts/login/")
    # when an inline script, an inline style and a data: image are injected
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.injectedScriptRan = true";
          document.body.append(script);
          const box = document.createElement("div");
          box.innerHTML = '<p style="color: red">x</p>'
            + '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="">';
          document.body.append(box);
        }"""
    )
    refused = {"img-src", "script-src-elem", "style-src-attr"}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not (
        _directives(csp_violations) == refused
        and sum("Content Security Policy" in v for v in csp_violations) >= 3
    ):
        page.wait_for_timeout(100)
    # then the script did not run, and each refusal reached the test both as the
    # securitypolicyviolation event and as Chromium's console error
    assert page.evaluate("window.injectedScriptRan === true") is False
    assert _directives(csp_violations) == refused
    console = [v for v in csp_violations if "Content Security Policy" in v]
    assert any("script-src 'self'" in v for v in console)
    assert any("style-src 'self'" in v for v in console)
    assert any("img-src 'self'" in v for v in console)
    # (the page fixture fails any test that leaves a violation behind)
    csp_violations.clear()
