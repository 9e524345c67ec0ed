"""Issue 13, part D, on real PostgreSQL: monitoring reads only inputs that match the
ledger, missing values are one group, the minimum-group rules are on the page, and
an alert keeps every occurrence.

Predictions go through the ingest API and the sequencer; a hostile change is made as
the database superuser with the table's triggers disabled, between ingest and the
rollup (or before a rebuild), which is when a report could otherwise read it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client

from audits.ledger import merkle
from audits.ledger.models import Alert, AlertOccurrence, LedgerEntry
from audits.models import AuditEvent
from audits.monitoring import fairness, rollup
from audits.monitoring.models import (
    DecisionCell,
    IntegrityFailure,
    OutcomeCell,
)
from governance.models import ReleaseRequest
from tests.audits.ledger.test_ingest_api import (
    ingest_key,  # noqa: F401  (fixture)
    outcome,
    post,
    scorer,  # noqa: F401  (fixture)
    sequence_all,
)
from tests.audits.monitoring.test_monitoring_flow import (
    OUTCOMES,
    batch,
    deployed,  # noqa: F401  (fixture)
    ingest,
    run,
    window,  # noqa: F401  (fixture)
)
from tests.conftest import client_for
from tests.governance.test_gate_api import approval  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("ledger_key")


def browser(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@contextmanager
def triggers_disabled(table: str) -> Iterator[None]:
    """As a hostile superuser would: the table's own triggers off for one change."""
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER ALL')
        try:
            yield
        finally:
            cursor.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER ALL')


def tamper_attributes(prediction_id: str, attributes: dict[str, Any]) -> None:
    with triggers_disabled("audits_protectedattributes"), connection.cursor() as c:
        c.execute(
            "UPDATE audits_protectedattributes SET attributes = %s::jsonb "
            "WHERE prediction_id = %s",
            [orjson.dumps(attributes).decode(), prediction_id],
        )
        assert c.rowcount == 1


def cells(version: Any) -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for groups, decision, n in DecisionCell.objects.filter(
        model_version=version
    ).values_list("groups", "decision", "n"):
        found[(groups, decision)] = found.get((groups, decision), 0) + n
    return found


# --- 1. inputs that fail their check are left out and counted ------------------------


