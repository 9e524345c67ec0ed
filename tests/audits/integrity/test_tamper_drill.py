"""The tamper drill (issue 13): for every record class of the evidence inventory,
alter one row as a hostile database administrator would (the superuser, triggers
disabled; and, where the app role could before, as the app role), then:

* ``ledger_fsck`` names the table, the primary key and the ledger seq, and nothing
  else;
* the row's mark is "altered: does not match ledger seq N", never verified;
* the API still answers (no 5xx) for the trail and the request.

And every UPDATE, DELETE and TRUNCATE on an evidence table is refused, to the
owner (triggers) and to the app role (privileges), except UPDATE of current
state, which is allowed and detected.

docs/evidence.md tells how to run the same drill on a copy of a real database.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from audits import services as audit_services
from audits import trail as trail_selectors
from audits.evidence import services as evidence_services
from audits.integrity import fsck, inventory, verify
from audits.integrity.models import RecordCommitment
from audits.ledger import governance as ledger_governance
from audits.ledger import merkle
from audits.ledger.models import Alert, LedgerEntry
from audits.models import AuditEvent, RefusedAction
from audits.monitoring import services as monitoring_services
from audits.monitoring.models import MonitoringReport
from governance import services
from governance.models import Finding, GateDecision, ReleaseRequest
from tests.audits.test_db_roles import APP, PASSWORD, roles  # noqa: F401
from tests.audits.test_trail import (  # noqa: F401
    PREDICTION_ID,
    Served,
    _sequence,
    deployed,
    served,
    with_outcome,
)
from tests.factories import PASSWORD as USER_PASSWORD  # noqa: F401
from tests.governance.workflow_helpers import complete_values  # noqa: F401

pytestmark = pytest.mark.django_db


@dataclass
class World:
    served: Served
    finding: Finding
    gate_decision: GateDecision
    refusal: RefusedAction
    report: MonitoringReport
    alert: Alert


@pytest.fixture
def world(
    with_outcome: Served,  # noqa: F811
    validator: Any,
    risk_officer: Any,
    auditor: Any,
    service: Any,
    other_developer: Any,
) -> World:
    """Every evidence class has rows, every leaf a seq under a signed checkpoint."""
    version = with_outcome.version
    finding = services.finding_raise(
        actor=validator,
        version=version,
        severity="low",
        title="Thin documentation of the reject inference",
        description="Section 4 does not say how rejects were inferred.",
    )
    finding = services.finding_close(
        actor=validator, finding=finding, evidence="Section 4 now says it."
    )
    gate = services.gate_check(
        actor=service,
        environment="production",
        model=version.model.slug,
        version=version.version,
    )
    refusal = audit_services.refused_action_record(
        actor=other_developer, action="governance.request.approve", reason="drill"
    )
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    report = monitoring_services.report_request(
        actor=risk_officer,
        version=version,
        environment="production",
        kind="drift",
        window_start=now - timedelta(hours=1),
        window_end=now,
    )
    report = monitoring_services.report_run(report_id=report.pk)
    evidence_services.evidence_pack_request(
        actor=auditor,
        version=version,
        period_start=now - timedelta(days=1),
        period_end=now,
    )
    with transaction.atomic():
        alert, _ = monitoring_services.alert_raise(
            kind="drill",
            version=version,
            environment="production",
            message="A drill alert.",
            details={"drill": True},
        )
    _sequence()
    return World(with_outcome, finding, gate.record, refusal, report, alert)


# --- how one row of each class is altered -------------------------------------------


def _last(model: str) -> Any:
    """The newest row; for a history table the oldest one, so that forging it does
    not change which history row is the latest of its object (the current row is
    checked against the latest, and would be reported too)."""
    manager = apps.get_model(model)._default_manager
    if model.split(".")[1].startswith("Historical"):
        return manager.order_by("pk").first()
    return manager.order_by("-pk").first()


# key: (how to pick the row, the SET clause of the forgery)
FORGERIES: dict[str, tuple[str, str]] = {
    "audit-event": ("audits.AuditEvent", "actor_display = 'Mallory (mallory)'"),
    "refused-action": ("audits.RefusedAction", "reason = 'nothing was refused'"),
    "deployment-state": (
        "audits.DeploymentState",
        "created_at = created_at - interval '1 day'",
    ),
    "signature": (
        "governance.Signature",
        "printed_name = 'Mallory (mallory)', signed_at = signed_at - interval '1 hour'",
    ),
    "release-request": (
        "governance.ReleaseRequest",
        "approved_at = approved_at - interval '1 day'",
    ),
    "finding": ("governance.Finding", "closed_at = closed_at - interval '1 day'"),
    "deployment": ("governance.Deployment", "target = 'prod-us/elsewhere'"),
    "gate-decision": ("governance.GateDecision", "allowed = NOT allowed"),
    "history-model": (
        "registry.HistoricalModel",
        "history_date = history_date - interval '1 day'",
    ),
    "history-modelversion": (
        "registry.HistoricalModelVersion",
        "history_user_id = NULL",
    ),
    "history-modelcard": (
        "registry.HistoricalModelCard",
        "history_date = history_date - interval '2 days'",
    ),
    "history-document": (
        "registry.HistoricalDocument",
        "history_date = history_date + interval '1 hour'",
    ),
    "history-documenttemplate": (
        "registry.HistoricalDocumentTemplate",
        "name = name || ' (forged)'",
    ),
    "model": ("registry.Model", "tier_rationale = tier_rationale || ' (forged)'"),
    "modelversion": ("registry.ModelVersion", "status = 'retired'"),
    "modelcard": ("registry.ModelCard", """content = '{"forged": true}'::jsonb"""),
    "document": ("registry.Document", """content = '{"forged": true}'::jsonb"""),
    "monitor": ("audits.Monitor", "min_samples = min_samples + 1"),
    "monitoring-report": (
        "audits.MonitoringReport",
        "predictions = coalesce(predictions, 0) + 1",
    ),
    "alert": ("audits.Alert", "message = 'Nothing to see.'"),
    "alert-occurrence": ("audits.AlertOccurrence", "message = 'Nothing to see.'"),
    "evidence-pack": (
        "audits.EvidencePack",
        "period_start = period_start + interval '1 hour'",
    ),
}
ROW_CLASSES = sorted(
    e.key
    for e in inventory.EVIDENCE
    if e.key not in ("protected-attributes", "outcome")
)


def test_every_class_of_the_inventory_is_drilled() -> None:
    assert sorted(FORGERIES) == ROW_CLASSES
    assert {e.key for e in inventory.EVIDENCE} - set(FORGERIES) == {
        "protected-attributes",
        "outcome",
    }


def _forge(table: str, pk: Any, assignment: str) -> None:
    """UPDATE one row as the superuser with the table's triggers disabled."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER ALL')
        cursor.execute(
            f'UPDATE "{table}" SET {assignment} WHERE "{_pk_column(table)}" = %s', [pk]
        )
        assert cursor.rowcount == 1
        cursor.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER ALL')


