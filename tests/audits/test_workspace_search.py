"""The auditor workspace search on real PostgreSQL: predictions of a version in a
time range, optionally with a trace id, listed newest first with links to their
trails (audits.web_views.home and audits.selectors.prediction_list_for_user)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits import selectors
from tests.audits.ledger.test_ingest_api import (
    ingest_key,  # noqa: F401  (fixture)
    prediction,
    scorer,  # noqa: F401  (fixture)
)
from tests.audits.monitoring.test_monitoring_flow import ingest
from tests.factories import PASSWORD

pytestmark = pytest.mark.usefixtures("ledger_key")

HOME = "/audits/"


@dataclass(frozen=True)
class Recorded:
    version: Any
    start: datetime  # the search range: [start, end)
    end: datetime
    inside: list[str]  # prediction ids made in the range, oldest first
    outside: str  # made before the range


def _at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def recorded(submitted_version: Any, scorer: Any) -> Recorded:  # noqa: F811
    now = timezone.now().replace(second=0, microsecond=0)
    start = now - timedelta(hours=2)
    inside = [str(uuid.uuid4()) for _ in range(3)]
    outside = str(uuid.uuid4())
    ingest(
        scorer,
        [
            prediction(
                prediction_id=pid,
                predicted_at=_at(start + timedelta(minutes=10 * (i + 1))),
                trace_id=f"trace-{i}",
            )
            for i, pid in enumerate(inside)
        ]
        + [
            prediction(
                prediction_id=outside,
                predicted_at=_at(start - timedelta(minutes=30)),
                trace_id="trace-0",
            )
        ],
    )
    return Recorded(
        version=submitted_version,
        start=start,
        end=start + timedelta(hours=1),
        inside=inside,
        outside=outside,
    )


def _login(user: Any) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def _query(recorded: Recorded, **extra: str) -> dict[str, Any]:
    return {
        "version": recorded.version.pk,
        "start": recorded.start.strftime("%Y-%m-%dT%H:%M"),
        "end": recorded.end.strftime("%Y-%m-%dT%H:%M"),
        **extra,
    }


def test_search_by_version_and_range_lists_the_predictions_newest_first(
    auditor: Any, recorded: Recorded
) -> None:
    # when
    response = _login(auditor).get(HOME, _query(recorded))
    # then
    assert response.status_code == 200
    hits = response.context["search"].hits
    assert [h.prediction_id for h in hits] == list(reversed(recorded.inside))
    assert response.context["search"].complete is True
    page = response.content.decode()
    for pid in recorded.inside:
        assert f'href="{reverse("audits:trail", args=[pid])}"' in page
    assert recorded.outside not in page


def test_search_by_trace_id_finds_only_that_prediction_in_the_range(
    auditor: Any, recorded: Recorded
) -> None:
    # when
    response = _login(auditor).get(HOME, _query(recorded, trace_id="trace-0"))
    # then the one in the range, not the one before it with the same trace id
    assert response.status_code == 200
    assert [h.prediction_id for h in response.context["search"].hits] == [
        recorded.inside[0]
    ]
    assert [h.trace_id for h in response.context["search"].hits] == ["trace-0"]


def test_search_with_an_unknown_trace_id_says_nothing_was_found(
    auditor: Any, recorded: Recorded
) -> None:
    # when
    response = _login(auditor).get(HOME, _query(recorded, trace_id="nope"))
    # then
    assert response.status_code == 200
    assert response.context["search"].hits == []
    assert "No prediction of this version with this trace id" in (
        response.content.decode()
    )


def test_scan_limit_stops_the_search_and_says_it_is_incomplete(
    auditor: Any, recorded: Recorded
) -> None:
    # when only two entries may be read
    found = selectors.prediction_list_for_user(
        user=auditor,
        version=recorded.version,
        start=recorded.start,
        end=recorded.end,
        scan_limit=2,
    )
    # then the two most recently recorded in the window, and the flag
    assert found.scanned == 2
    assert found.complete is False
    assert len(found.hits) <= 2


def test_search_limit_keeps_the_most_recent_matches(
    auditor: Any, recorded: Recorded
) -> None:
    # when
    found = selectors.prediction_list_for_user(
        user=auditor,
        version=recorded.version,
        start=recorded.start,
        end=recorded.end,
        limit=2,
    )
    # then
    assert [h.prediction_id for h in found.hits] == [
        recorded.inside[2],
        recorded.inside[1],
    ]
    assert found.complete is False


def test_range_that_ends_before_it_starts_is_a_form_error(
    auditor: Any, recorded: Recorded
) -> None:
    # when
    query = _query(recorded)
    query["start"], query["end"] = query["end"], query["start"]
    response = _login(auditor).get(HOME, query)
    # then
    assert response.status_code == 400
    assert response.context["search"] is None
    assert "The range must end after it starts." in response.content.decode()


def test_search_without_a_version_is_a_form_error(
    auditor: Any, recorded: Recorded
) -> None:
    # when
    response = _login(auditor).get(HOME, _query(recorded, version=""))
    # then
    assert response.status_code == 400
    assert response.context["search_form"].errors["version"]


def test_range_is_read_as_utc(auditor: Any, recorded: Recorded) -> None:
    # when
    response = _login(auditor).get(HOME, _query(recorded))
    # then
    data = response.context["search_form"].cleaned_data
    assert data["start"] == recorded.start.astimezone(UTC)
    assert data["start"].tzinfo == UTC


@pytest.mark.parametrize(
    ("persona", "status"),
    [(None, 302), ("developer", 403), ("validator", 403), ("auditor", 200)],
)
def test_search_permission_matrix(
    request: Any, recorded: Recorded, persona: str | None, status: int
) -> None:
    # given
    client = _login(request.getfixturevalue(persona)) if persona else Client()
    # when
    response = client.get(HOME, _query(recorded))
    # then
    assert response.status_code == status
    if status != 200:
        assert recorded.inside[0] not in response.content.decode()


def test_selector_refuses_a_user_without_the_trail_permission(
    developer: Any, recorded: Recorded
) -> None:
    # when / then
    with pytest.raises(selectors.PermissionDenied):
        selectors.prediction_list_for_user(
            user=developer,
            version=recorded.version,
            start=recorded.start,
            end=recorded.end,
        )
