"""Issue 10's attacks and bad input, each through the real query path.

`AggregateQueries.run` over a synthetic export, the default policy (`FixedPolicy`), DuckDB and
a real audit log. Every attack is either REJECTED with the named reason (the
`QueryRejected.rule` and `construct`, or VIEW_NOT_GRANTED) — with its denying decision leaf
in the audit log and no release leaf — or released with every cell of fewer than
`min_persons` distinct persons suppressed, against a ground truth computed beside the
pipeline (plain DuckDB over the raw Parquet files).

The lists are by class of attack; each case names the construct the grammar or the rule
refuses, so a case that starts to pass (or fails for another reason) is a finding.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any, cast

import pyarrow as pa
import pytest

import query_engine
from enclave import gate
from enclave.analytics import QueryRejected, QueryRequest, ViewNotGranted
from policies import AggregationRule, default_policy
from query_engine.validate import RESERVED_OUTPUT_NAMES
from tests.support.query_export import Export, synthetic_export
from tests.support.query_pipeline import INSURER, UNDERWRITING, Pipeline, persons_per_cell

Case = tuple[str, str, str]  # SQL, the rule (reason code) that refuses it, its construct


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Export:
    return synthetic_export(tmp_path_factory.mktemp("attacks"))


@pytest.fixture(scope="module")
def zone(tmp_path_factory: pytest.TempPathFactory, export: Export) -> Iterator[Pipeline]:
    # One audit log for the module: each check reads only the leaves its own call appended.
    pipeline = Pipeline(tmp_path_factory.mktemp("audit"), export)
    yield pipeline
    pipeline.close()


def _rejected(zone: Pipeline, case: Case, parameters: dict[str, Any] | None = None) -> None:
    sql, rule, construct = case
    if rule == "VIEW_NOT_GRANTED":
        zone.refused(ViewNotGranted, sql, parameters)
        return
    refusal = zone.refused(QueryRejected, sql, parameters)
    assert isinstance(refusal, QueryRejected)
    assert (refusal.rule, refusal.construct) == (rule, construct)


def _released_labels(table: Any, dimension: str) -> list[object]:
    """The dimension's values of the cells the gate did not suppress."""
    return [row[dimension] for row in table.to_pylist() if not row[gate.MARKER_COLUMN]]


def _cases(cases: list[Case]) -> list[Any]:
    return [pytest.param(case, id=f"{i}-{case[1]}") for i, case in enumerate(cases)]


def _q(select: str, tail: str = "") -> str:
    return f"SELECT {select} FROM claims_analysis {tail}".strip()


STAR: list[Case] = [
    ("SELECT * FROM claims_analysis", "CONSTRUCT_NOT_ALLOWED", "star"),
    ("SELECT claims_analysis.* FROM claims_analysis", "CONSTRUCT_NOT_ALLOWED", "qualified name"),
    ("SELECT COUNT(*) AS n, * FROM claims_analysis", "CONSTRUCT_NOT_ALLOWED", "star"),
    ("SELECT * EXCLUDE (person_key) FROM claims_analysis", "CONSTRUCT_NOT_ALLOWED", "star"),
    ("SELECT * REPLACE (1 AS person_key) FROM claims_analysis", "CONSTRUCT_NOT_ALLOWED", "star"),
    ("SELECT COLUMNS('.*') FROM claims_analysis", "CONSTRUCT_NOT_ALLOWED", "function"),
    ("SELECT COLUMNS(*) FROM claims_analysis", "CONSTRUCT_NOT_ALLOWED", "function"),
    ("FROM claims_analysis", "CONSTRUCT_NOT_ALLOWED", "star"),
    ("SELECT gender, * FROM claims_analysis GROUP BY gender", "CONSTRUCT_NOT_ALLOWED", "star"),
]

