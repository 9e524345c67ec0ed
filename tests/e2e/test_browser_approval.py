"""Real headless Chromium through the approval: the developer of the model cannot
approve it; a risk officer approves with the password and the gate then allows.

The developer's test runs first and tolerates either state of the shared demo
request, so the order of the two tests does not matter.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

GATE_CHECK = (
    "from django.contrib.auth import get_user_model; "
    "from governance import services; "
    "r = services.gate_check(actor=get_user_model().objects.get(username='risk'), "
    "model='mortgage-approval-hmda', version='2.0.0', environment='production'); "
    "print('ALLOWED' if r.decision.allowed else 'DENIED', r.decision.reason)"
)
REQUEST_STATE = (
    "from governance.models import ReleaseRequest; "
    "print(ReleaseRequest.objects.get("
    "model_version__model__slug='mortgage-approval-hmda', "
    "model_version__version='2.0.0').state)"
)


def _shell(live_app: Any, code: str) -> str:
    # The last line: Django's shell may first announce its automatic imports.
    return live_app.manage("shell", "-c", code).stdout.strip().splitlines()[-1]


def _login(page: Any, live_app: Any, username: str) -> None:
    page.goto(f"{live_app.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(live_app.password)
    page.get_by_role("button", name=re.compile("log in|sign in", re.I)).click()
    page.wait_for_url(re.compile(r"/registry/$"))


def _request_url(page: Any, live_app: Any) -> str:
    page.goto(f"{live_app.url}/registry/mortgage-approval-hmda/versions/2.0.0/")
    link = page.get_by_role("link", name=re.compile(r"^RR-\d+$")).first
    return f"{live_app.url}{link.get_attribute('href')}"


def test_developer_of_the_model_cannot_approve_it(live_app: Any, page: Any) -> None:
    # given the model's developer on the request page
    _login(page, live_app, "dev")
    url = _request_url(page, live_app)
    page.goto(url)
    state_before = _shell(live_app, REQUEST_STATE)
    # then no approve control is offered
    assert page.get_by_text("Approve…").count() == 0
    assert page.get_by_role("button", name="Sign approval").count() == 0
    # when they forge a POST to the approve URL with their password and CSRF token
    token = page.locator("input[name=csrfmiddlewaretoken]").first.get_attribute("value")
    response = page.request.post(
        f"{url}approve/",
        form={"password": live_app.password, "csrfmiddlewaretoken": token},
        headers={"Referer": url},
    )
    # then it is refused and the request did not change
    assert response.status == 403
    assert "Only a risk officer may approve" in response.text()
    state_after = _shell(live_app, REQUEST_STATE)
    assert state_after == state_before
    assert state_after in {"validated", "approved"}


def test_risk_officer_approves_from_the_queue_and_the_gate_allows(
    live_app: Any, page: Any
) -> None:
    # given the gate denies before the approval
    before = _shell(live_app, GATE_CHECK)
    assert before.startswith("DENIED"), before
    # when the risk officer opens the queue and the mortgage request
    _login(page, live_app, "risk")
    page.get_by_role("link", name="Approvals").click()
    page.wait_for_url(re.compile(r"/governance/approvals/$"))
    awaiting = page.locator(
        "section",
        has=page.get_by_role("heading", name=re.compile("Awaiting your signature")),
    )
    row = awaiting.locator("tr", has_text="2.0.0")
    assert row.count() == 1
    row.get_by_role("link").first.click()
    page.wait_for_url(re.compile(r"/governance/requests/\d+/$"))
    # and signs the approval with the password
    page.get_by_text("Approve…").click()
    dialog = page.locator("details#approve")
    assert dialog.get_by_text("approved for use in production").is_visible()
    dialog.get_by_label("Your password").fill(live_app.password)
    dialog.get_by_label("Comment").fill("Approved for the pilot region.")
    dialog.get_by_role("button", name="Sign approval").click()
    # then the page says the request is approved
    page.wait_for_url(re.compile(r"/governance/requests/\d+/$"))
    assert page.get_by_text(re.compile(r"RR-\d+ is approved")).is_visible()
    assert page.locator(".page-head .status--approved").inner_text() == "Approved"
    # and the gate allows the release
    after = _shell(live_app, GATE_CHECK)
    assert after.startswith("ALLOWED"), after
