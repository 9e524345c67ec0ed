"""Prediction and outcome ingest: validate a whole batch, then queue it durably.

The key's binding (model, environment) decides the deployment; the body never does.
One transaction per batch: the idempotency keys, the queue rows and the protected
attributes are written together (COPY on PostgreSQL) and committed before the
caller answers, so an acknowledged record is durable.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audits.ledger import alerts, records, services
from audits.ledger.models import (
    DeploymentState,
    EntryType,
    LedgerKey,
)
from governance.models import ApiToken

logger = logging.getLogger(__name__)


class Overloaded(Exception):
    """The queue is over its limit; the client should retry after ``retry_after``."""

    def __init__(self, outstanding: int, retry_after: int = 1) -> None:
        super().__init__(f"{outstanding} entries are waiting to be sequenced")
        self.outstanding = outstanding
        self.retry_after = retry_after


class UnknownPredictions(Exception):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("unknown predictions")
        self.errors = errors


class ConflictingOutcomes(Exception):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("conflicting outcomes")
        self.errors = errors


def binding_of(token: ApiToken) -> records.Binding | None:
    if token.deployment_model_id is None:
        return None
    model = token.deployment_model
    assert model is not None
    return records.Binding(
        model_id=model.pk,
        model_slug=model.slug,
        environment=token.deployment_environment,
        key_prefix=token.prefix,
    )


@lru_cache(maxsize=256)
def _features_validator(schema_json: bytes) -> Any:
    return records.compile_features_validator(orjson.loads(schema_json))


def versions_of(model_id: int) -> dict[str, records.VersionInfo]:
    from registry.models import ModelVersion

    found = {}
    for pk, version, artifact, schema in ModelVersion.objects.filter(
        model_id=model_id
    ).values_list("id", "version", "artifact_sha256", "input_schema"):
        validator = None
        if schema:
            validator = _features_validator(records.dumps(schema))
        found[version] = records.VersionInfo(pk, version, artifact, validator)
    return found


def deployment_state_current(model_id: int, environment: str) -> DeploymentState | None:
    return (
        DeploymentState.objects.filter(model_id=model_id, environment=environment)
        .order_by("-id")
        .first()
    )


def _outstanding() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(MAX(queue_id) - MIN(queue_id) + 1, 0) "
            "FROM audits_ledgerqueue"
        )
        return int(cursor.fetchone()[0])


def _check_capacity() -> None:
    limit = int(getattr(settings, "MODELGOV_INGEST_MAX_OUTSTANDING", 200_000))
    outstanding = _outstanding()
    if outstanding >= limit:
        # The id span is an upper bound (cheap on every batch); a few old rows
        # left far behind the rest make it loose, so confirm with the count.
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM audits_ledgerqueue")
            outstanding = int(cursor.fetchone()[0])
        if outstanding >= limit:
            raise Overloaded(outstanding)


def shadow_check(state: DeploymentState | None) -> Any:
    """``(version_id, predicted_at) -> bool``: not the approved, deployed version
    of its environment at prediction time (the state's facts read once a batch)."""
    if state is None or state.approval_id is None:
        return lambda version_id, predicted_at: True
    deployed = state.model_version_id
    expires = state.approval_expires_at
    until = records.iso(expires) if expires is not None else None
    return lambda version_id, predicted_at: (
        version_id != deployed or (until is not None and until <= predicted_at)
    )


def is_shadow(
    state: DeploymentState | None, version_id: int, predicted_at: str
) -> bool:
    """Not the approved, deployed version of its environment at prediction time."""
    return bool(shadow_check(state)(version_id, predicted_at))


@dataclass(frozen=True)
class IngestResult:
    status: int
    body: dict[str, Any]


def predictions_ingest(
    *, token: ApiToken, body: bytes, content_type: str
) -> IngestResult:
    """Validate and durably queue a batch; raise records.BatchError, Overloaded."""
    binding = binding_of(token)
    assert binding is not None
    batch = records.parse_batch(body, content_type)
    now = timezone.now()
    predictions = records.validate_predictions(
        batch,
        binding=binding,
        versions=versions_of(binding.model_id),
        now=now,
        max_age=timedelta(hours=settings.MODELGOV_INGEST_MAX_AGE_HOURS),
        raw_body=body,
    )
    _check_capacity()
    state = deployment_state_current(binding.model_id, binding.environment)
    state_ref = (
        {"entry_id": str(state.entry_id), "leaf_hash": bytes(state.leaf_hash).hex()}
        if state is not None
        else None
    )
    received = records.iso(now)
    leaves = []
    salts: dict[uuid.UUID, bytes] = {}
    shadows: dict[int, int] = {}
    shadow_ids: set[uuid.UUID] = set()
    shadow_of = shadow_check(state)
    # One read of the system's randomness for the whole batch, sliced per salt.
    randomness = secrets.token_bytes(16 * len(predictions))
    for n, p in enumerate(predictions):
        commitment = None
        if p.protected_attributes is not None:
            salt = randomness[16 * n : 16 * n + 16]
            salts[p.prediction_id] = salt
            commitment = records.protected_commitment(p.protected_attributes, salt)
        shadow = shadow_of(p.version.id, p.predicted_at)
        if shadow:
            shadows[p.version.id] = shadows.get(p.version.id, 0) + 1
            shadow_ids.add(p.prediction_id)
        leaves.append(
            services.QueuedLeaf(
                entry_id=p.prediction_id,
                entry_type=EntryType.PREDICTION,
                leaf=records.prediction_leaf(
                    p,
                    binding=binding,
                    received_at=received,
                    deployment_state=state_ref,
                    shadow=shadow,
                    protected_commitment_hex=commitment,
                ),
                payload_sha256=hashlib.sha256(p.payload).digest(),
                binding=binding.label,
            )
        )
    by_id = {p.prediction_id: p for p in predictions}

    def protected_rows(new_ids: set[uuid.UUID]) -> dict[str, Any]:
        rows = [
            (
                pid,
                by_id[pid].protected_attributes,
                salts[pid],
                now,
            )
            for pid in salts
            if pid in new_ids
        ]
        return {
            "audits_protectedattributes": (
                ["prediction_id", "attributes", "salt", "received_at"],
                rows,
            )
        }

    with transaction.atomic():
        try:
            receipts = services.ledger_enqueue_batch(
                leaves=leaves, received_at=now, extra_rows_for=protected_rows
            )
        except services.PayloadMismatch as exc:
            index = {p.prediction_id: i for i, p in enumerate(predictions)}
            raise records.BatchError(
                422,
                "idempotency_conflict",
                "Prediction ids already recorded with a different payload; "
                "nothing of this batch was written.",
                {
                    f"records[{index[e]}].prediction_id": [
                        "Already recorded with a different payload."
                    ]
                    for e in exc.entry_ids
                },
            ) from exc
        new_shadows: dict[int, int] = {}
        for receipt in receipts:
            if not receipt.duplicate and receipt.entry_id in shadow_ids:
                vid = by_id[receipt.entry_id].version.id
                new_shadows[vid] = new_shadows.get(vid, 0) + 1
        if new_shadows:
            _shadow_alerts(binding, state, new_shadows, now)
    accepted = sum(1 for r in receipts if not r.duplicate)
    stamps: dict[datetime, str] = {}  # most receipts share one received_at
    return IngestResult(
        status=200,
        body={
            "accepted": accepted,
            "duplicates": len(receipts) - accepted,
            "records": [
                {
                    "prediction_id": r.entry_id,  # orjson writes UUIDs as text
                    "leaf_hash": r.leaf_hash.hex(),
                    "received_at": stamps.get(r.received_at)
                    or stamps.setdefault(r.received_at, records.iso(r.received_at)),
                }
                for r in receipts
            ],
        },
    )


def _shadow_alerts(
    binding: records.Binding,
    state: DeploymentState | None,
    counts: dict[int, int],
    now: Any,
) -> None:
    """One alert occurrence per shadow version of the batch (one INSERT each, not
    one per prediction); the ``audits.alert.raised`` event when it opens."""
    from audits import services as audit_services

    approved = state.model_version_id if state is not None else None
    for version_id, count in counts.items():
        raised = alerts.alert_occurrence_record(
            kind="shadow_model",
            model_id=binding.model_id,
            environment=binding.environment,
            version_id=version_id,
            severity="high",
            message=(
                f"{count} prediction{'' if count == 1 else 's'} in "
                f"{binding.environment} came from a version that is not the "
                "approved, deployed one."
            ),
            details={
                "deployed_version_id": approved,
                "approval_in_force": bool(state is not None and state.approval_id),
                "key": binding.key_prefix,
            },
            count=count,
            now=now,
        )
        if not raised.created:
            continue
        alert = raised.alert
        audit_services.audit_event_record(
            actor=None,
            event_type="audits.alert.raised",
            obj=alert,
            payload={
                "kind": "shadow_model",
                "model_version_id": version_id,
                "environment": binding.environment,
                "count": count,
            },
        )
        logger.warning("shadow model alert %s: %s", alert.pk, alert.message)


def outcomes_ingest(*, token: ApiToken, body: bytes, content_type: str) -> IngestResult:
    """Append outcomes as new entries; 404 for unknown predictions (of this key's
    deployment), 409 for a different outcome of an already reported one."""
    binding = binding_of(token)
    assert binding is not None
    batch = records.parse_batch(body, content_type)
    now = timezone.now()
    outcomes = records.validate_outcomes(batch, now=now)
    keys = {
        k.entry_id: k
        for k in LedgerKey.objects.filter(
            entry_id__in=[o.prediction_id for o in outcomes],
            entry_type=EntryType.PREDICTION,
            binding=binding.label,
        ).only("entry_id", "leaf_hash")
    }
    unknown = {
        f"records[{i}].prediction_id": [
            "No prediction with this id was recorded for this deployment."
        ]
        for i, o in enumerate(outcomes)
        if o.prediction_id not in keys
    }
    if unknown:
        raise UnknownPredictions(unknown)
    _check_capacity()
    received = records.iso(now)
    leaves = [
        services.QueuedLeaf(
            entry_id=records.outcome_entry_id(o.prediction_id),
            entry_type=EntryType.OUTCOME,
            leaf=records.outcome_leaf(
                o,
                binding=binding,
                prediction_leaf_hash=bytes(keys[o.prediction_id].leaf_hash),
                received_at=received,
            ),
            payload_sha256=hashlib.sha256(o.payload).digest(),
            binding=binding.label,
        )
        for o in outcomes
    ]
    try:
        receipts = services.ledger_enqueue_batch(leaves=leaves, received_at=now)
    except services.PayloadMismatch as exc:
        index = {
            records.outcome_entry_id(o.prediction_id): i for i, o in enumerate(outcomes)
        }
        raise ConflictingOutcomes(
            {
                f"records[{index[e]}].outcome": [
                    "A different outcome was already recorded for this prediction."
                ]
                for e in exc.entry_ids
            }
        ) from exc
    accepted = sum(1 for r in receipts if not r.duplicate)
    stamps: dict[datetime, str] = {}  # most receipts share one received_at
    return IngestResult(
        status=200,
        body={
            "accepted": accepted,
            "duplicates": len(receipts) - accepted,
            "records": [
                {
                    "prediction_id": str(o.prediction_id),
                    "outcome_id": str(r.entry_id),
                    "leaf_hash": r.leaf_hash.hex(),
                    "received_at": stamps.get(r.received_at)
                    or stamps.setdefault(r.received_at, records.iso(r.received_at)),
                }
                for o, r in zip(outcomes, receipts, strict=True)
            ],
        },
    )