PERSON_KEY: list[Case] = [
    (
        "SELECT person_key, COUNT(*) AS n FROM claims_analysis GROUP BY person_key",
        "COLUMN_HIDDEN",
        "person_key",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis WHERE person_key = 'P1'"
            " GROUP BY gender"
        ),
        "COLUMN_HIDDEN",
        "person_key",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis WHERE person_key IN ('a',"
            " 'b') GROUP BY gender"
        ),
        "COLUMN_HIDDEN",
        "person_key",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis WHERE person_key BETWEEN"
            " 'a' AND 'b' GROUP BY gender"
        ),
        "COLUMN_HIDDEN",
        "person_key",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis WHERE NOT (gender = 'F' OR"
            " person_key > 'a') GROUP BY gender"
        ),
        "COLUMN_HIDDEN",
        "person_key",
    ),
    (
        "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender, person_key",
        "COLUMN_HIDDEN",
        "person_key",
    ),
    (
        ("SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender ORDER BY person_key"),
        "COLUMN_HIDDEN",
        "person_key",
    ),
    (
        (
            "SELECT SUM(CASE WHEN person_key = 'P1' THEN total_cents ELSE 0 END) AS s"
            " FROM claims_analysis"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "case",
    ),
    (
        "SELECT SUM(length(person_key)) AS s FROM claims_analysis",
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    ("SELECT SUM(hash(person_key) % 2) AS s FROM claims_analysis", "CONSTRUCT_NOT_ALLOWED", "mod"),
    ("SELECT SUM(person_key) AS s FROM claims_analysis", "COLUMN_HIDDEN", "person_key"),
    ("SELECT AVG(person_key) AS s FROM claims_analysis", "COLUMN_HIDDEN", "person_key"),
    (
        "SELECT COUNT(person_key) AS s FROM claims_analysis",
        "AGGREGATE_NOT_ALLOWED",
        "COUNT(column)",
    ),
    (
        "SELECT COUNT(DISTINCT person_key || '') AS s FROM claims_analysis",
        "CONSTRUCT_NOT_ALLOWED",
        "dpipe",
    ),
    (
        'SELECT "person_key", COUNT(*) AS n FROM claims_analysis GROUP BY "person_key"',
        "COLUMN_HIDDEN",
        "person_key",
    ),
    (
        "SELECT PERSON_KEY, COUNT(*) AS n FROM claims_analysis GROUP BY PERSON_KEY",
        "COLUMN_HIDDEN",
        "person_key",
    ),
    (
        'SELECT "Person_Key", COUNT(*) AS n FROM claims_analysis GROUP BY "Person_Key"',
        "COLUMN_HIDDEN",
        "person_key",
    ),
    (
        (
            "SELECT ｐｅｒｓｏｎ_ｋｅｙ, COUNT(*) AS n FROM claims_analysis GROUP BY"
            " ｐｅｒｓｏｎ_ｋｅｙ"
        ),
        "COLUMN_HIDDEN",
        "person_key",
    ),
    (
        "SELECT person＿key, COUNT(*) AS n FROM claims_analysis GROUP BY person＿key",
        "COLUMN_HIDDEN",
        "person_key",
    ),
    (
        "SELECT person_Key, COUNT(*) AS n FROM claims_analysis GROUP BY person_Key",
        "COLUMN_HIDDEN",
        "person_key",
    ),
    (
        "SELECT реrson_key, COUNT(*) AS n FROM claims_analysis GROUP BY реrson_key",
        "IDENTIFIER_NOT_ALLOWED",
        "non-ASCII identifier",
    ),
    (
        'SELECT "pеrson_key", COUNT(*) AS n FROM claims_analysis GROUP BY "pеrson_key"',
        "IDENTIFIER_NOT_ALLOWED",
        "non-ASCII identifier",
    ),
    (
        ('SELECT "person\u200bkey", COUNT(*) AS n FROM claims_analysis GROUP BY "person\u200bkey"'),
        "IDENTIFIER_NOT_ALLOWED",
        "non-ASCII identifier",
    ),
    (
        ('SELECT "person_key ", COUNT(*) AS n FROM claims_analysis GROUP BY "person_key "'),
        "IDENTIFIER_NOT_ALLOWED",
        "identifier",
    ),
    (
        "SELECT pérson_key, COUNT(*) AS n FROM claims_analysis GROUP BY pérson_key",
        "IDENTIFIER_NOT_ALLOWED",
        "non-ASCII identifier",
    ),
    (
        (
            'SELECT gender, COUNT(*) AS n FROM claims_analysis WHERE "PERSON_KEY" = :p'
            " GROUP BY gender"
        ),
        "COLUMN_HIDDEN",
        "person_key",
    ),
    ("SELECT COUNT(*) AS person_key FROM claims_analysis", "OUTPUT_NAME_AMBIGUOUS", "person_key"),
    (
        ("SELECT gender AS person_key, COUNT(*) AS n FROM claims_analysis GROUP BY gender"),
        "OUTPUT_NAME_AMBIGUOUS",
        "person_key",
    ),
    (
        "SELECT person_id, COUNT(*) AS n FROM claims_analysis GROUP BY person_id",
        "COLUMN_UNKNOWN",
        "person_id",
    ),
    (
        "SELECT id_number, COUNT(*) AS n FROM claims_analysis GROUP BY id_number",
        "COLUMN_UNKNOWN",
        "id_number",
    ),
    (
        ("SELECT gender, COUNT(*) AS n FROM claims_analysis WHERE name = 'x' GROUP BY gender"),
        "COLUMN_UNKNOWN",
        "name",
    ),
    (
        ("SELECT gender, COUNT(*) AS n FROM claims_analysis WHERE phone = 'x' GROUP BY gender"),
        "COLUMN_UNKNOWN",
        "phone",
    ),
]

RAW_TABLES: list[Case] = [
    ("SELECT COUNT(*) AS n FROM persons", "VIEW_NOT_GRANTED", ""),
    ("SELECT COUNT(*) AS n FROM claims", "VIEW_NOT_GRANTED", ""),
    ("SELECT COUNT(*) AS n FROM enrolments", "VIEW_NOT_GRANTED", ""),
    ("SELECT COUNT(*) AS n FROM enrolment", "VIEW_NOT_GRANTED", ""),
    ("SELECT COUNT(*) AS n FROM institutions", "VIEW_NOT_GRANTED", ""),
    ("SELECT COUNT(*) AS n FROM family_bindings", "VIEW_NOT_GRANTED", ""),
    ("SELECT COUNT(*) AS n FROM face_templates", "VIEW_NOT_GRANTED", ""),
    ("SELECT COUNT(*) AS n FROM PERSONS", "VIEW_NOT_GRANTED", ""),
    ('SELECT COUNT(*) AS n FROM "claims"', "VIEW_NOT_GRANTED", ""),
    ("SELECT COUNT(*) AS n FROM ｃｌａｉｍｓ", "VIEW_NOT_GRANTED", ""),
    ("SELECT COUNT(*) AS n FROM tokens", "VIEW_NOT_GRANTED", ""),
    ("SELECT COUNT(*) AS n FROM nope", "VIEW_NOT_GRANTED", ""),
    ("SELECT COUNT(*) AS n FROM claims_analysis_v2", "VIEW_NOT_GRANTED", ""),
]

AGGREGATES: list[Case] = [
    (
        "SELECT gender, MIN(total_cents) AS x FROM claims_analysis GROUP BY gender",
        "AGGREGATE_NOT_ALLOWED",
        "MIN",
    ),
    (
        "SELECT gender, MAX(total_cents) AS x FROM claims_analysis GROUP BY gender",
        "AGGREGATE_NOT_ALLOWED",
        "MAX",
    ),
    (
        "SELECT gender, median(total_cents) AS x FROM claims_analysis GROUP BY gender",
        "AGGREGATE_NOT_ALLOWED",
        "MEDIAN",
    ),
    (
        (
            "SELECT gender, quantile_cont(total_cents, 0.5) AS x FROM claims_analysis"
            " GROUP BY gender"
        ),
        "AGGREGATE_NOT_ALLOWED",
        "PERCENTILECONT",
    ),
    (
        (
            "SELECT gender, quantile_disc(total_cents, 0.9) AS x FROM claims_analysis"
            " GROUP BY gender"
        ),
        "AGGREGATE_NOT_ALLOWED",
        "PERCENTILEDISC",
    ),
    (
        ("SELECT gender, quantile(total_cents, 0.5) AS x FROM claims_analysis GROUP BY gender"),
        "AGGREGATE_NOT_ALLOWED",
        "QUANTILE",
    ),
    (
        (
            "SELECT gender, approx_quantile(total_cents, 0.5) AS x FROM claims_analysis"
            " GROUP BY gender"
        ),
        "AGGREGATE_NOT_ALLOWED",
        "APPROXQUANTILE",
    ),
    (
        (
            "SELECT gender, reservoir_quantile(total_cents, 0.5) AS x FROM"
            " claims_analysis GROUP BY gender"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        "SELECT gender, mad(total_cents) AS x FROM claims_analysis GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        "SELECT gender, mode(total_cents) AS x FROM claims_analysis GROUP BY gender",
        "AGGREGATE_NOT_ALLOWED",
        "MODE",
    ),
    (
        ("SELECT gender, string_agg(province, ',') AS x FROM claims_analysis GROUP BY gender"),
        "AGGREGATE_NOT_ALLOWED",
        "GROUPCONCAT",
    ),
    (
        ("SELECT gender, group_concat(province) AS x FROM claims_analysis GROUP BY gender"),
        "AGGREGATE_NOT_ALLOWED",
        "GROUPCONCAT",
    ),
    (
        "SELECT gender, listagg(province) AS x FROM claims_analysis GROUP BY gender",
        "AGGREGATE_NOT_ALLOWED",
        "GROUPCONCAT",
    ),
    (
        "SELECT gender, list(province) AS x FROM claims_analysis GROUP BY gender",
        "AGGREGATE_NOT_ALLOWED",
        "ARRAYAGG",
    ),
    (
        "SELECT gender, array_agg(province) AS x FROM claims_analysis GROUP BY gender",
        "AGGREGATE_NOT_ALLOWED",
        "ARRAYAGG",
    ),
    (
        "SELECT gender, histogram(province) AS x FROM claims_analysis GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        (
            "SELECT gender, approx_count_distinct(province) AS x FROM claims_analysis"
            " GROUP BY gender"
        ),
        "AGGREGATE_NOT_ALLOWED",
        "APPROXDISTINCT",
    ),
    (
        "SELECT gender, bit_or(total_cents) AS x FROM claims_analysis GROUP BY gender",
        "AGGREGATE_NOT_ALLOWED",
        "BITWISEORAGG",
    ),
    (
        "SELECT gender, bit_and(total_cents) AS x FROM claims_analysis GROUP BY gender",
        "AGGREGATE_NOT_ALLOWED",
        "BITWISEANDAGG",
    ),
    (
        "SELECT gender, bit_xor(total_cents) AS x FROM claims_analysis GROUP BY gender",
        "AGGREGATE_NOT_ALLOWED",
        "BITWISEXORAGG",
    ),
    (
        ("SELECT gender, bitstring_agg(total_cents) AS x FROM claims_analysis GROUP BY gender"),
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        "SELECT gender, any_value(province) AS x FROM claims_analysis GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "ignorenulls",
    ),
    (
        "SELECT gender, first(province) AS x FROM claims_analysis GROUP BY gender",
        "AGGREGATE_NOT_ALLOWED",
        "FIRST",
    ),
    (
        "SELECT gender, last(province) AS x FROM claims_analysis GROUP BY gender",
        "AGGREGATE_NOT_ALLOWED",
        "LAST",
    ),
    (
        "SELECT gender, arbitrary(province) AS x FROM claims_analysis GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        ("SELECT gender, arg_max(province, total_cents) AS x FROM claims_analysis GROUP BY gender"),
        "AGGREGATE_NOT_ALLOWED",
        "ARGMAX",
    ),
    (
        ("SELECT gender, arg_min(province, total_cents) AS x FROM claims_analysis GROUP BY gender"),
        "AGGREGATE_NOT_ALLOWED",
        "ARGMIN",
    ),
    (
        ("SELECT gender, max_by(province, total_cents) AS x FROM claims_analysis GROUP BY gender"),
        "AGGREGATE_NOT_ALLOWED",
        "ARGMAX",
    ),
    (
        ("SELECT gender, min_by(province, total_cents) AS x FROM claims_analysis GROUP BY gender"),
        "AGGREGATE_NOT_ALLOWED",
        "ARGMIN",
    ),
    (
        "SELECT gender, stddev(total_cents) AS x FROM claims_analysis GROUP BY gender",
        "AGGREGATE_NOT_ALLOWED",
        "STDDEV",
    ),
    (
        "SELECT gender, variance(total_cents) AS x FROM claims_analysis GROUP BY gender",
        "AGGREGATE_NOT_ALLOWED",
        "VARIANCE",
    ),
    (
        "SELECT gender, var_pop(total_cents) AS x FROM claims_analysis GROUP BY gender",
        "AGGREGATE_NOT_ALLOWED",
        "VARIANCEPOP",
    ),
    (
        "SELECT gender, kurtosis(total_cents) AS x FROM claims_analysis GROUP BY gender",
        "AGGREGATE_NOT_ALLOWED",
        "KURTOSIS",
    ),
    (
        "SELECT gender, skewness(total_cents) AS x FROM claims_analysis GROUP BY gender",
        "AGGREGATE_NOT_ALLOWED",
        "SKEWNESS",
    ),
    (
        "SELECT gender, entropy(province) AS x FROM claims_analysis GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        "SELECT gender, product(total_cents) AS x FROM claims_analysis GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        ("SELECT gender, count_if(total_cents > 0) AS x FROM claims_analysis GROUP BY gender"),
        "AGGREGATE_NOT_ALLOWED",
        "COUNTIF",
    ),
    (
        ("SELECT gender, bool_or(total_cents > 0) AS x FROM claims_analysis GROUP BY gender"),
        "AGGREGATE_NOT_ALLOWED",
        "LOGICALOR",
    ),
    (
        "SELECT gender, fsum(total_cents) AS x FROM claims_analysis GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        ("SELECT gender, sum_no_overflow(total_cents) AS x FROM claims_analysis GROUP BY gender"),
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        "SELECT gender, favg(total_cents) AS x FROM claims_analysis GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        "SELECT gender, sumkahan(total_cents) AS x FROM claims_analysis GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        "SELECT gender, geomean(total_cents) AS x FROM claims_analysis GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        ("SELECT gender, corr(total_cents, fund_cents) AS x FROM claims_analysis GROUP BY gender"),
        "AGGREGATE_NOT_ALLOWED",
        "CORR",
    ),
    (
        (
            "SELECT gender, regr_slope(total_cents, fund_cents) AS x FROM claims_analysis"
            " GROUP BY gender"
        ),
        "AGGREGATE_NOT_ALLOWED",
        "REGRSLOPE",
    ),
    (
        ("SELECT gender, approx_top_k(province, 1) AS x FROM claims_analysis GROUP BY gender"),
        "AGGREGATE_NOT_ALLOWED",
        "APPROXTOPK",
    ),
    (
        "SELECT gender, count_star() AS x FROM claims_analysis GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        "SELECT gender, COUNT(province) AS x FROM claims_analysis GROUP BY gender",
        "AGGREGATE_NOT_ALLOWED",
        "COUNT(column)",
    ),
    (
        ("SELECT gender, COUNT(DISTINCT province) AS x FROM claims_analysis GROUP BY gender"),
        "AGGREGATE_NOT_ALLOWED",
        "COUNT(DISTINCT province)",
    ),
    (
        ("SELECT gender, COUNT(DISTINCT total_cents) AS x FROM claims_analysis GROUP BY gender"),
        "AGGREGATE_NOT_ALLOWED",
        "COUNT(DISTINCT total_cents)",
    ),
    (
        "SELECT gender, COUNT(1) AS x FROM claims_analysis GROUP BY gender",
        "AGGREGATE_NOT_ALLOWED",
        "COUNT(column)",
    ),
    (
        ("SELECT gender, SUM(DISTINCT total_cents) AS x FROM claims_analysis GROUP BY gender"),
        "CONSTRUCT_NOT_ALLOWED",
        "distinct",
    ),
    (
        "SELECT gender, SUM(1) AS x FROM claims_analysis GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "literal",
    ),
    (
        ("SELECT gender, AVG(DISTINCT total_cents) AS x FROM claims_analysis GROUP BY gender"),
        "CONSTRUCT_NOT_ALLOWED",
        "distinct",
    ),
    (
        (
            "SELECT gender, COUNT(DISTINCT person_key, gender) AS x FROM claims_analysis"
            " GROUP BY gender"
        ),
        "AGGREGATE_NOT_ALLOWED",
        "COUNT(DISTINCT several)",
    ),
    (
        (
            "SELECT gender, COUNT(*) FILTER (WHERE province = '110000') AS x FROM"
            " claims_analysis GROUP BY gender"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "filter",
    ),
    (
        (
            "SELECT gender, SUM(total_cents) FILTER (WHERE province = '110000') AS x FROM"
            " claims_analysis GROUP BY gender"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "filter",
    ),
    (
        (
            "SELECT gender, SUM(total_cents ORDER BY fund_cents) AS x FROM"
            " claims_analysis GROUP BY gender"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "order",
    ),
    (
        (
            "SELECT gender, list(province ORDER BY total_cents) AS x FROM claims_analysis"
            " GROUP BY gender"
        ),
        "AGGREGATE_NOT_ALLOWED",
        "ARRAYAGG",
    ),
    ("SELECT MIN(gender) AS x FROM claims_analysis", "AGGREGATE_NOT_ALLOWED", "MIN"),
    ("SELECT MAX(province) AS x FROM claims_analysis", "AGGREGATE_NOT_ALLOWED", "MAX"),
]

SUBQUERIES: list[Case] = [
    (
        "SELECT COUNT(*) AS n FROM (SELECT * FROM claims_analysis)",
        "CONSTRUCT_NOT_ALLOWED",
        "subquery",
    ),
    ("SELECT COUNT(*) AS n FROM (claims_analysis)", "CONSTRUCT_NOT_ALLOWED", "subquery"),
    (
        "SELECT n FROM (SELECT COUNT(*) AS n FROM claims_analysis)",
        "CONSTRUCT_NOT_ALLOWED",
        "subquery",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis WHERE gender IN (SELECT"
            " gender FROM claims_analysis) GROUP BY gender"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "subquery",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis WHERE gender = (SELECT"
            " MIN(gender) FROM claims_analysis) GROUP BY gender"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "subquery",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis WHERE EXISTS (SELECT 1"
            " FROM persons) GROUP BY gender"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        ("SELECT gender, (SELECT COUNT(*) FROM persons) AS n FROM claims_analysis GROUP BY gender"),
        "CONSTRUCT_NOT_ALLOWED",
        "subquery",
    ),
    (
        "(SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender)",
        "CONSTRUCT_NOT_ALLOWED",
        "subquery",
    ),
    (
        ("SELECT COUNT(*) AS n FROM claims_analysis WHERE gender IN (FROM persons SELECT gender)"),
        "CONSTRUCT_NOT_ALLOWED",
        "subquery",
    ),
]

CTES: list[Case] = [
    (
        "WITH x AS (SELECT * FROM claims_analysis) SELECT COUNT(*) AS n FROM x",
        "CONSTRUCT_NOT_ALLOWED",
        "cte",
    ),
    (
        (
            "WITH claims_analysis AS (SELECT * FROM persons) SELECT COUNT(*) AS n FROM"
            " claims_analysis"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "cte",
    ),
    (
        (
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT"
            " COUNT(*) AS n FROM claims_analysis"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "cte",
    ),
    (
        "WITH x AS MATERIALIZED (SELECT 1) SELECT COUNT(*) AS n FROM claims_analysis",
        "CONSTRUCT_NOT_ALLOWED",
        "cte",
    ),
]

SET_OPERATIONS: list[Case] = [
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender UNION"
            " SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "set operation",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender UNION ALL"
            " SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "set operation",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender INTERSECT"
            " SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "set operation",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender EXCEPT"
            " SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "set operation",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender UNION BY"
            " NAME SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "set operation",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender UNION ALL"
            " BY NAME SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "set operation",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender EXCEPT ALL"
            " SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "set operation",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender INTERSECT"
            " ALL SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "set operation",
    ),
    (
        (
            "(SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender) UNION"
            " (SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender)"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "set operation",
    ),
]

JOINS: list[Case] = [
    (
        "SELECT COUNT(*) AS n FROM claims_analysis JOIN persons ON true",
        "CONSTRUCT_NOT_ALLOWED",
        "join",
    ),
    (
        ("SELECT COUNT(*) AS n FROM claims_analysis JOIN persons ON person_key = person_id"),
        "CONSTRUCT_NOT_ALLOWED",
        "join",
    ),
    ("SELECT COUNT(*) AS n FROM claims_analysis, persons", "CONSTRUCT_NOT_ALLOWED", "join"),
    ("SELECT COUNT(*) AS n FROM claims_analysis, claims_analysis", "CONSTRUCT_NOT_ALLOWED", "join"),
    (
        "SELECT COUNT(*) AS n FROM claims_analysis CROSS JOIN persons",
        "CONSTRUCT_NOT_ALLOWED",
        "join",
    ),
    (
        "SELECT COUNT(*) AS n FROM claims_analysis NATURAL JOIN persons",
        "CONSTRUCT_NOT_ALLOWED",
        "join",
    ),
    (
        "SELECT COUNT(*) AS n FROM claims_analysis LEFT JOIN persons USING (gender)",
        "CONSTRUCT_NOT_ALLOWED",
        "join",
    ),
    (
        "SELECT COUNT(*) AS n FROM claims_analysis, LATERAL (SELECT 1)",
        "CONSTRUCT_NOT_ALLOWED",
        "join",
    ),
    (
        "SELECT COUNT(*) AS n FROM claims_analysis ASOF JOIN persons ON true",
        "CONSTRUCT_NOT_ALLOWED",
        "join",
    ),
    (
        "SELECT COUNT(*) AS n FROM claims_analysis POSITIONAL JOIN persons",
        "CONSTRUCT_NOT_ALLOWED",
        "join",
    ),
    (
        "SELECT COUNT(*) AS n FROM claims_analysis SEMI JOIN persons ON true",
        "CONSTRUCT_NOT_ALLOWED",
        "join",
    ),
    (
        "SELECT COUNT(*) AS n FROM claims_analysis ANTI JOIN persons ON true",
        "CONSTRUCT_NOT_ALLOWED",
        "join",
    ),
]

WINDOWS: list[Case] = [
    (
        "SELECT gender, COUNT(*) OVER () AS n FROM claims_analysis GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "window",
    ),
    (
        (
            "SELECT gender, SUM(total_cents) OVER (PARTITION BY gender) AS n FROM"
            " claims_analysis GROUP BY gender"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "window",
    ),
    (
        (
            "SELECT gender, ROW_NUMBER() OVER (ORDER BY gender) AS n FROM claims_analysis"
            " GROUP BY gender"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "window",
    ),
    (
        (
            "SELECT gender, rank() OVER w AS n FROM claims_analysis GROUP BY gender"
            " WINDOW w AS (ORDER BY gender)"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "window",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender QUALIFY"
            " COUNT(*) OVER () > 1"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "qualify",
    ),
    (
        "SELECT gender, lag(gender) OVER () AS n FROM claims_analysis GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "window",
    ),
]

TABLE_FUNCTIONS: list[Case] = [
    (
        "SELECT COUNT(*) AS n FROM read_parquet('/etc/passwd')",
        "CONSTRUCT_NOT_ALLOWED",
        "table function",
    ),
    (
        "SELECT COUNT(*) AS n FROM read_csv('/etc/passwd')",
        "CONSTRUCT_NOT_ALLOWED",
        "table function",
    ),
    (
        "SELECT COUNT(*) AS n FROM read_csv_auto('/etc/passwd')",
        "CONSTRUCT_NOT_ALLOWED",
        "table function",
    ),
    ("SELECT COUNT(*) AS n FROM glob('/*')", "CONSTRUCT_NOT_ALLOWED", "table function"),
    ("SELECT COUNT(*) AS n FROM read_json('/x.json')", "CONSTRUCT_NOT_ALLOWED", "table function"),
    (
        "SELECT COUNT(*) AS n FROM read_json_auto('/x.json')",
        "CONSTRUCT_NOT_ALLOWED",
        "table function",
    ),
    (
        "SELECT COUNT(*) AS n FROM parquet_scan('/x.parquet')",
        "CONSTRUCT_NOT_ALLOWED",
        "table function",
    ),
    (
        "SELECT COUNT(*) AS n FROM read_text('/etc/passwd')",
        "CONSTRUCT_NOT_ALLOWED",
        "table function",
    ),
    (
        "SELECT COUNT(*) AS n FROM read_blob('/etc/passwd')",
        "CONSTRUCT_NOT_ALLOWED",
        "table function",
    ),
    ("SELECT COUNT(*) AS n FROM duckdb_settings()", "CONSTRUCT_NOT_ALLOWED", "table function"),
    ("SELECT COUNT(*) AS n FROM duckdb_tables()", "CONSTRUCT_NOT_ALLOWED", "table function"),
    ("SELECT COUNT(*) AS n FROM duckdb_secrets()", "CONSTRUCT_NOT_ALLOWED", "table function"),
    (
        "SELECT COUNT(*) AS n FROM pragma_table_info('claims')",
        "CONSTRUCT_NOT_ALLOWED",
        "table function",
    ),
    ("SELECT COUNT(*) AS n FROM pragma_database_list()", "CONSTRUCT_NOT_ALLOWED", "table function"),
    ("SELECT COUNT(*) AS n FROM range(10)", "CONSTRUCT_NOT_ALLOWED", "table function"),
    ("SELECT COUNT(*) AS n FROM generate_series(1, 10)", "CONSTRUCT_NOT_ALLOWED", "table function"),
    (
        "SELECT COUNT(*) AS n FROM query('SELECT * FROM persons')",
        "CONSTRUCT_NOT_ALLOWED",
        "table function",
    ),
    ("SELECT COUNT(*) AS n FROM query_table('persons')", "CONSTRUCT_NOT_ALLOWED", "table function"),
    (
        "SELECT COUNT(*) AS n FROM sniff_csv('/etc/passwd')",
        "CONSTRUCT_NOT_ALLOWED",
        "table function",
    ),
    (
        "SELECT COUNT(*) AS n FROM '/zone/tables/persons.parquet'",
        "IDENTIFIER_NOT_ALLOWED",
        "identifier",
    ),
    ("SELECT COUNT(*) AS n FROM 'persons.parquet'", "IDENTIFIER_NOT_ALLOWED", "identifier"),
    ('SELECT COUNT(*) AS n FROM "persons.parquet"', "IDENTIFIER_NOT_ALLOWED", "identifier"),
    ("SELECT COUNT(*) AS n FROM unnest([1, 2])", "CONSTRUCT_NOT_ALLOWED", "function"),
    ("SELECT COUNT(*) AS n FROM (VALUES (1))", "CONSTRUCT_NOT_ALLOWED", "values"),
    (
        "SELECT COUNT(*) AS n FROM claims_analysis WHERE gender = getenv('HOME')",
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        (
            "SELECT COUNT(*) AS n FROM claims_analysis WHERE gender ="
            " current_setting('home_directory')"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        ("SELECT COUNT(*) AS n FROM claims_analysis WHERE gender IN (SELECT * FROM glob('/*'))"),
        "CONSTRUCT_NOT_ALLOWED",
        "subquery",
    ),
]

STATEMENTS: list[Case] = [
    ("COPY claims TO '/tmp/x.csv'", "NOT_A_SELECT", "statement"),
    (
        "COPY (SELECT * FROM persons) TO '/tmp/x.parquet' (FORMAT parquet)",
        "NOT_A_SELECT",
        "statement",
    ),
    ("COPY claims FROM '/tmp/x.csv'", "NOT_A_SELECT", "statement"),
    ("ATTACH '/tmp/x.db' AS x", "NOT_A_SELECT", "statement"),
    ("ATTACH 'x.db'", "NOT_A_SELECT", "statement"),
    ("DETACH x", "NOT_A_SELECT", "statement"),
    ("PRAGMA database_list", "NOT_A_SELECT", "statement"),
    ("PRAGMA enable_profiling", "NOT_A_SELECT", "statement"),
    ("INSTALL httpfs", "NOT_A_SELECT", "statement"),
    ("LOAD httpfs", "NOT_A_SELECT", "statement"),
    ("FORCE INSTALL httpfs", "NOT_A_SELECT", "statement"),
    ("SET enable_external_access = true", "NOT_A_SELECT", "statement"),
    ("SET GLOBAL lock_configuration = false", "NOT_A_SELECT", "statement"),
    ("RESET enable_external_access", "NOT_A_SELECT", "statement"),
    ("RESET ALL", "NOT_A_SELECT", "statement"),
    ("EXPORT DATABASE '/tmp/x'", "NOT_A_SELECT", "statement"),
    ("IMPORT DATABASE '/tmp/x'", "NOT_A_SELECT", "statement"),
    ("CALL pragma_version()", "NOT_A_SELECT", "statement"),
    ("CALL duckdb_settings()", "NOT_A_SELECT", "statement"),
    ("CREATE TABLE x AS SELECT * FROM persons", "NOT_A_SELECT", "statement"),
    ("CREATE VIEW claims_analysis AS SELECT * FROM persons", "NOT_A_SELECT", "statement"),
    ("CREATE MACRO m(x) AS x", "NOT_A_SELECT", "statement"),
    ("CREATE SECRET (TYPE s3)", "NOT_A_SELECT", "statement"),
    ("CREATE TEMP TABLE x (a INT)", "NOT_A_SELECT", "statement"),
    ("INSERT INTO claims VALUES (1)", "NOT_A_SELECT", "statement"),
    ("INSERT INTO x SELECT * FROM persons", "NOT_A_SELECT", "statement"),
    ("UPDATE persons SET name = 'x'", "NOT_A_SELECT", "statement"),
    ("DELETE FROM persons", "NOT_A_SELECT", "statement"),
    ("DROP TABLE persons", "NOT_A_SELECT", "statement"),
    ("DROP VIEW claims_analysis", "NOT_A_SELECT", "statement"),
    ("ALTER TABLE persons ADD COLUMN x INT", "NOT_A_SELECT", "statement"),
    ("TRUNCATE persons", "NOT_A_SELECT", "statement"),
    ("USE memory", "NOT_A_SELECT", "statement"),
    ("CHECKPOINT", "NOT_A_SELECT", "statement"),
    ("VACUUM", "NOT_A_SELECT", "statement"),
    ("BEGIN", "NOT_A_SELECT", "statement"),
    ("COMMIT", "NOT_A_SELECT", "statement"),
    ("ROLLBACK", "NOT_A_SELECT", "statement"),
    ("DESCRIBE persons", "NOT_A_SELECT", "statement"),
    ("DESCRIBE SELECT * FROM persons", "NOT_A_SELECT", "statement"),
    ("SHOW TABLES", "NOT_A_SELECT", "statement"),
    ("SHOW ALL TABLES", "NOT_A_SELECT", "statement"),
    ("SUMMARIZE persons", "NOT_A_SELECT", "statement"),
    ("EXPLAIN SELECT COUNT(*) AS n FROM claims_analysis", "NOT_A_SELECT", "statement"),
    ("EXPLAIN ANALYZE SELECT 1", "NOT_A_SELECT", "statement"),
    ("PIVOT claims_analysis ON gender USING COUNT(*)", "NOT_A_SELECT", "statement"),
    ("UNPIVOT persons ON name INTO NAME k VALUE v", "NOT_A_SELECT", "statement"),
    ("VALUES (1)", "NOT_A_SELECT", "statement"),
    ("TABLE persons", "NOT_A_SELECT", "statement"),
    ("COMMENT ON TABLE persons IS 'x'", "NOT_A_SELECT", "statement"),
    ("WITH x AS (SELECT 1) INSERT INTO y SELECT * FROM x", "NOT_A_SELECT", "insert"),
    ("WITH x AS (SELECT 1) DELETE FROM persons", "NOT_A_SELECT", "delete"),
    ("PREPARE p AS SELECT 1", "NOT_A_SELECT", "statement"),
    ("EXECUTE p", "NOT_A_SELECT", "statement"),
    ("DEALLOCATE p", "NOT_A_SELECT", "statement"),
    ("LOAD '/tmp/evil.duckdb_extension'", "NOT_A_SELECT", "statement"),
]

SEVERAL_STATEMENTS: list[Case] = [
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender; SELECT"
            " gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender"
        ),
        "NOT_ONE_STATEMENT",
        "2 statements",
    ),
    (
        ("SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender; DROP TABLE persons"),
        "NOT_ONE_STATEMENT",
        "2 statements",
    ),
    (
        ("SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender;DROP TABLE persons;"),
        "NOT_ONE_STATEMENT",
        "2 statements",
    ),
    (
        ("DROP TABLE persons; SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender"),
        "NOT_ONE_STATEMENT",
        "2 statements",
    ),
    (
        ("SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender;;; ATTACH 'x.db'"),
        "NOT_ONE_STATEMENT",
        "2 statements",
    ),
    (
        "; SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender; SELECT 1",
        "NOT_ONE_STATEMENT",
        "2 statements",
    ),
]

COMMENTS: list[Case] = [
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender --\n; DROP"
            " TABLE persons"
        ),
        "NOT_ONE_STATEMENT",
        "2 statements",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender /* */ ;"
            " DROP TABLE persons"
        ),
        "NOT_ONE_STATEMENT",
        "2 statements",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender /* /* */ ;"
            " DROP TABLE persons; /* */"
        ),
        "PARSE_ERROR",
        "",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender /* /* */"
            " */ ; COPY persons TO 'x'"
        ),
        "NOT_ONE_STATEMENT",
        "2 statements",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender -- \r;"
            " DROP TABLE persons"
        ),
        "NOT_ONE_STATEMENT",
        "2 statements",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender #\n; DROP"
            " TABLE persons"
        ),
        "NOT_ONE_STATEMENT",
        "2 statements",
    ),
    ("SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender /*", "PARSE_ERROR", ""),
    (
        "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender */ DROP",
        "PARSE_ERROR",
        "",
    ),
    ("/*/ SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender", "PARSE_ERROR", ""),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis --\nUNION SELECT gender,"
            " COUNT(*) AS n FROM claims_analysis GROUP BY gender"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "set operation",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis /**/UNION/**/SELECT"
            " gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "set operation",
    ),
]

HAVING_LIMIT: list[Case] = [
    (
        ("SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender HAVING COUNT(*) < 11"),
        "CONSTRUCT_NOT_ALLOWED",
        "having",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender HAVING"
            " COUNT(DISTINCT person_key) BETWEEN 1 AND 10"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "having",
    ),
    (
        "SELECT gender, COUNT(*) AS n FROM claims_analysis HAVING COUNT(*) > 0",
        "CONSTRUCT_NOT_ALLOWED",
        "having",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender ORDER BY n"
            " DESC LIMIT 1"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "limit",
    ),
    (
        ("SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender ORDER BY n LIMIT 1"),
        "CONSTRUCT_NOT_ALLOWED",
        "limit",
    ),
    (
        "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender LIMIT 1",
        "CONSTRUCT_NOT_ALLOWED",
        "limit",
    ),
    (
        ("SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender LIMIT 1 OFFSET 1"),
        "CONSTRUCT_NOT_ALLOWED",
        "limit",
    ),
    (
        "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender OFFSET 1",
        "CONSTRUCT_NOT_ALLOWED",
        "offset",
    ),
    (
        "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender LIMIT 10%",
        "CONSTRUCT_NOT_ALLOWED",
        "limit",
    ),
    (
        "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender LIMIT :k",
        "CONSTRUCT_NOT_ALLOWED",
        "limit",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender ORDER BY n"
            " DESC FETCH FIRST 1 ROWS ONLY"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "fetch",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender ORDER BY n"
            " DESC FETCH FIRST ROW WITH TIES"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "fetch",
    ),
    (
        ("SELECT gender, COUNT(*) AS n FROM claims_analysis USING SAMPLE 1 ROWS GROUP BY gender"),
        "CONSTRUCT_NOT_ALLOWED",
        "tablesample",
    ),
    (
        ("SELECT gender, COUNT(*) AS n FROM claims_analysis TABLESAMPLE 10% GROUP BY gender"),
        "CONSTRUCT_NOT_ALLOWED",
        "tablesample",
    ),
    (
        "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender ORDER BY ALL",
        "CONSTRUCT_NOT_ALLOWED",
        "var",
    ),
    (
        ("SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender ORDER BY 2 DESC"),
        "CONSTRUCT_NOT_ALLOWED",
        "literal",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender ORDER BY"
            " SUM(total_cents) DESC"
        ),
        "ORDER_BY_NOT_OUTPUT",
        "sum_total_cents",
    ),
    (
        ("SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender ORDER BY n + 0"),
        "CONSTRUCT_NOT_ALLOWED",
        "add",
    ),
]

STRING_TRICKS: list[Case] = [
    (
        ("SELECT gender, COUNT(*) AS n FROM claims_analysis WHERE gender = $$F$$ GROUP BY gender"),
        "CONSTRUCT_NOT_ALLOWED",
        "rawstring",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis WHERE gender = $t$F$t$"
            " GROUP BY gender"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "rawstring",
    ),
    (
        ("SELECT gender, COUNT(*) AS n FROM claims_analysis WHERE gender = E'F' GROUP BY gender"),
        "CONSTRUCT_NOT_ALLOWED",
        "bytestring",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis WHERE gender = e'\\x46'"
            " GROUP BY gender"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "bytestring",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis WHERE gender = U&'\\0046'"
            " GROUP BY gender"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "bitwiseand",
    ),
    (
        'SELECT U&"gender", COUNT(*) AS n FROM claims_analysis GROUP BY gender',
        "CONSTRUCT_NOT_ALLOWED",
        "bitwiseand",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis WHERE gender = 'F' 'M'"
            " GROUP BY gender"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis WHERE gender = 'F' || ''"
            " GROUP BY gender"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "dpipe",
    ),
    (
        'SELECT "gen""der", COUNT(*) AS n FROM claims_analysis GROUP BY gender',
        "IDENTIFIER_NOT_ALLOWED",
        "identifier",
    ),
    (
        'SELECT "gender"" ", COUNT(*) AS n FROM claims_analysis GROUP BY gender',
        "IDENTIFIER_NOT_ALLOWED",
        "identifier",
    ),
    (
        'SELECT gender AS "a""b", COUNT(*) AS n FROM claims_analysis GROUP BY gender',
        "IDENTIFIER_NOT_ALLOWED",
        "identifier",
    ),
    (
        'SELECT gender AS "n;DROP", COUNT(*) AS n FROM claims_analysis GROUP BY gender',
        "IDENTIFIER_NOT_ALLOWED",
        "identifier",
    ),
    ("SELECT gender AS `x`, COUNT(*) AS n FROM claims_analysis GROUP BY gender", "PARSE_ERROR", ""),
    ("SELECT gender, COUNT(*) AS [n] FROM claims_analysis GROUP BY gender", "PARSE_ERROR", ""),
    (
        ("SELECT gender, COUNT(*) AS n FROM claims_analysis WHERE gender = X'46' GROUP BY gender"),
        "PARSE_ERROR",
        "",
    ),
    (
        ("SELECT gender, COUNT(*) AS n FROM claims_analysis WHERE gender = B'1' GROUP BY gender"),
        "PARSE_ERROR",
        "",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis WHERE gender = 'F\\' OR"
            " 1=1 --' GROUP BY gender"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "literal",
    ),
    (
        ("SELECT gender, COUNT(*) AS n FROM claims_analysis WHERE gender = N'F' GROUP BY gender"),
        "CONSTRUCT_NOT_ALLOWED",
        "national",
    ),
    (
        ("SELECT gender, COUNT(*) AS n FROM claims_analysis WHERE gender = r'F' GROUP BY gender"),
        "PARSE_ERROR",
        "",
    ),
]

CASTS_FUNCTIONS: list[Case] = [
    (
        ("SELECT CAST(gender AS INT) AS g, COUNT(*) AS n FROM claims_analysis GROUP BY gender"),
        "CONSTRUCT_NOT_ALLOWED",
        "cast",
    ),
    (
        "SELECT gender::INT AS g, COUNT(*) AS n FROM claims_analysis GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "cast",
    ),
    (
        ("SELECT TRY_CAST(gender AS INT) AS g, COUNT(*) AS n FROM claims_analysis GROUP BY gender"),
        "CONSTRUCT_NOT_ALLOWED",
        "cast",
    ),
    (
        (
            "SELECT strftime(visit_month, '%Y') AS g, COUNT(*) AS n FROM claims_analysis"
            " GROUP BY visit_month"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        "SELECT length(gender) AS g, COUNT(*) AS n FROM claims_analysis GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        (
            "SELECT substr(province, 1, 2) AS g, COUNT(*) AS n FROM claims_analysis GROUP"
            " BY province"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        "SELECT upper(gender) AS g, COUNT(*) AS n FROM claims_analysis GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        "SELECT gender || '' AS g, COUNT(*) AS n FROM claims_analysis GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "dpipe",
    ),
    (
        "SELECT COUNT(*) AS n FROM claims_analysis WHERE length(gender) = 1",
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        "SELECT COUNT(*) AS n FROM claims_analysis WHERE CAST(gender AS INT) = 1",
        "CONSTRUCT_NOT_ALLOWED",
        "cast",
    ),
    (
        "SELECT COUNT(*) AS n FROM claims_analysis WHERE gender::VARCHAR = 'F'",
        "CONSTRUCT_NOT_ALLOWED",
        "cast",
    ),
    (
        "SELECT COUNT(*) AS n FROM claims_analysis WHERE gender LIKE 'F%'",
        "CONSTRUCT_NOT_ALLOWED",
        "like",
    ),
    (
        "SELECT COUNT(*) AS n FROM claims_analysis WHERE gender ILIKE 'f'",
        "CONSTRUCT_NOT_ALLOWED",
        "ilike",
    ),
    (
        "SELECT COUNT(*) AS n FROM claims_analysis WHERE gender SIMILAR TO 'F'",
        "CONSTRUCT_NOT_ALLOWED",
        "similarto",
    ),
    (
        "SELECT COUNT(*) AS n FROM claims_analysis WHERE gender GLOB 'F*'",
        "CONSTRUCT_NOT_ALLOWED",
        "glob",
    ),
    (
        "SELECT COUNT(*) AS n FROM claims_analysis WHERE regexp_matches(gender, 'F')",
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        "SELECT COUNT(*) AS n FROM claims_analysis WHERE gender IS NULL",
        "CONSTRUCT_NOT_ALLOWED",
        "is",
    ),
    (
        "SELECT COUNT(*) AS n FROM claims_analysis WHERE gender IS NOT NULL",
        "CONSTRUCT_NOT_ALLOWED",
        "is",
    ),
    (
        "SELECT COUNT(*) AS n FROM claims_analysis WHERE gender ~ 'F'",
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        "SELECT COUNT(*) AS n FROM claims_analysis WHERE starts_with(gender, 'F')",
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        "SELECT COUNT(*) AS n FROM claims_analysis WHERE gender = 'F' COLLATE nocase",
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        ("SELECT COUNT(*) AS n FROM claims_analysis WHERE (gender, province) = ('F', '110000')"),
        "CONSTRUCT_NOT_ALLOWED",
        "tuple",
    ),
    (
        "SELECT COUNT(*) AS n FROM claims_analysis WHERE gender = ANY (['F'])",
        "CONSTRUCT_NOT_ALLOWED",
        "any",
    ),
    ("SELECT COUNT(*) AS n FROM claims_analysis WHERE gender", "CONSTRUCT_NOT_ALLOWED", "column"),
    ("SELECT COUNT(*) AS n FROM claims_analysis WHERE TRUE", "CONSTRUCT_NOT_ALLOWED", "boolean"),
    ("SELECT COUNT(*) AS n FROM claims_analysis WHERE 1 = 1", "CONSTRUCT_NOT_ALLOWED", "literal"),
    (
        "SELECT COUNT(*) AS n FROM claims_analysis WHERE 'F' = gender",
        "CONSTRUCT_NOT_ALLOWED",
        "literal",
    ),
    (
        "SELECT COUNT(*) AS n FROM claims_analysis WHERE gender = province",
        "CONSTRUCT_NOT_ALLOWED",
        "column",
    ),
    ("SELECT COUNT(*) AS n FROM claims_analysis WHERE gender = 1", "VALUE_TYPE_MISMATCH", "gender"),
    (
        "SELECT COUNT(*) AS n FROM claims_analysis WHERE total_cents > 100",
        "WHERE_COLUMN_NOT_ALLOWED",
        "total_cents",
    ),
]

MEASURE_EXPRESSIONS: list[Case] = [
    ("SELECT SUM(total_cents * 0 + 1) AS s FROM claims_analysis", "CONSTRUCT_NOT_ALLOWED", "add"),
    ("SELECT SUM(total_cents + 0) AS s FROM claims_analysis", "CONSTRUCT_NOT_ALLOWED", "add"),
    ("SELECT SUM(total_cents * 1000000) AS s FROM claims_analysis", "CONSTRUCT_NOT_ALLOWED", "mul"),
    ("SELECT SUM(-total_cents) AS s FROM claims_analysis", "CONSTRUCT_NOT_ALLOWED", "neg"),
    ("SELECT SUM((total_cents)) AS s FROM claims_analysis", "CONSTRUCT_NOT_ALLOWED", "paren"),
    ("SELECT AVG(total_cents / 100) AS s FROM claims_analysis", "CONSTRUCT_NOT_ALLOWED", "div"),
    (
        ("SELECT SUM(CASE WHEN gender = 'F' THEN total_cents END) AS s FROM claims_analysis"),
        "CONSTRUCT_NOT_ALLOWED",
        "case",
    ),
    (
        "SELECT SUM(IF(gender = 'F', total_cents, 0)) AS s FROM claims_analysis",
        "CONSTRUCT_NOT_ALLOWED",
        "case",
    ),
    ("SELECT SUM(total_cents) * 0 AS s FROM claims_analysis", "CONSTRUCT_NOT_ALLOWED", "mul"),
    (
        "SELECT SUM(total_cents) / COUNT(*) AS s FROM claims_analysis",
        "CONSTRUCT_NOT_ALLOWED",
        "div",
    ),
    ("SELECT SUM(total_cents)::VARCHAR AS s FROM claims_analysis", "CONSTRUCT_NOT_ALLOWED", "cast"),
    (
        "SELECT COALESCE(SUM(total_cents), 0) AS s FROM claims_analysis",
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        "SELECT SUM(greatest(total_cents, 0)) AS s FROM claims_analysis",
        "CONSTRUCT_NOT_ALLOWED",
        "function",
    ),
    (
        "SELECT SUM(fund_cents - self_cents) AS s FROM claims_analysis",
        "CONSTRUCT_NOT_ALLOWED",
        "sub",
    ),
    (
        "SELECT SUM(total_cents) + SUM(fund_cents) AS s FROM claims_analysis",
        "CONSTRUCT_NOT_ALLOWED",
        "add",
    ),
    ("SELECT COUNT(*) + 0 AS s FROM claims_analysis", "CONSTRUCT_NOT_ALLOWED", "add"),
]

GROUP_BY: list[Case] = [
    (
        "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY 1",
        "CONSTRUCT_NOT_ALLOWED",
        "literal",
    ),
    (
        "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY ALL",
        "CONSTRUCT_NOT_ALLOWED",
        "group all",
    ),
    (
        "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender || ''",
        "CONSTRUCT_NOT_ALLOWED",
        "dpipe",
    ),
    (
        "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY (gender)",
        "CONSTRUCT_NOT_ALLOWED",
        "paren",
    ),
    (
        "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY ROLLUP (gender)",
        "CONSTRUCT_NOT_ALLOWED",
        "rollup",
    ),
    (
        "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY CUBE (gender)",
        "CONSTRUCT_NOT_ALLOWED",
        "cube",
    ),
    (
        ("SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY GROUPING SETS ((gender), ())"),
        "CONSTRUCT_NOT_ALLOWED",
        "groupingsets",
    ),
    (
        (
            "SELECT gender, province, COUNT(*) AS n FROM claims_analysis GROUP BY ROLLUP"
            " (gender, province)"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "rollup",
    ),
    (
        "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender, ()",
        "CONSTRUCT_NOT_ALLOWED",
        "tuple",
    ),
    (
        "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY #1",
        "CONSTRUCT_NOT_ALLOWED",
        "positionalcolumn",
    ),
    (
        (
            "SELECT gender, GROUPING(gender) AS g, COUNT(*) AS n FROM claims_analysis"
            " GROUP BY gender"
        ),
        "AGGREGATE_NOT_ALLOWED",
        "GROUPING",
    ),
    (
        (
            "SELECT gender, province, age_band, visit_type, COUNT(*) AS n FROM"
            " claims_analysis GROUP BY gender, province, age_band, visit_type"
        ),
        "TOO_MANY_GROUP_KEYS",
        "4 > 3",
    ),
    ("SELECT COUNT(*) AS n FROM claims_analysis GROUP BY gender", "GROUPED_NOT_SELECTED", "gender"),
    (
        "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender, province",
        "GROUPED_NOT_SELECTED",
        "province",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n, SUM(total_cents) AS s FROM claims_analysis"
            " GROUP BY province, gender"
        ),
        "GROUPED_NOT_SELECTED",
        "province",
    ),
    (
        "SELECT total_cents, COUNT(*) AS n FROM claims_analysis GROUP BY total_cents",
        "NOT_A_DIMENSION",
        "total_cents",
    ),
    ("SELECT gender, COUNT(*) AS n FROM claims_analysis", "SELECTED_NOT_GROUPED", "gender"),
]

ALIASES_SCHEMA: list[Case] = [
    (
        "SELECT gender, COUNT(*) AS n FROM claims_analysis AS t GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "tablealias",
    ),
    (
        "SELECT gender, COUNT(*) AS n FROM claims_analysis t GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "tablealias",
    ),
    (
        "SELECT t.gender, COUNT(*) AS n FROM claims_analysis AS t GROUP BY t.gender",
        "CONSTRUCT_NOT_ALLOWED",
        "tablealias",
    ),
    (
        (
            "SELECT claims_analysis.gender, COUNT(*) AS n FROM claims_analysis GROUP BY"
            " claims_analysis.gender"
        ),
        "CONSTRUCT_NOT_ALLOWED",
        "qualified name",
    ),
    ("SELECT t.* FROM claims_analysis AS t", "CONSTRUCT_NOT_ALLOWED", "tablealias"),
    (
        "SELECT gender, COUNT(*) AS n FROM claims_analysis AS persons GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "tablealias",
    ),
    (
        "SELECT gender, COUNT(*) AS n FROM claims_analysis AS t(a, b) GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "tablealias",
    ),
    (
        "SELECT gender AS province, COUNT(*) AS n FROM claims_analysis GROUP BY gender",
        "OUTPUT_NAME_AMBIGUOUS",
        "province",
    ),
    (
        "SELECT gender, SUM(total_cents) AS gender FROM claims_analysis GROUP BY gender",
        "OUTPUT_NAME_AMBIGUOUS",
        "gender",
    ),
    (
        "SELECT gender, COUNT(*) AS total_cents FROM claims_analysis GROUP BY gender",
        "OUTPUT_NAME_AMBIGUOUS",
        "total_cents",
    ),
    (
        ("SELECT gender AS suppressed, COUNT(*) AS n FROM claims_analysis GROUP BY gender"),
        "OUTPUT_NAME_AMBIGUOUS",
        "suppressed",
    ),
    (
        "SELECT gender, COUNT(*) AS suppressed FROM claims_analysis GROUP BY gender",
        "OUTPUT_NAME_AMBIGUOUS",
        "suppressed",
    ),
    (
        'SELECT gender, COUNT(*) AS "SUPPRESSED" FROM claims_analysis GROUP BY gender',
        "OUTPUT_NAME_AMBIGUOUS",
        "suppressed",
    ),
    (
        "SELECT gender, COUNT(*) AS __persons FROM claims_analysis GROUP BY gender",
        "OUTPUT_NAME_AMBIGUOUS",
        "__persons",
    ),
    (
        "SELECT gender, COUNT(*) AS __row FROM claims_analysis GROUP BY gender",
        "OUTPUT_NAME_AMBIGUOUS",
        "__row",
    ),
    (
        (
            "SELECT gender, AVG(total_cents) AS m, COUNT(*) AS m__count FROM"
            " claims_analysis GROUP BY gender"
        ),
        "OUTPUT_NAME_AMBIGUOUS",
        "m__count",
    ),
    (
        (
            "SELECT gender, AVG(total_cents) AS m, SUM(total_cents) AS m__sum FROM"
            " claims_analysis GROUP BY gender"
        ),
        "OUTPUT_NAME_AMBIGUOUS",
        "m__sum",
    ),
    (
        "SELECT gender AS g, COUNT(*) AS n FROM claims_analysis GROUP BY g",
        "SELECTED_NOT_GROUPED",
        "gender",
    ),
    (
        "SELECT gender, COUNT(*) AS n FROM main.claims_analysis GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "qualified name",
    ),
    (
        "SELECT gender, COUNT(*) AS n FROM memory.main.claims_analysis GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "qualified name",
    ),
    (
        "SELECT gender, COUNT(*) AS n FROM memory..claims_analysis GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "qualified name",
    ),
    (
        'SELECT gender, COUNT(*) AS n FROM "main"."claims_analysis" GROUP BY gender',
        "CONSTRUCT_NOT_ALLOWED",
        "qualified name",
    ),
    (
        "SELECT gender, COUNT(*) AS n FROM temp.main.claims_analysis GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "qualified name",
    ),
    (
        "SELECT gender, COUNT(*) AS n FROM system.main.claims_analysis GROUP BY gender",
        "CONSTRUCT_NOT_ALLOWED",
        "qualified name",
    ),
    (
        "SELECT COUNT(*) AS n FROM information_schema.tables",
        "CONSTRUCT_NOT_ALLOWED",
        "qualified name",
    ),
    (
        "SELECT COUNT(*) AS n FROM information_schema.columns",
        "CONSTRUCT_NOT_ALLOWED",
        "qualified name",
    ),
    ("SELECT COUNT(*) AS n FROM duckdb_tables", "VIEW_NOT_GRANTED", ""),
    ("SELECT COUNT(*) AS n FROM duckdb_settings", "VIEW_NOT_GRANTED", ""),
    ("SELECT COUNT(*) AS n FROM pg_catalog.pg_tables", "CONSTRUCT_NOT_ALLOWED", "qualified name"),
    ("SELECT COUNT(*) AS n FROM sqlite_master", "VIEW_NOT_GRANTED", ""),
    ("SELECT COUNT(*) AS n FROM __view", "VIEW_NOT_GRANTED", ""),
    ("SELECT COUNT(*) AS n FROM __clipped", "VIEW_NOT_GRANTED", ""),
    ('SELECT COUNT(*) AS n FROM "claims_analysis.parquet"', "IDENTIFIER_NOT_ALLOWED", "identifier"),
    (
        ("SELECT main.claims_analysis.gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender"),
        "CONSTRUCT_NOT_ALLOWED",
        "qualified name",
    ),
]

ENCODING: list[Case] = [
    (
        "SELECT gen\x00der, COUNT(*) AS n FROM claims_analysis GROUP BY gender",
        "IDENTIFIER_NOT_ALLOWED",
        "identifier",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender\x00; DROP"
            " TABLE persons"
        ),
        "NOT_ONE_STATEMENT",
        "2 statements",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis WHERE gender = '\ud800'"
            " GROUP BY gender"
        ),
        "PARSE_ERROR",
        "text not UTF-8",
    ),
    (
        (
            "SELECT gender, COUNT(*) AS n FROM claims_analysis WHERE gender = '\udcff'"
            " GROUP BY gender"
        ),
        "PARSE_ERROR",
        "text not UTF-8",
    ),
    (
        "SELECT gender\udcff, COUNT(*) AS n FROM claims_analysis GROUP BY gender",
        "PARSE_ERROR",
        "text not UTF-8",
    ),
    (
        "\ufeffSELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender",
        "NOT_A_SELECT",
        "statement",
    ),
]


# -- one test per class of attack ---------------------------------------------------------------
_CLASSES = {
    "select star": STAR,
    "the person key anywhere": PERSON_KEY,
    "raw tables instead of views": RAW_TABLES,
    "MIN, MAX, quantiles, list, string and other aggregates": AGGREGATES,
    "subqueries": SUBQUERIES,
    "CTEs": CTES,
    "set operations": SET_OPERATIONS,
    "joins": JOINS,
    "window functions": WINDOWS,
    "table functions and file access": TABLE_FUNCTIONS,
    "statements other than SELECT": STATEMENTS,
    "several statements": SEVERAL_STATEMENTS,
    "comments hiding a statement": COMMENTS,
    "HAVING, LIMIT, OFFSET and sampling": HAVING_LIMIT,
    "string tricks": STRING_TRICKS,
    "casts and functions on dimensions": CASTS_FUNCTIONS,
    "expressions on measures": MEASURE_EXPRESSIONS,
    "GROUP BY ordinals, expressions, margins and keys left out": GROUP_BY,
    "aliases and schema-qualified names": ALIASES_SCHEMA,
    "non-UTF-8 and NUL bytes": ENCODING,
}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, id=f"{name}-{i}-{case[1]}")
        for name, cases in _CLASSES.items()
        for i, case in enumerate(cases)
    ],
)
def test_each_attack_is_rejected_with_its_reason_logged_and_nothing_released(
    zone: Pipeline, case: Case
) -> None:
    _rejected(zone, case)


