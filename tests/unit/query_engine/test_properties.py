"""Properties of parse + validate (hypothesis): allowed queries pass, junk only ever rejects.

The allowed queries are drawn from a view's own rule (its dimensions, measures and their
aggregates, WHERE columns and operators, group-key limit), so the property holds for the
test view and for every ad-hoc view of the default policy alike.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies import AggregationRule, View, default_policy
from query_engine.errors import QueryRejected
from query_engine.parse import parse
from query_engine.query import Query
from query_engine.validate import Accepted, Rejected, validate
from tests.unit.query_engine.views import claims_view

_VIEW = claims_view()
_AD_HOC_VIEWS = [_VIEW] + [
    view for view in default_policy().views.values() if isinstance(view.rule, AggregationRule)
]
_COMPARISONS = ("=", "<>", "<", "<=", ">", ">=")


def _spelling(name: str) -> st.SearchStrategy[str]:
    """The same identifier as a partner may write it: any case, quoted or not."""
    cased = st.sampled_from([name, name.upper(), name.title()])
    return st.one_of(cased, cased.map(lambda n: f'"{n}"'))


_values = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.text(st.characters(codec="utf-8"), max_size=12).map(
        lambda s: "'" + s.replace("'", "''") + "'"
    ),
    # `p_` keeps a parameter's name off SQL's keywords (`:or` is a parse error, as it should be).
    st.from_regex(r"[a-z0-9_]{0,8}", fullmatch=True).map(lambda n: f":p_{n}"),
)


def _rule(view: View) -> AggregationRule:
    assert isinstance(view.rule, AggregationRule)
    return view.rule


@st.composite
def _predicates(draw: st.DrawFn, view: View, depth: int = 0) -> str:
    rule = _rule(view)
    ops = rule.where_operators
    kinds: list[str] = [k for k in ("IN", "BETWEEN") if k in ops]
    kinds += ["cmp"] if any(op in ops for op in _COMPARISONS) else []
    if depth < 3:
        kinds += [k for k in ("AND", "OR", "NOT") if k in ops]
    kind = draw(st.sampled_from(kinds))
    if kind in ("AND", "OR"):
        left, right = draw(_predicates(view, depth + 1)), draw(_predicates(view, depth + 1))
        return f"({left} {kind} {right})"
    if kind == "NOT":
        return f"NOT ({draw(_predicates(view, depth + 1))})"
    column = draw(st.sampled_from(sorted(rule.where_columns)).flatmap(_spelling))
    if kind == "IN":
        values = draw(st.lists(_values, min_size=1, max_size=4))
        return f"{column} IN ({', '.join(values)})"
    if kind == "BETWEEN":
        return f"{column} BETWEEN {draw(_values)} AND {draw(_values)}"
    operator = draw(st.sampled_from([op for op in _COMPARISONS if op in ops]))
    return f"{column} {'!=' if operator == '<>' and draw(st.booleans()) else operator} " + draw(
        _values
    )


def _cells(view: View, keys: list[str]) -> int:
    """The size of the grid the answer is: the product of the keys' domain sizes."""
    cells = 1
    for key in keys:
        cells *= len(view.columns[key].domain or ())
    return cells


@st.composite
def allowed_queries(draw: st.DrawFn, view: View) -> str:
    """A random query within `view`'s aggregation rule, in random surface spelling."""
    rule = _rule(view)
    keys = draw(
        st.lists(
            st.sampled_from(sorted(rule.dimensions)), unique=True, max_size=rule.max_group_keys
        ).filter(lambda chosen: _cells(view, chosen) <= rule.row_cap)  # else TOO_MANY_CELLS
    )
    choices: list[st.SearchStrategy[str]] = []
    if rule.count_star:
        choices.append(st.just("COUNT(*)"))
    if rule.count_distinct_person and view.person_key is not None:
        choices.append(_spelling(view.person_key).map(lambda p: f"COUNT(DISTINCT {p})"))
    pairs = sorted((f, m) for m, fs in rule.allowed_aggregates.items() for f in fs)
    if pairs:
        choices.append(
            st.sampled_from(pairs).flatmap(
                lambda fm: _spelling(fm[1]).map(lambda c: f"{fm[0]}({c})")
            )
        )
    aggregates = draw(st.lists(st.one_of(choices), min_size=1, max_size=4))
    aliases = [f"a{i}" for i in range(len(aggregates))]
    select = [draw(_spelling(key)) for key in keys]
    select += [f"{agg} AS {alias}" for agg, alias in zip(aggregates, aliases, strict=True)]
    sql = f"SELECT {', '.join(draw(st.permutations(select)))} FROM {draw(_spelling(view.name))}"
    if bool(rule.where_columns) and draw(st.booleans()):
        sql += f" WHERE {draw(_predicates(view))}"
    if keys:
        sql += " GROUP BY " + ", ".join(draw(_spelling(key)) for key in keys)
    order = draw(st.lists(st.sampled_from(keys + aliases), unique=True, max_size=3))
    if order:
        directions = [draw(st.sampled_from(["", " ASC", " DESC"])) for _ in order]
        sql += " ORDER BY " + ", ".join(f"{o}{d}" for o, d in zip(order, directions, strict=True))
    return sql


@pytest.mark.parametrize("view", _AD_HOC_VIEWS, ids=lambda view: view.name)
def test_random_allowed_queries_parse_and_validate(view: View) -> None:
    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(allowed_queries(view))
    def accepted(sql: str) -> None:
        query = parse(sql)
        assert validate(query, view) == Accepted(query, _rule(view))

    accepted()


_SQL_WORDS = (
    "SELECT", "FROM", "WHERE", "GROUP", "BY", "ORDER", "HAVING", "LIMIT", "UNION", "JOIN",
    "WITH", "AS", "AND", "OR", "NOT", "IN", "BETWEEN", "COUNT", "SUM", "AVG", "MIN", "DISTINCT",
    "(", ")", ",", ";", "*", "=", "<", ">", "'x'", "1", "-", ":p", "$q", "?", "--", "/*", "*/",
    "\n", "claims_analysis", "province", "person_id", "total_cents", "read_parquet", "COPY",
    "ATTACH", "PRAGMA", "OVER", "CASE", "WHEN", "THEN", "END", '"', ".", "||", "::", "[", "]",
)  # fmt: skip


def _judge(sql: str) -> None:
    try:
        query = parse(sql)
    except QueryRejected as rejected:
        assert str(rejected)
        return
    assert isinstance(query, Query)
    assert isinstance(validate(query, _VIEW), Accepted | Rejected)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_SQL_WORDS), max_size=30).map(" ".join))
def test_token_soup_only_ever_rejects(sql: str) -> None:
    _judge(sql)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_random_text_only_ever_rejects(sql: str) -> None:
    _judge(sql)


@settings(max_examples=200, deadline=None)
@given(allowed_queries(_VIEW), st.integers(0, 400), st.sampled_from(_SQL_WORDS))
def test_allowed_queries_with_a_token_spliced_in_only_ever_reject_or_parse(
    sql: str, at: int, word: str
) -> None:
    at = min(at, len(sql))
    _judge(f"{sql[:at]} {word} {sql[at:]}")
