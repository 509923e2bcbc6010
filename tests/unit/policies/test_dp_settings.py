"""The policy language's DP settings: a rule's epsilon, cells_per_person and delta, a grant's
release: dp, and which release mode applies (Policy.release_for)."""

from __future__ import annotations

import pytest
import yaml

from policies import (
    AggregationRule,
    PolicyError,
    default_policy,
    default_policy_text,
    load_policy,
)


def _with(change: dict[str, object], *, view: str = "enrolment_analysis") -> str:
    document = yaml.safe_load(default_policy_text())
    document["views"][view]["rule"]["aggregation"].update(change)
    return yaml.safe_dump(document, sort_keys=False)


def _rule(text: str) -> AggregationRule:
    rule = load_policy(text).views["enrolment_analysis"].rule
    assert isinstance(rule, AggregationRule)
    return rule


def test_the_defaults_and_the_values_a_rule_gives() -> None:
    rule = _rule(_with({}))
    assert (rule.epsilon_micro, rule.cells_per_person, rule.delta) == (1_000_000, 1, 1e-10)
    rule = _rule(_with({"epsilon": 0.25, "cells_per_person": 3, "delta": 1e-9}))
    assert (rule.epsilon_micro, rule.cells_per_person, rule.delta) == (250_000, 3, 1e-9)


def test_dp_settings_change_the_version_only_when_not_the_default() -> None:
    assert load_policy(_with({"epsilon": 1.0, "cells_per_person": 1})).version == (
        default_policy().version
    )
    assert load_policy(_with({"epsilon": 0.5})).version != default_policy().version
    assert load_policy(_with({"delta": 1e-8})).version != default_policy().version


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"epsilon": 0}, "[0.001, 10]"),
        ({"epsilon": 0.0005}, "[0.001, 10]"),
        ({"epsilon": 11}, "[0.001, 10]"),
        ({"epsilon": 0.1234567}, "six decimals"),
        ({"epsilon": "1"}, "must be a number"),
        ({"epsilon": True}, "must be a number"),
        ({"cells_per_person": 0}, "at least 1"),
        ({"delta": 0}, "(0, 1e-05]"),
        ({"delta": 0.001}, "(0, 1e-05]"),
        ({"delta": "small"}, "must be a number"),
    ],
)
def test_bad_dp_settings_name_the_path_and_the_problem(
    change: dict[str, object], problem: str
) -> None:
    with pytest.raises(PolicyError) as refused:
        load_policy(_with(change))
    key = next(iter(change))
    assert f"views.enrolment_analysis.rule.aggregation.{key}" in str(refused.value)
    assert problem in str(refused.value)


def test_a_grant_can_demand_dp_but_never_exact() -> None:
    policy = default_policy()
    # claims_analysis is exact; demo-insurer's RESEARCH grant demands dp
    assert (
        policy.release_for("demo-insurer", "INSURANCE_UNDERWRITING", "claims_analysis") == "exact"
    )
    assert policy.release_for("demo-insurer", "RESEARCH", "claims_analysis") == "dp"
    assert policy.release_for("demo-insurer", "RESEARCH", "enrolment_analysis") == "dp"
    # templates release exactly (a steward approved them); an unknown view fails closed to dp
    assert policy.release_for("demo-insurer", "INSURANCE_UNDERWRITING", "visits_by_type") == "exact"
    assert policy.release_for("demo-insurer", "RESEARCH", "no_such_view") == "dp"
    document = yaml.safe_load(default_policy_text())
    document["grants"][1]["release"] = "exact"
    with pytest.raises(PolicyError, match="a grant can only demand dp"):
        load_policy(yaml.safe_dump(document, sort_keys=False))