def test_altered_protected_attributes_are_left_out_counted_and_alerted(
    deployed: ReleaseRequest,  # noqa: F811
    scorer: Any,  # noqa: F811
    risk_officer: Any,
    window: tuple[datetime, datetime],  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given 40 predictions of "<25", all approved, and 40 of "25+", 30 approved;
    # then the app's role (or a superuser) moves two declined "25+" predictions
    # into "<25" before the rollups count them
    version = deployed.model_version
    young = batch(window[0], group="<25", n=40, approved=40)
    older = batch(window[0] + timedelta(minutes=20), group="25+", n=40, approved=30)
    ingest(scorer, young + older)
    altered = [older[-1]["prediction_id"], older[-2]["prediction_id"]]
    for pid in altered:
        tamper_attributes(pid, {"age_group": "<25"})
    # when the fairness report runs (it brings the rollups up to the head)
    with django_capture_on_commit_callbacks(execute=False):
        report = run(risk_officer, version, window, "fairness")
    # then the two are in no cell, and the report counts them as failed
    assert report.status == "done"
    assert cells(version) == {
        ('{"age_group":"<25"}', "approve"): 40,
        ('{"age_group":"25+"}', "approve"): 30,
        ('{"age_group":"25+"}', "decline"): 8,
    }
    assert report.predictions == 78
    # (ids in ledger order, as the ledger itself numbers them)
    seqs = {
        str(entry_id): seq
        for entry_id, seq in LedgerEntry.objects.filter(
            entry_id__in=altered
        ).values_list("entry_id", "seq")
    }
    ordered = sorted(altered, key=seqs.__getitem__)
    assert sorted(
        (str(pid), seq)
        for pid, seq in IntegrityFailure.objects.values_list("prediction_id", "seq")
    ) == sorted(seqs.items())
    assert report.metrics["integrity"] == {
        "failed": 2,
        "by_check": {"protected_attributes": 2},
        "prediction_ids": ordered,
    }
    groups = {
        g["group"]: (g["n"], g["approved"])
        for g in report.metrics["fairness"]["by_attribute"]["age_group"]["groups"]
    }
    assert groups == {"25+": (38, 30), "<25": (40, 40)}
    # and one monitoring.integrity alert names how many and which
    alert = Alert.objects.get(kind="monitoring.integrity")
    (occurrence,) = alert.occurrence_records.all()
    expected_message = (
        f"2 predictions of {version} in production between "
        f"{window[0]:%Y-%m-%d %H:%M} and {window[1]:%Y-%m-%d %H:%M} UTC failed an "
        "integrity check and were left out of the fairness and approval-rate drift "
        f"report: {ordered[0]}, {ordered[1]}"
    )
    assert (alert.message, occurrence.message, occurrence.report_id) == (
        expected_message,
        expected_message,
        report.pk,
    )
    assert occurrence.details["prediction_ids"] == ordered
    assert (
        AuditEvent.objects.filter(
            event_type="audits.monitoring.integrity_failed", object_id=str(alert.pk)
        ).count()
        == 1
    )


def test_a_rebuild_after_the_change_does_not_read_the_altered_value(
    deployed: ReleaseRequest,  # noqa: F811
    scorer: Any,  # noqa: F811
    window: tuple[datetime, datetime],  # noqa: F811
) -> None:
    # given 5 predictions counted honestly
    version = deployed.model_version
    records = batch(window[0], group="25+", n=5, approved=5)
    ingest(scorer, records)
    rollup.rollup_catch_up()
    before = cells(version)
    # when one is altered and the rollups are rebuilt from the ledger
    tamper_attributes(records[0]["prediction_id"], {"age_group": "<25"})
    rollup.rollup_rebuild()
    # then the altered row is left out (not moved into "<25") and recorded once
    assert before == {('{"age_group":"25+"}', "approve"): 5}
    assert cells(version) == {('{"age_group":"25+"}', "approve"): 4}
    assert list(
        IntegrityFailure.objects.values_list("prediction_id", "failed_check")
    ) == [(uuid.UUID(records[0]["prediction_id"]), "protected_attributes")]


def test_attributes_for_a_prediction_that_committed_to_none_fail(
    deployed: ReleaseRequest,  # noqa: F811
    scorer: Any,  # noqa: F811
    window: tuple[datetime, datetime],  # noqa: F811
) -> None:
    # given a prediction sent without protected attributes, and a row made up
    # for it afterwards
    version = deployed.model_version
    (record,) = batch(window[0], group="25+", n=1, approved=1)
    del record["protected_attributes"]
    ingest(scorer, [record])
    with triggers_disabled("audits_protectedattributes"), connection.cursor() as c:
        c.execute(
            "INSERT INTO audits_protectedattributes "
            "(prediction_id, attributes, salt, received_at) "
            'VALUES (%s, \'{"age_group": "<25"}\'::jsonb, %s, now())',
            [record["prediction_id"], b"\x00" * 16],
        )
    # when the rollups count it
    rollup.rollup_catch_up()
    # then it is left out
    assert cells(version) == {}
    assert IntegrityFailure.objects.get().failed_check == "protected_attributes"


def test_erased_attributes_are_the_missing_group_not_a_failure(
    deployed: ReleaseRequest,  # noqa: F811
    scorer: Any,  # noqa: F811
    window: tuple[datetime, datetime],  # noqa: F811
) -> None:
    # given a prediction whose protected attributes were erased (row deleted)
    version = deployed.model_version
    (record,) = batch(window[0], group="25+", n=1, approved=1)
    ingest(scorer, [record])
    with triggers_disabled("audits_protectedattributes"), connection.cursor() as c:
        c.execute(
            "DELETE FROM audits_protectedattributes WHERE prediction_id = %s",
            [record["prediction_id"]],
        )
    # when the rollups count it
    rollup.rollup_catch_up()
    # then it is counted, without groups, and nothing failed
    assert cells(version) == {("", "approve"): 1}
    assert IntegrityFailure.objects.count() == 0


def test_outcomes_that_do_not_match_their_leaf_or_prediction_are_left_out(
    deployed: ReleaseRequest,  # noqa: F811
    scorer: Any,  # noqa: F811
    window: tuple[datetime, datetime],  # noqa: F811
) -> None:
    # given three sequenced predictions with an outcome each
    version = deployed.model_version
    records = batch(window[0], group="25+", n=3, approved=3)
    ingest(scorer, records)
    response = post(
        scorer, [outcome(r["prediction_id"], "repaid") for r in records], OUTCOMES
    )
    assert response.status_code == 200, response.content
    sequence_all()
    head = LedgerEntry.objects.order_by("-seq").values_list("seq", flat=True)[0]
    entries = rollup._entries(0, head + 1)
    outcomes = [e for e in entries if e[1] == rollup.OUTCOME]
    assert len(outcomes) == 3
    # when one outcome's stored leaf says "default" (its hash no longer matches)
    # and another is re-hashed but names a different prediction leaf hash
    changed_outcome = orjson.loads(outcomes[0][2])
    changed_outcome["outcome"] = "default"
    changed = orjson.dumps(changed_outcome, option=orjson.OPT_SORT_KEYS)
    renamed = orjson.loads(outcomes[1][2])
    renamed["prediction_leaf_hash"] = "00" * 32
    rehashed = orjson.dumps(renamed, option=orjson.OPT_SORT_KEYS)
    forged = {
        outcomes[0][0]: (*outcomes[0][:2], changed, outcomes[0][3], None, None),
        outcomes[1][0]: (*outcomes[1][:2], rehashed, merkle.leaf_hash(rehashed))
        + (None, None),
    }
    counted = rollup.count_entries([forged.get(e[0], e) for e in entries])
    # then only the untouched outcome is counted, and both others are failures
    assert dict(counted.outcomes) == {
        (
            version.pk,
            "production",
            records[2]["predicted_at"][:13],
            '{"age_group":"25+"}',
            "approve",
            "repaid",
        ): 1
    }
    assert sorted((f[3], f[4], f[5]) for f in counted.failures) == sorted(
        [
            (changed_outcome["prediction_id"], "outcome_leaf", outcomes[0][0]),
            (renamed["prediction_id"], "outcome_leaf", outcomes[1][0]),
        ]
    )
    # and the untouched ledger still counts all three
    rollup.rollup_catch_up()
    assert sum(OutcomeCell.objects.values_list("n", flat=True)) == 3


def test_a_prediction_leaf_that_does_not_match_its_hash_is_left_out(
    deployed: ReleaseRequest,  # noqa: F811
    scorer: Any,  # noqa: F811
    window: tuple[datetime, datetime],  # noqa: F811
) -> None:
    # given two sequenced predictions, one of whose stored leaf now says "decline"
    records = batch(window[0], group="25+", n=2, approved=2)
    ingest(scorer, records)
    head = LedgerEntry.objects.order_by("-seq").values_list("seq", flat=True)[0]
    entries = [e for e in rollup._entries(0, head + 1) if e[1] == rollup.PREDICTION]
    leaf = orjson.loads(entries[0][2])
    leaf["decision"] = "decline"
    altered = orjson.dumps(leaf, option=orjson.OPT_SORT_KEYS)
    # when counted
    counted = rollup.count_entries(
        [(entries[0][0], entries[0][1], altered, *entries[0][3:]), entries[1]]
    )
    # then the altered one is a failure and no "decline" is counted
    assert [(k[3], k[4], n) for k, n in counted.decisions.items()] == [
        ('{"age_group":"25+"}', "approve", 1)
    ]
    assert [(f[3], f[4]) for f in counted.failures] == [
        (leaf["prediction_id"], "prediction_leaf")
    ]


# --- 2. null, absent and "" are one missing group --------------------------------


def test_groups_key_is_the_same_for_null_absent_and_empty() -> None:
    assert (
        rollup.groups_key({"race": None, "sex": "F"})
        == rollup.groups_key({"sex": "F"})
        == rollup.groups_key({"race": "", "sex": "F"})
        == '{"sex":"F"}'
    )
    assert rollup.groups_key({"race": None}) == rollup.groups_key({}) == ""
    # cells written before the change (with "") read the same as new ones
    assert rollup.groups_values('{"race":"","sex":"F"}') == {"sex": "F"}


def _missing_three_ways(start: datetime, n_each: int) -> list[dict[str, Any]]:
    records = batch(start, group="25+", n=3 * n_each, approved=3 * n_each)
    for i, record in enumerate(records):
        how = i % 3
        if how == 0:
            record["protected_attributes"] = {"age_group": None}
        elif how == 1:
            record["protected_attributes"] = {"age_group": ""}
        else:
            del record["protected_attributes"]
    return records


def test_null_absent_and_empty_are_one_missing_group_in_both_windows(
    deployed: ReleaseRequest,  # noqa: F811
    scorer: Any,  # noqa: F811
    risk_officer: Any,
    window: tuple[datetime, datetime],  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given, in the previous window and in this one, 30 predictions of "25+" and
    # 30 with no age group: 10 sent as null, 10 as "", 10 without the attribute
    version = deployed.model_version
    length = window[1] - window[0]
    before = window[0] - length
    ingest(
        scorer,
        batch(before, group="25+", n=30, approved=20)
        + _missing_three_ways(before + timedelta(minutes=30), 10)
        + batch(window[0], group="25+", n=30, approved=20)
        + _missing_three_ways(window[0] + timedelta(minutes=30), 10),
    )
    # when the fairness report runs
    with django_capture_on_commit_callbacks(execute=False):
        report = run(risk_officer, version, window, "fairness")
    # then the 30 are one group, "(missing)", with the same counts in both windows
    drift = report.metrics["approval_drift"]
    assert drift["current"]["by_group"]["age_group"] == {
        "25+": {"n": 30, "approved": 20, "rate": 20 / 30}
    }
    assert drift["current"]["missing"]["age_group"] == {
        "n": 30,
        "approved": 30,
        "rate": 1.0,
    }
    previous_rows = [
        (r["group"], r["n"], r["reference_n"], r["status"])
        for r in drift["vs_previous"]
        if r["scope"] == "age_group"
    ]
    assert previous_rows == [
        ("25+", 30, 30, "ok"),
        (fairness.MISSING, 30, 30, "not_assessed"),
    ]
    entry = report.metrics["fairness"]["by_attribute"]["age_group"]
    assert [g["group"] for g in entry["groups"]] == ["25+"]
    assert (entry["missing"]["group"], entry["missing"]["n"]) == (
        fairness.MISSING,
        30,
    )
    # and no chart series has a group of its own for them
    assert set(report.metrics["series"]["approval_rate"]["age_group"]) == {"25+"}
    # and the page names the group once, the same way
    page = browser(risk_officer).get(f"/audits/reports/{report.pk}")
    body = page.content.decode()
    assert page.status_code == 200
    assert body.count(f'<th scope="row">{fairness.MISSING}</th>') == 1
    # (one row in each approval-rate table: against the baseline, the previous)
    assert body.count(f"<td>{fairness.MISSING}</td>") == 2
    assert "<td></td>" not in body


# --- 3. the minimum-group rules are on the page ----------------------------------


def test_report_page_states_the_minimum_group_rules_and_the_groups_left_out(
    deployed: ReleaseRequest,  # noqa: F811
    scorer: Any,  # noqa: F811
    risk_officer: Any,
    window: tuple[datetime, datetime],  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given two groups of 40 and one of 10
    version = deployed.model_version
    ingest(
        scorer,
        batch(window[0], group="25+", n=40, approved=30)
        + batch(window[0] + timedelta(minutes=20), group="<25", n=40, approved=25)
        + batch(window[0] + timedelta(minutes=40), group="65+", n=10, approved=5),
    )
    with django_capture_on_commit_callbacks(execute=False):
        report = run(risk_officer, version, window, "fairness")
    # when the page is read
    page = browser(risk_officer).get(f"/audits/reports/{report.pk}")
    body = page.content.decode()
    # then the rule is stated with the configured minimum, beside each metric
    assert page.status_code == 200
    assert (
        "over the groups with at least 30 predictions (at least two such groups "
        "are needed); left out as too small: 65+"
    ) in body
    assert (
        "over the groups with at least 30 matured predictions, both outcomes among "
        "them (at least two such groups are needed); left out: 25+, 65+, &lt;25"
    ) in body
    assert (
        "demographic parity (difference and ratio) is computed over the groups "
        "with at least 30 predictions, equalized odds over the groups with at "
        "least 30 matured predictions that include both outcomes; each needs two "
        "such groups."
    ) in body
    entry = report.metrics["fairness"]["by_attribute"]["age_group"]
    assert entry["insufficient_groups"] == ["65+"]
    assert entry["eod_left_out_groups"] == ["25+", "65+", "<25"]
    assert entry["demographic_parity_difference"] == pytest.approx(
        30 / 40 - 25 / 40, abs=1e-12
    )
    assert entry["equalized_odds_difference"] is None


def test_report_page_and_api_show_the_failed_integrity_check(
    deployed: ReleaseRequest,  # noqa: F811
    scorer: Any,  # noqa: F811
    risk_officer: Any,
    window: tuple[datetime, datetime],  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given a report whose window holds one altered prediction
    version = deployed.model_version
    records = batch(window[0], group="25+", n=3, approved=3)
    ingest(scorer, records)
    tamper_attributes(records[1]["prediction_id"], {"age_group": "<25"})
    with django_capture_on_commit_callbacks(execute=False):
        report = run(risk_officer, version, window, "drift")
    # when the page and the API are read
    page = browser(risk_officer).get(f"/audits/reports/{report.pk}")
    api = client_for(risk_officer).get(f"/api/v1/reports/{report.pk}")
    # then both say it
    pid = records[1]["prediction_id"]
    assert page.status_code == 200
    assert (
        "prediction left out of this report: protected attributes do not match "
        f"the prediction's commitment (1). First: <a href=\"/audits/predictions/{pid}"
    ) in page.content.decode().replace("&#x27;", "'")
    assert api.status_code == 200
    assert api.json()["failed_integrity_check"] == 1
    assert api.json()["metrics"]["integrity"] == {
        "failed": 1,
        "by_check": {"protected_attributes": 1},
        "prediction_ids": [pid],
    }
    assert report.predictions == 2


# --- 4. alerts keep every occurrence ----------------------------------------------


def test_a_second_report_adds_an_occurrence_with_its_own_message_and_breaches(
    deployed: ReleaseRequest,  # noqa: F811
    scorer: Any,  # noqa: F811
    risk_officer: Any,
    window: tuple[datetime, datetime],  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given a window where "<25" falls from the baseline 0.58 to 0.40, and the
    # previous window where it was at 0.58
    version = deployed.model_version
    length = window[1] - window[0]
    previous = (window[0] - length, window[0])
    ingest(
        scorer,
        batch(previous[0], group="25+", n=500, approved=360)
        + batch(previous[0] + timedelta(minutes=30), group="<25", n=500, approved=200)
        + batch(window[0], group="25+", n=500, approved=360)
        + batch(window[0] + timedelta(minutes=30), group="<25", n=500, approved=150),
    )
    # when the fairness report runs over each window
    with django_capture_on_commit_callbacks(execute=False):
        first = run(risk_officer, version, previous, "fairness")
        second = run(risk_officer, version, window, "fairness")
    # then one alert with two occurrences, each with its report's message and
    # breaches, the alert's own message being the latest
    alert = Alert.objects.get(kind="monitoring.fairness")
    rows = list(alert.occurrence_records.order_by("occurred_at", "id"))
    assert [(o.report_id, o.count) for o in rows] == [(first.pk, 1), (second.pk, 1)]
    assert [o.details["breaches"] for o in rows] == [
        first.breaches[:20],
        second.breaches[:20],
    ]
    assert first.breaches != second.breaches
    assert [o.message.split(" UTC): ")[0] for o in rows] == [
        f"Fairness and approval-rate drift breach for {version} in production "
        f"({report.window_start:%Y-%m-%d %H:%M} to "
        f"{report.window_end:%Y-%m-%d %H:%M}"
        for report in (first, second)
    ]
    assert (alert.occurrences, alert.message, alert.details) == (
        2,
        rows[1].message,
        rows[1].details,
    )
    # and the alert page lists both, with their own breaches
    page = browser(risk_officer).get(f"/audits/alerts/{alert.pk}")
    body = page.content.decode()
    assert page.status_code == 200
    for row in rows:
        assert f'id="occurrence-{row.pk}"' in body
        assert f'<a href="/audits/reports/{row.report_id}">' in body
    # and so does the API, newest first
    api = client_for(risk_officer).get(f"/api/v1/alerts/{alert.pk}")
    assert api.status_code == 200
    body_json = api.json()
    assert (body_json["occurrences"], body_json["occurrences_recorded"]) == (2, 2)
    assert [
        (o["report"], o["message"], o["details"]) for o in body_json["occurrence_log"]
    ] == [(o.report_id, o.message, o.details) for o in reversed(rows)]
    # and the monitoring page shows the latest messages of the open alert
    overview = browser(risk_officer).get("/audits/monitoring/").content.decode()
    assert f'href="/audits/alerts/{alert.pk}"' in overview
    assert overview.count('class="alert-occurrences"') == 1


def test_occurrences_cannot_be_changed_or_deleted(
    submitted_version: Any,
) -> None:
    # given one occurrence of an alert
    from audits.monitoring import services

    alert, _ = services.alert_raise(
        kind="monitoring.drift",
        version=submitted_version,
        environment="production",
        message="first",
        details={"breaches": [{"metric": "psi"}]},
    )
    occurrence = alert.occurrence_records.get()
    # when it is updated, deleted or truncated as the owner
    for statement in (
        "UPDATE audits_alertoccurrence SET message = 'rewritten'",
        "DELETE FROM audits_alertoccurrence",
        "TRUNCATE audits_alertoccurrence CASCADE",
    ):
        with pytest.raises(DatabaseError, match="append-only"):
            with transaction.atomic(), connection.cursor() as cursor:
                # the test's own inserts leave deferred FK checks pending, which
                # TRUNCATE refuses before any trigger runs
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(statement)
    # then it is as it was
    assert list(AlertOccurrence.objects.values_list("pk", "message", "details")) == [
        (occurrence.pk, "first", {"breaches": [{"metric": "psi"}]})
    ]


@pytest.mark.parametrize(
    ("who", "status"), [("anonymous", 302), ("outsider", 403), ("risk_officer", 200)]
)
def test_the_alert_page_is_for_roles_that_see_alerts(
    request: pytest.FixtureRequest, submitted_version: Any, who: str, status: int
) -> None:
    from audits.monitoring import services

    alert, _ = services.alert_raise(
        kind="monitoring.drift",
        version=submitted_version,
        environment="production",
        message="psi amount",
        details={},
    )
    client = Client() if who == "anonymous" else browser(request.getfixturevalue(who))
    response = client.get(f"/audits/alerts/{alert.pk}")
    assert response.status_code == status
    if status == 200:
        assert "psi amount" in response.content.decode()
    assert client.get("/audits/alerts/999999").status_code == (
        404 if status == 200 else status
    )


@pytest.mark.parametrize(
    ("who", "status"), [("anonymous", 401), ("outsider", 403), ("auditor", 200)]
)
def test_the_alert_api_is_for_roles_that_see_alerts(
    request: pytest.FixtureRequest, submitted_version: Any, who: str, status: int
) -> None:
    from audits.monitoring import services

    alert, _ = services.alert_raise(
        kind="monitoring.drift",
        version=submitted_version,
        environment="production",
        message="psi amount",
        details={"breaches": []},
    )
    user = None if who == "anonymous" else request.getfixturevalue(who)
    # (an outsider has no role, so no token scope: a session, as in a browser)
    client = browser(user) if who == "outsider" else client_for(user)
    response = client.get(f"/api/v1/alerts/{alert.pk}")
    assert response.status_code == status
    if status == 200:
        assert [o["message"] for o in response.json()["occurrence_log"]] == [
            "psi amount"
        ]
        assert client.get("/api/v1/alerts/999999").status_code == 404


def test_the_alert_admin_shows_every_occurrence(
    admin_client: Client, submitted_version: Any
) -> None:
    # given an alert raised twice, with two messages
    from audits.monitoring import services

    for message in ("psi amount 0.31", "psi amount 0.42"):
        alert, _ = services.alert_raise(
            kind="monitoring.drift",
            version=submitted_version,
            environment="production",
            message=message,
            details={},
        )
    # when its admin page is read
    response = admin_client.get(f"/admin/audits/alert/{alert.pk}/change/")
    # then both occurrences are there, read-only
    body = response.content.decode()
    assert response.status_code == 200
    assert "psi amount 0.31" in body and "psi amount 0.42" in body
    assert 'name="occurrence_records-0-message"' not in body
