"""An approved release of a documented version: the governance records a drill
alters, written through the real services."""

from __future__ import annotations

from typing import Any

import pytest

from governance import services
from governance.models import ReleaseRequest
from registry.models import Model, ModelVersion
from tests.factories import PASSWORD, UserFactory
from tests.governance.workflow_helpers import document_everything


@pytest.fixture
def approver(db: Any) -> Any:
    from django.contrib.auth.models import Group

    user = UserFactory(username="rita", first_name="Rita", last_name="Officer")
    user.groups.add(Group.objects.get(name="risk_officer"))
    return user


@pytest.fixture
def approved(
    submitted_version: ModelVersion, developer: Any, validator: Any, approver: Any
) -> ReleaseRequest:
    # Tier 3: one approval completes the request.
    model = Model.objects.get(pk=submitted_version.model_id)
    model.risk_tier = 3
    model.save()  # recorded in its history, as a service's change would be
    submitted_version.refresh_from_db()
    document_everything(
        version=submitted_version, developer=developer, validator=validator
    )
    rr = services.release_request_create(
        actor=developer, version=submitted_version, environments=["production"]
    )
    rr = services.release_request_submit(actor=developer, request=rr)
    rr = services.release_request_start_validation(actor=validator, request=rr)
    rr = services.release_request_record_validation(
        actor=validator, request=rr, outcome="approve", password=PASSWORD
    )
    rr = services.release_request_approve(actor=approver, request=rr, password=PASSWORD)
    assert rr.state == "approved"
    return rr