def _pk_column(table: str) -> str:
    for model in apps.get_models():
        if model._meta.db_table == table:
            return model._meta.pk.column
    raise LookupError(table)


def _seq_of(obj: Any) -> int:
    """The seq of the leaf that commits to ``obj`` now (before the forgery)."""
    model = obj._meta.concrete_model
    if inventory.by_model()[model].kind == inventory.HISTORY_BACKED:
        # a current registry row is proved by its latest history row
        return _seq_of(
            verify.history_model(model)
            ._default_manager.filter(id=obj.pk)
            .order_by("-history_date", "-history_id")
            .first()
        )
    if model is AuditEvent:
        entry_id = ledger_governance.event_entry_id(obj.pk)
    elif model is RefusedAction:
        entry_id = ledger_governance.refusal_entry_id(obj.pk)
    elif model._meta.label == "audits.DeploymentState":
        entry_id = obj.entry_id
    else:
        entry_id = (
            RecordCommitment.objects.filter(
                table=model._meta.db_table, object_pk=str(obj.pk)
            )
            .order_by("-rev")
            .values_list("entry_id", flat=True)
            .first()
        )
    return LedgerEntry.objects.get(entry_id=entry_id).seq


def _drill(key: str, client: Any, request_id: int) -> dict[str, Any]:
    """Forge one row of class ``key``; what fsck, the mark and the API say."""
    model, assignment = FORGERIES[key]
    row = _last(model)
    table = row._meta.db_table
    seq = _seq_of(row)
    before = verify.verdict(row)
    _forge(table, row.pk, assignment)
    report = fsck.check_governance().as_dict()
    mark = verify.verdict(type(row)._default_manager.get(pk=row.pk))
    trail = client.get(f"/api/v1/predictions/{PREDICTION_ID}/trail").status_code
    request = client.get(f"/api/v1/release-requests/{request_id}").status_code
    return {
        "before": before.state,
        "errors": [(e["table"], e["pk"], e["seq"]) for e in report["errors"]],
        "first": report["first_divergence"],
        "mark": (mark.state, mark.seq, mark.label),
        "api": (trail, request),
        "expected": (table, str(row.pk), seq),
    }


