"""The ingest API on real PostgreSQL: POST /api/v1/predictions and /api/v1/outcomes.

reference/ledger.md D1-D7 (idempotency and bad input) and F2 (keys), the overload
answer, shadow models, protected attributes kept apart, and governance events and
deployment states as ledger leaves that verify after sequencing.
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from audits.ledger import checkpoint, merkle, records, services
from audits.ledger.governance import event_entry_id
from audits.ledger.models import (
    Alert,
    DeploymentState,
    EntryType,
    LedgerEntry,
    LedgerKey,
    LedgerQueue,
    ProtectedAttributes,
)
from audits.models import AuditEvent, RefusalKind, RefusedAction
from governance import services as governance_services
from governance.models import ApiToken, ReleaseRequest
from governance.services import deployments
from registry import services as registry_services
from tests.audits.ledger.test_faults import CommittedDatabase, committed_database
from tests.conftest import client_for
from tests.factories import ModelFactory, sha, version_payload
from tests.governance.test_gate_api import approve

PREDICTIONS = "/api/v1/predictions"
OUTCOMES = "/api/v1/outcomes"
FEATURES = {"amount": 3000, "duration": 24, "purpose": "car"}


def uuid7(at: datetime | None = None) -> str:
    millis = int((at or timezone.now()).timestamp() * 1000)
    tail = secrets.randbits(62)
    return str(uuid.UUID(int=(millis << 80) | (0x7 << 76) | (0b10 << 62) | tail))


def prediction(**overrides: Any) -> dict[str, Any]:
    at = timezone.now() - timedelta(minutes=1)
    data: dict[str, Any] = {
        "prediction_id": uuid7(at),
        "model": "credit-risk",
        "version": "1.0.0",
        "predicted_at": at.isoformat().replace("+00:00", "Z"),
        "features": dict(FEATURES),
        "score": 0.71,
        "decision": "approve",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not ...}


def outcome(prediction_id: str, value: Any = "default") -> dict[str, Any]:
    return {
        "prediction_id": prediction_id,
        "outcome": value,
        "observed_at": (timezone.now() - timedelta(seconds=5)).isoformat(),
    }


def post(
    client: APIClient,
    body: Any,
    url: str = PREDICTIONS,
    content_type: str = "application/json",
) -> Any:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.post(url, data=data, content_type=content_type)


def snapshot() -> dict[str, int]:
    """Row counts of everything an ingest request may write."""
    return {
        "keys": LedgerKey.objects.count(),
        "queue": LedgerQueue.objects.count(),
        "entries": LedgerEntry.objects.count(),
        "protected": ProtectedAttributes.objects.count(),
        "alerts": Alert.objects.count(),
        "events": AuditEvent.objects.count(),
    }


def grew(before: dict[str, int], **by: int) -> dict[str, int]:
    return {name: count + by.get(name, 0) for name, count in before.items()}


def sequence_all() -> None:
    signer = services.ledger_signer()
    while services.ledger_sequence(signer=signer) is not None:
        pass


def queued_leaf(prediction_id: str) -> dict[str, Any]:
    row = LedgerQueue.objects.get(entry_id=uuid.UUID(prediction_id))
    return dict(orjson.loads(bytes(row.leaf)))


@pytest.fixture
def ingest_key(service: Any, credit_model: Any) -> Any:
    return governance_services.api_token_create(
        actor=None,
        user=service,
        name="credit scorer",
        deployment_model=credit_model,
        deployment_environment="production",
    )


def bearer(raw: str, **kwargs: Any) -> APIClient:
    client = APIClient(**kwargs)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def scorer(ingest_key: Any, submitted_version: Any) -> APIClient:
    """The serving deployment's client (credit-risk 1.0.0 in production)."""
    return bearer(ingest_key.raw)


# --- acceptance ------------------------------------------------------------------------


