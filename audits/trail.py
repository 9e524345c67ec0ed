"""The audit trail of one prediction (issue 4, item 7): one selector, a dataclass.

:func:`prediction_trail` gathers, for a prediction id, everything an auditor needs
to judge that prediction: the ledger record exactly as stored, its inclusion proof
against the latest signed checkpoint, the model version and artifact digest, the
model card and documents as they were when the prediction was made, the deployment
state in force (the approval with its signatures, and the deployment that served
it) with its own proof against the *same* checkpoint, the outcome if one was
reported, and the protected attributes for those allowed to see them.

It is ten indexed reads (entries by ``entry_id`` with the index's answer, the
version, the latest checkpoint, the state with its entry, approval and deployment,
the signatures, their record leaves, the O(log n) stored hashes of every proof of
the page in one query, one query per history table, the protected attributes),
never a scan of the ledger. Every row shown is checked against the ledger
(:mod:`audits.integrity.verify`). Viewing a trail is recorded by the callers (API,
page, PDF, proof download), not here.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.http import Http404
from django.urls import reverse

from audits import services as audit_services
from audits.integrity import verify
from audits.ledger import integrity, merkle, proofs, records
from audits.ledger import services as ledger_services
from audits.ledger.models import (
    DeploymentState,
    EntryType,
    LedgerCheckpoint,
    LedgerEntry,
    LedgerKey,
    LedgerQueue,
    ProtectedAttributes,
)
from governance import dossier as dossier_rules
from governance.choices import SignatureMeaning
from governance.models import Deployment, ReleaseRequest, Signature
from governance.services import workflow as workflow_services
from registry import services as registry_services
from registry.models import Document, Model, ModelCard, ModelVersion

PERM_TRAIL = "audits.view_prediction_trail"
PERM_PROTECTED = "audits.view_protectedattributes"

SEQUENCED = "sequenced"
QUEUED = "queued"


# --- What a trail holds -------------------------------------------------------------


@dataclass(frozen=True)
class LedgerRecord:
    """One ledger leaf: its exact bytes, where it is, and its proof if sequenced.

    ``proof`` is the inclusion path against the trail's checkpoint; ``verified``
    says the server recomputed the checkpoint root from it (the offline verifier
    checks the same with the signature, without trusting the server).
    """

    entry_id: uuid.UUID
    entry_type: int
    leaf: bytes
    leaf_hash: bytes
    data: dict[str, Any]
    received_at: datetime
    seq: int | None = None
    sequenced_at: datetime | None = None
    proof: tuple[bytes, ...] | None = None
    verified: bool = False

    @property
    def status(self) -> str:
        return SEQUENCED if self.seq is not None else QUEUED

    @property
    def is_proven(self) -> bool:
        return self.proof is not None

    @property
    def leaf_text(self) -> str:
        return self.leaf.decode("utf-8", errors="replace")

    @property
    def leaf_hash_hex(self) -> str:
        return self.leaf_hash.hex()

    @property
    def proof_hex(self) -> list[str]:
        return [p.hex() for p in self.proof or ()]


@dataclass(frozen=True)
class CheckpointView:
    """The signed checkpoint every proof of the trail is checked against."""

    origin: str
    size: int
    root: bytes
    note: str
    created_at: datetime
    key_names: tuple[str, ...]

    @property
    def root_hex(self) -> str:
        return self.root.hex()


@dataclass(frozen=True)
class ModelVersionView:
    model_slug: str
    model_name: str
    version: str
    # The digest the prediction's leaf records, and the registry's digest now.
    artifact_sha256: str
    registered_artifact_sha256: str
    status: str
    content_digest: str
    url: str

    @property
    def artifact_matches(self) -> bool:
        return self.artifact_sha256 == self.registered_artifact_sha256


@dataclass(frozen=True)
class PaperView:
    """A model card or document as it was saved last before the prediction."""

    kind: str  # "card" or "document"
    title: str
    template_key: str
    template_version: int
    saved_at: datetime
    saved_by: str
    content: dict[str, Any]
    content_sha256: str
    as_of_url: str
    # Against the dossier the approval's signatures bound (ADR 0026): "as_signed",
    # "altered" or "not_verified"; see :func:`papers_checked`.
    dossier_mark: str = dossier_rules.NOT_VERIFIED
    signed_sha256: str | None = None


@dataclass(frozen=True)
class SignatureView:
    printed_name: str
    meaning: str
    signed_at: datetime
    binding_sha256: str
    comment: str
    # The row checked against its record leaf and its binding recomputed.
    integrity: verify.Verdict = verify.Verdict(verify.NOT_VERIFIED)

    @property
    def meaning_label(self) -> str:
        if self.meaning in SignatureMeaning.values:
            return str(SignatureMeaning(self.meaning).label)
        return self.meaning


@dataclass(frozen=True)
class ApprovalView:
    request_id: int
    state: str
    environments: tuple[str, ...]
    approved_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    approved_artifact_sha256: str
    signatures: tuple[SignatureView, ...]
    # The signature bindings the deployment-state leaf committed to equal these.
    bindings_match: bool
    # The request row checked against its latest record leaf, and its approval
    # and expiry times against the deployment state's leaf.
    integrity: verify.Verdict = verify.Verdict(verify.NOT_VERIFIED)

    @property
    def label(self) -> str:
        return f"RR-{self.request_id}"

    @property
    def all_verified(self) -> bool:
        return self.integrity.verified and all(
            s.integrity.verified for s in self.signatures
        )


@dataclass(frozen=True)
class DeploymentView:
    id: int
    environment: str
    action: str
    deployed_at: datetime
    reported_at: datetime
    reported_by: str
    target: str
    external_id: str
    integrity: verify.Verdict = verify.Verdict(verify.NOT_VERIFIED)


@dataclass(frozen=True)
class DeploymentStateView:
    """The deployment state the prediction's leaf references (by id and hash)."""

    entry_id: uuid.UUID
    leaf_hash: bytes
    reason: str
    created_at: datetime
    environment: str
    version: str | None
    approval: ApprovalView | None
    approval_expires_at: datetime | None
    deployment: DeploymentView | None
    record: LedgerRecord | None
    # The hash in the prediction leaf equals the state's stored and logged hash.
    hash_matches: bool
    integrity: verify.Verdict = verify.Verdict(verify.NOT_VERIFIED)

    @property
    def leaf_hash_hex(self) -> str:
        return self.leaf_hash.hex()


