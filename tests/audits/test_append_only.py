"""Audit events and history rows are append-only in PostgreSQL itself."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.utils import Error as DatabaseError

from audits.models import AuditEvent
from audits.services import audit_event_record
from governance import services as governance_services
from registry import services as registry_services
from registry.models import ModelCard
from tests.conftest import client_for

HISTORY_TABLES = [
    "registry_historicalmodel",
    "registry_historicalmodel_developers",
    "registry_historicalmodelversion",
    "registry_historicalmodelcard",
    "registry_historicaldocument",
    "registry_historicaldocumenttemplate",
]


def _refused(sql: str, *, replica: bool = False) -> DatabaseError:
    """Run ``sql`` in a savepoint and return the error the database raised."""
    with pytest.raises(DatabaseError) as excinfo:
        with transaction.atomic(), connection.cursor() as cursor:
            # The test's own inserts leave deferred FK checks pending, and PostgreSQL
            # refuses TRUNCATE on such a table before any trigger runs; fire them now
            # so that the statement reaches the guard.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            if replica:
                cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute(sql)
    return excinfo.value


def _rows(table: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT * FROM "{table}" ORDER BY 1')
        return cursor.fetchall()


@pytest.fixture
def events(developer: Any) -> list[AuditEvent]:
    governance_services.api_token_create(actor=developer, user=developer, name="a")
    governance_services.api_token_create(actor=developer, user=developer, name="b")
    return list(AuditEvent.objects.order_by("pk"))


@pytest.mark.parametrize(
    ("sql", "operation"),
    [
        ("UPDATE audits_auditevent SET event_type = 'forged'", "UPDATE"),
        ("UPDATE audits_auditevent SET payload = '{}' WHERE id < 0", "UPDATE"),
        ("DELETE FROM audits_auditevent", "DELETE"),
        ("DELETE FROM audits_auditevent WHERE id < 0", "DELETE"),
        ("TRUNCATE audits_auditevent", "TRUNCATE"),
        ("TRUNCATE audits_auditevent CASCADE", "TRUNCATE"),
    ],
)
def test_audit_events_cannot_be_rewritten(
    events: list[AuditEvent], sql: str, operation: str
) -> None:
    # given two audit events
    before = _rows("audits_auditevent")
    assert len(before) == 2
    # when raw SQL tries to rewrite, delete or truncate them (even matching no row)
    error = _refused(sql)
    # then the trigger refuses it and every row is as it was
    assert str(error).startswith(
        f"modelgov: {operation} on audits_auditevent is refused: the table is append-only"
    )
    assert error.__cause__.sqlstate == "42501"
    assert _rows("audits_auditevent") == before
    assert AuditEvent.objects.count() == 2


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audits_auditevent SET event_type = 'forged'",
        "DELETE FROM audits_auditevent",
        "TRUNCATE audits_auditevent",
    ],
)
def test_audit_guard_holds_under_replication_role_replica(
    events: list[AuditEvent], sql: str
) -> None:
    # given a session that disables ordinary triggers (as a restore tool would)
    before = _rows("audits_auditevent")
    # when it rewrites the audit table / then the ENABLE ALWAYS trigger still fires
    error = _refused(sql, replica=True)
    assert "is refused: the table is append-only" in str(error)
    assert _rows("audits_auditevent") == before


def test_audit_triggers_are_enabled_always(db: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname, tgenabled FROM pg_trigger "
            "WHERE tgrelid = 'audits_auditevent'::regclass AND NOT tgisinternal"
        )
        triggers = cursor.fetchall()
    assert triggers == [("audits_auditevent_append_only", "A")]


def test_orm_cannot_change_or_delete_an_event(events: list[AuditEvent]) -> None:
    event = events[0]
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(event_type="forged")
    with pytest.raises(DatabaseError), transaction.atomic():
        event.delete()
    assert AuditEvent.objects.get(pk=event.pk).event_type == "governance.token.created"


def test_inserting_events_still_works(events: list[AuditEvent]) -> None:
    audit_event_record(actor=None, event_type="test.appended")
    assert AuditEvent.objects.count() == 3


@pytest.fixture
def edited_card(draft_version: Any, developer: Any) -> ModelCard:
    card = ModelCard.objects.select_related("template").get(model_version=draft_version)
    section = card.template.definition["sections"][0]
    text = next(f for f in section["fields"] if f["type"] in {"text", "textarea"})
    registry_services.model_card_section_update(
        actor=developer,
        card=card,
        section_key=section["key"],
        values={text["key"]: "As written."},
    )
    return card


def test_card_history_refuses_update(edited_card: ModelCard) -> None:
    # given the card's history (created, then edited)
    before = _rows("registry_historicalmodelcard")
    assert len(before) == 2
    # when raw SQL rewrites what the card said / then it is refused
    error = _refused("UPDATE registry_historicalmodelcard SET content = '{}'")
    assert "is refused: the table is append-only" in str(error)
    assert _rows("registry_historicalmodelcard") == before
    assert edited_card.history.count() == 2


@pytest.mark.parametrize("table", HISTORY_TABLES)
@pytest.mark.parametrize(
    "statement",
    ["UPDATE {t} SET history_id = history_id", "DELETE FROM {t}", "TRUNCATE {t}"],
)
def test_history_tables_are_append_only(
    edited_card: ModelCard, table: str, statement: str
) -> None:
    before = _rows(table)
    error = _refused(statement.format(t=table))
    assert "is refused: the table is append-only" in str(error)
    assert _rows(table) == before


@pytest.mark.parametrize(
    "table", ["registry_historicalmodelcard", "registry_historicalmodelversion"]
)
def test_history_guard_holds_under_replication_role_replica(
    edited_card: ModelCard, table: str
) -> None:
    before = _rows(table)
    error = _refused(f"DELETE FROM {table}", replica=True)
    assert "is refused: the table is append-only" in str(error)
    assert _rows(table) == before


def test_api_event_keeps_the_actor_name_and_the_request_id(developer: Any) -> None:
    # given a client that sends its own request id
    client = client_for(developer)
    request_id = str(uuid.uuid4())
    # when it adds a model
    response = client.post(
        "/api/v1/models",
        {"name": "Fraud", "slug": "fraud", "purpose": "p"},
        format="json",
        HTTP_X_REQUEST_ID=request_id,
    )
    # then the event carries the id and the actor's name at that time
    assert response.status_code == 201
    assert response["X-Request-ID"] == request_id
    event = AuditEvent.objects.get(event_type="registry.model.created")
    assert event.request_id == request_id
    assert event.actor_display == "Dana Developer (dana)"
    # and renaming the user later does not rewrite the record
    developer.first_name = "Dania"
    developer.save(update_fields=["first_name"])
    event.refresh_from_db()
    assert event.actor_display == "Dana Developer (dana)"


def test_malformed_request_id_is_replaced_by_a_fresh_one(developer: Any) -> None:
    client = client_for(developer)
    response = client.post(
        "/api/v1/models",
        {"name": "Fraud", "slug": "fraud", "purpose": "p"},
        format="json",
        HTTP_X_REQUEST_ID="'; DROP TABLE x; --",
    )
    event = AuditEvent.objects.get(event_type="registry.model.created")
    assert event.request_id == response["X-Request-ID"]
    assert str(uuid.UUID(event.request_id)) == event.request_id


def test_events_of_one_request_share_its_id(draft_version: Any, developer: Any) -> None:
    # given a session client (tokens are issued from sessions)
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(developer)
    request_id = str(uuid.uuid4())
    # when a request writes an event / then it is tagged; events outside requests are not
    client.post(
        "/api/v1/tokens", {"name": "ci"}, format="json", HTTP_X_REQUEST_ID=request_id
    )
    assert list(
        AuditEvent.objects.filter(request_id=request_id).values_list(
            "event_type", flat=True
        )
    ) == ["governance.token.created"]
    registered = AuditEvent.objects.get(event_type="registry.version.registered")
    assert registered.request_id == ""
    assert registered.actor_display == "Dana Developer (dana)"


def test_system_events_are_attributed_to_system(db: Any) -> None:
    event = audit_event_record(actor=None, event_type="test.system")
    assert (event.actor, event.actor_display, event.request_id) == (None, "system", "")