def test_batch_is_queued_with_a_receipt_per_record(
    scorer: APIClient, ingest_key: Any, submitted_version: Any, credit_model: Any
) -> None:
    # given one record with features and one with an input commitment
    batch = [
        prediction(),
        prediction(features=..., input_commitment=sha("inputs"), decision=...),
    ]
    before = snapshot()
    # when
    response = post(scorer, batch)
    # then
    assert response.status_code == 200
    keys = {
        str(k.entry_id): k
        for k in LedgerKey.objects.filter(entry_type=EntryType.PREDICTION)
    }
    assert response.json() == {
        "accepted": 2,
        "duplicates": 0,
        "records": [
            {
                "prediction_id": r["prediction_id"],
                "leaf_hash": bytes(keys[r["prediction_id"]].leaf_hash).hex(),
                "received_at": records.iso(keys[r["prediction_id"]].received_at),
            }
            for r in batch
        ],
    }
    # the new version is not deployed, so the batch also raised a shadow alert,
    # whose audit event is a governance leaf of its own, and the alert and its
    # occurrence are record leaves (issue 13): 2 predictions + 3 governance leaves
    assert snapshot() == grew(before, keys=5, queue=5, alerts=1, events=1)
    for record in batch:
        key = keys[record["prediction_id"]]
        row = LedgerQueue.objects.get(entry_id=key.entry_id)
        assert (key.binding, key.entry_type) == (
            f"{credit_model.pk}/production",
            EntryType.PREDICTION,
        )
        assert (
            bytes(key.payload_sha256) == hashlib.sha256(records.dumps(record)).digest()
        )
        assert bytes(key.leaf_hash) == merkle.leaf_hash(bytes(row.leaf))
    first = queued_leaf(batch[0]["prediction_id"])
    assert first == {
        "v": 1,
        "type": "prediction",
        "prediction_id": batch[0]["prediction_id"],
        "deployment": {
            "model": "credit-risk",
            "environment": "production",
            "key": ingest_key.token.prefix,
        },
        "model_version": {
            "version": "1.0.0",
            "artifact_sha256": submitted_version.artifact_sha256,
        },
        "deployment_state": None,
        "shadow": True,
        "predicted_at": records.iso(datetime.fromisoformat(batch[0]["predicted_at"])),
        "received_at": response.json()["records"][0]["received_at"],
        "score": 0.71,
        "decision": "approve",
        "protected_attributes_commitment": None,
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "features": FEATURES,
    }
    second = queued_leaf(batch[1]["prediction_id"])
    assert (second["input_commitment"], second["decision"]) == (sha("inputs"), None)
    assert "features" not in second


def test_ndjson_batch_with_blank_lines_is_accepted(scorer: APIClient) -> None:
    # given
    batch = [prediction(), prediction()]
    body = b"\n".join([b"", orjson.dumps(batch[0]), b"", orjson.dumps(batch[1]), b""])
    # when
    response = post(scorer, body, content_type="application/x-ndjson")
    # then
    assert response.status_code == 200
    assert [r["prediction_id"] for r in response.json()["records"]] == [
        r["prediction_id"] for r in batch
    ]
    assert LedgerKey.objects.filter(entry_type=EntryType.PREDICTION).count() == 2


def test_negative_zero_score_is_recorded_as_sent(scorer: APIClient) -> None:
    # given
    record = prediction(score=-0.0)
    # when
    response = post(scorer, [record])
    # then
    assert response.status_code == 200
    row = LedgerQueue.objects.get(entry_id=uuid.UUID(record["prediction_id"]))
    assert b'"score":-0.0' in bytes(row.leaf)


# --- D1, D2, D4: idempotency -----------------------------------------------------------


def test_same_batch_five_times_writes_one_set_of_rows_d1(scorer: APIClient) -> None:
    # given
    batch = [
        prediction(protected_attributes={"sex": "female"}),
        prediction(),
        prediction(),
    ]
    before = snapshot()
    # when
    responses = [post(scorer, batch) for _ in range(5)]
    # then every answer is 200 with the same receipts
    assert [r.status_code for r in responses] == [200] * 5
    bodies = [r.json() for r in responses]
    assert [(b["accepted"], b["duplicates"]) for b in bodies] == [(3, 0)] + [(0, 3)] * 4
    assert all(b["records"] == bodies[0]["records"] for b in bodies)
    # and one set of rows; the shadow alert counted three predictions, not fifteen
    # (+2: the shadow alert and its occurrence as record leaves, issue 13)
    assert snapshot() == grew(before, keys=6, queue=6, protected=1, alerts=1, events=1)
    assert Alert.objects.get().occurrences == 3


def test_retry_after_sequencing_returns_the_original_receipts_d1(
    scorer: APIClient, ledger_key: Any
) -> None:
    # given a batch accepted and sequenced
    batch = [prediction(), prediction()]
    first = post(scorer, batch).json()
    sequence_all()
    before = snapshot()
    # when the client retries
    again = post(scorer, batch)
    # then
    assert again.status_code == 200
    assert again.json() == {**first, "accepted": 0, "duplicates": 2}
    assert snapshot() == before
    entries = LedgerEntry.objects.filter(
        entry_id__in=[uuid.UUID(r["prediction_id"]) for r in batch]
    )
    assert sorted(bytes(e.leaf_hash).hex() for e in entries) == sorted(
        r["leaf_hash"] for r in first["records"]
    )


@pytest.mark.parametrize(
    "change",
    [
        {"score": 0.72},
        {"features": {**FEATURES, "amount": 3001}},
        {"decision": ...},
        {"trace_id": "another"},
        {"protected_attributes": {"sex": "male"}},
    ],
    ids=["score", "features", "decision-dropped", "trace-id", "protected-added"],
)
def test_same_id_with_a_different_payload_is_422_and_nothing_is_written_d2(
    scorer: APIClient, change: dict[str, Any]
) -> None:
    # given an accepted record
    original = prediction()
    assert post(scorer, [original]).status_code == 200
    changed = {k: v for k, v in {**original, **change}.items() if v is not ...}
    fresh = prediction(protected_attributes={"sex": "female"})
    before = snapshot()
    # when a batch holds a fresh record and the changed one
    response = post(scorer, [fresh, changed])
    # then
    assert response.status_code == 422
    assert response.json() == {
        "detail": (
            "Prediction ids already recorded with a different payload; "
            "nothing of this batch was written."
        ),
        "code": "idempotency_conflict",
        "errors": {
            "records[1].prediction_id": ["Already recorded with a different payload."]
        },
    }
    assert snapshot() == before
    assert not LedgerKey.objects.filter(
        entry_id=uuid.UUID(fresh["prediction_id"])
    ).exists()