@dataclass(frozen=True)
class OutcomeView:
    record: LedgerRecord
    outcome: Any
    observed_at: str
    # The outcome leaf names the prediction's leaf hash.
    prediction_hash_matches: bool

    @property
    def integrity(self) -> verify.Verdict:
        """An outcome is its own leaf: verified when its inclusion proof leads to
        the signed checkpoint and it names this prediction's leaf."""
        record = self.record
        if record.is_proven and not record.verified:
            return verify.Verdict(
                verify.ALTERED,
                seq=record.seq,
                detail="its leaf's proof does not lead to the signed checkpoint",
            )
        if not self.prediction_hash_matches:
            return verify.Verdict(
                verify.ALTERED,
                seq=record.seq,
                detail="it names another prediction leaf",
                fields=("prediction_leaf_hash",),
            )
        if merkle.leaf_hash(record.leaf) != record.leaf_hash:
            return verify.Verdict(
                verify.ALTERED,
                seq=record.seq,
                detail="its leaf's bytes do not hash to its stored hash",
            )
        if not record.is_proven:
            return verify.Verdict(
                verify.NOT_VERIFIED,
                seq=record.seq,
                detail="not yet under a signed checkpoint",
            )
        return verify.Verdict(
            verify.VERIFIED,
            seq=record.seq,
            detail=f"ledger seq {record.seq}, proved in the signed checkpoint",
        )


@dataclass(frozen=True)
class ProtectedView:
    """Protected attributes and the check of the leaf's commitment to them."""

    status: str  # "none", "hidden", "erased" or "shown"
    commitment: str | None
    attributes: dict[str, Any] | None = None
    salt: bytes | None = None
    computed: str | None = None

    @property
    def matches(self) -> bool:
        return self.computed is not None and self.computed == self.commitment

    @property
    def salt_hex(self) -> str:
        return self.salt.hex() if self.salt is not None else ""


@dataclass(frozen=True)
class Trail:
    prediction_id: uuid.UUID
    record: LedgerRecord
    checkpoint: CheckpointView | None
    model_version: ModelVersionView | None
    papers: tuple[PaperView, ...]
    deployment_state: DeploymentStateView | None
    outcome: OutcomeView | None
    protected: ProtectedView

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def predicted_at(self) -> str:
        return str(self.record.data.get("predicted_at", ""))

    @property
    def shadow(self) -> bool:
        return bool(self.record.data.get("shadow"))

    @property
    def model_slug(self) -> str:
        return str((self.record.data.get("deployment") or {}).get("model", ""))

    @property
    def environment(self) -> str:
        return str((self.record.data.get("deployment") or {}).get("environment", ""))

    @property
    def version(self) -> str:
        return str((self.record.data.get("model_version") or {}).get("version", ""))

    @property
    def artifact_sha256(self) -> str:
        value = (self.record.data.get("model_version") or {}).get("artifact_sha256")
        return str(value or "")


# --- The selector -------------------------------------------------------------------


