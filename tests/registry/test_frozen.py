"""A submitted version is frozen: in the API, in the service and in the database."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.db.utils import Error as DatabaseError

from audits.models import AuditEvent
from governance.exceptions import FrozenError
from registry import digests
from registry import services as registry_services
from registry.models import VERSION_CONTENT_FIELDS, Model, ModelVersion
from tests.conftest import client_for
from tests.factories import sha, version_payload

V = "/api/v1/models/credit-risk/versions/1.0.0"


def _row(version: Any) -> dict[str, Any]:
    return ModelVersion.objects.filter(pk=version.pk).values().get()


def _frozen_detail(version: Any) -> str:
    return (
        f"Version 1.0.0 of credit-risk was submitted on "
        f"{version.submitted_at:%Y-%m-%d %H:%M} UTC; its content is frozen "
        f"(digest {version.content_digest}). Register a new version instead."
    )


def test_submit_freezes_the_content_with_its_digest(
    draft_version: Any, developer: Any
) -> None:
    # given a draft / when its developer submits it
    response = client_for(developer).post(f"{V}/submit")
    # then it is submitted, frozen with the digest of its canonical content
    assert response.status_code == 200
    version = ModelVersion.objects.select_related("model").get(pk=draft_version.pk)
    expected = digests.content_digest(version.content())
    assert version.content_digest == expected
    body = response.json()
    assert body["status"] == "submitted"
    assert body["frozen"] is True
    assert body["content_digest"] == expected
    assert body["submitted_by"] == "dana"
    assert version.submitted_by == developer
    assert Model.objects.get(slug="credit-risk").status == "pending_validation"
    event = AuditEvent.objects.get(event_type="registry.version.submitted")
    assert event.payload == {"content_digest": expected, "model": "credit-risk"}


def test_content_digest_is_the_sha256_of_the_canonical_content(
    submitted_version: Any,
) -> None:
    # given a submitted version, read back from the database
    version = ModelVersion.objects.select_related("model").get(pk=submitted_version.pk)
    # when its content is rebuilt from the registration payload
    payload = version_payload("1.0.0")
    content = {name: payload.get(name, "") for name in VERSION_CONTENT_FIELDS}
    content["model"] = "credit-risk"
    # then the digest is that of the canonical JSON, and stable across reads
    assert version.content() == content
    assert version.content_digest == digests.content_digest(content)
    assert version.content_digest == digests.sha256_hex(digests.canonical_json(content))
    again = ModelVersion.objects.select_related("model").get(pk=submitted_version.pk)
    assert digests.content_digest(again.content()) == version.content_digest


@pytest.mark.parametrize(
    ("method", "payload"),
    [
        ("patch", {"description": "Sneaky edit."}),
        ("patch", {"artifact_sha256": sha("other-artifact")}),
        ("put", version_payload("1.0.0", metrics={"auc": 0.99})),
    ],
)
def test_frozen_version_refuses_api_changes(
    submitted_version: Any, developer: Any, method: str, payload: dict[str, Any]
) -> None:
    # given a submitted version and its row as stored
    client = client_for(developer)
    before = _row(submitted_version)
    events = AuditEvent.objects.count()
    # when its developer tries to change it
    response = getattr(client, method)(V, payload, format="json")
    # then 409 frozen, the row unchanged and no update audited
    assert response.status_code == 409
    assert response.json() == {
        "detail": _frozen_detail(submitted_version),
        "code": "frozen",
        "errors": {},
    }
    assert _row(submitted_version) == before
    assert AuditEvent.objects.count() == events
    assert not AuditEvent.objects.filter(event_type="registry.version.updated").exists()


def test_frozen_version_refuses_service_changes(
    submitted_version: Any, developer: Any
) -> None:
    # given a submitted version
    before = _row(submitted_version)
    events = AuditEvent.objects.count()
    # when the service is asked to change it / then FrozenError
    with pytest.raises(FrozenError) as excinfo:
        registry_services.model_version_update(
            actor=developer, version=submitted_version, data={"metrics": {"auc": 1.0}}
        )
    assert excinfo.value.code == "frozen"
    assert excinfo.value.message == _frozen_detail(submitted_version)
    assert _row(submitted_version) == before
    assert AuditEvent.objects.count() == events


def test_submitting_twice_is_an_invalid_state(
    submitted_version: Any, developer: Any
) -> None:
    # given a submitted version
    client = client_for(developer)
    before = _row(submitted_version)
    events = AuditEvent.objects.count()
    # when it is submitted again
    response = client.post(f"{V}/submit")
    # then 409 invalid_state and nothing changes
    assert response.status_code == 409
    assert response.json() == {
        "detail": "Version 1.0.0 is submitted for review; only a draft can be submitted.",
        "code": "invalid_state",
        "errors": {},
    }
    assert _row(submitted_version) == before
    assert AuditEvent.objects.count() == events


def test_a_draft_can_be_patched_and_the_change_is_audited(
    draft_version: Any, developer: Any
) -> None:
    # given a draft
    client = client_for(developer)
    # when its developer patches two fields
    response = client.patch(
        V,
        {"description": "Retrained on Q1.", "metrics": {"auc": 0.8, "ks": 0.42}},
        format="json",
    )
    # then both change, the digest stays empty and the change is audited
    assert response.status_code == 200
    assert response.json()["description"] == "Retrained on Q1."
    assert response.json()["metrics"] == {"auc": 0.8, "ks": 0.42}
    assert response.json()["frozen"] is False
    version = ModelVersion.objects.get(pk=draft_version.pk)
    assert version.description == "Retrained on Q1."
    assert version.content_digest == ""
    event = AuditEvent.objects.get(event_type="registry.version.updated")
    assert event.actor == developer
    assert event.object_id == str(draft_version.pk)
    assert event.payload == {"fields": ["description", "metrics"]}


def test_patching_a_draft_with_the_same_values_records_nothing(
    draft_version: Any, developer: Any
) -> None:
    client = client_for(developer)
    events = AuditEvent.objects.count()
    response = client.patch(V, {"version": "1.0.0"}, format="json")
    assert response.status_code == 200
    assert AuditEvent.objects.count() == events


def _raw(sql: str, params: list[Any]) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("artifact_sha256", sha("tampered")),
        ("artifact_uri", "s3://elsewhere/model.pkl"),
        ("metrics", '{"auc": 0.99}'),
        ("baseline", "{}"),
        ("content_digest", "0" * 64),
        ("version", "1.0.1"),
    ],
)
def test_database_refuses_a_raw_update_of_frozen_content(
    submitted_version: Any, column: str, value: str
) -> None:
    # given a submitted version and its stored row
    before = _row(submitted_version)
    # when raw SQL rewrites part of its content
    with pytest.raises(DatabaseError) as excinfo:
        _raw(
            f'UPDATE registry_modelversion SET "{column}" = %s WHERE id = %s',
            [value, submitted_version.pk],
        )
    # then the trigger refuses it and the row is as it was
    assert str(excinfo.value).startswith(
        f"modelgov: version {submitted_version.pk} is frozen "
        f"(content digest {submitted_version.content_digest}); UPDATE refused"
    )
    assert excinfo.value.__cause__.sqlstate == "42501"
    assert _row(submitted_version) == before


def test_database_allows_a_raw_update_of_the_status_alone(
    submitted_version: Any,
) -> None:
    # given a submitted version
    before = _row(submitted_version)
    # when raw SQL changes only its workflow status
    _raw(
        "UPDATE registry_modelversion SET status = %s WHERE id = %s",
        ["approved", submitted_version.pk],
    )
    # then the change is stored and everything else is untouched
    after = _row(submitted_version)
    assert after == {**before, "status": "approved"}


def test_database_refuses_a_raw_delete_of_a_frozen_version(
    submitted_version: Any,
) -> None:
    # given a submitted version
    before = _row(submitted_version)
    # when raw SQL deletes it / then the trigger refuses and the row stays
    with pytest.raises(DatabaseError) as excinfo:
        _raw("DELETE FROM registry_modelversion WHERE id = %s", [submitted_version.pk])
    assert str(excinfo.value).startswith(
        f"modelgov: version {submitted_version.pk} is frozen "
        f"(content digest {submitted_version.content_digest}); DELETE refused"
    )
    assert _row(submitted_version) == before


def test_database_allows_raw_updates_of_a_draft(draft_version: Any) -> None:
    # given a draft (no digest yet) / when raw SQL changes its content
    _raw(
        "UPDATE registry_modelversion SET artifact_uri = %s WHERE id = %s",
        ["s3://models/credit/1.0.0/model-v2.pkl", draft_version.pk],
    )
    # then it is stored: only submitted content is frozen
    assert (
        _row(draft_version)["artifact_uri"] == "s3://models/credit/1.0.0/model-v2.pkl"
    )


def test_orm_save_of_a_frozen_version_is_refused_by_the_database(
    submitted_version: Any,
) -> None:
    # given a submitted version loaded as an object
    version = ModelVersion.objects.get(pk=submitted_version.pk)
    before = _row(version)
    # when code bypasses the service and saves a change
    version.artifact_sha256 = sha("bypass")
    with pytest.raises(DatabaseError), transaction.atomic():
        version.save(update_fields=["artifact_sha256"])
    # then nothing changed
    assert _row(version) == before
