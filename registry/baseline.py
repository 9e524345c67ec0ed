"""Validation of a version's baseline statistics and input schema. Pure.

Baseline shape (what drift and fairness monitoring compare against)::

    {"n": 1000,
     "features": {
        "amount": {"type": "numeric", "edges": [700.0, 1200.0, ...],
                   "proportions": [0.1, ...]},          # len(edges) + 1 bins;
                                                        # outer edges are -inf/+inf
        "purpose": {"type": "categorical", "proportions": {"car": 0.3, ...}}},
     "approval_rate": {"overall": 0.71,
                       "by_group": {"age_group": {"<25": 0.58, "25+": 0.74}}},
     "performance": {"auc": 0.78, "gini": 0.56, "ks": 0.41}}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError as JsonSchemaError

_TOLERANCE = 1e-6


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _is_rate(value: Any) -> bool:
    return _is_number(value) and 0.0 <= value <= 1.0


def validate_input_schema(schema: Any) -> list[str]:
    """Messages for an input schema that is not a usable JSON Schema of an object."""
    if not isinstance(schema, Mapping):
        return ["Must be a JSON Schema object."]
    try:
        Draft202012Validator.check_schema(schema)
    except JsonSchemaError as exc:
        return [f"Not a valid JSON Schema: {exc.message}"]
    if schema.get("type") != "object" or not isinstance(
        schema.get("properties"), Mapping
    ):
        return ['Must describe an object: "type": "object" with "properties".']
    return []


def validate_baseline(
    baseline: Any, feature_names: set[str] | None = None
) -> list[str]:
    """Messages for a malformed baseline; empty when it is well formed.

    ``feature_names``, when given, are the input schema's properties: every
    baselined feature must be one of them.
    """
    if baseline in (None, {}):
        return []
    if not isinstance(baseline, Mapping):
        return ["Must be an object."]
    errors: list[str] = []
    unknown = set(baseline) - {"n", "features", "approval_rate", "performance"}
    if unknown:
        errors.append(f"Unknown keys: {', '.join(sorted(unknown))}.")
    n = baseline.get("n")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        errors.append("n: must be a positive integer.")
    features = baseline.get("features", {})
    if not isinstance(features, Mapping):
        errors.append("features: must be an object.")
        features = {}
    for name, spec in features.items():
        errors.extend(f"features.{name}: {m}" for m in _feature_errors(spec))
        if feature_names is not None and name not in feature_names:
            errors.append(f"features.{name}: not a property of the input schema.")
    rates = baseline.get("approval_rate")
    if rates is not None:
        if not isinstance(rates, Mapping):
            errors.append("approval_rate: must be an object.")
        else:
            if "overall" in rates and not _is_rate(rates["overall"]):
                errors.append("approval_rate.overall: must be a rate in [0, 1].")
            by_group = rates.get("by_group")
            if by_group is not None and not isinstance(by_group, Mapping):
                errors.append("approval_rate.by_group: must be an object.")
                by_group = None
            for attr, groups in (by_group or {}).items():
                if not isinstance(groups, Mapping) or not groups:
                    errors.append(
                        f"approval_rate.by_group.{attr}: must map groups to rates."
                    )
                    continue
                for group, rate in groups.items():
                    if not _is_rate(rate):
                        errors.append(
                            f"approval_rate.by_group.{attr}.{group}: must be a rate in [0, 1]."
                        )
    performance = baseline.get("performance")
    if performance is not None:
        if not isinstance(performance, Mapping):
            errors.append("performance: must be an object.")
        else:
            for metric, value in performance.items():
                if not _is_number(value):
                    errors.append(f"performance.{metric}: must be a finite number.")
    return errors


def _feature_errors(spec: Any) -> list[str]:
    if not isinstance(spec, Mapping):
        return ["must be an object."]
    kind = spec.get("type")
    if kind == "numeric":
        edges, props = spec.get("edges"), spec.get("proportions")
        if not isinstance(edges, list) or not all(_is_number(e) for e in edges):
            return ["edges: must be a list of finite numbers."]
        if any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
            return ["edges: must be strictly increasing."]
        if not isinstance(props, list) or len(props) != len(edges) + 1:
            return ["proportions: must have one more entry than edges."]
        values = props
    elif kind == "categorical":
        props = spec.get("proportions")
        if not isinstance(props, Mapping) or not props:
            return ["proportions: must map categories to shares."]
        values = list(props.values())
    else:
        return ['type: must be "numeric" or "categorical".']
    if not all(_is_rate(v) for v in values):
        return ["proportions: each must be a share in [0, 1]."]
    if abs(sum(values) - 1.0) > _TOLERANCE:
        return [f"proportions: must sum to 1 (they sum to {sum(values):.6f})."]
    return []
