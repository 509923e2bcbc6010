"""The default policy's query suite: what both engines must answer alike (issue 11).

A representative list of ad-hoc queries on ``claims_analysis`` and ``enrolment_analysis``
(counts, distinct persons, SUM, AVG's parts, WHERE with IN, BETWEEN, NOT, OR, comparisons and
bound parameters, GROUP BY up to the rule's three keys, ORDER BY an aggregate and an
average, one that matches no row; rewritten for exact release and, as the pipeline does for
dp release, with each person kept in at most the rule's cells) and every template of
``visits_by_type`` with sample parameters. `compiled` takes each through parse, check and
rewrite (or the template stages) for one engine's dialect, as ``AggregateQueries`` does
before the engine runs it. ``tests/integration/test_spark_engine.py`` and ``bench.spark``
run it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import query_engine
from policies import Policy

__all__ = ["SUITE", "Case", "compiled"]


@dataclass(frozen=True)
class Case:
    """One query: ad-hoc ``sql``, or the ``template`` of ``view``; with its parameters."""

    name: str
    sql: str = ""
    template: str = ""
    view: str = ""
    parameters: Mapping[str, query_engine.ParameterValue] = field(default_factory=dict)
    dp: bool = False
    """Rewritten as for differential privacy (each person in at most the rule's
    `cells_per_person` cells) even on a view that releases exactly, as a dp-only grant asks;
    a view whose rule is dp always is."""


SUITE: tuple[Case, ...] = (
    Case("claims", "SELECT COUNT(*) AS claims FROM claims_analysis"),
    Case(
        "persons and total",
        "SELECT COUNT(DISTINCT person_key) AS persons, SUM(total_cents) AS total"
        " FROM claims_analysis",
    ),
    Case(
        "by age band",  # DuckDB's date_sub('year', ...) in the view, transpiled
        "SELECT age_band, COUNT(*) AS claims, COUNT(DISTINCT person_key) AS persons"
        " FROM claims_analysis GROUP BY age_band",
    ),
    Case(
        "province x visit type by total",
        "SELECT province, visit_type, COUNT(DISTINCT person_key) AS persons,"
        " SUM(total_cents) AS total FROM claims_analysis GROUP BY province, visit_type"
        " ORDER BY total DESC",
    ),
    Case(
        "months between parameters",  # strftime '%Y-%m' in the view
        "SELECT visit_month, SUM(fund_cents) AS fund, SUM(self_cents) AS self"
        " FROM claims_analysis WHERE visit_month BETWEEN :first AND :last"
        " GROUP BY visit_month",
        parameters={"first": "2024-10", "last": "2025-09"},
    ),
    Case(
        "chapters by average",
        "SELECT icd10_chapter, COUNT(*) AS claims, AVG(total_cents) AS mean_total"
        " FROM claims_analysis GROUP BY icd10_chapter ORDER BY mean_total DESC",
    ),
    Case(
        "three keys, IN and a parameter",
        "SELECT age_band, gender, institution_level, COUNT(*) AS claims,"
        " AVG(self_cents) AS mean_self, SUM(fund_cents) AS fund FROM claims_analysis"
        " WHERE visit_type IN ('OUTPATIENT', 'PHARMACY', 'CHRONIC') AND gender = :gender"
        " GROUP BY age_band, gender, institution_level",
        parameters={"gender": "F"},
    ),
    Case(
        "prefectures, NOT and OR",
        "SELECT prefecture, COUNT(*) AS claims, COUNT(DISTINCT person_key) AS persons"
        " FROM claims_analysis WHERE province <> :province"
        " AND NOT (visit_type = 'PHARMACY' OR institution_kind = 'PHARMACY')"
        " GROUP BY prefecture ORDER BY claims DESC, prefecture",
        parameters={"province": "110000"},
    ),
    Case(
        "ranges of text",
        "SELECT institution_kind, visit_type, COUNT(*) AS claims, SUM(total_cents) AS total"
        " FROM claims_analysis WHERE age_band >= '45-59' AND age_band < '75+'"
        " AND visit_month <= '2025-06' GROUP BY institution_kind, visit_type",
    ),
    Case(
        "no row matches",
        "SELECT visit_month, COUNT(*) AS claims, SUM(total_cents) AS total"
        " FROM claims_analysis WHERE visit_month > '2030-01' GROUP BY visit_month",
    ),
    Case(
        "enrolments by scheme and status",
        "SELECT scheme, status, COUNT(*) AS enrolments,"
        " COUNT(DISTINCT person_key) AS persons FROM enrolment_analysis"
        " GROUP BY scheme, status",
    ),
    Case(
        "arrears by age today",  # date_sub('year', birth_date, current_date)
        "SELECT age_band, arrears_band, COUNT(*) AS enrolments FROM enrolment_analysis"
        " WHERE scheme = :scheme AND status IN ('ACTIVE', 'SUSPENDED')"
        " GROUP BY age_band, arrears_band",
        parameters={"scheme": "RESIDENT"},
    ),
    Case(
        "enrolment, three keys",
        "SELECT province, gender, age_band, COUNT(DISTINCT person_key) AS persons"
        " FROM enrolment_analysis WHERE NOT (arrears_band = '0') OR gender <> 'F'"
        " GROUP BY province, gender, age_band ORDER BY persons DESC",
    ),
    Case(
        "dp: one cell per person, two keys",  # ROW_NUMBER over md5 of the cell's keys
        "SELECT province, visit_type, COUNT(*) AS claims, COUNT(DISTINCT person_key) AS persons,"
        " SUM(total_cents) AS total FROM claims_analysis GROUP BY province, visit_type",
        dp=True,
    ),
    Case(
        "dp: averages by age band",
        "SELECT age_band, AVG(self_cents) AS mean_self FROM claims_analysis"
        " WHERE visit_month BETWEEN :first AND :last GROUP BY age_band ORDER BY mean_self",
        parameters={"first": "2025-01", "last": "2025-06"},
        dp=True,
    ),
    Case(
        "template: monthly visits",
        template="monthly_visits_by_type",
        view="visits_by_type",
        parameters={"first_month": "2025-01", "last_month": "2025-12", "province": "440000"},
    ),
    Case(
        "template: monthly visits, one month",
        template="monthly_visits_by_type",
        view="visits_by_type",
        parameters={"first_month": "2024-07", "last_month": "2024-07", "province": "110000"},
    ),
    Case(
        "template: average cost",
        template="average_cost_by_type",
        view="visits_by_type",
        parameters={"province": "440000"},
    ),
)


def compiled(policy: Policy, case: Case, dialect: str) -> query_engine.Rewritten:
    """``case`` parsed, checked and rewritten over its view for ``dialect``."""
    if case.template:
        view = policy.views[case.view]
        return query_engine.rewrite_template(
            view, case.template, case.parameters, dialect=dialect
        ).rewritten
    query = query_engine.parse(case.sql)
    view = policy.views[query.view]
    rule = query_engine.check(query, view)
    dp = case.dp or rule.release == "dp"
    return query_engine.rewrite(
        query,
        view,
        case.parameters,
        dialect=dialect,
        cells_per_person=rule.cells_per_person if dp else None,
    )