def test_the_lists_cover_every_class_the_issue_names() -> None:
    assert all(_CLASSES.values())
    sqls = [sql for cases in _CLASSES.values() for sql, _, _ in cases]
    assert len(sqls) == len(set(sqls))


# -- what the grammar lets through must be harmless ---------------------------------------------
def _assert_small_cells_suppressed(
    zone: Pipeline,
    table: pa.Table,
    dimensions: list[str],
    where: str = "",
    parameters: dict[str, object] | None = None,
) -> dict[tuple[object, ...], int]:
    """Every released (unmarked) row covers at least min_persons distinct persons, by a
    ground truth computed beside the pipeline; every marked row has all aggregates null."""
    view = zone.policy.views["claims_analysis"]
    rule = view.rule
    assert isinstance(rule, AggregationRule)
    truth = persons_per_cell(zone.export, view, dimensions, where, parameters)
    aggregates = [n for n in table.column_names if n not in dimensions and n != gate.MARKER_COLUMN]
    for row in table.to_pylist():
        key = tuple(row[d] for d in dimensions)
        if row[gate.MARKER_COLUMN]:
            assert all(row[a] is None for a in aggregates)
        else:
            assert truth[key] >= rule.min_persons
            assert all(row[a] is not None for a in aggregates)
    return truth