def prediction_trail(*, user: Any, prediction_id: uuid.UUID) -> Trail:
    """The audit trail of prediction ``prediction_id``.

    Raises PermissionDenied without ``audits.view_prediction_trail`` (checked
    before anything is read) and Http404 for an id that is not a recorded
    prediction, or whose model the user may not see. A prediction still in the
    ingest queue has no seq and no proof yet.
    """
    if not getattr(user, "is_authenticated", False) or not user.has_perm(PERM_TRAIL):
        raise PermissionDenied("Your role may not see prediction audit trails.")
    outcome_id = records.outcome_entry_id(prediction_id)
    found = _records_by_id([prediction_id, outcome_id])
    prediction = found.get(prediction_id)
    if prediction is None or prediction.entry_type != EntryType.PREDICTION:
        raise Http404("No such prediction.")
    data = prediction.data
    predicted_at = _parse_time(str(data.get("predicted_at", "")))
    version = _model_version(data)
    if version is not None and not _may_see(user, version.model):
        raise Http404("No such prediction.")

    checkpoint = _latest_checkpoint()
    batch = _proof_batch(checkpoint)
    state_rows = _deployment_state(data.get("deployment_state"))
    state, state_record = state_rows.state, state_rows.record
    outcome = found.get(outcome_id)
    ledger_records = [r for r in (prediction, state_record, outcome) if r is not None]
    if batch is not None:
        # Every proof of the page (these, and the governance rows' record leaves
        # that the verdicts add) comes from one read of the stored hashes.
        batch.want(r.seq for r in ledger_records)
        if any(batch.covers(r.seq) for r in ledger_records):
            batch.want_keys([integrity.tail_key(batch.size)])
    governance = _governance(state_rows, version, checkpoint, batch)
    proven = _with_proofs(ledger_records, batch)
    prediction = proven[prediction.entry_id]
    if state_record is not None:
        state_record = proven[state_record.entry_id]
    if outcome is not None:
        outcome = proven[outcome.entry_id]
    return Trail(
        prediction_id=prediction_id,
        record=prediction,
        checkpoint=_checkpoint_view(checkpoint) if checkpoint is not None else None,
        model_version=_version_view(version, data) if version is not None else None,
        papers=papers_checked(
            _papers_as_of(version, predicted_at)
            if version is not None and predicted_at is not None
            else (),
            governance.signatures if governance is not None else (),
            governance.checked if governance is not None else None,
        ),
        deployment_state=_state_view(state, state_record, data, governance)
        if state is not None
        else None,
        outcome=_outcome_view(outcome, prediction) if outcome is not None else None,
        protected=_protected(user, prediction_id, data),
    )


# --- Raw reads ----------------------------------------------------------------------
# The trail is read for every prediction an auditor opens (``bench trail``: p50
# within 10 ms at a million rows). Its reads are single statements through
# ``Model.objects.raw`` (the fields' converters apply, on PostgreSQL and SQLite
# alike) rather than ORM queries, whose building costs more than their running.


def _raw(model: Any, sql: str, params: Sequence[Any]) -> list[Any]:
    """Instances of ``model`` from one statement, as ``Model.objects.raw`` makes
    them (the fields' converters applied, other columns set as attributes)."""
    return [row[0] for row in _raw_joined(sql, params, ("", model))]


