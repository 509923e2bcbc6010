"""The policy model: frozen values with the documented defaults."""

import dataclasses

import pytest

from policies import AggregationRule, Column, ColumnRole


def test_aggregation_rule_defaults_to_dp_threshold_11_and_base_5() -> None:
    rule = AggregationRule(
        allowed_aggregates={"total_cents": frozenset({"SUM"})},
        count_star=True,
        count_distinct_person=True,
        dimensions=frozenset({"gender"}),
        max_group_keys=2,
        where_columns=frozenset({"gender"}),
        where_operators=frozenset({"="}),
        contribution_limit=1,
        row_cap=100,
    )
    assert (rule.release, rule.min_persons, rule.rounding_base) == ("dp", 11, 5)


def test_column_is_frozen() -> None:
    column = Column("gender", ColumnRole.DIMENSION, domain=("F", "M"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        column.name = "other"  # type: ignore[misc]