def test_group_by_combinations_so_fine_that_every_cell_is_small_release_nothing(
    zone: Pipeline,
) -> None:
    dims = ["prefecture", "visit_month"]
    sql = _q(
        f"{', '.join(dims)}, COUNT(*) AS n, SUM(total_cents) AS s", f"GROUP BY {', '.join(dims)}"
    )
    answer = zone.released(sql).value
    truth = _assert_small_cells_suppressed(zone, answer.table, dims)
    assert truth and max(truth.values()) < 11  # at 300 persons every such cell is small
    assert answer.suppressed_cells == answer.table.num_rows > 0
    assert answer.table.column("n").null_count == answer.table.num_rows
    assert answer.table.column("s").null_count == answer.table.num_rows
    # Finer still: a grid of more cells than the row cap is refused before the engine runs.
    three = ["prefecture", "visit_month", "icd10_chapter"]
    _rejected(
        zone,
        (
            _q(f"{', '.join(three)}, COUNT(*) AS n", f"GROUP BY {', '.join(three)}"),
            "TOO_MANY_CELLS",
            "46920 > 10000",
        ),
    )


def test_the_labels_of_suppressed_cells_do_not_tell_which_cells_exist(zone: Pipeline) -> None:
    """The attack run's leak: one man in a small group, and the answer listed exactly his
    diagnosis chapters (suppressed, but present). The answer is the whole public grid now."""
    where = "prefecture = '420100' AND age_band = '45-59' AND gender = 'M'"
    sql = _q("icd10_chapter, COUNT(*) AS n", f"WHERE {where} GROUP BY icd10_chapter")
    answer = zone.released(sql).value
    view = default_policy().views["claims_analysis"]
    domain = view.columns["icd10_chapter"].domain
    assert domain is not None
    labels = [str(label) for label in answer.table.column("icd10_chapter").to_pylist()]
    assert sorted(labels) == sorted(domain)  # every chapter, whatever the data holds
    truth = _assert_small_cells_suppressed(zone, answer.table, ["icd10_chapter"], where)
    assert 0 < len(truth) < len(domain)  # the data has only a few of them ...
    assert answer.suppressed_cells == len(domain)  # ... and the answer does not say which


