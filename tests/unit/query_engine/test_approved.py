"""`approved_rule` / `approved_view`: the rule a steward's approval gives a reviewed query --
exactly what it uses, under the view rule's limits -- and what it never lifts."""

from __future__ import annotations

import dataclasses

import pytest

from policies import AggregationRule
from query_engine import (
    QueryRejected,
    Reason,
    Rejected,
    approved_rule,
    approved_view,
    parse,
    rewrite,
    validate,
)
from tests.unit.query_engine.views import claims_view, template_view


def test_it_allows_exactly_what_the_query_uses_under_the_view_limits() -> None:
    view = claims_view(max_group_keys=1)
    query = parse(
        "SELECT province, institution_kind, SUM(self_cents), COUNT(DISTINCT person_id) "
        "FROM claims_analysis WHERE age_band = '65+' OR gender <> 'F' "
        "GROUP BY province, institution_kind"
    )
    assert isinstance(validate(query, view), Rejected)  # 2 keys, a dimension, an aggregate
    rule = approved_rule(query, view, release="dp")
    assert rule.dimensions == {"province", "institution_kind"}
    assert dict(rule.allowed_aggregates) == {"self_cents": {"SUM"}}
    assert (rule.count_star, rule.count_distinct_person) == (False, True)
    assert rule.where_columns == {"age_band", "gender"}
    assert rule.where_operators == {"=", "<>", "OR"}
    assert rule.max_group_keys == 2
    assert rule.release == "dp"
    limits = view.rule
    assert (rule.min_persons, rule.rounding_base, rule.contribution_limit, rule.row_cap) == (
        limits.min_persons,
        limits.rounding_base,
        limits.contribution_limit,
        limits.row_cap,
    )
    approved = approved_view(query, view, release="exact")
    assert approved.columns == view.columns and approved.name == view.name
    rewritten = rewrite(query, approved, {})
    assert "self_cents" in rewritten.sql


def test_a_template_views_limits_apply_to_a_proposed_query() -> None:
    view = template_view()
    query = parse("SELECT gender, COUNT(*) FROM claims_templates GROUP BY gender")
    rule = approved_rule(query, view, release="exact")
    assert (rule.contribution_limit, rule.row_cap) == (10, 1000)
    rewrite(query, approved_view(query, view, release="exact"), {})


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT person_id, COUNT(*) FROM claims_analysis GROUP BY person_id", "COLUMN_HIDDEN"),
        ("SELECT SUM(person_id) FROM claims_analysis", "COLUMN_HIDDEN"),
        ("SELECT COUNT(*) FROM claims_analysis WHERE person_id = 'x'", "COLUMN_HIDDEN"),
        # only a measure has clip bounds: a sum of a dimension stays refused
        ("SELECT SUM(province) FROM claims_analysis", "AGGREGATE_NOT_ALLOWED"),
        ("SELECT COUNT(DISTINCT province) FROM claims_analysis", "AGGREGATE_NOT_ALLOWED"),
        ("SELECT SUM(total_cents) AS gender FROM claims_analysis", "OUTPUT_NAME_AMBIGUOUS"),
        ("SELECT province, COUNT(*) FROM claims_analysis", "SELECTED_NOT_GROUPED"),
    ],
)
def test_an_approval_never_lifts_the_person_key_or_the_grammar(sql: str, reason: str) -> None:
    view = claims_view()
    query = parse(sql)
    found = validate(query, approved_view(query, view, release="exact"))
    assert isinstance(found, Rejected)
    assert reason in {str(r.reason) for r in found.rejections}


def test_the_row_cap_stays_the_views() -> None:
    view = claims_view()
    query = parse(
        "SELECT province, age_band, gender, visit_type, institution_kind, COUNT(*) "
        "FROM claims_analysis GROUP BY province, age_band, gender, visit_type, institution_kind"
    )
    tight = dataclasses.replace(view, rule=dataclasses.replace(view.rule, row_cap=50))
    found = validate(query, approved_view(query, tight, release="exact"))  # 72 cells > 50
    assert isinstance(found, Rejected)
    assert [str(r) for r in found.rejections] == ["TOO_MANY_CELLS(72 > 50)"]


def test_a_value_of_the_wrong_kind_is_still_refused_by_the_rewrite() -> None:
    view = claims_view()
    query = parse("SELECT COUNT(*) FROM claims_analysis WHERE province = 11")
    with pytest.raises(QueryRejected) as refused:
        rewrite(query, approved_view(query, view, release="exact"), {})
    assert refused.value.reason is Reason.VALUE_TYPE_MISMATCH


def test_an_approval_keeps_the_view_rules_dp_limits() -> None:
    # epsilon, cells per person and the partition selection's delta: an approval lifts what
    # the query uses, never the privacy of its release
    base = claims_view(max_group_keys=1)
    assert isinstance(base.rule, AggregationRule)
    strict = dataclasses.replace(base.rule, epsilon_micro=250_000, cells_per_person=2, delta=1e-15)
    view = dataclasses.replace(base, rule=strict)
    query = parse(
        "SELECT province, institution_kind, COUNT(*) FROM claims_analysis "
        "GROUP BY province, institution_kind"
    )
    rule = approved_rule(query, view, release="dp")
    assert (rule.epsilon_micro, rule.cells_per_person, rule.delta) == (250_000, 2, 1e-15)