def test_a_forged_row_of_every_class_is_named_by_fsck_and_marked_altered(
    world: World, auditor: Any
) -> None:
    # given a clean ledger (every class of the world is drilled on it in turn,
    # each forgery undone by rolling back to a savepoint before the next)
    client = _client(auditor)  # (its token's audit event: sequenced too)
    _sequence()
    assert fsck.check_governance().as_dict()["errors"] == []
    found: dict[str, Any] = {}
    wanted: dict[str, Any] = {}
    for key in ROW_CLASSES:
        # when the superuser forges one row of the class, triggers disabled
        with transaction.atomic():
            try:
                result = _drill(key, client, world.served.approval.pk)
            except Exception as exc:
                raise AssertionError(f"drilling {key}") from exc
            transaction.set_rollback(True)
        table, pk, seq = result.pop("expected")
        found[key] = result
        # then it was verified before; fsck names exactly this row with its seq;
        # its mark is altered at that seq, never verified; the API still answers
        wanted[key] = {
            "before": verify.VERIFIED,
            "errors": [(table, pk, seq)],
            "first": {"table": table, "pk": pk, "seq": seq},
            "mark": (
                verify.ALTERED,
                seq,
                f"altered: does not match ledger seq {seq}",
            ),
            "api": (200, 200),
        }
    assert found == wanted
    assert fsck.check_governance().ok  # every forgery was undone


def _client(user: Any) -> Any:
    from tests.conftest import client_for

    return client_for(user)


def test_the_command_exits_1_naming_the_row(world: World) -> None:
    # given a forged signature
    signature = _last("governance.Signature")
    seq = _seq_of(signature)
    _forge("governance_signature", signature.pk, "printed_name = 'Mallory'")
    out, err = io.StringIO(), io.StringIO()
    # when
    with pytest.raises(SystemExit) as exited:
        call_command("ledger_fsck", "--timing", stdout=out, stderr=err)
    # then
    output = json.loads(out.getvalue())
    assert exited.value.code == 1
    assert output["ok"] is True  # the ledger itself is sound
    assert output["governance"]["first_divergence"] == {
        "table": "governance_signature",
        "pk": str(signature.pk),
        "seq": seq,
    }
    assert output["timing"]["fsck_governance_rows_per_s"] > 0
    assert output["timing"]["fsck_rows_per_s"] > 0
    assert err.getvalue().strip() == (
        "governance fsck failed: first divergence in governance_signature "
        f"pk {signature.pk} seq {seq}"
    )


def test_forged_signature_shows_altered_on_the_trail(
    world: World, auditor: Any
) -> None:
    # given a signature whose signer and time are forged, binding kept
    signature = _last("governance.Signature")
    seq = _seq_of(signature)
    _forge(
        "governance_signature",
        signature.pk,
        "printed_name = 'Mallory (mallory)', signed_at = signed_at - interval '1 hour'",
    )
    # when
    trail = trail_selectors.prediction_trail(user=auditor, prediction_id=PREDICTION_ID)
    body = _client(auditor).get(f"/api/v1/predictions/{PREDICTION_ID}/trail").json()
    page = _page(auditor)
    # then the forged signature is altered; the others and the request verified
    approval = trail.deployment_state.approval
    marks = {s.printed_name: s.integrity for s in approval.signatures}
    assert marks["Mallory (mallory)"].state == verify.ALTERED
    assert marks["Mallory (mallory)"].seq == seq
    assert [m.state for n, m in marks.items() if n != "Mallory (mallory)"] == [
        verify.VERIFIED
    ]
    assert approval.all_verified is False
    signatures = body["deployment_state"]["approval"]["signatures"]
    assert [s["integrity"]["state"] for s in signatures].count("altered") == 1
    assert f"altered: does not match ledger seq {seq}" in page
    assert "the deployment state’s leaf commits to these bindings" not in page


def _page(user: Any) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    response = client.get(reverse("audits:trail", args=[PREDICTION_ID]))
    assert response.status_code == 200
    return response.content.decode()