def test_a_filter_down_to_a_few_people_releases_their_cell_suppressed(zone: Pipeline) -> None:
    where = "age_band = '75+' AND gender = 'F' AND institution_level = 'TERTIARY'"
    sql = _q(
        "visit_type, COUNT(DISTINCT person_key) AS p, AVG(total_cents) AS m",
        f"WHERE {where} GROUP BY visit_type",
    )
    answer = zone.released(sql).value
    truth = _assert_small_cells_suppressed(zone, answer.table, ["visit_type"], where)
    assert any(0 < persons < 11 for persons in truth.values())
    assert answer.suppressed_cells >= 1


def test_order_by_cannot_single_out_an_extreme_cell(zone: Pipeline) -> None:
    """Without LIMIT (rejected above) ORDER BY only orders; the gate releases rows in
    dimension order whatever the query asked, so the same cells leave in the same order."""
    base = _q("province, COUNT(*) AS n, SUM(total_cents) AS s", "GROUP BY province")
    up = zone.released(base + " ORDER BY s").value
    down = zone.released(base + " ORDER BY s DESC, n DESC").value
    assert up.ipc == down.ipc
    provinces = [str(p) for p in up.table.column("province").to_pylist()]
    assert provinces == sorted(provinces)
    _assert_small_cells_suppressed(zone, up.table, ["province"])
    assert 0 < up.suppressed_cells < up.table.num_rows


