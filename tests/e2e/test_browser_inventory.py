"""Real headless Chromium through login and the inventory, for every demo persona."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

ALL_DEMO_MODELS = {"credit-risk-sgc", "mortgage-approval-hmda"}


def _login(page: Any, live_app: Any, username: str) -> None:
    page.goto(f"{live_app.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(live_app.password)
    page.get_by_role("button", name=re.compile("log in|sign in", re.I)).click()


@pytest.mark.parametrize("username", ["dev", "validator", "risk", "admin"])
def test_each_persona_logs_in_and_sees_the_inventory(
    live_app: Any, page: Any, username: str
) -> None:
    # given a demo persona
    # when they log in through the browser
    _login(page, live_app, username)
    # then they land on the inventory, which lists the demo models they may see
    page.wait_for_url(re.compile(r"/registry/$"))
    assert page.get_by_role("heading", name=re.compile("inventory", re.I)).is_visible()
    hrefs = page.locator("table a").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))"
    )
    slugs = {h.strip("/").split("/")[1] for h in hrefs if h.startswith("/registry/")}
    assert ALL_DEMO_MODELS <= slugs
    assert page.get_by_text(username).first.is_visible()


def test_the_auditor_lands_on_the_audit_trails_and_reaches_the_inventory(
    live_app: Any, page: Any
) -> None:
    # when the auditor logs in through the browser
    _login(page, live_app, "auditor")
    # then they land on the audit trails, with the prediction search
    page.wait_for_url(re.compile(r"/audits/$"))
    assert page.get_by_role("heading", name="Audit trails").is_visible()
    assert page.get_by_label("Prediction id").is_visible()
    # and the inventory, with every demo model, is one click away
    page.get_by_role("link", name="Inventory").click()
    page.wait_for_url(re.compile(r"/registry/$"))
    hrefs = page.locator("table a").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))"
    )
    slugs = {h.strip("/").split("/")[1] for h in hrefs if h.startswith("/registry/")}
    assert ALL_DEMO_MODELS <= slugs


def test_wrong_password_is_refused_and_shows_an_error(live_app: Any, page: Any) -> None:
    page.goto(f"{live_app.url}/accounts/login/")
    page.get_by_label("Username").fill("risk")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name=re.compile("log in|sign in", re.I)).click()
    assert re.search(r"/accounts/login/", page.url)
    assert (
        page.get_by_role("alert").is_visible() or page.locator(".errorlist").count() > 0
    )


def test_inventory_filter_and_drill_down_to_a_version(live_app: Any, page: Any) -> None:
    # given a risk officer on the inventory
    _login(page, live_app, "risk")
    page.wait_for_url(re.compile(r"/registry/$"))
    # when they filter by a search term and open the model, then a version
    page.get_by_label(re.compile("search", re.I)).fill("mortgage")
    page.get_by_role("button", name=re.compile("filter|search|apply", re.I)).click()
    rows = page.locator("table tbody tr")
    assert rows.count() == 1
    rows.first.locator("a").first.click()
    page.wait_for_url(re.compile(r"/registry/mortgage-approval-hmda/$"))
    page.get_by_role("link", name="2.0.0").first.click()
    # then the version page shows its frozen content digest and artifact digest
    page.wait_for_url(re.compile(r"/versions/2\.0\.0/$"))
    body = page.content()
    assert re.search(r"[0-9a-f]{64}", body)
    assert "frozen" in body.lower()