def test_approved_at_changed_by_the_app_role_is_detected(
    world: World,
    roles: None,  # noqa: F811
) -> None:
    # given the app role, which may update a request's current state
    rr = world.served.approval
    seq = _seq_of(rr)
    # when it moves the approval time back a day
    with connection.cursor() as cursor:
        cursor.execute(f'SET LOCAL ROLE "{APP}"')
        cursor.execute(
            "UPDATE governance_releaserequest SET approved_at = approved_at - "
            "interval '1 day' WHERE id = %s",
            [rr.pk],
        )
        updated = cursor.rowcount
        cursor.execute("RESET ROLE")
    # then fsck and the mark say so
    assert updated == 1
    report = fsck.check_governance().as_dict()
    assert [(e["table"], e["pk"], e["seq"]) for e in report["errors"]] == [
        ("governance_releaserequest", str(rr.pk), seq)
    ]
    assert report["errors"][0]["problem"] == (
        "differs from its record leaf (revision 5) in approved_at"
    )
    mark = verify.verdict(ReleaseRequest.objects.get(pk=rr.pk))
    assert (mark.state, mark.fields) == (verify.ALTERED, ("approved_at",))


def test_the_app_role_may_not_update_protected_attributes(
    world: World,
    roles: None,  # noqa: F811
) -> None:
    # given the attributes as ingested
    before = _count("audits_protectedattributes")
    # when the app role tries to rewrite them
    with pytest.raises(DatabaseError) as excinfo:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f'SET LOCAL ROLE "{APP}"')
            cursor.execute(
                "UPDATE audits_protectedattributes SET attributes = '{}'::jsonb"
            )
    # then it is refused and nothing changed
    assert str(excinfo.value).splitlines()[0] == (
        "permission denied for table audits_protectedattributes"
    )
    assert fsck.check_governance().ok
    assert _count("audits_protectedattributes") == before


def _conninfo(role: str, password: str) -> dict[str, Any]:
    settings = connection.settings_dict
    return {
        "host": settings["HOST"] or "127.0.0.1",
        "port": settings["PORT"] or 5432,
        "dbname": settings["NAME"],
        "user": role,
        "password": password,
    }


def test_forged_protected_attributes_are_named_and_fail_their_commitment(
    world: World, auditor: Any
) -> None:
    # given
    seq = LedgerEntry.objects.get(entry_id=PREDICTION_ID).seq
    # when
    _forge(
        "audits_protectedattributes",
        PREDICTION_ID,
        """attributes = '{"age_band": "25-40", "sex": "male"}'::jsonb""",
    )
    # then
    report = fsck.check_governance().as_dict()
    assert [(e["table"], e["pk"], e["seq"]) for e in report["errors"]] == [
        ("audits_protectedattributes", str(PREDICTION_ID), seq)
    ]
    trail = trail_selectors.prediction_trail(user=auditor, prediction_id=PREDICTION_ID)
    assert (trail.protected.status, trail.protected.matches) == ("shown", False)


def test_a_forged_outcome_is_caught_by_the_ledger_and_marked_on_the_trail(
    world: World, auditor: Any
) -> None:
    # given the outcome leaf, "default"
    outcome_id = uuid.uuid5(
        uuid.UUID("6f0e3c1e-55a4-4c1b-9d59-1a2b3c4d5e6f"), str(PREDICTION_ID)
    )
    entry = LedgerEntry.objects.get(entry_id=outcome_id)
    forged = bytes(entry.leaf).replace(b'"outcome":"default"', b'"outcome":"repaid"')
    assert forged != bytes(entry.leaf)
    # when the superuser rewrites the leaf and its hash
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        partition = _partition_of(entry.seq)
        cursor.execute(f'ALTER TABLE "{partition}" DISABLE TRIGGER ALL')
        cursor.execute(
            f'UPDATE "{partition}" SET leaf = %s, leaf_hash = %s WHERE seq = %s',
            [forged, merkle.leaf_hash(forged), entry.seq],
        )
        cursor.execute(f'ALTER TABLE "{partition}" ENABLE TRIGGER ALL')
    # then the ledger's fsck names its seq and the trail marks it altered
    out = io.StringIO()
    with pytest.raises(SystemExit):
        call_command(
            "ledger_fsck", "--skip-governance", stdout=out, stderr=io.StringIO()
        )
    report = json.loads(out.getvalue())
    # the idempotency key names the entry exactly; the stored nodes cannot vouch
    # for their range from its first entry on, which is the first divergent seq
    assert {
        "seq": entry.seq,
        "problem": "the idempotency key holds another leaf hash",
    } in report["errors"]
    lowest_node = min(
        (e for e in report["errors"] if str(e.get("problem", "")).startswith("node ")),
        key=lambda e: e["seq"],
    )
    level, index = map(int, lowest_node["problem"].split()[1].split("/"))
    assert index << level == lowest_node["seq"] <= entry.seq < (index + 1) << level
    assert report["first_divergent_seq"] == lowest_node["seq"]
    trail = trail_selectors.prediction_trail(user=auditor, prediction_id=PREDICTION_ID)
    assert trail.outcome.outcome == "repaid"
    assert (trail.outcome.integrity.state, trail.outcome.integrity.seq) == (
        verify.ALTERED,
        entry.seq,
    )


