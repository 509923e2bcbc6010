"""A policy's version: the sha256 of its canonical form, not of the document's bytes.

The canonical form is JSON with sorted keys and sets as sorted lists, built from the validated
values, so key order, layout, comments and quoting do not change the version; any change of
meaning does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

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


def version_of(views: Mapping[str, View], grants: Sequence[Grant]) -> str:
    """The hex sha256 of the canonical JSON of `views` and `grants`."""
    form = {
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
