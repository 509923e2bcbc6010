"""Properties of parse + validate (hypothesis): allowed queries pass, junk only ever rejects."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies import AggregationRule
from query_engine.errors import QueryRejected
from query_engine.parse import parse
from query_engine.query import Query
from query_engine.validate import Accepted, Rejected, validate
from tests.unit.query_engine.views import DIMENSIONS, PERSON_KEY, claims_view

_VIEW = claims_view()
_MEASURE_AGGREGATES = [("SUM", "total_cents"), ("AVG", "total_cents"), ("SUM", "fund_cents")]
_WHERE_COLUMNS = ("province", "gender", "age_band", "visit_type", "total_cents")
_COMPARISONS = ("=", "<>", "!=", "<", "<=", ">", ">=")


def _spelling(name: str) -> st.SearchStrategy[str]:
    """The same identifier as a partner may write it: any case, quoted or not."""
    cased = st.sampled_from([name, name.upper(), name.title()])
    return st.one_of(cased, cased.map(lambda n: f'"{n}"'))


_values = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.text(st.characters(codec="utf-8"), max_size=12).map(
        lambda s: "'" + s.replace("'", "''") + "'"
    ),
    st.from_regex(r"[a-z0-9_]{0,8}", fullmatch=True).map(lambda n: f":p_{n}"),
)


@st.composite
def _predicates(draw: st.DrawFn, depth: int = 0) -> str:
    kind = draw(
        st.sampled_from(["cmp", "in", "between", "and", "or", "not"] if depth < 3 else ["cmp"])
    )
    if kind in ("and", "or"):
        left, right = draw(_predicates(depth + 1)), draw(_predicates(depth + 1))
        return f"({left} {kind.upper()} {right})"
    if kind == "not":
        return f"NOT ({draw(_predicates(depth + 1))})"
    column = draw(st.sampled_from(_WHERE_COLUMNS).flatmap(_spelling))
    if kind == "in":
        values = draw(st.lists(_values, min_size=1, max_size=4))
        return f"{column} IN ({', '.join(values)})"
    if kind == "between":
        return f"{column} BETWEEN {draw(_values)} AND {draw(_values)}"
    return f"{column} {draw(st.sampled_from(_COMPARISONS))} {draw(_values)}"


@st.composite
def allowed_queries(draw: st.DrawFn) -> str:
    """A random query within the test view's aggregation rule, in random surface spelling."""
    keys = draw(st.lists(st.sampled_from(DIMENSIONS), unique=True, max_size=3))
    aggregates = draw(
        st.lists(
            st.one_of(
                st.just("COUNT(*)"),
                _spelling(PERSON_KEY).map(lambda p: f"COUNT(DISTINCT {p})"),
                st.sampled_from(_MEASURE_AGGREGATES).flatmap(
                    lambda fc: _spelling(fc[1]).map(lambda c: f"{fc[0]}({c})")
                ),
            ),
            min_size=1,
            max_size=4,
        )
    )
    aliases = [f"a{i}" for i in range(len(aggregates))]
    select = [draw(_spelling(key)) for key in keys]
    select += [
        f"{aggregate} AS {alias}" for aggregate, alias in zip(aggregates, aliases, strict=True)
    ]
    sql = f"SELECT {', '.join(draw(st.permutations(select)))} FROM {draw(_spelling(_VIEW.name))}"
    if draw(st.booleans()):
        sql += f" WHERE {draw(_predicates())}"
    if keys:
        sql += " GROUP BY " + ", ".join(draw(_spelling(key)) for key in keys)
    order = draw(st.lists(st.sampled_from(keys + aliases), unique=True, max_size=3))
    if order:
        directions = [draw(st.sampled_from(["", " ASC", " DESC"])) for _ in order]
        sql += " ORDER BY " + ", ".join(f"{o}{d}" for o, d in zip(order, directions, strict=True))
    return sql


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(allowed_queries())
def test_random_allowed_queries_parse_and_validate(sql: str) -> None:
    query = parse(sql)
    assert isinstance(_VIEW.rule, AggregationRule)
    assert validate(query, _VIEW) == Accepted(query, _VIEW.rule)


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
@given(allowed_queries(), st.integers(0, 400), st.sampled_from(_SQL_WORDS))
def test_allowed_queries_with_a_token_spliced_in_only_ever_reject_or_parse(
    sql: str, at: int, word: str
) -> None:
    at = min(at, len(sql))
    _judge(f"{sql[:at]} {word} {sql[at:]}")