def test_duplicate_id_inside_one_batch_is_422_and_nothing_is_written_d4(
    scorer: APIClient,
) -> None:
    # given
    record = prediction()
    batch = [record, prediction(), dict(record)]
    before = snapshot()
    # when
    response = post(scorer, batch)
    # then
    assert response.status_code == 422
    assert response.json() == {
        "detail": "1 of 3 records are invalid; nothing of this batch was written.",
        "code": "invalid_batch",
        "errors": {
            "records[2].prediction_id": ["Duplicate of records[0] in this batch."]
        },
    }
    assert snapshot() == before


# --- D3: concurrent duplicates ---------------------------------------------------------

CONCURRENT_SCRIPT = r"""
import json
import sys
import threading

import django

django.setup()
from django.db import connections
from django.test import Client

spec = json.loads(sys.stdin.read())
bodies = spec["bodies"]
barrier = threading.Barrier(len(bodies))
results = [None] * len(bodies)


def run(i):
    client = Client(
        raise_request_exception=False, HTTP_AUTHORIZATION="Bearer " + spec["token"]
    )
    statuses = []
    barrier.wait()
    for _ in range(50):
        response = client.post(
            "/api/v1/predictions", data=bodies[i], content_type="application/json"
        )
        statuses.append(response.status_code)
        if response.status_code != 503:
            break
    results[i] = {"statuses": statuses, "body": json.loads(response.content)}
    connections.close_all()


threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def committed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CommittedDatabase]:
    with committed_database(tmp_path_factory.mktemp("d3"), "ingest_d3") as db:
        yield db


def _post_concurrently(db: CommittedDatabase, bodies: list[str]) -> list[Any]:
    done = db.python(
        CONCURRENT_SCRIPT, stdin=json.dumps({"token": db.token, "bodies": bodies})
    )
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_concurrent_duplicates_are_written_exactly_once_d3(
    committed: CommittedDatabase,
) -> None:
    """Concurrent requests must see each other's commits, which the test
    transaction of pytest-django hides (and transactional tests cannot flush the
    append-only tables). So the requests run in a subprocess, 12 threads with their
    own connections through the whole Django stack (django.test.Client), against a
    database of this module's own (created, migrated and seeded by
    ``committed_database``); the result is read back with psycopg."""
    # given 30 records, and 40 more of which each thread sends a shuffled subset
    same = [prediction() for _ in range(30)]
    pool = [prediction() for _ in range(40)]
    rng = random.Random(4)
    overlapping = []
    for i in range(12):
        subset = [pool[j] for j in range(40) if j % 3 == i % 3 or rng.random() < 0.5]
        rng.shuffle(subset)
        overlapping.append(subset)
    # when 12 threads post the same batch at once, then 12 post overlapping batches
    first = _post_concurrently(committed, [orjson.dumps(same).decode()] * 12)
    second = _post_concurrently(
        committed, [orjson.dumps(batch).decode() for batch in overlapping]
    )
    # then every thread ends with 200 (a deadlock victim got 503 and retried)
    results = first + second
    assert [r["statuses"][-1] for r in results] == [200] * 24
    assert {s for r in results for s in r["statuses"]} <= {200, 503}
    # and each id was accepted once in all, every receipt naming the stored row
    assert sum(r["body"]["accepted"] for r in first) == 30
    assert sum(r["body"]["accepted"] for r in second) == 40
    stored = {
        str(row[0]): (bytes(row[1]).hex(), row[2])
        for row in committed.query(
            "SELECT entry_id, leaf_hash, received_at FROM audits_ledgerkey "
            "WHERE entry_type = 1"
        )
    }
    assert set(stored) == {r["prediction_id"] for r in same + pool}
    for result in results:
        for receipt in result["body"]["records"]:
            leaf_hash, received_at = stored[receipt["prediction_id"]]
            assert (receipt["leaf_hash"], receipt["received_at"]) == (
                leaf_hash,
                records.iso(received_at),
            )
    queued = Counter(
        str(row[0])
        for row in committed.query(
            "SELECT entry_id FROM audits_ledgerqueue WHERE entry_type = 1"
        )
    )
    assert queued == Counter(set(stored))
    # and the concurrent shadow alerts became one alert counting 70 predictions
    assert committed.query("SELECT kind, occurrences, is_open FROM audits_alert") == [
        ("shadow_model", 70, True)
    ]
    assert committed.query(
        "SELECT count(*) FROM audits_auditevent WHERE event_type = %s",
        ["audits.alert.raised"],
    ) == [(1,)]


# --- D5: bad bodies --------------------------------------------------------------------


def _bad_body(kind: str) -> tuple[bytes, str]:
    valid = prediction()
    json_type = "application/json"
    bodies: dict[str, tuple[bytes, str]] = {
        "malformed": (b'[{"prediction_id": ', json_type),
        "not-an-array": (orjson.dumps(valid), json_type),
        "empty": (b"[]", json_type),
        "empty-ndjson": (b"\n\n", "application/x-ndjson"),
        "ndjson-bad-line": (
            orjson.dumps(valid) + b"\n{oops}\n",
            "application/x-ndjson",
        ),
        "invalid-utf8": (b'[{"model": "\xff\xfe"}]', json_type),
        "raw-nul": (b'[{"model": "credit\x00risk"}]', json_type),
        "nesting-10k": (b"[" * 10_000 + b"]" * 10_000, json_type),
        "1e999": (
            orjson.dumps([valid]).replace(b'"score":0.71', b'"score":1e999'),
            json_type,
        ),
        "text-plain": (orjson.dumps([valid]), "text/plain"),
        "form": (b"a=1", "application/x-www-form-urlencoded"),
        "1001-records": (
            orjson.dumps([prediction() for _ in range(1001)]),
            json_type,
        ),
        "over-1-mib": (
            orjson.dumps([valid]) + b" " * (1024 * 1024),
            json_type,
        ),
        "wrong-types": (
            orjson.dumps([{**valid, "score": "high", "decision": 1, "features": []}]),
            json_type,
        ),
        "missing-fields": (
            orjson.dumps([{"prediction_id": valid["prediction_id"]}]),
            json_type,
        ),
        "extra-fields": (
            orjson.dumps([{**valid, "deployment_id": "prod", "model_version_id": 1}]),
            json_type,
        ),
        "escaped-nul-in-trace-id": (
            orjson.dumps([{**valid, "trace_id": "a\x00b"}]),
            json_type,
        ),
        "int-beyond-2^53": (
            orjson.dumps([{**valid, "features": {**FEATURES, "amount": 2**53 + 1}}]),
            json_type,
        ),
        "uuid7-a-year-old": (
            orjson.dumps(
                [
                    {
                        **valid,
                        "prediction_id": uuid7(timezone.now() - timedelta(days=365)),
                    }
                ]
            ),
            json_type,
        ),
    }
    return bodies[kind]


@pytest.mark.parametrize(
    ("kind", "status", "code", "error_keys"),
    [
        ("malformed", 400, "malformed_json", ["body"]),
        ("not-an-array", 400, "not_a_batch", ["body"]),
        ("empty", 400, "empty_batch", ["body"]),
        ("empty-ndjson", 400, "empty_batch", ["body"]),
        ("ndjson-bad-line", 400, "malformed_json", ["line 2"]),
        ("invalid-utf8", 400, "malformed_json", ["body"]),
        ("raw-nul", 400, "malformed_json", ["body"]),
        ("nesting-10k", 422, "invalid_batch", ["records" + "[0]" * 64]),
        ("1e999", 422, "invalid_batch", ["records[0].score"]),
        ("text-plain", 415, "unsupported_media_type", ["body"]),
        ("form", 415, "unsupported_media_type", ["body"]),
        ("1001-records", 413, "too_many_records", []),
        ("over-1-mib", 413, "batch_too_large", ["body"]),
        (
            "wrong-types",
            422,
            "invalid_batch",
            ["records[0].features", "records[0].score", "records[0].decision"],
        ),
        (
            "missing-fields",
            422,
            "invalid_batch",
            [
                "records[0].model",
                "records[0].version",
                "records[0].predicted_at",
                "records[0].score",
                "records[0].features",
            ],
        ),
        (
            "extra-fields",
            422,
            "invalid_batch",
            ["records[0].deployment_id", "records[0].model_version_id"],
        ),
        ("escaped-nul-in-trace-id", 422, "invalid_batch", ["records[0].trace_id"]),
        ("int-beyond-2^53", 422, "invalid_batch", ["records[0].features.amount"]),
        ("uuid7-a-year-old", 422, "invalid_batch", ["records[0].prediction_id"]),
    ],
)
def test_bad_body_is_refused_and_nothing_is_written_d5(
    scorer: APIClient, kind: str, status: int, code: str, error_keys: list[str]
) -> None:
    # given
    body, content_type = _bad_body(kind)
    before = snapshot()
    # when
    response = post(scorer, body, content_type=content_type)
    # then
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    payload = response.json()
    assert (payload["code"], sorted(payload["errors"])) == (code, sorted(error_keys))
    assert snapshot() == before


def test_bad_outcome_bodies_are_refused_and_nothing_is_written_d5(
    scorer: APIClient,
) -> None:
    # given a recorded prediction
    record = prediction()
    post(scorer, [record])
    before = snapshot()
    # when
    statuses = [
        post(scorer, b"[", OUTCOMES).status_code,
        post(scorer, b"[]", OUTCOMES).status_code,
        post(
            scorer,
            orjson.dumps([outcome(record["prediction_id"])]),
            OUTCOMES,
            "text/plain",
        ).status_code,
        post(
            scorer, [outcome(record["prediction_id"], value=[1])], OUTCOMES
        ).status_code,
        post(
            scorer, [{"prediction_id": record["prediction_id"]}], OUTCOMES
        ).status_code,
    ]
    # then
    assert statuses == [400, 400, 415, 422, 422]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("overrides", "error_key"),
    [
        (
            {"protected_attributes": {"sex": "fe\x00male"}},
            "records[0].protected_attributes.sex",
        ),
        (
            {"protected_attributes": {"s\x00x": "female"}},
            "records[0].protected_attributes.s\\u0000x",
        ),
        (
            {"prediction_id": "ffffffff-ffff-7fff-bfff-ffffffffffff"},
            "records[0].prediction_id",
        ),
        ({"predicted_at": "0001-01-01T00:00:00+01:00"}, "records[0].predicted_at"),
    ],
    ids=[
        "nul-in-protected-value",
        "nul-in-protected-key",
        "uuid7-year-10889",
        "year-1",
    ],
)
def test_edge_inputs_are_refused_with_422_not_a_server_error(
    ingest_key: Any, submitted_version: Any, overrides: dict[str, Any], error_key: str
) -> None:
    # given a client that reports a server error as a response
    client = bearer(ingest_key.raw, raise_request_exception=False)
    before = snapshot()
    # when
    response = post(client, [prediction(**overrides)])
    # then
    assert response.status_code == 422
    assert list(response.json()["errors"]) == [error_key]
    assert snapshot() == before


# --- D6 and F2: the key decides the deployment -----------------------------------------


def test_model_or_version_not_of_the_binding_is_422_and_nothing_is_written_d6(
    scorer: APIClient, developer: Any
) -> None:
    # given another model with its own version 2.0.0
    other = ModelFactory(slug="fraud", developers=[developer])
    registry_services.model_version_register(
        actor=developer, model=other, data=version_payload("2.0.0")
    )
    before = snapshot()
    # when
    response = post(
        scorer,
        [prediction(model="fraud"), prediction(version="2.0.0"), prediction()],
    )
    # then
    assert response.status_code == 422
    assert response.json()["errors"] == {
        "records[0].model": ["This key is bound to model 'credit-risk' in production."],
        "records[1].version": ["No version '2.0.0' of credit-risk is registered."],
    }
    assert snapshot() == before


def _revoked(token: Any, service: Any) -> None:
    governance_services.api_token_revoke(actor=service, token=token)


def _expired(token: Any, service: Any) -> None:
    ApiToken.objects.filter(pk=token.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )


def _disabled(token: Any, service: Any) -> None:
    service.is_active = False
    service.save(update_fields=["is_active"])


@pytest.mark.parametrize(
    ("header", "spoil", "status"),
    [
        (None, None, 401),
        ("Bearer mg_00000000_unknown", None, 401),
        ("Bearer not-a-modelgov-token", None, 401),
        ("Token abc", None, 401),
        ("key", _revoked, 401),
        ("key", _expired, 401),
        ("key", _disabled, 401),
        ("unbound", None, 403),
        ("developer", None, 403),
    ],
    ids=[
        "missing",
        "unknown",
        "malformed",
        "other-scheme",
        "revoked",
        "expired",
        "disabled-account",
        "unbound-service-token",
        "developer-token",
    ],
)
@pytest.mark.parametrize("url", [PREDICTIONS, OUTCOMES])
def test_only_a_live_bound_ingest_key_may_write_f2(
    ingest_key: Any,
    submitted_version: Any,
    service: Any,
    developer: Any,
    header: str | None,
    spoil: Any,
    status: int,
    url: str,
) -> None:
    # given a recorded prediction and a key in the given state
    record = prediction()
    assert post(bearer(ingest_key.raw), [record]).status_code == 200
    client = APIClient()
    if header == "key":
        spoil(ingest_key.token, service)
        client = bearer(ingest_key.raw)
    elif header == "unbound":
        client = client_for(service)
    elif header == "developer":
        client = client_for(developer)
    elif header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    body = [outcome(record["prediction_id"])] if url == OUTCOMES else [prediction()]
    before = snapshot()
    # when
    response = post(client, body, url)
    # then refused; the only rows written are the refusal of a known token (a
    # spoiled key is misuse, another token lacks the scope) and its ledger leaf
    assert response.status_code == status
    kind = {
        "key": RefusalKind.TOKEN_MISUSE,
        "unbound": RefusalKind.TOKEN_SCOPE,
        "developer": RefusalKind.TOKEN_SCOPE,
    }.get(header or "")
    refused = list(RefusedAction.objects.values_list("kind", flat=True))
    assert refused == ([kind] if kind else [])
    assert snapshot() == grew(before, keys=len(refused), queue=len(refused))
    if status == 401:
        assert response["WWW-Authenticate"] == 'Bearer realm="modelgov"'


def test_key_of_another_deployment_cannot_add_outcomes_to_its_predictions_d6(
    scorer: APIClient, service: Any, credit_model: Any, developer: Any
) -> None:
    # given a recorded prediction of credit-risk in production, and keys of
    # credit-risk in staging and of another model in production
    record = prediction()
    assert post(scorer, [record]).status_code == 200
    staging = governance_services.api_token_create(
        actor=None,
        user=service,
        name="staging scorer",
        deployment_model=credit_model,
        deployment_environment="staging",
    )
    fraud = ModelFactory(slug="fraud", developers=[developer])
    other = governance_services.api_token_create(
        actor=None,
        user=service,
        name="fraud scorer",
        deployment_model=fraud,
        deployment_environment="production",
    )
    before = snapshot()
    # when each tries to add an outcome, and to re-send the prediction as its own
    answers = [
        post(bearer(key.raw), [outcome(record["prediction_id"])], OUTCOMES)
        for key in (staging, other)
    ]
    as_own = post(bearer(other.raw), [record])
    # then the prediction is unknown to them, and the model is not theirs
    assert [a.status_code for a in answers] == [404, 404]
    assert all(
        a.json()
        == {
            "detail": "Unknown prediction id(s); nothing was written.",
            "code": "unknown_prediction",
            "errors": {
                "records[0].prediction_id": [
                    "No prediction with this id was recorded for this deployment."
                ]
            },
        }
        for a in answers
    )
    assert as_own.status_code == 422
    assert as_own.json()["errors"] == {
        "records[0].model": ["This key is bound to model 'fraud' in production."],
        "records[0].version": ["No version '1.0.0' of fraud is registered."],
    }
    assert snapshot() == before


# --- D7: outcomes ----------------------------------------------------------------------


def test_outcome_for_an_unknown_prediction_is_404_and_nothing_is_written_d7(
    scorer: APIClient,
) -> None:
    # given one known prediction
    known = prediction()
    post(scorer, [known])
    before = snapshot()
    # when a batch holds an outcome for it and one for an unknown id
    response = post(
        scorer,
        [outcome(known["prediction_id"]), outcome(uuid7())],
        OUTCOMES,
    )
    # then
    assert response.status_code == 404
    assert response.json()["errors"] == {
        "records[1].prediction_id": [
            "No prediction with this id was recorded for this deployment."
        ]
    }
    assert snapshot() == before


def test_outcome_is_appended_once_and_never_updated_d7(
    scorer: APIClient, ledger_key: Any
) -> None:
    # given a sequenced prediction
    record = prediction()
    receipt = post(scorer, [record]).json()["records"][0]
    sequence_all()
    prediction_entry = LedgerEntry.objects.get(
        entry_id=uuid.UUID(record["prediction_id"])
    )
    reported = outcome(record["prediction_id"], value=True)
    # when the outcome is reported, repeated, then reported differently
    first = post(scorer, [reported], OUTCOMES)
    after_first = snapshot()
    again = post(scorer, [reported], OUTCOMES)
    different = post(scorer, [{**reported, "outcome": False}], OUTCOMES)
    # then the first is accepted, the repeat is a duplicate, the change a conflict
    outcome_id = str(records.outcome_entry_id(uuid.UUID(record["prediction_id"])))
    key = LedgerKey.objects.get(entry_id=uuid.UUID(outcome_id))
    assert first.status_code == 200
    assert first.json() == {
        "accepted": 1,
        "duplicates": 0,
        "records": [
            {
                "prediction_id": record["prediction_id"],
                "outcome_id": outcome_id,
                "leaf_hash": bytes(key.leaf_hash).hex(),
                "received_at": records.iso(key.received_at),
            }
        ],
    }
    assert (again.status_code, again.json()) == (
        200,
        {**first.json(), "accepted": 0, "duplicates": 1},
    )
    assert different.status_code == 409
    assert different.json() == {
        "detail": (
            "An outcome was already recorded with another value; nothing was written."
        ),
        "code": "conflicting_outcome",
        "errors": {
            "records[0].outcome": [
                "A different outcome was already recorded for this prediction."
            ]
        },
    }
    assert snapshot() == after_first
    # and after sequencing the ledger holds the prediction, unchanged, and one
    # outcome entry pointing at it
    sequence_all()
    entries = LedgerEntry.objects.filter(
        entry_id__in=[uuid.UUID(record["prediction_id"]), uuid.UUID(outcome_id)]
    ).order_by("seq")
    assert [e.entry_type for e in entries] == [EntryType.PREDICTION, EntryType.OUTCOME]
    assert bytes(entries[0].leaf) == bytes(prediction_entry.leaf)
    assert bytes(entries[0].leaf_hash).hex() == receipt["leaf_hash"]
    leaf = orjson.loads(bytes(entries[1].leaf))
    assert (leaf["type"], leaf["outcome"], leaf["prediction_leaf_hash"]) == (
        "outcome",
        True,
        receipt["leaf_hash"],
    )


def test_outcomes_as_ndjson_are_accepted(scorer: APIClient) -> None:
    # given two recorded predictions
    batch = [prediction(), prediction()]
    post(scorer, batch)
    body = b"\n".join(orjson.dumps(outcome(r["prediction_id"], 1)) for r in batch)
    # when
    response = post(scorer, body, OUTCOMES, "application/x-ndjson")
    # then
    assert (response.status_code, response.json()["accepted"]) == (200, 2)
    assert LedgerKey.objects.filter(entry_type=EntryType.OUTCOME).count() == 2


# --- overload --------------------------------------------------------------------------


def test_overload_answers_503_with_retry_after_and_writes_nothing(
    scorer: APIClient, settings: Any, ledger_key: Any
) -> None:
    # given a queue at its limit
    record = prediction()
    post(scorer, [record])
    outstanding = LedgerQueue.objects.count()
    settings.MODELGOV_INGEST_MAX_OUTSTANDING = outstanding
    before = snapshot()
    # when
    refused = post(scorer, [prediction()])
    refused_outcome = post(scorer, [outcome(record["prediction_id"])], OUTCOMES)
    # then
    for response in (refused, refused_outcome):
        assert response.status_code == 503
        assert response["Retry-After"] == "1"
        assert response.json()["code"] == "overloaded"
    assert snapshot() == before
    # and once the sequencer has drained the queue, ingest resumes
    sequence_all()
    assert post(scorer, [prediction()]).status_code == 200


# --- shadow models and the deployment state in force ----------------------------------


def test_predictions_of_an_undeployed_version_are_shadow_and_raise_one_alert(
    scorer: APIClient, ingest_key: Any, submitted_version: Any, credit_model: Any
) -> None:
    # when two batches come from a version that is not deployed
    first = [prediction(), prediction(), prediction()]
    second = [prediction(), prediction()]
    post(scorer, first)
    post(scorer, second)
    post(scorer, first)  # a retry counts nothing
    # then every leaf is marked shadow
    for record in first + second:
        leaf = queued_leaf(record["prediction_id"])
        assert (leaf["shadow"], leaf["deployment_state"]) == (True, None)
    # and one open alert counts the five predictions
    alert = Alert.objects.get()
    assert (
        alert.kind,
        alert.severity,
        alert.model,
        alert.environment,
        alert.model_version,
        alert.occurrences,
        alert.is_open,
        alert.details,
    ) == (
        "shadow_model",
        "high",
        credit_model,
        "production",
        submitted_version,
        5,
        True,
        {
            "deployed_version_id": None,
            "approval_in_force": False,
            "key": ingest_key.token.prefix,
        },
    )
    event = AuditEvent.objects.get(event_type="audits.alert.raised")
    assert (event.object_id, event.payload) == (
        str(alert.pk),
        {
            "kind": "shadow_model",
            "model_version_id": submitted_version.pk,
            "environment": "production",
            "count": 3,
        },
    )
    # and each batch is an occurrence of its own, with its own message
    assert [
        (o.count, o.message)
        for o in alert.occurrence_records.order_by("occurred_at", "id")
    ] == [
        (
            3,
            "3 predictions in production came from a version that is not the "
            "approved, deployed one.",
        ),
        (
            2,
            "2 predictions in production came from a version that is not the "
            "approved, deployed one.",
        ),
    ]
    assert alert.message == (
        "2 predictions in production came from a version that is not the "
        "approved, deployed one."
    )


@pytest.fixture
def approval(
    submitted_version: Any, developer: Any, validator: Any, risk_officer: Any
) -> ReleaseRequest:
    return approve(
        version=submitted_version,
        developer=developer,
        validator=validator,
        risk_officer=risk_officer,
        environments=["production"],
    )


def test_predictions_of_the_approved_deployed_version_reference_the_state(
    scorer: APIClient,
    approval: ReleaseRequest,
    submitted_version: Any,
    service: Any,
    credit_model: Any,
    developer: Any,
) -> None:
    # given the approved version deployed, and an unapproved version 2.0.0
    deployments.deployment_report(
        actor=service, version=submitted_version, environment="production"
    )
    other = registry_services.model_version_register(
        actor=developer, model=credit_model, data=version_payload("2.0.0")
    )
    state = DeploymentState.objects.order_by("-id").first()
    assert state is not None
    # when predictions of both versions arrive
    deployed = prediction()
    stray = prediction(version="2.0.0")
    assert post(scorer, [deployed, stray]).status_code == 200
    # then both reference the state in force; only 2.0.0 is a shadow
    reference = {
        "entry_id": str(state.entry_id),
        "leaf_hash": bytes(state.leaf_hash).hex(),
    }
    leaves = [queued_leaf(r["prediction_id"]) for r in (deployed, stray)]
    assert [(leaf["shadow"], leaf["deployment_state"]) for leaf in leaves] == [
        (False, reference),
        (True, reference),
    ]
    assert (state.model_version, state.approval) == (submitted_version, approval)
    state_key = LedgerKey.objects.get(entry_id=state.entry_id)
    assert (state_key.entry_type, bytes(state_key.leaf_hash)) == (
        EntryType.DEPLOYMENT_STATE,
        bytes(state.leaf_hash),
    )
    alert = Alert.objects.get()
    assert (alert.model_version, alert.occurrences) == (other, 1)
    assert alert.details["deployed_version_id"] == submitted_version.pk
    assert alert.details["approval_in_force"] is True


def test_a_deployed_version_without_approval_is_shadow(
    scorer: APIClient, submitted_version: Any, service: Any
) -> None:
    # given the version deployed although nothing approves it
    report = deployments.deployment_report(
        actor=service, version=submitted_version, environment="production"
    )
    assert report.warnings == (deployments.NO_APPROVAL_WARNING,)
    state = DeploymentState.objects.get()
    # when
    record = prediction()
    post(scorer, [record])
    # then
    leaf = queued_leaf(record["prediction_id"])
    assert (leaf["shadow"], leaf["deployment_state"]) == (
        True,
        {"entry_id": str(state.entry_id), "leaf_hash": bytes(state.leaf_hash).hex()},
    )
    assert state.approval is None
    assert Alert.objects.get().details["approval_in_force"] is False


# --- protected attributes ---------------------------------------------------------------


def test_protected_attributes_are_stored_apart_and_the_leaf_holds_a_commitment(
    scorer: APIClient,
) -> None:
    # given
    attributes = {"sex": "female", "age_group": "25+"}
    with_attributes = prediction(protected_attributes=attributes)
    without = prediction()
    # when sent twice
    post(scorer, [with_attributes, without])
    post(scorer, [with_attributes, without])
    # then one row holds the plaintext and its salt
    row = ProtectedAttributes.objects.get()
    assert row.prediction_id == uuid.UUID(with_attributes["prediction_id"])
    assert row.attributes == attributes
    assert len(bytes(row.salt)) == 16
    # and the leaf holds only SHA-256(salt || canonical JSON)
    queued = LedgerQueue.objects.get(entry_id=row.prediction_id)
    leaf_bytes = bytes(queued.leaf)
    assert orjson.loads(leaf_bytes)["protected_attributes_commitment"] == (
        hashlib.sha256(
            bytes(row.salt) + b'{"age_group":"25+","sex":"female"}'
        ).hexdigest()
    )
    assert b"female" not in leaf_bytes
    assert b"age_group" not in leaf_bytes
    assert (
        queued_leaf(without["prediction_id"])["protected_attributes_commitment"] is None
    )


# --- governance events and deployment states in the log ---------------------------------


def test_governance_events_and_states_are_leaves_that_verify_after_sequencing(
    scorer: APIClient,
    approval: ReleaseRequest,
    submitted_version: Any,
    service: Any,
    risk_officer: Any,
    ledger_key: Any,
) -> None:
    # given the approved version deployed, predictions made, then the approval revoked
    deployments.deployment_report(
        actor=service, version=submitted_version, environment="production"
    )
    post(scorer, [prediction(), prediction()])
    governance_services.release_request_revoke(
        actor=risk_officer, request=approval, reason="Model drift found."
    )
    # then every audit event has its governance leaf
    events = list(AuditEvent.objects.order_by("pk"))
    types = {e.event_type for e in events}
    assert {
        "registry.version.registered",
        "registry.version.submitted",
        "governance.request.approved",
        "governance.deployment.reported",
        "governance.request.revoked",
    } <= types
    for event in events:
        key = LedgerKey.objects.get(entry_id=event_entry_id(event.pk))
        leaf = orjson.loads(bytes(LedgerQueue.objects.get(entry_id=key.entry_id).leaf))
        assert key.entry_type == EntryType.GOVERNANCE
        assert (leaf["type"], leaf["event_id"], leaf["event_type"]) == (
            "governance",
            event.pk,
            event.event_type,
        )
    # and two deployment states: deployed under the approval, then no approval
    states = list(DeploymentState.objects.order_by("id"))
    assert [(s.reason, s.approval_id) for s in states] == [
        ("governance.deployment.reported", approval.pk),
        ("governance.request.revoked", None),
    ]
    state_leaves = [
        orjson.loads(bytes(LedgerQueue.objects.get(entry_id=s.entry_id).leaf))
        for s in states
    ]
    assert state_leaves[0]["approval"]["id"] == f"RR-{approval.pk}"
    assert state_leaves[0]["previous"] is None
    assert state_leaves[1]["approval"] is None
    assert state_leaves[1]["previous"] == {
        "entry_id": str(states[0].entry_id),
        "leaf_hash": bytes(states[0].leaf_hash).hex(),
    }
    # when everything is sequenced
    sequence_all()
    # then the queue is empty and every leaf verifies against the signed checkpoint
    assert LedgerQueue.objects.count() == 0
    entries = list(LedgerEntry.objects.order_by("seq"))
    assert len(entries) == LedgerKey.objects.count()
    assert Counter(e.entry_type for e in entries)[EntryType.DEPLOYMENT_STATE] == 2
    assert Counter(e.entry_type for e in entries)[EntryType.PREDICTION] == 2
    for entry in entries:
        seq, leaf, proof, note = services.ledger_inclusion(entry_id=entry.entry_id)
        body, names = checkpoint.verify_note(
            note, {"modelgov.test/ledger": ledger_key.public_key()}
        )
        head = checkpoint.parse_checkpoint(body)
        assert (seq, names, head.size) == (
            entry.seq,
            ["modelgov.test/ledger"],
            len(entries),
        )
        assert merkle.verify_inclusion(
            leaf=merkle.leaf_hash(leaf),
            index=seq,
            tree_size=head.size,
            proof=proof,
            root_hash=head.root,
        )
