"""Which submissions go to a steward (issue 11): a query over a template-only view, or one
its aggregation rule refuses only for what the rule does not list -- and nothing a steward
could never approve. Over the default policy's views; pure."""

from __future__ import annotations

import pytest

import query_engine
from enclave.analytics import REVIEWABLE, QueryStatus
from enclave.analytics._reviewable import analyse, judge
from policies import default_policy

POLICY = default_policy()


def _judged(sql: str) -> tuple[QueryStatus, set[str]]:
    query = query_engine.parse(sql)
    view = POLICY.views[query.view]
    status, found = judge(query, view, dialect="duckdb")
    return status, {str(r.reason) for r in found}


@pytest.mark.parametrize(
    ("sql", "reasons"),
    [
        (
            "SELECT age_band, gender, visit_type, institution_kind, COUNT(*) FROM claims_analysis"
            " GROUP BY age_band, gender, visit_type, institution_kind",
            {"TOO_MANY_GROUP_KEYS"},
        ),
        (
            "SELECT visit_type, COUNT(*) FROM visits_by_type GROUP BY visit_type",
            {"RULE_NOT_AD_HOC"},
        ),
        (
            "SELECT visit_type, SUM(total_cents) FROM visits_by_type "
            "WHERE province = :p GROUP BY visit_type",
            {"RULE_NOT_AD_HOC"},
        ),
    ],
)
def test_what_a_steward_may_lift_goes_to_review(sql: str, reasons: set[str]) -> None:
    status, found = _judged(sql)
    assert (status, found) == (QueryStatus.PENDING_REVIEW, reasons)
    assert found <= REVIEWABLE


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT person_key, COUNT(*) FROM claims_analysis GROUP BY person_key", "COLUMN_HIDDEN"),
        # reviewable reasons beside one that is not: the whole query stays rejected
        (
            "SELECT age_band, gender, visit_type, person_key, COUNT(*) FROM claims_analysis "
            "GROUP BY age_band, gender, visit_type, person_key",
            "COLUMN_HIDDEN",
        ),
        (
            "SELECT visit_type, COUNT(*) FROM visits_by_type GROUP BY visit_type, person_key",
            "COLUMN_HIDDEN",
        ),
        ("SELECT SUM(province) FROM visits_by_type", "AGGREGATE_NOT_ALLOWED"),
        ("SELECT nothing, COUNT(*) FROM claims_analysis GROUP BY nothing", "COLUMN_UNKNOWN"),
        (
            "SELECT province, prefecture, visit_month, COUNT(*) FROM claims_analysis "
            "GROUP BY province, prefecture, visit_month",
            "TOO_MANY_CELLS",
        ),
        (
            "SELECT visit_type, COUNT(*) FROM visits_by_type WHERE province = 11 "
            "GROUP BY visit_type",
            "VALUE_TYPE_MISMATCH",
        ),
        ("SELECT gender, COUNT(*) FROM claims_analysis", "SELECTED_NOT_GROUPED"),
    ],
)
def test_what_no_steward_may_approve_is_rejected(sql: str, reason: str) -> None:
    status, found = _judged(sql)
    assert status is QueryStatus.REJECTED
    assert reason in found


def test_an_allowed_query_is_accepted_without_review() -> None:
    assert _judged("SELECT gender, COUNT(*) FROM claims_analysis GROUP BY gender") == (
        QueryStatus.ACCEPTED,
        set(),
    )


def test_the_analysis_names_columns_cells_and_measures() -> None:
    query = query_engine.parse(
        "SELECT visit_type, COUNT(DISTINCT person_key), AVG(total_cents) FROM visits_by_type "
        "WHERE province = '110000' GROUP BY visit_type"
    )
    analysis = analyse(query, POLICY.views["visits_by_type"], "exact")
    assert analysis.columns == ("person_key", "province", "visit_type", "total_cents")
    assert analysis.cells == 6 and analysis.measures == ("total_cents",)
    assert analysis.rule.dimensions == {"visit_type"} and analysis.mode == "exact"
    no_domain = query_engine.parse("SELECT COUNT(*) FROM visits_by_type")
    assert analyse(no_domain, POLICY.views["visits_by_type"], "exact").cells == 1