def _partition_of(seq: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM audits_ledgerentry WHERE seq = %s",
            [seq],
        )
        return cursor.fetchone()[0].strip('"')


# --- privileges ---------------------------------------------------------------------


def _tables(kinds: tuple[str, ...]) -> list[str]:
    return sorted(
        {
            e.table
            for e in inventory.EVIDENCE
            if e.kind in kinds and e.model != "audits.LedgerEntry"
        }
    )


INSERT_ONLY_TABLES = _tables((inventory.LEDGER, inventory.INSERT_ONLY)) + [
    "audits_recordcommitment"
]
CURRENT_STATE_TABLES = _tables((inventory.CURRENT_STATE,))


def _refused_as_owner(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with pytest.raises(DatabaseError) as excinfo:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    return str(excinfo.value).splitlines()[0]


def test_evidence_refuses_update_delete_truncate_to_the_owner(world: World) -> None:
    # given rows in every evidence table; when the owner (the test's superuser
    # connection, triggers on) tries to change them
    counts = {t: _count(t) for t in INSERT_ONLY_TABLES + CURRENT_STATE_TABLES}
    found, wanted = {}, {}
    for table in INSERT_ONLY_TABLES:
        pk = _pk_column(table)
        refused = f"modelgov: %s on {table} is refused: the table is append-only"
        found[table] = [
            _refused_as_owner(f'UPDATE "{table}" SET "{pk}" = "{pk}"'),
            _refused_as_owner(f'DELETE FROM "{table}"'),
            _refused_as_owner(f'TRUNCATE "{table}" CASCADE'),
        ]
        wanted[table] = [refused % "UPDATE", refused % "DELETE", refused % "TRUNCATE"]
    for table in CURRENT_STATE_TABLES:
        refused = f"modelgov: %s on {table} is refused: its rows are evidence"
        found[table] = [
            _refused_as_owner(f'DELETE FROM "{table}"'),
            _refused_as_owner(f'TRUNCATE "{table}" CASCADE'),
        ]
        wanted[table] = [refused % "DELETE", refused % "TRUNCATE"]
    # then every statement is refused and nothing changed
    assert found == wanted
    assert {t: _count(t) for t in counts} == counts
    assert all(counts[t] > 0 for t in CURRENT_STATE_TABLES)


def _count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{table}"')
        return cursor.fetchone()[0]


@pytest.fixture
def as_app(roles: None) -> Iterator[psycopg.Connection[Any]]:  # noqa: F811
    conn = psycopg.connect(**_conninfo(APP, PASSWORD))
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()


def _refused_as_app(conn: psycopg.Connection[Any], sql: str) -> str:
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as excinfo:
        with conn.cursor() as cursor:
            cursor.execute(sql)
    conn.rollback()
    return str(excinfo.value).splitlines()[0]


@pytest.mark.parametrize("table", INSERT_ONLY_TABLES + CURRENT_STATE_TABLES)
def test_the_app_role_may_not_delete_or_truncate_evidence(
    as_app: psycopg.Connection[Any], table: str
) -> None:
    denied = f"permission denied for table {table}"
    assert [
        _refused_as_app(as_app, f'DELETE FROM "{table}"'),
        _refused_as_app(as_app, f'TRUNCATE "{table}"'),
    ] == [denied, denied]
    if table in INSERT_ONLY_TABLES:
        pk = _pk_column(table)
        assert (
            _refused_as_app(as_app, f'UPDATE "{table}" SET "{pk}" = "{pk}"') == denied
        )


def test_the_documented_inventory_is_the_code() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[3] / "docs" / "evidence.md").read_text()
    assert inventory.markdown_table() in doc
