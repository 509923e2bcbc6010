"""A small claims view for the query-engine tests, built from `policies`' frozen values."""

from __future__ import annotations

from policies import AggregationRule, Column, ColumnRole, Template, TemplateRule, View

DIMENSIONS = ("province", "gender", "age_band", "visit_type")
MEASURES = ("total_cents", "fund_cents")
PERSON_KEY = "person_id"


def claims_view(*, max_group_keys: int = 3, operators: frozenset[str] | None = None) -> View:
    """`claims` with four dimensions (three allowed), two measures and a person key."""
    columns = {
        "province": Column("province", ColumnRole.DIMENSION, ("11", "12", "44")),
        "gender": Column("gender", ColumnRole.DIMENSION, ("F", "M")),
        "age_band": Column("age_band", ColumnRole.DIMENSION, ("0-17", "18-64", "65+")),
        "visit_type": Column("visit_type", ColumnRole.DIMENSION, ("IN", "OUT")),
        "institution_kind": Column("institution_kind", ColumnRole.DIMENSION, ("A", "B")),
        "total_cents": Column("total_cents", ColumnRole.MEASURE, None, 0, 10_000_000, "cents"),
        "fund_cents": Column("fund_cents", ColumnRole.MEASURE, None, 0, 10_000_000, "cents"),
        "self_cents": Column("self_cents", ColumnRole.MEASURE, None, 0, 10_000_000, "cents"),
        "person_id": Column("person_id", ColumnRole.PERSON_KEY),
    }
    rule = AggregationRule(
        allowed_aggregates={
            "total_cents": frozenset({"SUM", "AVG"}),
            "fund_cents": frozenset({"SUM"}),
        },
        count_star=True,
        count_distinct_person=True,
        dimensions=frozenset(DIMENSIONS),
        max_group_keys=max_group_keys,
        where_columns=frozenset({"province", "gender", "age_band", "visit_type", "total_cents"}),
        where_operators=operators
        if operators is not None
        else frozenset({"=", "<>", "<", "<=", ">", ">=", "IN", "BETWEEN", "AND", "OR", "NOT"}),
        contribution_limit=10,
        release="exact",
        row_cap=1000,
    )
    return View("claims_analysis", "SELECT * FROM claims", columns, rule)


def template_view() -> View:
    """A view that answers only one approved template."""
    template = Template("by_province", "SELECT province, COUNT(*) FROM t GROUP BY province", {})
    view = claims_view()
    rule = TemplateRule({"by_province": template}, contribution_limit=10, row_cap=1000)
    return View("claims_templates", view.sql, view.columns, rule)
