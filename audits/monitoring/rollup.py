"""Hourly rollups of the ledger: what monitoring reports read instead of predictions.

``rollup_advance`` reads the sequenced entries past the rollup mark, counts them
into cells (per model version, environment and UTC hour of ``predicted_at``) and
moves the mark, all in one transaction: every entry is counted exactly once, and a
crash rolls the counts and the mark back together. It runs after each sequenced
batch (the sequencer and its beat task call it) and before each report, outside
the sequencer's transaction, so a fault here can never stop the ledger.

Cells:

- decisions: (groups, decision label) -> n, for approval rates and fairness;
- outcomes: (groups, decision, outcome label) -> n, by the prediction's hour, for
  TPR/FPR/precision on matured predictions;
- scores: (score rounded to ``SCORE_DECIMALS``, outcome) -> n and the sum of the
  exact scores, for AUC, KS and calibration;
- features: (feature, baseline bin) -> n, for PSI; only baselined features, and
  categories unknown to the baseline count together as ``OTHER``.

Protected attributes come from their own table (they are not in the leaf). The
counts are aggregates: erasing one person's attributes later does not change them.

Nothing is counted on trust. Every prediction read is checked before it is counted:
its stored leaf hash must be SHA-256(0x00 || leaf), and its protected attributes
(when a row holds them) must give the leaf's ``protected_attributes_commitment``
again, SHA-256(salt || canonical JSON). Every outcome must hash to its stored leaf
hash and name its prediction's leaf hash, and that prediction is checked as above.
A prediction or outcome that fails is left out of every cell and recorded as an
:class:`~audits.monitoring.models.IntegrityFailure`, which reports count.

A missing protected attribute (absent, ``null`` or ``""``) is stored as absent in
the groups key, so the three are one group everywhere (see :func:`groups_key`).
"""

from __future__ import annotations

import bisect
import hashlib
import math
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from django.db import connection, transaction
from django.utils import timezone

from audits.ledger import records
from audits.ledger.models import EntryType, LedgerHead
from audits.monitoring import drift
from audits.monitoring.models import IntegrityCheck, IntegrityFailure, RollupMark
from registry.models import ModelVersion

PREDICTION = int(EntryType.PREDICTION)
OUTCOME = int(EntryType.OUTCOME)
PROTECTED = str(IntegrityCheck.PROTECTED_ATTRIBUTES)
PREDICTION_LEAF = str(IntegrityCheck.PREDICTION_LEAF)
OUTCOME_LEAF = str(IntegrityCheck.OUTCOME_LEAF)
SCORE_DECIMALS = 4
OTHER = "__other__"
BATCH = 20_000

DecisionKey = tuple[int, str, str, str, str]  # version, env, hour, groups, decision
OutcomeKey = tuple[int, str, str, str, str, str]  # ... , outcome
ScoreKey = tuple[int, str, str, float, str]  # version, env, hour, score, outcome
FeatureKey = tuple[int, str, str, str, str]  # version, env, hour, feature, bin


def label(value: Any) -> str:
    """The string label of a decision, outcome or group value (5.0 -> "5")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def groups_key(attributes: Mapping[str, Any] | None) -> str:
    """Canonical JSON of a prediction's protected attributes, values as labels.

    A missing value (``null`` or ``""``) is left out of the key, exactly as an
    absent attribute is, so the three count as one missing group; "" when none is
    present."""
    if not attributes:
        return ""
    present = {str(k): label(v) for k, v in attributes.items()}
    present = {k: v for k, v in present.items() if v != ""}
    if not present:
        return ""
    return orjson.dumps(present, option=orjson.OPT_SORT_KEYS).decode()


def groups_values(groups: str) -> dict[str, str]:
    """The attribute values of a stored groups key, missing ones left out.

    Cells written before missing values were left out of the key hold ``""`` for
    them; they are dropped here, so old and new cells agree."""
    if not groups:
        return {}
    values = orjson.loads(groups)
    return {str(k): str(v) for k, v in values.items() if v is not None and v != ""}


Failure = tuple[int, str, str, str, str, int]  # version, env, hour, id, check, seq


class Cells:
    """Counts of one batch, ready to be added to the rollup tables, and the
    predictions left out of them for failing an integrity check."""

    def __init__(self) -> None:
        self.failures: list[Failure] = []
        self.decisions: Counter[DecisionKey] = Counter()
        self.outcomes: Counter[OutcomeKey] = Counter()
        self.scores: Counter[ScoreKey] = Counter()
        self.score_sums: dict[ScoreKey, float] = {}
        self.features: Counter[FeatureKey] = Counter()

    def __len__(self) -> int:
        return (
            len(self.decisions)
            + len(self.outcomes)
            + len(self.scores)
            + len(self.features)
        )


class _Versions:
    """(model slug, version) -> (version id, baselined feature specs), per batch."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        wanted = set(pairs)
        self.by_pair: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        if not wanted:
            return
        slugs = {slug for slug, _ in wanted}
        rows = ModelVersion.objects.filter(model__slug__in=slugs).values_list(
            "id", "model__slug", "version", "baseline"
        )
        for pk, slug, version, baseline in rows:
            if (slug, version) in wanted:
                features = (baseline or {}).get("features") or {}
                self.by_pair[(slug, version)] = (pk, dict(features))