def test_one_answer_never_holds_a_margin_to_subtract_from(zone: Pipeline) -> None:
    """Secondary suppression protects against margins and totals of the same answer. The
    grammar gives no way to ask for one (ROLLUP, CUBE, GROUPING SETS are rejected above),
    so no released row is a total (a null dimension): no suppressed cell of an answer equals
    a released total minus released cells. (Across answers exact release is differencing-
    prone by the steward's choice: Explain says so.)"""
    for dims in (["province"], ["province", "gender"], ["age_band", "visit_type"]):
        sql = _q(f"{', '.join(dims)}, COUNT(*) AS n", f"GROUP BY {', '.join(dims)}")
        table = zone.released(sql).value.table
        for d in dims:
            assert table.column(d).null_count == 0
    asked = QueryRequest(UNDERWRITING, sql=_q("COUNT(*) AS n"))
    notices = zone.queries.explain(INSURER, asked).value.notices
    assert any("differenced" in notice for notice in notices)


def test_a_released_total_and_its_cells_never_give_a_suppressed_cell_away(
    zone: Pipeline,
) -> None:
    """The gate's secondary suppression, on an answer with margins built from the real data:
    per-province cells and their total. A suppressed cell never stands alone in the equation
    total = sum of cells, so released-total minus released-others is never one of them."""
    view = zone.policy.views["claims_analysis"]
    cells = persons_per_cell(zone.export, view, ["province"])
    rows = sorted(cells.items(), key=lambda item: str(item[0][0]))
    total = sum(cells.values())  # persons in different provinces are different persons
    provinces = [key[0] for key, _ in rows] + [None]
    persons = [p for _, p in rows] + [total]
    table = pa.table(
        {
            "province": pa.array(provinces, pa.string()),
            "persons": pa.array(persons, pa.int64()),
            gate.PERSONS_COLUMN: pa.array(persons, pa.int64()),
        }
    )
    rules = gate.GateRules(
        count_base=1,
        sum_base=1,
        row_cap=10_000,
        dimensions=("province",),
        aggregates=(gate.AggregateSpec("persons", gate.AggregateKind.COUNT),),
    )
    out = gate.release(table, rules).table.to_pylist()
    hidden = [r for r in out if r[gate.MARKER_COLUMN]]
    assert any(r["province"] is not None for r in hidden)  # small provinces exist
    released_total = [
        r["persons"] for r in out if r["province"] is None and not r[gate.MARKER_COLUMN]
    ]
    if released_total:
        rest = released_total[0] - sum(
            r["persons"] for r in out if r["province"] is not None and not r[gate.MARKER_COLUMN]
        )
        assert len(hidden) >= 2
        assert all(rest != cells[(r["province"],)] for r in hidden)


