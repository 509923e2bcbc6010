"""A small valid policy document as data, for tests to break one thing at a time."""

from __future__ import annotations

import copy
from typing import Any

import yaml

VIEW_SQL = (
    "SELECT c.person_id AS person_key, p.gender AS gender, c.visit_type AS visit_type, "
    "c.total_cents AS total_cents FROM claims AS c JOIN persons AS p "
    "ON p.person_id = c.person_id"
)

_BASE: dict[str, Any] = {
    "views": {
        "claims_analysis": {
            "sql": VIEW_SQL,
            "columns": {
                "person_key": {"role": "person_key"},
                "gender": {"role": "dimension", "domain": ["F", "M"]},
                "visit_type": {"role": "dimension"},
                "total_cents": {"role": "measure", "lower": 0, "upper": 1000, "unit": "cents"},
            },
            "rule": {
                "aggregation": {
                    "release": "exact",
                    "aggregates": {"total_cents": ["SUM", "AVG"]},
                    "dimensions": ["gender"],
                    "max_group_keys": 2,
                    "where": {"columns": ["gender"], "operators": ["=", "IN"]},
                    "contribution_limit": 5,
                    "row_cap": 100,
                }
            },
        },
        "by_type": {
            "sql": "SELECT c.person_id AS person_key, c.visit_type AS visit_type FROM claims AS c",
            "columns": {
                "person_key": {"role": "person_key"},
                "visit_type": {"role": "dimension"},
            },
            "rule": {
                "templates": {
                    "count_type": {
                        "sql": "SELECT COUNT(*) AS n FROM by_type WHERE visit_type = :kind",
                        "parameters": {"kind": {"type": "str", "choices": ["INPATIENT"]}},
                    }
                },
                "contribution_limit": 3,
                "row_cap": 50,
            },
        },
    },
    "grants": [
        {"organization": "2", "purpose": "RESEARCH", "views": ["claims_analysis"]},
    ],
}


def document() -> dict[str, Any]:
    """A fresh copy of the valid document, to change."""
    return copy.deepcopy(_BASE)


def text(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False)