def _raw_joined(
    sql: str, params: Sequence[Any], *parts: tuple[str, Any]
) -> list[tuple[Any, ...]]:
    """For each row of one statement, an instance of each ``(prefix, model)`` of
    ``parts``, made of the columns named ``prefix + column`` (the first part's
    prefix is usually ""), or None where a LEFT JOIN found no row. Columns of no
    part are set as attributes on the first part's instance. The plan for each
    shape of result is worked out once."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = tuple(c[0] for c in cursor.description)
        rows = cursor.fetchall()
    plans, extras = _loader(parts, columns, connection.vendor)
    found = []
    for row in rows:
        values = list(row)
        made: list[Any] = []
        for model, pk, order, names, converters in plans:
            if values[pk] is None:
                made.append(None)
                continue
            for i, functions, expression in converters:
                for function in functions:
                    values[i] = function(values[i], expression, connection)
            made.append(
                model.from_db(connection.alias, names, [values[i] for i in order])
            )
        if made[0] is not None:
            for i, name in extras:
                setattr(made[0], name, values[i])
        found.append(tuple(made))
    return found


@functools.cache
def _loader(
    parts: tuple[tuple[str, Any], ...], columns: tuple[str, ...], vendor: str
) -> tuple[Any, ...]:
    """For rows of ``columns``, for each part: its model, where its primary key
    is, where each of its loaded fields is (in the model's field order), their
    names and their converters; and the columns of no part."""
    plans = []
    claimed: set[int] = set()
    # Longest prefix first, so that "" does not claim a prefixed column.
    by_prefix = sorted(parts, key=lambda part: -len(part[0]))
    owner: dict[int, tuple[str, Any, Any]] = {}
    for prefix, model in by_prefix:
        by_column = {prefix + f.column: f for f in model._meta.concrete_fields}
        for i, column in enumerate(columns):
            if i not in owner and column in by_column:
                owner[i] = (prefix, model, by_column[column])
    for prefix, model in parts:
        mine = {i: f for i, (p, m, f) in owner.items() if (p, m) == (prefix, model)}
        at = {f.attname: i for i, f in mine.items()}
        order = [at[f.attname] for f in model._meta.concrete_fields if f.attname in at]
        names = [f.attname for f in model._meta.concrete_fields if f.attname in at]
        converters = []
        for i, field in mine.items():
            expression = field.get_col(model._meta.db_table)
            functions = connection.ops.get_db_converters(
                expression
            ) + expression.get_db_converters(connection)
            if functions:
                converters.append((i, functions, expression))
        plans.append((model, at[model._meta.pk.attname], order, names, converters))
        claimed.update(mine)
    extras = [(i, c) for i, c in enumerate(columns) if i not in claimed]
    return plans, extras


@functools.cache
def _select(model: Any, alias: str, prefix: str) -> str:
    """The select list of every column of ``model`` at ``alias``, each named
    ``prefix + column``."""
    return ", ".join(
        f'{alias}."{f.column}" AS "{prefix}{f.column}"'
        for f in model._meta.concrete_fields
    )


def _prep(model: Any, name: str, value: Any) -> Any:
    """``value`` as the database takes it for ``model.name`` (a uuid is hex text on
    SQLite, a datetime naive UTC text there)."""
    return model._meta.get_field(name).get_db_prep_value(value, connection)


@functools.cache
def _users() -> dict[str, str]:
    """The user model's table and the column of its username, for joins."""
    user: Any = get_user_model()
    return {
        "users": str(user._meta.db_table),
        "username": str(user._meta.get_field(user.USERNAME_FIELD).column),
    }


def _row(model: Any, **values: Any) -> Any:
    """A ``model`` instance with only ``values`` loaded (the rest deferred)."""
    fields = model._meta.concrete_fields
    return model.from_db(
        connection.alias,
        [f.attname for f in fields if f.attname in values],
        [values[f.attname] for f in fields if f.attname in values],
    )


# --- Ledger records -----------------------------------------------------------------


def _parse_leaf(leaf: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(leaf)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _records_by_id(ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, LedgerRecord]:
    """The ledger records of ``ids``: sequenced ones from the entries (by the
    ``entry_id`` index), accepted but unsequenced ones from the queue."""
    found, accepted = _entries_by_id(ids)
    queued = [i for i in accepted if i not in found]
    if not queued:
        return found
    for row in LedgerQueue.objects.filter(entry_id__in=queued):
        found[row.entry_id] = LedgerRecord(
            entry_id=row.entry_id,
            entry_type=row.entry_type,
            leaf=bytes(row.leaf),
            leaf_hash=bytes(row.leaf_hash),
            data=_parse_leaf(bytes(row.leaf)),
            received_at=row.received_at,
        )
    moved = [i for i in queued if i not in found]
    if moved:  # sequenced between the two reads
        found.update(_entries_by_id(moved)[0])
    return found


def _entries_by_id(
    ids: Sequence[uuid.UUID],
) -> tuple[dict[uuid.UUID, LedgerRecord], set[uuid.UUID]]:
    """The sequenced records of ``ids``, and which of ``ids`` the idempotency index
    accepted (the others may be queued)."""
    if connection.vendor != "postgresql":
        sequenced = {
            entry.entry_id: _entry_record(entry)
            for entry in LedgerEntry.objects.filter(entry_id__in=ids)
        }
        missing = [i for i in ids if i not in sequenced]
        known = set(
            LedgerKey.objects.filter(entry_id__in=missing).values_list(
                "entry_id", flat=True
            )
            if missing
            else ()
        )
        return sequenced, known
    # The trail's hot path: an array parameter instead of an ORM query to build,
    # and the index's answer in the same statement.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT seq, entry_id, entry_type, leaf, leaf_hash, received_at, "
            "sequenced_at FROM audits_ledgerentry WHERE entry_id = ANY(%s::uuid[]) "
            "UNION ALL SELECT NULL, entry_id, NULL, NULL, NULL, NULL, NULL "
            "FROM audits_ledgerkey WHERE entry_id = ANY(%s::uuid[])",
            [list(ids), list(ids)],
        )
        entries: dict[uuid.UUID, LedgerRecord] = {}
        accepted: set[uuid.UUID] = set()
        for row in cursor.fetchall():
            if row[0] is None:
                accepted.add(row[1])
                continue
            entries[row[1]] = _entry_record(
                LedgerEntry(
                    seq=row[0],
                    entry_id=row[1],
                    entry_type=row[2],
                    leaf=row[3],
                    leaf_hash=row[4],
                    received_at=row[5],
                    sequenced_at=row[6],
                )
            )
        return entries, accepted


def _entry_record(entry: LedgerEntry) -> LedgerRecord:
    leaf = bytes(entry.leaf)
    return LedgerRecord(
        entry_id=entry.entry_id,
        entry_type=entry.entry_type,
        leaf=leaf,
        leaf_hash=bytes(entry.leaf_hash),
        data=_parse_leaf(leaf),
        received_at=entry.received_at,
        seq=entry.seq,
        sequenced_at=entry.sequenced_at,
    )


def _latest_checkpoint() -> LedgerCheckpoint | None:
    rows = _raw(
        LedgerCheckpoint,
        "SELECT * FROM audits_ledgercheckpoint ORDER BY size DESC LIMIT 1",
        [],
    )
    return rows[0] if rows else None


def _proof_batch(
    checkpoint: LedgerCheckpoint | None,
) -> ledger_services.ProofBatch | None:
    """The page's proofs against ``checkpoint``, after checking it against the
    anchors: raises ``integrity.LedgerIntegrityError`` when it is behind or forks
    from the witness or the signer state (nothing is then shown as proven)."""
    if checkpoint is None:
        return None
    root = bytes(checkpoint.root)
    integrity.check_anchors(checkpoint.size, root)
    return ledger_services.ProofBatch(checkpoint.size, root)


def _with_proofs(
    found: Iterable[LedgerRecord], batch: ledger_services.ProofBatch | None
) -> dict[uuid.UUID, LedgerRecord]:
    """Each record with its inclusion proof against the batch's checkpoint, and the
    checkpoint's last leaf hash, which shows that its tail is still stored.

    Raises ``integrity.LedgerIntegrityError`` when a needed hash or the
    checkpoint's last entry is gone: nothing is then shown as proven.
    """
    found = list(found)
    result = {r.entry_id: r for r in found}
    if batch is None:
        return result
    provable = [r for r in found if batch.covers(r.seq)]
    tail = [integrity.tail_key(batch.size)] if provable else []
    missing = batch.missing([r.seq for r in provable], tail)
    if missing:
        raise integrity.missing_hashes(missing, batch.size)
    for r in provable:
        assert r.seq is not None
        proof = batch.proof(r.seq)
        verified = merkle.verify_inclusion(
            leaf=merkle.leaf_hash(r.leaf),
            index=r.seq,
            tree_size=batch.size,
            proof=proof,
            root_hash=batch.root,
        )
        result[r.entry_id] = replace(r, proof=proof, verified=verified)
    return result


def _checkpoint_view(row: LedgerCheckpoint) -> CheckpointView:
    body, _, signatures = row.note.partition("\n\n")
    names = tuple(
        line.removeprefix("\u2014 ").split(" ", 1)[0]
        for line in signatures.splitlines()
        if line.startswith("\u2014 ")
    )
    return CheckpointView(
        origin=body.split("\n", 1)[0],
        size=row.size,
        root=bytes(row.root),
        note=row.note,
        created_at=row.created_at,
        key_names=names,
    )


# --- Registry -----------------------------------------------------------------------


def _model_version(data: Mapping[str, Any]) -> ModelVersion | None:
    """The version the prediction's leaf names, with only what the trail shows
    (a version row also holds large JSON: baseline, schema) and its model."""
    slug = (data.get("deployment") or {}).get("model")
    version = (data.get("model_version") or {}).get("version")
    if not isinstance(slug, str) or not isinstance(version, str):
        return None
    rows = _raw(
        ModelVersion,
        "SELECT v.id, v.model_id, v.version, v.status, v.artifact_sha256, "
        "v.content_digest, m.slug AS model_slug, m.name AS model_name, "
        "m.owner_id AS model_owner_id "
        "FROM registry_modelversion v JOIN registry_model m ON m.id = v.model_id "
        "WHERE m.slug = %s AND v.version = %s",
        [slug, version],
    )
    if not rows:
        return None
    found: Any = rows[0]
    found.model = _row(
        Model,
        id=found.model_id,
        slug=found.model_slug,
        name=found.model_name,
        owner_id=found.model_owner_id,
    )
    return found  # type: ignore[no-any-return]


def _may_see(user: Any, model: Model) -> bool:
    return bool(user.has_perm("registry.view_all_models")) or (
        registry_services.is_model_member(user, model)
    )


def _version_view(version: ModelVersion, data: Mapping[str, Any]) -> ModelVersionView:
    model = version.model
    return ModelVersionView(
        model_slug=model.slug,
        model_name=model.name,
        version=version.version,
        artifact_sha256=str((data.get("model_version") or {}).get("artifact_sha256")),
        registered_artifact_sha256=version.artifact_sha256,
        status=version.status,
        content_digest=version.content_digest,
        url=reverse(
            "registry:version_detail",
            kwargs={"slug": model.slug, "version": version.version},
        ),
    )


def _parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        # In UTC, or None past year 9999 there (9999-12-31T23:59:59-14:00).
        return parsed.astimezone(UTC) if parsed.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


@functools.cache
def _history_models() -> tuple[Any, Any]:
    """The historical models of cards and documents (``ModelCard.history`` builds
    a new manager on every access)."""
    return ModelCard.history.model, Document.history.model


@functools.cache
def _paper_sql() -> dict[str, str]:
    """The statements reading the last history row of each card or document of a
    version saved at or before a time, with the saving user's name and the
    template's key and version (ordered so that the first row of each id is its
    latest)."""
    card = ModelCard.history.model._meta.db_table
    document = Document.history.model._meta.db_table
    template = ModelCard._meta.get_field("template").related_model._meta.db_table
    select = (
        "SELECT h.*, u.{username} AS saved_by, t.key AS template_key, "
        "t.version AS template_version FROM {table} h "
        "LEFT JOIN {users} u ON u.id = h.history_user_id "
        "LEFT JOIN {template} t ON t.id = h.template_id "
        "WHERE h.model_version_id = %s AND h.history_date <= %s "
        "ORDER BY h.id, h.history_date DESC, h.history_id DESC"
    )
    names = {**_users(), "template": template}
    return {
        "card": select.format(table=card, **names),
        "document": select.format(table=document, **names),
    }


def _latest_before(history: Any, sql: str, version_id: int, at: datetime) -> list[Any]:
    """The last history row of each object saved at or before ``at``, skipping
    objects deleted by then (one statement)."""
    latest: dict[int, Any] = {}
    for row in _raw(history, sql, [version_id, _prep(history, "history_date", at)]):
        latest.setdefault(row.id, row)
    return [row for row in latest.values() if row.history_type != "-"]


def _papers_as_of(version: ModelVersion, at: datetime) -> tuple[PaperView, ...]:
    """The version's model card and documents as they were saved last at or
    before ``at`` (documents by title), with links to the registry's as-of pages."""
    sql = _paper_sql()
    card_history, document_history = _history_models()
    cards = _latest_before(card_history, sql["card"], version.pk, at)
    documents = sorted(
        _latest_before(document_history, sql["document"], version.pk, at),
        key=lambda row: (row.title, row.id),
    )
    query = urlencode({"as_of": records.iso(at)})
    slug, number = version.model.slug, version.version
    card_url = reverse(
        "registry:card_history", kwargs={"slug": slug, "version": number}
    )
    papers = []
    for row, is_document in [
        *((c, False) for c in cards),
        *((d, True) for d in documents),
    ]:
        url = (
            reverse(
                "registry:document_history",
                kwargs={"slug": slug, "version": number, "pk": row.id},
            )
            if is_document
            else card_url
        )
        content = row.content or {}
        papers.append(
            PaperView(
                kind="document" if is_document else "card",
                title=row.title if is_document else "Model card",
                template_key=row.template_key,
                template_version=row.template_version,
                saved_at=row.history_date,
                saved_by=row.saved_by or "",
                content=content,
                content_sha256=hashlib.sha256(records.dumps(content)).hexdigest(),
                as_of_url=f"{url}?{query}",
            )
        )
    return tuple(papers)


def papers_checked(
    papers: Sequence[PaperView],
    signatures: Iterable[Signature],
    verdicts: Mapping[verify.Key, verify.Verdict] | None = None,
) -> tuple[PaperView, ...]:
    """``papers`` marked against the dossier of the latest of ``signatures`` that
    bound one and whose binding verifies (ADR 0026): a paper whose digest equals
    the signed one is "as_signed", one that differs "altered"; without such a
    signature, or for a paper it did not cover, "not_verified". A signature whose
    verdict in ``verdicts`` is verified had its binding recomputed then."""
    known_verdicts = verdicts or {}

    def intact(signature: Signature) -> bool:
        known = known_verdicts.get(verify.key_of(signature))
        if known is not None and known.verified:
            return True
        return workflow_services.signature_binding_is_intact(signature)

    bound = [
        s
        for s in sorted(signatures, key=lambda s: (s.signed_at, s.pk))
        if s.dossier is not None and intact(s)
    ]
    signed = dossier_rules.signed_papers(bound[-1].dossier) if bound else {}
    checked = []
    for paper in papers:
        digest = dossier_rules.paper_digest(
            template_key=paper.template_key,
            template_version=paper.template_version,
            title=paper.title,
            content=paper.content,
        )
        checked.append(
            replace(
                paper,
                dossier_mark=dossier_rules.paper_mark(
                    signed, paper.template_key, digest
                ),
                signed_sha256=signed.get(paper.template_key),
            )
        )
    return tuple(checked)


# --- Governance ---------------------------------------------------------------------


@dataclass(frozen=True)
class _StateRows:
    """The deployment state a prediction names, its ledger record, and the
    approval and deployment it refers to (read in one statement)."""

    state: DeploymentState | None = None
    record: LedgerRecord | None = None
    request: ReleaseRequest | None = None
    deployment: Deployment | None = None
    reported_by: str = ""


@functools.cache
def _state_sql() -> str:
    return (
        "SELECT {state}, {entry}, {request}, {deployment}, "
        "u.{username} AS reported_by_name "
        "FROM audits_deploymentstate s "
        "LEFT JOIN audits_ledgerentry e ON e.entry_id = s.entry_id "
        "LEFT JOIN governance_releaserequest r ON r.id = s.approval_id "
        "LEFT JOIN governance_deployment d ON d.id = s.deployment_id "
        "LEFT JOIN {users} u ON u.id = d.reported_by_id "
        "WHERE s.entry_id = %s"
    ).format(
        state=_select(DeploymentState, "s", ""),
        entry=_select(LedgerEntry, "e", "e__"),
        request=_select(ReleaseRequest, "r", "r__"),
        deployment=_select(Deployment, "d", "d__"),
        **_users(),
    )


def _deployment_state(ref: Any) -> _StateRows:
    if not isinstance(ref, dict):
        return _StateRows()
    try:
        entry_id = uuid.UUID(str(ref.get("entry_id")))
    except ValueError:
        return _StateRows()
    rows = _raw_joined(
        _state_sql(),
        [_prep(DeploymentState, "entry_id", entry_id)],
        ("", DeploymentState),
        ("e__", LedgerEntry),
        ("r__", ReleaseRequest),
        ("d__", Deployment),
    )
    if not rows:
        return _StateRows(record=_records_by_id([entry_id]).get(entry_id))
    state, entry, request, deployment = rows[0]
    record = (
        _entry_record(entry)
        if entry is not None
        else _records_by_id([entry_id]).get(entry_id)  # queued, or gone
    )
    return _StateRows(
        state=state,
        record=record,
        request=request if state.approval_id else None,
        deployment=deployment if state.deployment_id else None,
        reported_by=(state.reported_by_name or "") if deployment is not None else "",
    )


@dataclass(frozen=True)
class _Governance:
    """The governance rows of a deployment state, each with its verdict."""

    request: ReleaseRequest | None
    deployment: Deployment | None
    reported_by: str
    signatures: tuple[Signature, ...]
    checked: dict[verify.Key, verify.Verdict]


def _governance(
    rows: _StateRows,
    version: ModelVersion | None,
    checkpoint: LedgerCheckpoint | None,
    batch: ledger_services.ProofBatch | None,
) -> _Governance | None:
    """The state's approval (with its signatures, read once: checked against the
    ledger for the approval, and their dossier for the papers) and deployment, and
    the verdicts of all of them and of the state (one batch)."""
    state, rr, deployment = rows.state, rows.request, rows.deployment
    if state is None:
        return None
    signatures = tuple(_signatures(rr.pk, version)) if rr is not None else ()
    record = rows.record
    known = (
        {record.entry_id: verify.Leaf(record.seq, record.leaf, record.leaf_hash)}
        if record is not None
        else None
    )
    checked = verify.verdicts(
        [state, *(x for x in (rr, deployment) if x is not None), *signatures],
        checkpoint=checkpoint,
        proofs=batch,
        known=known,
    )
    return _Governance(rr, deployment, rows.reported_by, signatures, checked)


def _signatures(request_id: int, version: ModelVersion | None) -> list[Signature]:
    """The request's signatures in order, each with its signer's name and its
    version (the prediction's, already read, when it is the same) loaded: what
    their bindings are recomputed from."""
    rows = _raw(
        Signature,
        "SELECT s.*, u.{username} AS signer_name FROM governance_signature s "
        "JOIN {users} u ON u.id = s.signer_id WHERE s.request_id = %s "
        "ORDER BY s.signed_at, s.id".format(**_users()),
        [request_id],
    )
    user_model: Any = get_user_model()
    versions = {version.pk: version} if version is not None else {}
    for row in rows:
        row.signer = _row(
            user_model, id=row.signer_id, **{user_model.USERNAME_FIELD: row.signer_name}
        )
        if row.model_version_id not in versions:
            versions[row.model_version_id] = ModelVersion.objects.select_related(
                "model"
            ).get(pk=row.model_version_id)
        row.model_version = versions[row.model_version_id]
    return rows


def _state_view(
    state: DeploymentState,
    record: LedgerRecord | None,
    data: Mapping[str, Any],
    governance: _Governance | None,
) -> DeploymentStateView:
    assert governance is not None
    ref = data.get("deployment_state") or {}
    stored_hash = bytes(state.leaf_hash)
    hash_matches = ref.get("leaf_hash") == stored_hash.hex() and (
        record is None or record.leaf_hash == stored_hash
    )
    state_leaf = record.data if record is not None else {}
    checked = governance.checked
    rr = governance.request
    approval = None
    if rr is not None:
        signatures = tuple(
            SignatureView(
                printed_name=s.printed_name,
                meaning=s.meaning,
                signed_at=s.signed_at,
                binding_sha256=s.binding_sha256,
                comment=s.comment,
                integrity=checked[verify.key_of(s)],
            )
            for s in governance.signatures
        )
        committed = (state_leaf.get("approval") or {}).get("signatures")
        approval = ApprovalView(
            request_id=rr.pk,
            state=rr.state,
            environments=tuple(rr.environments or ()),
            approved_at=rr.approved_at,
            expires_at=rr.expires_at,
            revoked_at=rr.revoked_at,
            approved_artifact_sha256=rr.approved_artifact_sha256,
            signatures=signatures,
            bindings_match=committed == sorted(s.binding_sha256 for s in signatures),
            integrity=_approval_integrity(
                rr, checked[verify.key_of(rr)], state_leaf, record
            ),
        )
    deployment = None
    if governance.deployment is not None:
        d = governance.deployment
        deployment = DeploymentView(
            id=d.pk,
            environment=d.environment,
            action=d.action,
            deployed_at=d.deployed_at,
            reported_at=d.reported_at,
            reported_by=governance.reported_by,
            target=d.target,
            external_id=d.external_id,
            integrity=checked[verify.key_of(d)],
        )
    return DeploymentStateView(
        entry_id=state.entry_id,
        leaf_hash=stored_hash,
        reason=state.reason,
        created_at=state.created_at,
        environment=state.environment,
        # The version is what the state's (proven) leaf records.
        version=(state_leaf.get("model_version") or {}).get("version"),
        approval=approval,
        approval_expires_at=state.approval_expires_at,
        deployment=deployment,
        record=record,
        hash_matches=hash_matches,
        integrity=checked[verify.key_of(state)],
    )


def _approval_integrity(
    rr: ReleaseRequest,
    checked: verify.Verdict,
    state_leaf: Mapping[str, Any],
    record: LedgerRecord | None,
) -> verify.Verdict:
    """The request's verdict, and its approval and expiry times against the ones
    the deployment state's leaf recorded when the approval came into force."""
    if not checked.verified:
        return checked
    ref = state_leaf.get("approval") or {}
    differ = tuple(
        name
        for name, now in (
            ("approved_at", rr.approved_at),
            ("expires_at", rr.expires_at),
        )
        if name in ref and ref[name] != (records.iso(now) if now else None)
    )
    if differ:
        return verify.Verdict(
            verify.ALTERED,
            seq=record.seq if record is not None else None,
            detail="differs from the deployment state's leaf in " + ", ".join(differ),
            fields=differ,
        )
    return checked


def _outcome_view(record: LedgerRecord, prediction: LedgerRecord) -> OutcomeView:
    data = record.data
    return OutcomeView(
        record=record,
        outcome=data.get("outcome"),
        observed_at=str(data.get("observed_at", "")),
        prediction_hash_matches=data.get("prediction_leaf_hash")
        == prediction.leaf_hash.hex(),
    )


def _protected(
    user: Any, prediction_id: uuid.UUID, data: Mapping[str, Any]
) -> ProtectedView:
    commitment = data.get("protected_attributes_commitment")
    if not isinstance(commitment, str):
        return ProtectedView(status="none", commitment=None)
    if not user.has_perm(PERM_PROTECTED):
        return ProtectedView(status="hidden", commitment=commitment)
    rows = _raw(
        ProtectedAttributes,
        "SELECT * FROM audits_protectedattributes WHERE prediction_id = %s",
        [_prep(ProtectedAttributes, "prediction_id", prediction_id)],
    )
    row = rows[0] if rows else None
    if row is None:
        return ProtectedView(status="erased", commitment=commitment)
    salt = bytes(row.salt)
    attributes = dict(row.attributes)
    return ProtectedView(
        status="shown",
        commitment=commitment,
        attributes=attributes,
        salt=salt,
        computed=records.protected_commitment(attributes, salt),
    )


# --- Proof bundle and view record ---------------------------------------------------


def trail_proof_bundle(trail: Trail) -> str | None:
    """The prediction's C2SP tlog-proof bundle, self-contained: the leaf bytes are
    in its ``extra`` line. None while no checkpoint covers the prediction."""
    return _bundle(trail.record, trail.checkpoint)


def outcome_proof_bundle(trail: Trail) -> str | None:
    """The outcome's own tlog-proof bundle (its leaf names the prediction's leaf
    hash). None without an outcome or while no checkpoint covers it."""
    if trail.outcome is None:
        return None
    return _bundle(trail.outcome.record, trail.checkpoint)


def _bundle(record: LedgerRecord, checkpoint: CheckpointView | None) -> str | None:
    if record.seq is None or record.proof is None or checkpoint is None:
        return None

    return proofs.format_bundle(
        index=record.seq,
        proof=record.proof,
        note=checkpoint.note,
        extra=record.leaf,
    )


def trail_links(prediction_id: uuid.UUID) -> dict[str, str]:
    """Where the trail is: the API (JSON, PDF, proof) and the page."""
    kwargs = {"prediction_id": prediction_id}
    return {
        "self": reverse("api-prediction-trail", kwargs=kwargs),
        "pdf": reverse("api-prediction-trail-pdf", kwargs=kwargs),
        "proof": reverse("api-prediction-proof", kwargs=kwargs),
        "outcome_proof": reverse("api-prediction-outcome-proof", kwargs=kwargs),
        "page": reverse("audits:trail", kwargs=kwargs),
    }


def prediction_is_recorded(prediction_id: uuid.UUID) -> bool:
    """Whether a prediction with this id was accepted (queued or sequenced)."""
    return LedgerKey.objects.filter(
        entry_id=prediction_id, entry_type=EntryType.PREDICTION
    ).exists()


TRAIL_VIEWED = "audits.trail.viewed"
FORMATS = ("json", "html", "pdf", "proof", "outcome_proof")


def trail_view_record(*, actor: Any, trail: Trail, view_format: str) -> None:
    """Record that ``actor`` viewed ``trail`` (as an audit event, hence also as a
    governance leaf of the ledger), in one transaction."""
    if view_format not in FORMATS:
        raise ValueError(f"unknown trail format {view_format!r}")
    with transaction.atomic():
        audit_services.audit_event_record(
            actor=actor,
            event_type=TRAIL_VIEWED,
            payload={
                "prediction_id": str(trail.prediction_id),
                "format": view_format,
            },
        )
