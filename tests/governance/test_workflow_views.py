"""The approval-workflow pages through the Django test client: queues per role,
signatures with the password, separation of duties, the findings editor and the
"Request release" form."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from audits.models import AuditEvent
from governance import services
from governance.choices import RequestState
from governance.models import Finding, ReleaseRequest, Signature
from registry.models import Model
from tests.factories import PASSWORD, UserFactory
from tests.governance.workflow_helpers import document_everything


def _login(client: Client, user: Any) -> Client:
    assert client.login(username=user.username, password=PASSWORD)
    return client


def _events(rr: ReleaseRequest) -> list[str]:
    return list(
        AuditEvent.objects.filter(
            object_type="governance.releaserequest", object_id=str(rr.pk)
        )
        .order_by("id")
        .values_list("event_type", flat=True)
    )


@pytest.fixture
def tier_2_version(submitted_version: Any, developer: Any, validator: Any) -> Any:
    Model.objects.filter(pk=submitted_version.model_id).update(risk_tier=2)
    submitted_version.refresh_from_db()
    document_everything(
        version=submitted_version, developer=developer, validator=validator
    )
    return submitted_version


@pytest.fixture
def draft_request(tier_2_version: Any, developer: Any) -> ReleaseRequest:
    return services.release_request_create(
        actor=developer, version=tier_2_version, environments=["production"]
    )


@pytest.fixture
def submitted_request(draft_request: ReleaseRequest, developer: Any) -> ReleaseRequest:
    return services.release_request_submit(actor=developer, request=draft_request)


@pytest.fixture
def validated_request(
    submitted_request: ReleaseRequest, validator: Any
) -> ReleaseRequest:
    rr = services.release_request_start_validation(
        actor=validator, request=submitted_request
    )
    return services.release_request_record_validation(
        actor=validator, request=rr, outcome="approve", password=PASSWORD
    )


def _url(name: str, rr: ReleaseRequest) -> str:
    return reverse(f"governance:{name}", args=[rr.pk])


# --- queues -------------------------------------------------------------------


def test_risk_officer_queue_lists_validated_requests_awaiting_their_signature(
    client: Client, risk_officer: Any, validated_request: ReleaseRequest
) -> None:
    # given a validated request and a risk officer independent of it
    _login(client, risk_officer)
    # when they open the approvals queue
    response = client.get(reverse("governance:queue"))
    # then it is the only request awaiting their signature
    assert response.status_code == 200
    assert [r.pk for r in response.context["awaiting"]] == [validated_request.pk]
    assert response.context["expiring"] == []
    assert response.context["recent"] == []
    assert f"RR-{validated_request.pk}" in response.content.decode()


def test_queue_leaves_out_requests_the_risk_officer_may_not_sign(
    client: Client,
    risk_officer: Any,
    validated_request: ReleaseRequest,
    credit_model: Any,
) -> None:
    # given a risk officer who is a developer of the model
    credit_model.developers.add(risk_officer)
    _login(client, risk_officer)
    # when they open the queue
    response = client.get(reverse("governance:queue"))
    # then nothing awaits their signature
    assert response.context["awaiting"] == []


def test_queue_leaves_out_requests_already_signed_and_shows_recent_decisions(
    client: Client, risk_officer: Any, validated_request: ReleaseRequest
) -> None:
    # given the risk officer approved the request
    services.release_request_approve(
        actor=risk_officer, request=validated_request, password=PASSWORD
    )
    _login(client, risk_officer)
    # when they open the queue
    response = client.get(reverse("governance:queue"))
    # then it no longer awaits them and it is among the recent decisions
    assert response.context["awaiting"] == []
    assert [r.pk for r in response.context["recent"]] == [validated_request.pk]
    assert response.context["expiring"] == []


def test_developer_queue_has_no_signature_section_but_lists_open_requests(
    client: Client, developer: Any, validated_request: ReleaseRequest
) -> None:
    _login(client, developer)
    response = client.get(reverse("governance:queue"))
    assert response.status_code == 200
    assert response.context["awaiting"] == []
    assert [r.pk for r in response.context["open_requests"]] == [validated_request.pk]
    assert "Awaiting your signature" not in response.content.decode()


def test_validation_queue_lists_submitted_requests_and_the_validators_own(
    client: Client,
    validator: Any,
    submitted_request: ReleaseRequest,
) -> None:
    # given a submitted request
    _login(client, validator)
    # when the validator opens their queue
    response = client.get(reverse("governance:validation_queue"))
    # then it is available to take, and they validate nothing yet
    assert [r.pk for r in response.context["available"]] == [submitted_request.pk]
    assert response.context["mine"] == []
    # and once taken it moves to their own list
    client.post(_url("request_start_validation", submitted_request))
    response = client.get(reverse("governance:validation_queue"))
    assert response.context["available"] == []
    assert [r.pk for r in response.context["mine"]] == [submitted_request.pk]


@pytest.mark.parametrize(
    "persona", ["developer", "risk_officer", "auditor", "outsider"]
)
def test_validation_queue_is_for_validators_only(
    client: Client, persona: str, request: Any
) -> None:
    user = request.getfixturevalue(persona)
    _login(client, user)
    assert client.get(reverse("governance:validation_queue")).status_code == 403


def test_anonymous_is_sent_to_login(
    client: Client, validated_request: ReleaseRequest
) -> None:
    for url in (
        reverse("governance:queue"),
        _url("request_detail", validated_request),
        _url("request_approve", validated_request),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_outsider_gets_403_on_the_pages(
    client: Client, outsider: Any, validated_request: ReleaseRequest
) -> None:
    _login(client, outsider)
    assert client.get(reverse("governance:queue")).status_code == 403
    assert client.get(_url("request_detail", validated_request)).status_code == 403
    response = client.post(
        _url("request_approve", validated_request), {"password": PASSWORD}
    )
    assert response.status_code == 403
    validated_request.refresh_from_db()
    assert validated_request.state == RequestState.VALIDATED


def test_developer_of_another_model_does_not_see_the_request(
    client: Client, other_developer: Any, validated_request: ReleaseRequest
) -> None:
    _login(client, other_developer)
    assert client.get(_url("request_detail", validated_request)).status_code == 404


# --- the request page and signatures -----------------------------------------


def test_request_page_shows_checklist_signatures_history_and_the_approve_form(
    client: Client, risk_officer: Any, validated_request: ReleaseRequest
) -> None:
    _login(client, risk_officer)
    response = client.get(_url("request_detail", validated_request))
    body = response.content.decode()
    assert response.status_code == 200
    assert response.context["actions"].approve is True
    assert response.context["actions"].reject is True
    assert response.context["checklist_ok"] is True
    assert "approved for use in production" in body
    assert 'autocomplete="current-password"' in body
    assert "Vera Validator" in body
    assert "governance.request.validated" in body
    assert [e.event_type for e in response.context["events"]] == [
        "governance.request.created",
        "governance.request.submitted",
        "governance.request.validation_started",
        "governance.request.validated",
    ]


def test_approve_with_the_right_password_approves_and_rotates_the_session(
    client: Client, risk_officer: Any, validated_request: ReleaseRequest
) -> None:
    # given a signed-in risk officer
    _login(client, risk_officer)
    session_before = client.session.session_key
    # when they approve with their password
    response = client.post(
        _url("request_approve", validated_request),
        {"password": PASSWORD, "comment": "Fine for the pilot."},
    )
    # then the request is approved, the signature written and the session rotated
    assert response.status_code == 302
    assert response["Location"] == _url("request_detail", validated_request)
    validated_request.refresh_from_db()
    assert validated_request.state == RequestState.APPROVED
    signature = Signature.objects.get(request=validated_request, meaning="approved")
    assert signature.signer == risk_officer
    assert signature.printed_name == "Rita Risk (rita)"
    assert signature.comment == "Fine for the pilot."
    assert signature.artifact_sha256 == validated_request.model_version.artifact_sha256
    assert client.session.session_key != session_before
    assert _events(validated_request)[-2:] == [
        "governance.request.signed",
        "governance.request.approved",
    ]
    # and the page says so
    page = client.get(response["Location"])
    assert "Approved" in page.content.decode()
    assert PASSWORD not in page.content.decode()


def test_approve_with_a_wrong_password_changes_nothing(
    client: Client, risk_officer: Any, validated_request: ReleaseRequest
) -> None:
    _login(client, risk_officer)
    events_before = _events(validated_request)
    session_before = client.session.session_key
    response = client.post(
        _url("request_approve", validated_request), {"password": "wrong-password"}
    )
    assert response.status_code == 403
    assert "password is not correct" in response.content.decode()
    validated_request.refresh_from_db()
    assert validated_request.state == RequestState.VALIDATED
    assert not Signature.objects.filter(
        request=validated_request, meaning="approved"
    ).exists()
    assert _events(validated_request) == events_before
    assert client.session.session_key == session_before


def test_developer_of_the_model_gets_403_on_approve_and_nothing_changes(
    client: Client, developer: Any, validated_request: ReleaseRequest
) -> None:
    # given the model's developer, who sees the request
    _login(client, developer)
    page = client.get(_url("request_detail", validated_request))
    assert page.context["actions"].approve is False
    assert "Sign approval" not in page.content.decode()
    events_before = _events(validated_request)
    # when they forge an approval
    response = client.post(
        _url("request_approve", validated_request), {"password": PASSWORD}
    )
    # then it is refused on the request page and nothing changed
    assert response.status_code == 403
    assert "Only a risk officer may approve" in response.content.decode()
    validated_request.refresh_from_db()
    assert validated_request.state == RequestState.VALIDATED
    assert validated_request.signatures.count() == 1
    assert _events(validated_request) == events_before


def test_validator_may_not_approve_what_they_validated(
    client: Client, validator: Any, validated_request: ReleaseRequest
) -> None:
    _login(client, validator)
    response = client.post(
        _url("request_approve", validated_request), {"password": PASSWORD}
    )
    assert response.status_code == 403
    validated_request.refresh_from_db()
    assert validated_request.state == RequestState.VALIDATED


def test_reject_needs_a_reason_and_then_rejects(
    client: Client, risk_officer: Any, validated_request: ReleaseRequest
) -> None:
    _login(client, risk_officer)
    response = client.post(
        _url("request_reject", validated_request), {"password": PASSWORD}
    )
    assert response.status_code == 400
    validated_request.refresh_from_db()
    assert validated_request.state == RequestState.VALIDATED
    response = client.post(
        _url("request_reject", validated_request),
        {"password": PASSWORD, "comment": "Conditions not acceptable."},
    )
    assert response.status_code == 302
    validated_request.refresh_from_db()
    assert validated_request.state == RequestState.REJECTED


def test_revoke_names_the_reason_and_shows_the_rollback(
    client: Client, risk_officer: Any, validated_request: ReleaseRequest
) -> None:
    services.release_request_approve(
        actor=risk_officer, request=validated_request, password=PASSWORD
    )
    _login(client, risk_officer)
    response = client.post(
        _url("request_revoke", validated_request), {"reason": "Drift alert."}
    )
    assert response.status_code == 302
    validated_request.refresh_from_db()
    assert validated_request.state == RequestState.REVOKED
    page = client.get(_url("request_detail", validated_request)).content.decode()
    assert "Roll back to" in page
    assert "Drift alert." in page


def test_approving_twice_is_a_conflict_message(
    client: Client, risk_officer: Any, validated_request: ReleaseRequest
) -> None:
    services.release_request_approve(
        actor=risk_officer, request=validated_request, password=PASSWORD
    )
    second = UserFactory(username="ron", role="risk_officer")
    _login(client, second)
    response = client.post(
        _url("request_approve", validated_request), {"password": PASSWORD}
    )
    assert response.status_code == 409
    assert "is approved" in response.content.decode()


# --- the validator's flow -------------------------------------------------------


def test_validator_takes_and_signs_the_validation(
    client: Client, validator: Any, submitted_request: ReleaseRequest
) -> None:
    _login(client, validator)
    response = client.post(_url("request_start_validation", submitted_request))
    assert response.status_code == 302
    page = client.get(_url("request_detail", submitted_request))
    assert page.context["actions"].record_validation is True
    # a wrong password changes nothing
    response = client.post(
        _url("request_record_validation", submitted_request),
        {"outcome": "approve", "password": "nope"},
    )
    assert response.status_code == 403
    submitted_request.refresh_from_db()
    assert submitted_request.state == RequestState.IN_VALIDATION
    # the right one validates and rotates the session
    session_before = client.session.session_key
    response = client.post(
        _url("request_record_validation", submitted_request),
        {
            "outcome": "approve_with_conditions",
            "conditions": "Pilot only.",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 302
    submitted_request.refresh_from_db()
    assert submitted_request.state == RequestState.VALIDATED
    assert submitted_request.conditions == "Pilot only."
    assert client.session.session_key != session_before


def test_team_submits_and_withdraws(
    client: Client, developer: Any, draft_request: ReleaseRequest
) -> None:
    _login(client, developer)
    assert client.post(_url("request_submit", draft_request)).status_code == 302
    draft_request.refresh_from_db()
    assert draft_request.state == RequestState.SUBMITTED
    assert client.post(_url("request_withdraw", draft_request)).status_code == 302
    draft_request.refresh_from_db()
    assert draft_request.state == RequestState.WITHDRAWN


def test_validator_may_not_submit_the_teams_request(
    client: Client, validator: Any, draft_request: ReleaseRequest
) -> None:
    _login(client, validator)
    assert client.post(_url("request_submit", draft_request)).status_code == 403
    draft_request.refresh_from_db()
    assert draft_request.state == RequestState.DRAFT


# --- findings ---------------------------------------------------------------------


def test_findings_raise_remediate_close(
    client: Client,
    validator: Any,
    developer: Any,
    tier_2_version: Any,
) -> None:
    # given a validator raises a finding through the editor
    _login(client, validator)
    response = client.post(
        reverse("governance:findings"),
        {
            "version": str(tier_2_version.pk),
            "severity": "medium",
            "title": "Proxy not quantified",
            "description": "Income correlates with age.",
            "owner": str(developer.pk),
            "due_date": "2026-12-31",
            "sr_section": "§V.1(1)",
        },
    )
    assert response.status_code == 302
    finding = Finding.objects.get()
    assert (finding.severity, finding.status, finding.owner) == (
        "medium",
        "open",
        developer,
    )
    # when the team remediates and the validator closes it with evidence
    _login(client, developer)
    page = client.get(reverse("governance:findings"))
    assert page.context["rows"][0]["can_remediate"] is True
    assert page.context["form"] is None
    client.post(
        reverse("governance:finding_remediate", args=[finding.pk]),
        {"remediation": "Quantified in appendix C."},
    )
    _login(client, validator)
    client.post(
        reverse("governance:finding_close", args=[finding.pk]),
        {"evidence": "Appendix C reviewed."},
    )
    # then it is closed
    finding.refresh_from_db()
    assert finding.status == "closed"
    assert finding.closed_by == validator


def test_developer_may_not_raise_findings(
    client: Client, developer: Any, tier_2_version: Any
) -> None:
    _login(client, developer)
    response = client.post(
        reverse("governance:findings"),
        {"version": str(tier_2_version.pk), "severity": "low", "title": "x"},
    )
    assert response.status_code == 403
    assert not Finding.objects.exists()


# --- request release from the version page ----------------------------------------


def test_version_page_offers_request_release_to_the_team(
    client: Client, developer: Any, tier_2_version: Any
) -> None:
    _login(client, developer)
    url = reverse(
        "registry:version_detail",
        args=[tier_2_version.model.slug, tier_2_version.version],
    )
    body = client.get(url).content.decode()
    assert reverse("governance:request_create", args=[tier_2_version.pk]) in body


def test_request_release_form_creates_a_draft_and_redirects(
    client: Client, developer: Any, tier_2_version: Any
) -> None:
    _login(client, developer)
    url = reverse("governance:request_create", args=[tier_2_version.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert [c[0] for c in page.context["form"].fields["environments"].choices] == [
        "staging",
        "production",
    ]
    response = client.post(
        url, {"environments": ["production"], "justification": "Pilot."}
    )
    rr = ReleaseRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == _url("request_detail", rr)
    assert (rr.state, rr.environments, rr.justification) == (
        "draft",
        ["production"],
        "Pilot.",
    )
    # a second request for the same environment is a conflict shown on the form
    again = client.post(url, {"environments": ["production"]})
    assert again.status_code == 409
    assert ReleaseRequest.objects.count() == 1


def test_risk_officer_may_not_request_a_release(
    client: Client, risk_officer: Any, tier_2_version: Any
) -> None:
    _login(client, risk_officer)
    url = reverse("governance:request_create", args=[tier_2_version.pk])
    response = client.post(url, {"environments": ["production"]})
    assert response.status_code == 403
    assert not ReleaseRequest.objects.exists()


def test_signature_page_without_javascript_is_for_allowed_signers_only(
    client: Client,
    risk_officer: Any,
    developer: Any,
    validated_request: ReleaseRequest,
) -> None:
    _login(client, risk_officer)
    page = client.get(_url("request_approve", validated_request))
    assert page.status_code == 200
    assert 'autocomplete="current-password"' in page.content.decode()
    assert "approved for use in production" in page.content.decode()
    _login(client, developer)
    assert client.get(_url("request_approve", validated_request)).status_code == 403
