"""The attacks of issue 10 at the parse/validate level, against the default policy's views."""

from __future__ import annotations

import pytest

from policies import View, default_policy
from query_engine.errors import QueryRejected, Reason
from query_engine.parse import parse
from query_engine.validate import Accepted, Rejected, validate


def _claims() -> View:
    return default_policy().views["claims_analysis"]


def _reason(sql: str, view: View | None = None) -> set[Reason]:
    """Every reason the query is refused for, by the parser or by validation."""
    try:
        query = parse(sql)
    except QueryRejected as rejected:
        return {rejected.reason}
    decision = validate(query, view or _claims())
    assert isinstance(decision, Rejected), sql
    return {rejection.reason for rejection in decision.rejections}


def test_the_demo_aggregate_is_accepted() -> None:
    sql = (
        "SELECT province, visit_type, COUNT(DISTINCT person_key) AS persons, "
        "SUM(total_cents) AS total FROM claims_analysis "
        "WHERE visit_month BETWEEN :first_month AND :last_month "
        "GROUP BY province, visit_type ORDER BY total DESC"
    )
    query = parse(sql)
    assert isinstance(validate(query, _claims()), Accepted)
    assert query.parameters == ("first_month", "last_month")


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT * FROM claims_analysis", Reason.CONSTRUCT_NOT_ALLOWED),
        # the person key anywhere
        ("SELECT person_key FROM claims_analysis GROUP BY person_key", Reason.COLUMN_HIDDEN),
        ("SELECT COUNT(*) FROM claims_analysis WHERE person_key = 'p1'", Reason.COLUMN_HIDDEN),
        ("SELECT COUNT(*) FROM claims_analysis GROUP BY person_key", Reason.COLUMN_HIDDEN),
        ("SELECT COUNT(*) AS n FROM claims_analysis ORDER BY person_key", Reason.COLUMN_HIDDEN),
        ("SELECT SUM(person_key) FROM claims_analysis", Reason.COLUMN_HIDDEN),
        ('SELECT COUNT(*) FROM claims_analysis WHERE "PERSON_KEY" = :p', Reason.COLUMN_HIDDEN),
        ("SELECT COUNT(*) FROM claims_analysis WHERE Person_Key IN (:p)", Reason.COLUMN_HIDDEN),
        (
            'SELECT COUNT(*) FROM claims_analysis WHERE "pеrson_key" = :p',  # Cyrillic е
            Reason.IDENTIFIER_NOT_ALLOWED,
        ),
        (
            "SELECT SUM(CASE WHEN person_key = 'p1' THEN total_cents END) FROM claims_analysis",
            Reason.CONSTRUCT_NOT_ALLOWED,
        ),
        ("SELECT SUM(length(person_key)) FROM claims_analysis", Reason.CONSTRUCT_NOT_ALLOWED),
        # raw tables and unknown views
        ("SELECT COUNT(*) FROM claims", Reason.VIEW_UNKNOWN),
        ("SELECT COUNT(*) FROM persons", Reason.VIEW_UNKNOWN),
        ("SELECT COUNT(*) FROM no_such_view", Reason.VIEW_UNKNOWN),
        # aggregates outside the grammar
        ("SELECT MIN(total_cents) FROM claims_analysis", Reason.AGGREGATE_NOT_ALLOWED),
        ("SELECT MAX(total_cents) FROM claims_analysis", Reason.AGGREGATE_NOT_ALLOWED),
        ("SELECT quantile(total_cents, 0.9) FROM claims_analysis", Reason.AGGREGATE_NOT_ALLOWED),
        ("SELECT list(gender) FROM claims_analysis", Reason.AGGREGATE_NOT_ALLOWED),
        ("SELECT string_agg(gender, ',') FROM claims_analysis", Reason.AGGREGATE_NOT_ALLOWED),
        # shapes outside the grammar
        (
            "SELECT COUNT(*) FROM (SELECT * FROM claims_analysis) AS t",
            Reason.CONSTRUCT_NOT_ALLOWED,
        ),
        (
            "WITH t AS (SELECT * FROM claims_analysis) SELECT COUNT(*) FROM t",
            Reason.CONSTRUCT_NOT_ALLOWED,
        ),
        (
            "SELECT COUNT(*) FROM claims_analysis UNION SELECT COUNT(*) FROM claims_analysis",
            Reason.CONSTRUCT_NOT_ALLOWED,
        ),
        (
            "SELECT COUNT(*) FROM claims_analysis JOIN persons USING (person_key)",
            Reason.CONSTRUCT_NOT_ALLOWED,
        ),
        (
            "SELECT SUM(total_cents) OVER (ORDER BY total_cents) FROM claims_analysis",
            Reason.CONSTRUCT_NOT_ALLOWED,
        ),
        (
            "SELECT COUNT(*) FROM read_parquet('zone/claims/*.parquet')",
            Reason.CONSTRUCT_NOT_ALLOWED,
        ),
        ("SELECT COUNT(*) FROM read_csv('/etc/passwd')", Reason.CONSTRUCT_NOT_ALLOWED),
        ("SELECT COUNT(*) FROM glob('/**')", Reason.CONSTRUCT_NOT_ALLOWED),
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender HAVING n < 11",
            Reason.CONSTRUCT_NOT_ALLOWED,
        ),
        (
            "SELECT province, SUM(total_cents) AS s FROM claims_analysis "
            "GROUP BY province ORDER BY s DESC LIMIT 1",
            Reason.CONSTRUCT_NOT_ALLOWED,
        ),
        # statements
        ("COPY claims_analysis TO '/tmp/x.csv'", Reason.NOT_A_SELECT),
        ("ATTACH '/tmp/x.db'", Reason.NOT_A_SELECT),
        ("PRAGMA show_tables", Reason.NOT_A_SELECT),
        ("INSTALL httpfs", Reason.NOT_A_SELECT),
        ("LOAD httpfs", Reason.NOT_A_SELECT),
        ("SET enable_external_access = true", Reason.NOT_A_SELECT),
        ("EXPORT DATABASE '/tmp/x'", Reason.NOT_A_SELECT),
        ("SELECT COUNT(*) FROM claims_analysis; SELECT 1", Reason.NOT_ONE_STATEMENT),
        ("SELECT COUNT(*) FROM claims_analysis -- \n; COPY x TO 'y'", Reason.NOT_ONE_STATEMENT),
        # too fine a grouping
        (
            "SELECT COUNT(*) FROM claims_analysis "
            "GROUP BY province, prefecture, visit_month, icd10_chapter",
            Reason.TOO_MANY_GROUP_KEYS,
        ),
        # the rule's own limits
        ("SELECT COUNT(DISTINCT gender) FROM claims_analysis", Reason.AGGREGATE_NOT_ALLOWED),
        (
            "SELECT COUNT(*) FROM claims_analysis WHERE total_cents > 0",
            Reason.WHERE_COLUMN_NOT_ALLOWED,
        ),
        ("SELECT gender, COUNT(*) FROM claims_analysis", Reason.SELECTED_NOT_GROUPED),
    ],
)
def test_attacks_are_refused_with_their_reason(sql: str, reason: Reason) -> None:
    assert reason in _reason(sql)


def test_a_parameter_carries_a_value_never_sql() -> None:
    # A parameter is a name in the query; its value is bound later, never spliced. A value
    # that is SQL stays a value, and the name itself must be a plain identifier.
    query = parse("SELECT COUNT(*) FROM claims_analysis WHERE gender = :g")
    assert query.parameters == ("g",)
    assert _reason("SELECT COUNT(*) FROM claims_analysis WHERE gender = :g; DROP") == {
        Reason.NOT_ONE_STATEMENT
    }


def test_enrolment_operators_are_the_rules_own() -> None:
    view = default_policy().views["enrolment_analysis"]
    sql = "SELECT COUNT(*) FROM enrolment_analysis WHERE status BETWEEN 'ACTIVE' AND 'SUSPENDED'"
    assert _reason(sql, view) == {Reason.OPERATOR_NOT_ALLOWED}
    assert _reason("SELECT SUM(person_key) FROM enrolment_analysis", view) == {Reason.COLUMN_HIDDEN}


def test_a_template_view_takes_no_ad_hoc_query() -> None:
    view = default_policy().views["visits_by_type"]
    assert _reason("SELECT COUNT(*) FROM visits_by_type", view) == {Reason.RULE_NOT_AD_HOC}
