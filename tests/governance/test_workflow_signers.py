"""Who may reject, and when a committee signature is accepted."""

from __future__ import annotations

from typing import Any

import pytest

from audits.models import AuditEvent
from governance import services
from governance.choices import RequestState
from governance.exceptions import Conflict
from governance.models import Signature
from registry.models import Model
from tests.factories import PASSWORD, UserFactory
from tests.governance.workflow_helpers import document_everything


def _validated(version: Any, developer: Any, validator: Any) -> Any:
    document_everything(version=version, developer=developer, validator=validator)
    rr = services.release_request_create(
        actor=developer, version=version, environments=["production"]
    )
    rr = services.release_request_submit(actor=developer, request=rr)
    rr = services.release_request_start_validation(actor=validator, request=rr)
    return services.release_request_record_validation(
        actor=validator, request=rr, outcome="approve", password=PASSWORD
    )


def test_the_first_approver_of_a_tier_1_release_cannot_then_reject_it(
    developer: Any, validator: Any, risk_officer: Any, submitted_version: Any
) -> None:
    # given a tier-1 request with its first approval from rita
    rr = _validated(submitted_version, developer, validator)
    rr = services.release_request_approve(
        actor=risk_officer, request=rr, password=PASSWORD
    )
    assert rr.state == RequestState.VALIDATED
    events = AuditEvent.objects.count()
    signatures = Signature.objects.count()
    # when rita tries to reject it
    with pytest.raises(services.SeparationOfDutiesError) as exc:
        services.release_request_reject(
            actor=risk_officer, request=rr, password=PASSWORD, comment="changed my mind"
        )
    # then it is refused and nothing changed
    assert str(exc.value) == (
        f"You have already signed RR-{rr.pk}; a rejection must come from someone else."
    )
    rr.refresh_from_db()
    assert rr.state == RequestState.VALIDATED
    assert (AuditEvent.objects.count(), Signature.objects.count()) == (
        events,
        signatures,
    )


def test_a_committee_signature_is_refused_where_the_policy_needs_none(
    developer: Any, validator: Any, risk_officer: Any, submitted_version: Any
) -> None:
    # given a tier-2 validated request
    Model.objects.filter(pk=submitted_version.model_id).update(risk_tier=2)
    submitted_version.refresh_from_db()
    rr = _validated(submitted_version, developer, validator)
    # when a committee signature is offered
    with pytest.raises(Conflict) as exc:
        services.release_request_approve(
            actor=risk_officer, request=rr, password=PASSWORD, committee=True
        )
    # then it is refused and the officer can still approve normally
    assert exc.value.message == f"RR-{rr.pk}'s policy needs no committee sign-off."
    assert not Signature.objects.filter(request=rr, signer=risk_officer).exists()
    rr = services.release_request_approve(
        actor=risk_officer, request=rr, password=PASSWORD
    )
    assert rr.state == RequestState.APPROVED


def test_a_second_committee_signature_is_refused(
    developer: Any, validator: Any, risk_officer: Any, submitted_version: Any
) -> None:
    rr = _validated(submitted_version, developer, validator)
    services.release_request_approve(
        actor=risk_officer, request=rr, password=PASSWORD, committee=True
    )
    other = UserFactory(username="rolf", role="risk_officer")
    with pytest.raises(Conflict) as exc:
        services.release_request_approve(
            actor=other, request=rr, password=PASSWORD, committee=True
        )
    assert exc.value.message == f"RR-{rr.pk} already has the committee's signature."
