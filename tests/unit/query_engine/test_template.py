"""Templates: found by name only where granted, parameters checked (each refusal names the
parameter, never the value), the SQL taken through parse, validate and rewrite under the rule
derived from it, run on DuckDB over a real export; the person key stays hidden."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import (
    AggregationRule,
    Parameter,
    Policy,
    Template,
    TemplateRule,
    View,
    default_policy,
)
from query_engine import (
    PERSONS_COLUMN,
    DuckDBEngine,
    ExecutionLimits,
    OutputKind,
    ParameterValue,
    QueryRejected,
    Reason,
    find_template,
    parse,
    rewrite_template,
    template_problems,
    template_rule,
)

Files = Mapping[str, tuple[str, ...]]
LIMITS = ExecutionLimits(timeout_seconds=30, memory_bytes=300_000_000)
UNDERWRITING = "INSURANCE_UNDERWRITING"
MONTHLY = "monthly_visits_by_type"
MONTHS = {"first_month": "2024-07", "last_month": "2026-06"}


def _view(**templates: Template) -> View:
    """`visits_by_type` of the default policy, answering `templates` under its limits."""
    view = default_policy().views["visits_by_type"]
    assert isinstance(view.rule, TemplateRule)
    return View(
        view.name, view.sql, view.columns, dataclasses.replace(view.rule, templates=templates)
    )


def _template(sql: str, **parameters: Parameter) -> Template:
    return Template("t", sql, parameters)


def _refused(
    view: View, parameters: Mapping[str, ParameterValue], name: str = "t"
) -> QueryRejected:
    with pytest.raises(QueryRejected) as caught:
        rewrite_template(view, name, parameters)
    return caught.value


def _busiest_province(files: Files) -> str:
    sql = (
        "SELECT substr(p.region_code, 1, 2) || '0000' AS province, count(DISTINCT c.person_id)"
        f" FROM read_parquet('{files['claims'][0]}') AS c"
        f" JOIN read_parquet('{files['persons'][0]}') AS p USING (person_id)"
        " GROUP BY province ORDER BY 2 DESC, 1 LIMIT 1"
    )
    [row] = duckdb.connect().sql(sql).fetchall()
    return str(row[0])


# -- finding a template ---------------------------------------------------------------------
def test_a_granted_template_is_found_by_name() -> None:
    policy = default_policy()
    view = find_template(policy, MONTHLY, organization="demo-insurer", purpose=UNDERWRITING)
    assert view is policy.views["visits_by_type"]


@pytest.mark.parametrize(
    ("name", "organization", "purpose"),
    [
        ("no_such_template", "demo-insurer", UNDERWRITING),
        (
            MONTHLY,
            "demo-insurer",
            "RESEARCH",
        ),  # demo-insurer holds visits_by_type for underwriting only
        (MONTHLY, "3", UNDERWRITING),
    ],
)
def test_an_unknown_template_and_one_not_granted_are_the_same_refusal(
    name: str, organization: str, purpose: str
) -> None:
    with pytest.raises(QueryRejected) as caught:
        find_template(default_policy(), name, organization=organization, purpose=purpose)
    assert (caught.value.reason, caught.value.construct) == (Reason.TEMPLATE_UNKNOWN, "template")
    assert str(caught.value) == "TEMPLATE_UNKNOWN(template)"


def test_a_view_without_the_template_or_without_templates_refuses_it() -> None:
    policy = default_policy()
    for view, name in [
        (policy.views["visits_by_type"], "no_such_template"),
        (policy.views["claims_analysis"], MONTHLY),
    ]:
        error = _refused(view, {}, name)
        assert (error.reason, error.construct) == (Reason.TEMPLATE_UNKNOWN, "template")


# -- parameters -----------------------------------------------------------------------------
_TYPED = _view(
    t=_template(
        "SELECT visit_type, SUM(total_cents) AS total FROM visits_by_type"
        " WHERE total_cents >= :floor AND visit_month >= :since AND province IN (:province)"
        " GROUP BY visit_type",
        floor=Parameter("floor", "int", minimum=0, maximum=1000),
        since=Parameter("since", "date", minimum="2024-07-01", maximum="2026-06-30"),
        province=Parameter("province", "str", choices=("110000", "440000")),
    )
)
_GOOD: dict[str, ParameterValue] = {"floor": 10, "since": "2025-01-01", "province": "440000"}


def test_parameters_of_their_type_within_range_are_bound_as_values() -> None:
    done = rewrite_template(_TYPED, "t", _GOOD)
    assert dict(done.rewritten.parameters) == {f"p_{k}": v for k, v in _GOOD.items()}
    for value in ("440000", "2025-01-01"):
        assert value not in done.rewritten.sql


@pytest.mark.parametrize(
    ("change", "reason", "construct"),
    [
        ({"extra": 1}, Reason.PARAMETER_UNKNOWN, "extra"),
        ({"1 OR 1=1": 1}, Reason.PARAMETER_UNKNOWN, "parameter name"),
        ({"floor": None}, Reason.PARAMETER_MISSING, "floor"),
        ({"floor": "10"}, Reason.PARAMETER_INVALID, "floor"),
        ({"floor": True}, Reason.PARAMETER_INVALID, "floor"),
        ({"floor": Decimal("10")}, Reason.PARAMETER_INVALID, "floor"),
        ({"floor": -1}, Reason.PARAMETER_OUT_OF_RANGE, "floor"),
        ({"floor": 1001}, Reason.PARAMETER_OUT_OF_RANGE, "floor"),
        ({"since": 20250101}, Reason.PARAMETER_INVALID, "since"),
        ({"since": "20250101"}, Reason.PARAMETER_INVALID, "since"),
        ({"since": "2025-02-30"}, Reason.PARAMETER_INVALID, "since"),
        ({"since": "2024-06-30"}, Reason.PARAMETER_OUT_OF_RANGE, "since"),
        ({"since": "2026-07-01"}, Reason.PARAMETER_OUT_OF_RANGE, "since"),
        ({"province": 110000}, Reason.PARAMETER_INVALID, "province"),
        ({"province": "110000' OR '1'='1"}, Reason.PARAMETER_OUT_OF_RANGE, "province"),
        ({"province": "120000"}, Reason.PARAMETER_OUT_OF_RANGE, "province"),
    ],
)
def test_each_parameter_refusal_names_the_parameter_never_the_value(
    change: dict[str, ParameterValue | None], reason: Reason, construct: str
) -> None:
    parameters = {k: v for k, v in {**_GOOD, **change}.items() if v is not None}
    error = _refused(_TYPED, parameters)
    assert (error.reason, error.construct) == (reason, construct)
    for value in change.values():
        if value is not None and construct != str(value):
            assert str(value) not in str(error)


def test_a_bound_of_another_type_than_the_value_fails_closed() -> None:
    view = _view(
        t=_template(
            "SELECT COUNT(*) AS n FROM visits_by_type WHERE total_cents >= :floor",
            floor=Parameter("floor", "int", minimum="0"),  # hand-built: the loader refuses it
        )
    )
    error = _refused(view, {"floor": 5})
    assert (error.reason, error.construct) == (Reason.PARAMETER_OUT_OF_RANGE, "floor")


# -- the derived rule and the person key ----------------------------------------------------
def test_the_derived_rule_allows_exactly_what_the_template_uses() -> None:
    view = default_policy().views["visits_by_type"]
    assert isinstance(view.rule, TemplateRule)
    query = parse(view.rule.templates[MONTHLY].sql)
    rule = template_rule(query, view.rule)
    assert rule == AggregationRule(
        allowed_aggregates={"total_cents": frozenset({"SUM"})},
        count_star=True,
        count_distinct_person=True,
        dimensions=frozenset({"visit_type"}),
        max_group_keys=1,
        min_persons=view.rule.min_persons,
        rounding_base=view.rule.rounding_base,
        where_columns=frozenset({"visit_month", "province"}),
        where_operators=frozenset({"BETWEEN", "AND", "="}),
        contribution_limit=view.rule.contribution_limit,
        release="exact",
        row_cap=view.rule.row_cap,
    )
    done = rewrite_template(view, MONTHLY, {**MONTHS, "province": "110000"})
    assert done.rule == rule and done.template is view.rule.templates[MONTHLY]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT person_key, COUNT(*) AS n FROM visits_by_type GROUP BY person_key",
        "SELECT visit_type, COUNT(*) AS n FROM visits_by_type GROUP BY visit_type, person_key",
        "SELECT COUNT(*) AS n FROM visits_by_type WHERE person_key = 'P1'",
        "SELECT COUNT(*) AS n FROM visits_by_type WHERE \"PERSON_KEY\" IN ('P1', 'P2')",
        "SELECT SUM(person_key) AS n FROM visits_by_type",
        "SELECT AVG(person_key) AS n FROM visits_by_type",
        "SELECT visit_type, COUNT(*) AS n FROM visits_by_type GROUP BY visit_type"
        " ORDER BY person_key",
    ],
)
def test_a_template_that_exposes_the_person_key_is_refused(sql: str) -> None:
    error = _refused(_view(t=_template(sql)), {})
    assert error.reason is Reason.COLUMN_HIDDEN
    assert error.construct == "person_key"


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT visit_type FROM visits_by_type", Reason.SELECTED_NOT_GROUPED),
        ("SELECT MAX(total_cents) AS m FROM visits_by_type", Reason.AGGREGATE_NOT_ALLOWED),
        ("SELECT COUNT(*) AS n FROM (SELECT 1) AS s", Reason.CONSTRUCT_NOT_ALLOWED),
        ("SELECT COUNT(*) AS n FROM visits_by_type LIMIT 1", Reason.CONSTRUCT_NOT_ALLOWED),
    ],
)
def test_a_template_outside_the_grammar_is_refused_and_listed(sql: str, reason: Reason) -> None:
    view = _view(t=_template(sql))
    assert _refused(view, {}).reason is reason
    policy = Policy(views={view.name: view}, grants=(), version="test")
    problems = template_problems(policy)
    assert [(p.view, p.template, p.rejection.reason) for p in problems] == [
        (view.name, "t", reason)
    ]
    assert str(problems[0]).startswith("views.visits_by_type.rule.templates.t: ")


def test_a_parameter_of_the_wrong_kind_for_its_column_is_a_listed_problem() -> None:
    view = _view(
        t=_template(
            "SELECT COUNT(*) AS n FROM visits_by_type WHERE province = :p",
            p=Parameter("p", "int", minimum=1),
        )
    )
    policy = Policy(views={view.name: view}, grants=(), version="test")
    [problem] = template_problems(policy)
    assert (problem.rejection.reason, problem.rejection.construct) == (
        Reason.VALUE_TYPE_MISMATCH,
        "province",
    )


def test_the_default_policy_has_no_template_problem() -> None:
    assert template_problems(default_policy()) == ()


# -- running on DuckDB ----------------------------------------------------------------------
def test_a_template_runs_with_contribution_bounding_and_the_persons_column(
    export_files: Files,
) -> None:
    view = default_policy().views["visits_by_type"]
    assert isinstance(view.rule, TemplateRule)
    province = _busiest_province(export_files)
    done = rewrite_template(view, MONTHLY, {**MONTHS, "province": province})
    kinds = [(c.name, c.kind) for c in done.rewritten.columns]
    assert kinds == [
        ("visit_type", OutputKind.DIMENSION),
        ("claims", OutputKind.COUNT),
        ("persons", OutputKind.COUNT),
        ("sum_total_cents", OutputKind.SUM),
        (PERSONS_COLUMN, OutputKind.PERSONS),
        ("__top_total_cents", OutputKind.TOP),
    ]
    table = DuckDBEngine().execute(done.rewritten.request(export_files, LIMITS)).table
    got = {row["visit_type"]: row for row in table.to_pylist()}
    limit = view.rule.contribution_limit
    sql = f"""
        SELECT visit_type, count(*) AS persons, sum(least(n, {limit})) AS claims
        FROM (SELECT c.visit_type, c.person_id, count(*) AS n
              FROM read_parquet('{export_files["claims"][0]}') AS c
              JOIN read_parquet('{export_files["persons"][0]}') AS p USING (person_id)
              WHERE strftime(c.visit_date, '%Y-%m') BETWEEN '2024-07' AND '2026-06'
                AND substr(p.region_code, 1, 2) || '0000' = '{province}'
              GROUP BY ALL)
        GROUP BY visit_type
    """
    expected = duckdb.connect().sql(sql).fetchall()
    assert expected
    assert {k: (r["persons"], r["claims"]) for k, r in got.items()} == {
        visit_type: (persons, int(claims)) for visit_type, persons, claims in expected
    }
    assert all(r["persons"] == r[PERSONS_COLUMN] for r in got.values())


def test_the_avg_template_runs_as_a_sum_and_a_count(export_files: Files) -> None:
    view = default_policy().views["visits_by_type"]
    province = _busiest_province(export_files)
    done = rewrite_template(view, "average_cost_by_type", {"province": province})
    table = DuckDBEngine().execute(done.rewritten.request(export_files, LIMITS)).table
    assert table.column_names == [
        "visit_type",
        "persons",
        "mean_total_cents__sum",
        "mean_total_cents__count",
        PERSONS_COLUMN,
        "__top_total_cents",
    ]
    assert table.num_rows > 0
    for row in table.to_pylist():
        assert row["mean_total_cents__count"] >= row["persons"] > 0


# -- property: any value is bound only if it is of its type and in range ---------------------
_VALUES = st.one_of(
    st.integers(-5, 1005),
    st.booleans(),
    st.decimals(allow_nan=False, allow_infinity=False, places=0),
    st.dates(dt.date(2024, 1, 1), dt.date(2027, 1, 1)).map(dt.date.isoformat),
    st.sampled_from(["110000", "440000", "120000", "2025-1-1", "", "' OR 1=1 --"]),
    st.text(max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(floor=_VALUES, since=_VALUES, province=_VALUES)
def test_a_value_is_bound_only_if_of_its_type_and_in_range(
    floor: ParameterValue, since: ParameterValue, province: ParameterValue
) -> None:
    given_values = {"floor": floor, "since": since, "province": province}
    ok = {
        "floor": type(floor) is int and 0 <= floor <= 1000,
        "since": isinstance(since, str)
        and len(since) == 10
        and "2024-07-01" <= since <= "2026-06-30"
        and _is_date(since),
        "province": province in ("110000", "440000") and isinstance(province, str),
    }
    try:
        done = rewrite_template(_TYPED, "t", given_values)
    except QueryRejected as refused:
        assert refused.reason in (Reason.PARAMETER_INVALID, Reason.PARAMETER_OUT_OF_RANGE)
        assert not ok[refused.construct]
        assert str(refused) == f"{refused.reason}({refused.construct})"
    else:
        assert all(ok.values())
        assert dict(done.rewritten.parameters) == {f"p_{k}": v for k, v in given_values.items()}


def _is_date(text: str) -> bool:
    try:
        return dt.date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False
