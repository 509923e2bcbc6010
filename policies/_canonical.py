"""A policy's version: the sha256 of its canonical form, not of the document's bytes.

The canonical form is JSON with sorted keys and sets as sorted lists, built from the validated
values, so key order, layout, comments and quoting do not change the version; any change of
meaning does. Feature sets and scorecards (issue 12) enter the form only when the policy has
some, and the `compute:` section only when the document has one, so the versions of policies
without them stay what they were.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence

from policies._compute import ComputeSection
from policies.features import (
    ClaimCount,
    ClaimSum,
    Definition,
    EnrolmentMax,
    Feature,
    FeatureSet,
    FeatureSql,
    MonthsEnrolled,
    Scorecard,
)
from policies.model import (
    DEFAULT_DELTA,
    AggregationRule,
    Column,
    Grant,
    Parameter,
    TemplateRule,
    View,
)

__all__ = ["version_of"]

_FORMAT = "dataward-policy/1"


def version_of(
    views: Mapping[str, View],
    grants: Sequence[Grant],
    feature_sets: Mapping[str, FeatureSet] | None = None,
    scorecards: Mapping[str, Scorecard] | None = None,
    compute: ComputeSection | None = None,
) -> str:
    """The hex sha256 of the canonical JSON of `views`, `grants`, the feature sets and
    scorecards where there are any, and the compute section where the document has one."""
    form: dict[str, object] = {
        "format": _FORMAT,
        "views": {name: _view(view) for name, view in views.items()},
        "grants": sorted(
            (
                {
                    "organization": g.organization,
                    "purpose": g.purpose,
                    "views": sorted(g.views),
                    **({"release": g.release} if g.release is not None else {}),
                }
                for g in grants
            ),
            key=lambda g: (str(g["organization"]), str(g["purpose"])),
        ),
    }
    if feature_sets:
        form["feature_sets"] = {
            name: [_feature(f) for f in fs.features] for name, fs in feature_sets.items()
        }
    if scorecards:
        form["scorecards"] = {name: _scorecard(card) for name, card in scorecards.items()}
    if compute is not None:
        form["compute"] = {
            "paillier_noise": compute.paillier_noise,
            "auditors": {
                name: base64.b64encode(key).decode("ascii")
                for name, key in compute.auditors.items()
            },
        }
    text = json.dumps(form, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _view(view: View) -> dict[str, object]:
    form: dict[str, object] = {
        "sql": view.sql,
        "columns": {name: _column(column) for name, column in view.columns.items()},
        "rule": _rule(view.rule),
    }
    # Only when set: the flag came after the first policies, whose versions stay as they were.
    if view.sensitive:
        form["sensitive"] = True
    return form


def _column(column: Column) -> dict[str, object]:
    return {
        "role": column.role.value,
        "domain": sorted(column.domain) if column.domain is not None else None,
        "lower": column.lower,
        "upper": column.upper,
        "unit": column.unit,
    }


def _rule(rule: AggregationRule | TemplateRule) -> dict[str, object]:
    if isinstance(rule, TemplateRule):
        return {
            "templates": {
                name: {
                    "sql": t.sql,
                    "parameters": {p: _parameter(v) for p, v in t.parameters.items()},
                }
                for name, t in rule.templates.items()
            },
            "contribution_limit": rule.contribution_limit,
            "row_cap": rule.row_cap,
            "min_persons": rule.min_persons,
            "rounding_base": rule.rounding_base,
        }
    return {
        "aggregation": {
            "aggregates": {m: sorted(fs) for m, fs in rule.allowed_aggregates.items()},
            "count_star": rule.count_star,
            "count_distinct_person": rule.count_distinct_person,
            "dimensions": sorted(rule.dimensions),
            "max_group_keys": rule.max_group_keys,
            "min_persons": rule.min_persons,
            "rounding_base": rule.rounding_base,
            "where_columns": sorted(rule.where_columns),
            "where_operators": sorted(rule.where_operators),
            "contribution_limit": rule.contribution_limit,
            "release": rule.release,
            "row_cap": rule.row_cap,
            # Only where not the default, so a policy without DP settings keeps its version.
            **({"epsilon_micro": rule.epsilon_micro} if rule.epsilon_micro != 1_000_000 else {}),
            **({"cells_per_person": rule.cells_per_person} if rule.cells_per_person != 1 else {}),
            **({"delta": repr(rule.delta)} if rule.delta != DEFAULT_DELTA else {}),
        }
    }


def _parameter(parameter: Parameter) -> dict[str, object]:
    return {
        "type": parameter.type,
        "minimum": parameter.minimum,
        "maximum": parameter.maximum,
        "choices": sorted(parameter.choices, key=str) if parameter.choices is not None else None,
    }


def _feature(feature: Feature) -> dict[str, object]:
    # A list item, in the vector's order: the order is part of the meaning.
    return {
        "name": feature.name,
        "definition": _definition(feature.definition),
        "lower": feature.lower,
        "upper": feature.upper,
        "buckets": list(feature.buckets) if feature.buckets is not None else None,
    }


def _definition(definition: Definition) -> dict[str, object]:
    if isinstance(definition, FeatureSql):
        return {"sql": definition.sql}
    if isinstance(definition, MonthsEnrolled):
        return {"months_enrolled": {"window_months": definition.window_months}}
    if isinstance(definition, EnrolmentMax):
        return {"enrolment_max": {"column": definition.column}}
    types = sorted(definition.visit_types) if definition.visit_types is not None else None
    if isinstance(definition, ClaimSum):
        return {
            "claim_sum": {
                "column": definition.column,
                "window_months": definition.window_months,
                "visit_types": types,
            }
        }
    if isinstance(definition, ClaimCount):
        return {"claim_count": {"window_months": definition.window_months, "visit_types": types}}
    raise TypeError(f"no canonical form for {type(definition).__name__}")  # a bug


def _scorecard(card: Scorecard) -> dict[str, object]:
    return {
        "feature_set": card.feature_set,
        "intercept": card.intercept,
        "points": {
            name: {"per_unit": p.per_unit}
            if p.per_bucket is None
            else {"per_bucket": list(p.per_bucket)}
            for name, p in card.points.items()
        },
        "cutoffs": list(card.cutoffs),
    }
