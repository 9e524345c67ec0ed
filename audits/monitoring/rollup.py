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
"""

from __future__ import annotations

import bisect
import math
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from django.db import connection, transaction
from django.utils import timezone

from audits.ledger.models import EntryType, LedgerHead
from audits.monitoring import drift
from audits.monitoring.models import RollupMark
from registry.models import ModelVersion

PREDICTION = int(EntryType.PREDICTION)
OUTCOME = int(EntryType.OUTCOME)
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
    """Canonical JSON of a prediction's protected attributes, values as labels."""
    if not attributes:
        return ""
    return orjson.dumps(
        {str(k): label(v) for k, v in attributes.items()},
        option=orjson.OPT_SORT_KEYS,
    ).decode()


class Cells:
    """Counts of one batch, ready to be added to the rollup tables."""

    def __init__(self) -> None:
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


def _protected(ids: Sequence[uuid.UUID]) -> dict[str, Any]:
    """Protected attributes by prediction id (str) of the predictions that have them."""
    if not ids:
        return {}
    if connection.vendor == "postgresql":
        rows = _pg_rows(
            "SELECT prediction_id, attributes::text FROM audits_protectedattributes "
            "WHERE prediction_id = ANY(%s)",
            [list(ids)],
        )
    else:
        rows = []
        with connection.cursor() as cursor:
            for part in _chunks(ids):
                marks = ",".join(["%s"] * len(part))
                cursor.execute(
                    "SELECT prediction_id, attributes FROM audits_protectedattributes "
                    f"WHERE prediction_id IN ({marks})",
                    [i.hex for i in part],
                )
                rows += cursor.fetchall()
    out: dict[str, Any] = {}
    for pid, attributes in rows:
        if isinstance(attributes, str | bytes):
            attributes = orjson.loads(attributes)
        if isinstance(attributes, dict):
            key = pid if isinstance(pid, uuid.UUID) else uuid.UUID(str(pid))
            out[str(key)] = attributes
    return out


def _prediction_leaves(ids: Sequence[uuid.UUID]) -> dict[str, dict[str, Any]]:
    """Parsed prediction leaves by prediction id (str)."""
    if not ids:
        return {}
    if connection.vendor == "postgresql":
        rows = _pg_rows(
            "SELECT leaf FROM audits_ledgerentry WHERE entry_id = ANY(%s) "
            "AND entry_type = %s",
            [list(ids), PREDICTION],
        )
    else:
        rows = []
        with connection.cursor() as cursor:
            for part in _chunks(ids):
                marks = ",".join(["%s"] * len(part))
                cursor.execute(
                    f"SELECT leaf FROM audits_ledgerentry WHERE entry_id IN ({marks}) "
                    "AND entry_type = %s",
                    [i.hex for i in part] + [PREDICTION],
                )
                rows += cursor.fetchall()
    out = {}
    for (leaf,) in rows:
        parsed = orjson.loads(bytes(leaf))
        out[parsed["prediction_id"]] = parsed
    return out


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


def count_entries(entries: Iterable[tuple[int, bytes, str | None]]) -> Cells:
    """Count ledger entries ``(entry_type, leaf, protected attributes as JSON text
    or None)`` into cells.

    For outcomes, reads the prediction leaf they complete and its protected
    attributes. Governance and deployment-state entries are skipped.
    """
    predictions: list[tuple[dict[str, Any], str | None]] = []
    outcomes: list[dict[str, Any]] = []
    for entry_type, leaf, attributes in entries:
        if entry_type == PREDICTION:
            predictions.append((orjson.loads(leaf), attributes))
        elif entry_type == OUTCOME:
            outcomes.append(orjson.loads(leaf))
    completed = _prediction_leaves([uuid.UUID(o["prediction_id"]) for o in outcomes])
    completed_protected = _protected([uuid.UUID(pid) for pid in completed])
    versions = _Versions(
        [_pair(p) for p, _ in predictions] + [_pair(p) for p in completed.values()]
    )
    binners = {pk: _Binner(specs) for pk, specs in versions.by_pair.values()}
    groups_of: dict[str | None, str] = {None: ""}
    cells = Cells()
    decisions = cells.decisions
    features_count = cells.features
    for p, attributes in predictions:
        found = versions.by_pair.get(_pair(p))
        if found is None:
            continue
        version_id = found[0]
        env = p["deployment"]["environment"]
        hour = _hour(p["predicted_at"])
        groups = groups_of.get(attributes)
        if groups is None:
            parsed = orjson.loads(attributes) if attributes else None
            groups = groups_key(parsed if isinstance(parsed, dict) else None)
            groups_of[attributes] = groups
        decisions[(version_id, env, hour, groups, label(p.get("decision")))] += 1
        features = p.get("features")
        if not isinstance(features, dict):
            continue
        for name, bin_ in binners[version_id].bins(features):
            features_count[(version_id, env, hour, name, bin_)] += 1
    for o in outcomes:
        matched = completed.get(o["prediction_id"])
        if matched is None:
            continue
        p = matched
        found = versions.by_pair.get(_pair(p))
        if found is None:
            continue
        version_id = found[0]
        env = p["deployment"]["environment"]
        hour = _hour(p["predicted_at"])
        groups = groups_key(completed_protected.get(p["prediction_id"]))
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


def _entries(start: int, end: int) -> list[tuple[int, bytes, str | None]]:
    """Predictions and outcomes in ``[start, end)`` with the protected attributes of
    the predictions (one join, no second lookup)."""
    query = (
        "SELECT e.entry_type, e.leaf, p.attributes{cast} "
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
    return [(int(t), bytes(leaf), attributes) for t, leaf, attributes in rows]


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