def test_a_text_parameter_carrying_sql_is_bound_as_a_value(zone: Pipeline) -> None:
    attack = "x' OR 1=1 --"
    by_gender = _q("gender, COUNT(*) AS n", "WHERE gender = :g GROUP BY gender")
    matched = zone.released(by_gender, {"g": attack}).value.table  # no row matches the text
    assert matched.column("n").null_count == matched.num_rows  # the grid, every cell empty
    total = zone.released(_q("COUNT(*) AS n", "WHERE gender = :g"), {"g": attack}).value
    assert total.table.to_pylist() == [{"n": None, gate.MARKER_COLUMN: True}]


@pytest.mark.parametrize(
    ("parameters", "rule", "construct"),
    [
        ({"g; DROP TABLE persons": "F"}, "PARAMETER_UNKNOWN", "parameter name"),
        ({"g": "F", "h": "M"}, "PARAMETER_UNKNOWN", "h"),
        ({}, "PARAMETER_MISSING", "g"),
        ({"g": 1}, "VALUE_TYPE_MISMATCH", "gender"),
        ({"g": True}, "PARAMETER_INVALID", "g"),
        ({"g": 1.5}, "PARAMETER_INVALID", "g"),
        ({"g": ["F", "M"]}, "PARAMETER_INVALID", "g"),
        ({"g": b"F"}, "PARAMETER_INVALID", "g"),
        ({"g": Decimal("NaN")}, "PARAMETER_INVALID", "g"),
        ({"G": "F", "g": "M"}, "PARAMETER_UNKNOWN", "g"),
    ],
)
def test_bad_parameters_are_rejected_by_name(
    zone: Pipeline, parameters: dict[str, Any], rule: str, construct: str
) -> None:
    sql = _q("gender, COUNT(*) AS n", "WHERE gender = :g GROUP BY gender")
    _rejected(zone, (sql, rule, construct), cast(Any, parameters))