def _hour(predicted_at: str) -> str:
    # Leaves hold UTC times as "2026-11-22T10:00:00.000000Z" (records.iso).
    return predicted_at[:13]


def _pg_rows(query: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Rows of ``query`` on Django's connection with server-side binding: a uuid[]
    parameter travels in binary instead of as a 20,000-element literal."""
    connection.ensure_connection()
    with (
        connection.wrap_database_errors,
        psycopg.Cursor(connection.connection) as raw,
    ):
        raw.execute(query, params, binary=True)
        return list(raw.fetchall())


def _chunks(ids: Sequence[uuid.UUID], size: int = 500) -> Iterable[Sequence[uuid.UUID]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _protected(ids: Sequence[uuid.UUID]) -> dict[str, tuple[str, bytes]]:
    """(attributes as JSON text, salt) by prediction id (str) of the predictions
    that have protected attributes."""
    if not ids:
        return {}
    if connection.vendor == "postgresql":
        rows = _pg_rows(
            "SELECT prediction_id, attributes::text, salt "
            "FROM audits_protectedattributes WHERE prediction_id = ANY(%s)",
            [list(ids)],
        )
    else:
        rows = []
        with connection.cursor() as cursor:
            for part in _chunks(ids):
                marks = ",".join(["%s"] * len(part))
                cursor.execute(
                    "SELECT prediction_id, attributes, salt "
                    f"FROM audits_protectedattributes WHERE prediction_id IN ({marks})",
                    [i.hex for i in part],
                )
                rows += cursor.fetchall()
    out: dict[str, tuple[str, bytes]] = {}
    for pid, attributes, salt in rows:
        key = pid if isinstance(pid, uuid.UUID) else uuid.UUID(str(pid))
        text = attributes.decode() if isinstance(attributes, bytes) else attributes
        out[str(key)] = (text, bytes(salt))
    return out


@dataclass(frozen=True)
class _Completed:
    """The prediction an outcome completes, as stored in the ledger."""

    leaf: dict[str, Any]
    raw: bytes
    leaf_hash: bytes
    seq: int


def _prediction_leaves(ids: Sequence[uuid.UUID]) -> dict[str, _Completed]:
    """The stored prediction entries by prediction id (str)."""
    if not ids:
        return {}
    if connection.vendor == "postgresql":
        rows = _pg_rows(
            "SELECT seq, leaf, leaf_hash FROM audits_ledgerentry "
            "WHERE entry_id = ANY(%s) AND entry_type = %s",
            [list(ids), PREDICTION],
        )
    else:
        rows = []
        with connection.cursor() as cursor:
            for part in _chunks(ids):
                marks = ",".join(["%s"] * len(part))
                cursor.execute(
                    "SELECT seq, leaf, leaf_hash FROM audits_ledgerentry "
                    f"WHERE entry_id IN ({marks}) AND entry_type = %s",
                    [i.hex for i in part] + [PREDICTION],
                )
                rows += cursor.fetchall()
    out = {}
    for seq, leaf, leaf_hash in rows:
        raw = bytes(leaf)
        parsed = orjson.loads(raw)
        out[parsed["prediction_id"]] = _Completed(
            parsed, raw, bytes(leaf_hash), int(seq)
        )
    return out


def _hash_matches(leaf: bytes, leaf_hash: bytes | None) -> bool:
    # merkle.leaf_hash, inlined: this runs once per counted entry.
    return leaf_hash is not None and (
        hashlib.sha256(b"\x00" + leaf).digest() == leaf_hash
    )


class _Attributes:
    """Protected attributes checked against their commitment, with the parsing
    and canonical bytes of each distinct JSON text cached for a batch."""

    def __init__(self) -> None:
        self._parsed: dict[str, tuple[bytes, str]] = {}

    def groups(
        self, commitment: Any, attributes: str | None, salt: bytes | None
    ) -> str | None:
        """The groups key, or None when the attributes fail their commitment.

        No row (never given, or erased) is the missing group; a row for a leaf
        that commits to none, or whose salted hash differs, fails."""
        if attributes is None:
            return ""
        found = self._parsed.get(attributes)
        if found is None:
            parsed = orjson.loads(attributes)
            if not isinstance(parsed, dict):
                return None
            found = (records.dumps(parsed), groups_key(parsed))
            self._parsed[attributes] = found
        canonical, groups = found
        if not isinstance(commitment, str) or salt is None:
            return None
        if hashlib.sha256(salt + canonical).hexdigest() != commitment:
            return None
        return groups


def _pair(leaf: Mapping[str, Any]) -> tuple[str, str]:
    return (leaf["deployment"]["model"], leaf["model_version"]["version"])


class _Binner:
    """Feature bins of one version, with the per-value work cached for a batch."""

    def __init__(self, specs: Mapping[str, Any]) -> None:
        self.numeric: list[tuple[str, list[float], list[str], Mapping[str, Any]]] = []
        self.categorical: list[tuple[str, Mapping[str, Any]]] = []
        for name, spec in specs.items():
            if spec.get("type") == "numeric":
                edges = [float(e) for e in spec.get("edges", [])]
                labels = [str(i) for i in range(len(edges) + 1)]
                self.numeric.append((name, edges, labels, spec))
            else:
                self.categorical.append((name, spec))
        self._categories: dict[tuple[str, Any], str] = {}

    def bins(self, features: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
        for name, edges, labels, spec in self.numeric:
            value = features.get(name)
            kind = type(value)
            if (kind is int or kind is float) and math.isfinite(value):  # type: ignore[arg-type]
                yield name, labels[bisect.bisect_right(edges, float(value))]  # type: ignore[arg-type]
            else:
                yield name, drift.bin_label(spec, value) or ""
        for name, spec in self.categorical:
            value = features.get(name)
            try:
                key = (name, value)
                found = self._categories.get(key)
            except TypeError:  # an unhashable value (a list): not a category
                key, found = None, None
            if found is None:
                found = drift.bin_label(spec, value)
                if found is None:
                    found = ""
                elif found not in spec.get("proportions", {}):
                    found = OTHER
                if key is not None:
                    self._categories[key] = found
            yield name, found


Entry = tuple[int, int, bytes, bytes | None, str | None, bytes | None]
# seq, entry type, leaf, stored leaf hash, protected attributes (JSON text), salt


def count_entries(entries: Iterable[Entry]) -> Cells:
    """Count ledger entries into cells, each checked first (module docstring).

    For outcomes, reads the prediction leaf they complete and its protected
    attributes. Governance and deployment-state entries are skipped. Entries that
    fail a check are left out of every cell and listed in ``Cells.failures``.
    """
    predictions: list[Entry] = []
    outcomes: list[tuple[int, dict[str, Any], bytes, bytes | None]] = []
    for entry in entries:
        if entry[1] == PREDICTION:
            predictions.append(entry)
        elif entry[1] == OUTCOME:
            outcomes.append((entry[0], orjson.loads(entry[2]), entry[2], entry[3]))
    completed = _prediction_leaves(
        [uuid.UUID(o["prediction_id"]) for _, o, _, _ in outcomes]
    )
    completed_protected = _protected([uuid.UUID(pid) for pid in completed])
    parsed = [orjson.loads(entry[2]) for entry in predictions]
    versions = _Versions(
        [_pair(p) for p in parsed] + [_pair(c.leaf) for c in completed.values()]
    )
    binners = {pk: _Binner(specs) for pk, specs in versions.by_pair.values()}
    checked = _Attributes()
    cells = Cells()
    decisions = cells.decisions
    features_count = cells.features
    failures = cells.failures
    for p, (seq, _, leaf, leaf_hash, attributes, salt) in zip(
        parsed, predictions, strict=True
    ):
        found = versions.by_pair.get(_pair(p))
        if found is None:
            continue
        version_id = found[0]
        env = p["deployment"]["environment"]
        hour = _hour(p["predicted_at"])
        if not _hash_matches(leaf, leaf_hash):
            failures.append(
                (version_id, env, hour, p["prediction_id"], PREDICTION_LEAF, seq)
            )
            continue
        groups = checked.groups(
            p.get("protected_attributes_commitment"), attributes, salt
        )
        if groups is None:
            failures.append((version_id, env, hour, p["prediction_id"], PROTECTED, seq))
            continue
        decisions[(version_id, env, hour, groups, label(p.get("decision")))] += 1
        features = p.get("features")
        if not isinstance(features, dict):
            continue
        for name, bin_ in binners[version_id].bins(features):
            features_count[(version_id, env, hour, name, bin_)] += 1
    for seq, o, leaf, leaf_hash in outcomes:
        matched = completed.get(o["prediction_id"])
        if matched is None:
            continue
        p = matched.leaf
        found = versions.by_pair.get(_pair(p))
        if found is None:
            continue
        version_id = found[0]
        env = p["deployment"]["environment"]
        hour = _hour(p["predicted_at"])
        where = (version_id, env, hour, p["prediction_id"])
        if not _hash_matches(leaf, leaf_hash) or (
            o.get("prediction_leaf_hash") != matched.leaf_hash.hex()
        ):
            failures.append((*where, OUTCOME_LEAF, seq))
            continue
        if not _hash_matches(matched.raw, matched.leaf_hash):
            failures.append((*where, PREDICTION_LEAF, matched.seq))
            continue
        attributes, salt = completed_protected.get(p["prediction_id"], (None, None))
        groups = checked.groups(
            p.get("protected_attributes_commitment"), attributes, salt
        )
        if groups is None:
            failures.append((*where, PROTECTED, matched.seq))
            continue
        outcome = label(o.get("outcome"))
        decision = label(p.get("decision"))
        cells.outcomes[(version_id, env, hour, groups, decision, outcome)] += 1
        score = float(p["score"])
        if math.isfinite(score):
            key = (version_id, env, hour, round(score, SCORE_DECIMALS), outcome)
            cells.scores[key] += 1
            cells.score_sums[key] = cells.score_sums.get(key, 0.0) + score
    return cells


def _hour_value(hour: str) -> datetime:
    return datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=UTC)


_TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    # table: (key columns, their PostgreSQL array types, summed columns)
    "audits_decisioncell": (
        ("model_version_id", "environment", "hour", "groups", "decision"),
        ("bigint", "text", "timestamptz", "text", "text"),
        ("n",),
    ),
    "audits_outcomecell": (
        ("model_version_id", "environment", "hour", "groups", "decision", "outcome"),
        ("bigint", "text", "timestamptz", "text", "text", "text"),
        ("n",),
    ),
    "audits_scorecell": (
        ("model_version_id", "environment", "hour", "score", "outcome"),
        ("bigint", "text", "timestamptz", "float8", "text"),
        ("n", "score_sum"),
    ),
    "audits_featurecell": (
        ("model_version_id", "environment", "hour", "feature", "bin"),
        ("bigint", "text", "timestamptz", "text", "text"),
        ("n",),
    ),
}
_SUM_TYPES = {"n": "bigint", "score_sum": "float8"}


def _upsert(table: str, rows: list[tuple[Any, ...]]) -> None:
    """Add ``rows`` (keys then summed values) to ``table``: insert new cells,
    increment existing ones. One statement on PostgreSQL (arrays unnested)."""
    if not rows:
        return
    keys, types, sums = _TABLES[table]
    columns = ", ".join(keys + sums)
    conflict = ", ".join(keys)
    update = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in sums)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            arrays = ", ".join(
                f"%s::{t}[]" for t in (*types, *(_SUM_TYPES[c] for c in sums))
            )
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays}) "
                f"ON CONFLICT ({conflict}) DO UPDATE SET {update}",
                [list(column) for column in zip(*rows, strict=True)],
            )
        else:
            marks = ", ".join(["%s"] * (len(keys) + len(sums)))
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({marks}) "
                f"ON CONFLICT ({conflict}) DO UPDATE SET {update}",
                rows,
            )


def cells_add(cells: Cells) -> None:
    """Add ``cells`` to the rollup tables (insert, or increment an existing cell)."""
    hours: dict[str, datetime] = {}

    def at(hour: str) -> datetime:
        if hour not in hours:
            hours[hour] = _hour_value(hour)
        return hours[hour]

    _upsert(
        "audits_decisioncell",
        [(k[0], k[1], at(k[2]), k[3], k[4], n) for k, n in cells.decisions.items()],
    )
    _upsert(
        "audits_outcomecell",
        [
            (k[0], k[1], at(k[2]), k[3], k[4], k[5], n)
            for k, n in cells.outcomes.items()
        ],
    )
    _upsert(
        "audits_scorecell",
        [
            (k[0], k[1], at(k[2]), k[3], k[4], n, cells.score_sums[k])
            for k, n in cells.scores.items()
        ],
    )
    _upsert(
        "audits_featurecell",
        [(k[0], k[1], at(k[2]), k[3], k[4], n) for k, n in cells.features.items()],
    )
    if cells.failures:
        # Found again by a later batch (an outcome of a failed prediction) or a
        # rebuild: one row per (check, prediction).
        IntegrityFailure.objects.bulk_create(
            [
                IntegrityFailure(
                    model_version_id=version_id,
                    environment=env,
                    hour=at(hour),
                    prediction_id=uuid.UUID(prediction_id),
                    failed_check=check,
                    seq=seq,
                )
                for version_id, env, hour, prediction_id, check, seq in cells.failures
            ],
            ignore_conflicts=True,
        )


def _entries(start: int, end: int) -> list[Entry]:
    """Predictions and outcomes in ``[start, end)`` with their stored leaf hash and
    the protected attributes and salt of the predictions (one join, no second
    lookup)."""
    query = (
        "SELECT e.seq, e.entry_type, e.leaf, e.leaf_hash, p.attributes{cast}, p.salt "
        "FROM audits_ledgerentry e LEFT JOIN audits_protectedattributes p "
        "ON p.prediction_id = e.entry_id AND e.entry_type = %s "
        "WHERE e.seq >= %s AND e.seq < %s AND e.entry_type IN (%s, %s) ORDER BY e.seq"
    )
    params = [PREDICTION, start, end, PREDICTION, OUTCOME]
    if connection.vendor == "postgresql":
        rows = _pg_rows(query.format(cast="::text"), params)
    else:
        with connection.cursor() as cursor:
            cursor.execute(query.format(cast=""), params)
            rows = cursor.fetchall()
    return [
        (
            int(seq),
            int(t),
            bytes(leaf),
            None if leaf_hash is None else bytes(leaf_hash),
            attributes,
            None if salt is None else bytes(salt),
        )
        for seq, t, leaf, leaf_hash, attributes, salt in rows
    ]


@transaction.atomic
def rollup_advance(*, limit: int = BATCH) -> int:
    """Count up to ``limit`` sequenced entries past the mark; return how many.

    The mark row is locked, so concurrent callers take turns and no entry is
    counted twice; cells and mark commit together.
    """
    RollupMark.objects.get_or_create(id=1)
    mark = RollupMark.objects.select_for_update().get(id=1)
    head = LedgerHead.objects.filter(id=1).values_list("size", flat=True).first() or 0
    end = min(head, mark.seq + limit)
    if end <= mark.seq:
        return 0
    cells_add(count_entries(_entries(mark.seq, end)))
    done = end - mark.seq
    mark.seq = end
    mark.updated_at = timezone.now()
    mark.save(update_fields=["seq", "updated_at"])
    return done


def rollup_catch_up(*, max_entries: int | None = None) -> int:
    """Advance until the mark reaches the head (or ``max_entries``); return the count."""
    total = 0
    while max_entries is None or total < max_entries:
        done = rollup_advance()
        if done == 0:
            break
        total += done
    return total


@transaction.atomic
def rollup_rebuild() -> int:
    """Drop every cell and count the whole ledger again; return the entries counted.

    For upgrades (entries sequenced before rollups existed) and to check that the
    incremental counts equal a fresh count.
    """
    with connection.cursor() as cursor:
        for table in (
            "audits_decisioncell",
            "audits_outcomecell",
            "audits_scorecell",
            "audits_featurecell",
            "audits_integrityfailure",
        ):
            cursor.execute(f"DELETE FROM {table}")
    RollupMark.objects.update_or_create(
        id=1, defaults={"seq": 0, "updated_at": timezone.now()}
    )
    total = 0
    while True:
        done = rollup_advance()
        if done == 0:
            return total
        total += done