@pytest.mark.parametrize(
    "sql",
    [
        _q("COUNT(*) AS n", "WHERE gender = :select"),
        _q("COUNT(*) AS n", "WHERE gender = :1"),
        _q("COUNT(*) AS n", "WHERE gender = $1"),
        _q("COUNT(*) AS n", "WHERE gender = ?"),
        _q("COUNT(*) AS n", 'WHERE gender = :"g\'--"'),
        _q("COUNT(*) AS n", "WHERE gender = @g"),
    ],
)
def test_a_parameter_named_like_sql_or_by_position_is_rejected(zone: Pipeline, sql: str) -> None:
    refusal = zone.refused(QueryRejected, sql)
    assert isinstance(refusal, QueryRejected)
    assert refusal.rule in {"PARSE_ERROR", "CONSTRUCT_NOT_ALLOWED", "IDENTIFIER_NOT_ALLOWED"}


def test_a_parameter_that_is_not_utf8_is_refused_and_logged(zone: Pipeline) -> None:
    # A lone surrogate cannot be bound: the rewrite refuses it (the engine never sees it).
    sql = _q("gender, COUNT(*) AS n", "WHERE gender = :g GROUP BY gender")
    with zone.appended() as leaves, pytest.raises(QueryRejected) as refused:
        zone.queries.run(INSURER, sql, {"g": "\udcff"}, UNDERWRITING)
    assert (refused.value.rule, refused.value.construct) == ("PARAMETER_INVALID", "g")
    assert leaves[0].kinds == ("RequestReceived", "Decision")


def test_a_query_over_100_kb_is_rejected_and_one_at_the_limit_runs(zone: Pipeline) -> None:
    sql = _q("gender, COUNT(*) AS n", "GROUP BY gender") + " -- "
    limit = query_engine.DEFAULT_MAX_BYTES
    at_limit = sql + "x" * (limit - len(sql))
    assert len(at_limit.encode()) == limit
    zone.released(at_limit)
    _rejected(zone, (at_limit + "x", "QUERY_TOO_LARGE", f"over {limit} bytes"))
    # Bytes, not characters: 40,000 CJK characters are 120,000 bytes of UTF-8.
    _rejected(zone, (sql + "中" * 40_000, "QUERY_TOO_LARGE", f"over {limit} bytes"))
    in_list = _q("COUNT(*) AS n", "WHERE gender IN (" + ", ".join(["'F'"] * 30_000) + ")")
    _rejected(zone, (in_list, "QUERY_TOO_LARGE", f"over {limit} bytes"))


def test_a_view_that_does_not_exist_is_answered_like_one_not_granted(zone: Pipeline) -> None:
    missing = zone.refused(ViewNotGranted, "SELECT COUNT(*) AS n FROM no_such_view")
    ungranted = zone.refused(  # exists; granted to demo-insurer for RESEARCH only
        ViewNotGranted, "SELECT scheme, COUNT(*) AS n FROM enrolment_analysis GROUP BY scheme"
    )
    assert str(missing) == str(ungranted)


@pytest.mark.parametrize(
    "sql",
    [
        _q("COUNT(*) AS n", "WHERE " + "NOT " * 3000 + "gender = 'F'"),
        _q("COUNT(*) AS n", "WHERE " + "(" * 3000 + "gender = 'F'" + ")" * 3000),
        _q("COUNT(*) AS n", "WHERE " + "NOT (" * 2000 + "gender = 'F'" + ")" * 2000),
        _q("SUM(" + "abs(" * 3000 + "total_cents" + ")" * 3000 + ") AS s"),
        "SELECT COUNT(*) AS n FROM " + "(SELECT * FROM " * 1000 + "claims_analysis" + ")" * 1000,
        _q("COUNT(*) AS n", "WHERE gender IN (" + "(" * 3000 + "'F'" + ")" * 3000 + ")"),
        _q("COUNT(*) AS n", "WHERE gender = " + "- " * 5000 + "1"),
    ],
    ids=["not", "parens", "not-parens", "functions", "subqueries", "in-parens", "negations"],
)
def test_very_deep_nesting_is_a_rejection_not_a_crash(zone: Pipeline, sql: str) -> None:
    refusal = zone.refused(QueryRejected, sql)
    assert isinstance(refusal, QueryRejected)
    assert refusal.rule in {"QUERY_TOO_COMPLEX", "CONSTRUCT_NOT_ALLOWED", "PARSE_ERROR"}


def test_long_but_flat_predicates_run_and_stay_gated(zone: Pipeline) -> None:
    where = " OR ".join(["gender = 'F'"] * 64)
    sql = _q("gender, COUNT(*) AS n", f"WHERE {where} GROUP BY gender")
    answer = zone.released(sql).value
    assert _released_labels(answer.table, "gender") == ["F"]  # M: an empty, suppressed cell
    _assert_small_cells_suppressed(zone, answer.table, ["gender"], "gender = 'F'")


def test_a_where_of_too_many_comparisons_or_values_is_refused_before_the_engine(
    zone: Pipeline,
) -> None:
    # The review's flood: 4,000 ORed comparisons (100 KB) cost a second each to plan.
    many = " OR ".join(f"prefecture = '{i:06d}'" for i in range(65))
    _rejected(zone, (_q("COUNT(*) AS n", f"WHERE {many}"), "TOO_MANY_VALUES", "where"))
    prefectures = ", ".join(f"'{i:06d}'" for i in range(85))
    lists = " OR ".join(f"prefecture IN ({prefectures})" for _ in range(12))
    _rejected(zone, (_q("COUNT(*) AS n", f"WHERE {lists}"), "TOO_MANY_VALUES", "where"))


def test_one_dimension_under_two_names_is_refused(zone: Pipeline) -> None:
    # It would square the answer's grid past the row cap after the engine ran (review).
    sql = _q("province, province AS p2, province AS p3, COUNT(*) AS n", "GROUP BY province")
    _rejected(zone, (sql, "DIMENSION_REPEATED", "province"))


@pytest.mark.parametrize(
    "sql",
    [
        _q("gender, COUNT(*) AS n", "GROUP BY gender -- ; DROP TABLE persons"),
        _q("gender, COUNT(*) AS n", "GROUP BY gender /* ; ATTACH 'x.db' */"),
        _q("gender, COUNT(*) AS n", "GROUP BY gender; --\n"),
        _q("gender, COUNT(*) AS n", "WHERE gender = 'F'';DROP TABLE persons;--' GROUP BY gender"),
        _q("gender, COUNT(*) AS n", "WHERE gender = 'F\x00' GROUP BY gender"),
        _q("gender, COUNT(*) AS n", "WHERE gender = 'F\x1b[2J' GROUP BY gender"),
        "SELECT\u2028gender,\x0bCOUNT(*) AS n\fFROM claims_analysis\tGROUP BY gender",
    ],
)
def test_comments_and_odd_text_that_the_grammar_accepts_change_nothing(
    zone: Pipeline, sql: str
) -> None:
    """The partner's text never reaches the engine: rewriting rebuilds SQL from the parsed
    query, so a comment, a quote or a control character inside a literal is just that."""
    query = query_engine.parse(sql)
    rewritten = query_engine.rewrite(query, zone.policy.views["claims_analysis"], {})
    for word in ("DROP", "ATTACH", "persons;", "\x00", "\x1b"):
        assert word not in rewritten.sql
    answer = zone.released(sql).value
    _assert_small_cells_suppressed(zone, answer.table, ["gender"])


def test_a_literal_is_never_spliced_into_the_engine_sql(zone: Pipeline) -> None:
    sql = _q("gender, COUNT(*) AS n", "WHERE gender IN ('F', 'x'' OR 1=1 --') GROUP BY gender")
    rewritten = query_engine.rewrite(
        query_engine.parse(sql), zone.policy.views["claims_analysis"], {}
    )
    assert "OR 1=1" not in rewritten.sql and "'F'" not in rewritten.sql
    assert set(rewritten.parameters.values()) == {"F", "x' OR 1=1 --"}
    answer = zone.released(sql).value
    assert _released_labels(answer.table, "gender") == ["F"]  # M: an empty, suppressed cell


def test_the_reserved_output_name_is_the_gates_marker_column() -> None:
    assert gate.MARKER_COLUMN in RESERVED_OUTPUT_NAMES
