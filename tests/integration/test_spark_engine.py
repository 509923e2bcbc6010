"""`SparkEngine` (real Spark, ``local[2]``) against `DuckDBEngine` on the same Parquet.

The default policy's query suite (`tests.support.query_suite`) goes through parse, check and
rewrite for each engine's dialect and must come back as the very same table from both --
schema, values and row order -- before the gate (and so before any noise). The transpile
stage's rewrite of DuckDB's ``date_sub('year', ...)`` is held to DuckDB value by value over
edge dates. Then the engine's own guarantees, as ``tests/unit/query_engine/test_duckdb.py``
holds DuckDB's: only one query runs, no other file is readable, parameters are values, the
time limit cancels, every failure is an `EngineError` carrying no data value.

One SparkSession for the module (its JVM takes seconds to start) over one small export.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot

from policies import default_policy
from query_engine import (
    DuckDBEngine,
    Engine,
    EngineError,
    EngineFailed,
    ExecutionLimits,
    ExecutionRequest,
    ParameterValue,
    QueryTimeout,
    SparkEngine,
    SparkOptions,
)
from query_engine._transpile import render
from tests.support.query_export import Export, synthetic_export
from tests.support.query_suite import SUITE, Case, compiled

LIMITS = ExecutionLimits(timeout_seconds=60, memory_bytes=512 * 2**20, threads=2)
Files = Mapping[str, tuple[str, ...]]


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Export:
    return synthetic_export(tmp_path_factory.mktemp("spark-export"), persons=300, seed=7)


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkEngine]:
    local = tmp_path_factory.mktemp("spark-local")
    engine = SparkEngine(
        SparkOptions(master="local[2]", driver_memory_bytes=2**30, local_dir=local)
    )
    engine.start()
    yield engine
    engine.close()


def _request(
    files: Files,
    sql: str,
    *,
    tables: tuple[str, ...] = ("claims", "persons"),
    parameters: Mapping[str, ParameterValue] | None = None,
    limits: ExecutionLimits = LIMITS,
) -> ExecutionRequest:
    return ExecutionRequest(
        sql=sql,
        parameters=parameters or {},
        tables={table: files[table] for table in tables},
        limits=limits,
    )


@pytest.mark.parametrize("case", SUITE, ids=lambda case: case.name)
def test_both_engines_answer_the_suite_alike(
    case: Case, export: Export, spark: SparkEngine
) -> None:
    policy = default_policy()
    on_duckdb = compiled(policy, case, "duckdb")
    on_spark = compiled(policy, case, "spark")
    assert on_spark.columns == on_duckdb.columns
    assert on_spark.parameters == on_duckdb.parameters
    expected = DuckDBEngine().execute(on_duckdb.request(export.files, LIMITS)).table
    table = spark.execute(on_spark.request(export.files, LIMITS)).table
    assert table.schema == expected.schema  # int64 aggregates, string dimensions, nullable
    assert table.column_names == [column.name for column in on_spark.columns]
    assert table.to_pylist() == expected.to_pylist()  # the same rows in the same order
    assert table.equals(expected)
    if case.name != "no row matches":
        assert table.num_rows > 0


def test_the_suite_reads_real_cells(export: Export, spark: SparkEngine) -> None:
    """The comparison is not between two empty answers: the data fills the grid."""
    policy = default_policy()
    by_age = next(case for case in SUITE if case.name == "by age band")
    table = spark.execute(compiled(policy, by_age, "spark").request(export.files, LIMITS)).table
    claims = [int(value) for value in table.column("claims").to_pylist() if value is not None]
    assert table.num_rows >= 4 and sum(claims) > 1000


def _edge_dates() -> list[datetime.date]:
    """Month ends, the days around them and February 29, in leap and common years."""
    dates: set[datetime.date] = set()
    for year in (1999, 2000, 2001, 2003, 2004):
        for month in range(1, 13):
            first = datetime.date(year, month, 1)
            following = (first + datetime.timedelta(days=32)).replace(day=1)
            last = following - datetime.timedelta(days=1)
            dates.update({first, datetime.date(year, month, 15), last})
            dates.update(last - datetime.timedelta(days=back) for back in (1, 2))
    return sorted(dates)


def test_date_sub_year_is_the_same_count_of_years(tmp_path: Path, spark: SparkEngine) -> None:
    dates = _edge_dates()
    starts = [start for start in dates for _ in dates]
    ends = [end for _ in dates for end in dates]
    path = tmp_path / "pairs.parquet"
    pq.write_table(pa.table({"s": pa.array(starts), "e": pa.array(ends)}), path)
    view = "SELECT s, e, date_sub('year', s, e) AS years FROM pairs ORDER BY s, e"
    statement = sqlglot.parse_one(view, read="duckdb")
    files = {"pairs": (str(path),)}
    expected = DuckDBEngine().execute(
        _request(files, render(statement, "duckdb"), tables=("pairs",))
    )
    sql = render(statement, "spark")
    assert "MONTHS_BETWEEN" in sql and "DATE_SUB" not in sql.upper()
    result = spark.execute(_request(files, sql, tables=("pairs",)))
    assert len(starts) > 40_000 and result.table.num_rows == len(starts)
    assert result.table.column("years").to_pylist() == expected.table.column("years").to_pylist()


def test_it_is_an_engine_of_the_spark_dialect(export: Export, spark: SparkEngine) -> None:
    engine: Engine = spark
    assert engine.dialect == "spark"
    result = engine.execute(
        _request(
            export.files,
            "SELECT count(*) AS n FROM claims WHERE visit_type = :t",
            parameters={"t": "OUTPATIENT"},
        )
    )
    assert result.table.schema == pa.schema([pa.field("n", pa.int64())])
    assert result.table.column("n")[0].as_py() > 0
    assert result.elapsed_seconds > 0


@pytest.mark.parametrize("seconds", [0.5, 0.0001])  # the second fires before the first job
def test_the_time_limit_cancels_a_slow_query(
    export: Export, spark: SparkEngine, seconds: float
) -> None:
    limits = ExecutionLimits(timeout_seconds=seconds, memory_bytes=2**29, threads=2)
    began = time.perf_counter()
    with pytest.raises(QueryTimeout) as raised:
        spark.execute(
            _request(
                export.files,
                "SELECT sum(hash(id)) AS s FROM range(100000000000)",
                tables=(),
                limits=limits,
            )
        )
    assert time.perf_counter() - began < 15
    assert f"{seconds:g} s" in str(raised.value)
    # The engine still answers the next query, the cancelled group no longer on the thread.
    after = spark.execute(_request(export.files, "SELECT count(*) AS n FROM claims"))
    assert after.table.column("n")[0].as_py() > 0


def test_a_timeout_cancels_its_own_query_only(export: Export, spark: SparkEngine) -> None:
    """Two queries at once, as `query.max_concurrent` allows: the one past its limit is
    cancelled (its job group), the other still answers in full."""
    rows = 200_000_000
    outcome: dict[str, object] = {}

    def run(name: str, sql: str, seconds: float) -> None:
        limits = ExecutionLimits(timeout_seconds=seconds, memory_bytes=2**29, threads=2)
        try:
            request = _request(export.files, sql, tables=(), limits=limits)
            outcome[name] = spark.execute(request).table.to_pylist()
        except EngineError as exc:
            outcome[name] = exc

    slow = "SELECT sum(hash(id)) AS s FROM range(100000000000)"
    counted = f"SELECT sum(id % 7) AS s FROM range({rows})"
    threads = [
        threading.Thread(target=run, args=("slow", slow, 1.0)),
        threading.Thread(target=run, args=("counted", counted, 120.0)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=150)
    assert isinstance(outcome["slow"], QueryTimeout)
    expected = rows // 7 * 21 + sum(range(rows % 7))
    assert outcome["counted"] == [{"s": expected}]


def test_a_missing_table_file_is_an_engine_error(
    export: Export, spark: SparkEngine, tmp_path: Path
) -> None:
    missing = tmp_path / "gone" / "claims.parquet"
    request = ExecutionRequest(
        sql="SELECT count(*) AS n FROM claims",
        parameters={},
        tables={"claims": (str(missing),)},
        limits=LIMITS,
    )
    with pytest.raises(EngineFailed) as raised:
        spark.execute(request)
    assert raised.value.kind == "PATH_NOT_FOUND"
    assert str(missing) not in str(raised.value)


@pytest.mark.parametrize(
    "sql",
    [
        "SET spark.sql.runSQLOnFiles = true",
        "CREATE TEMPORARY VIEW leak AS SELECT * FROM claims",
        "INSERT OVERWRITE DIRECTORY '{target}' USING parquet SELECT * FROM claims",
        "ADD JAR '{target}'",
        "SELECT 1 AS a; SELECT 2 AS b",
        "CACHE TABLE claims",
    ],
)
def test_nothing_but_one_query_runs(
    export: Export, spark: SparkEngine, tmp_path: Path, sql: str
) -> None:
    target = tmp_path / "out"
    with pytest.raises(EngineFailed) as raised:
        spark.execute(_request(export.files, sql.format(target=target)))
    assert raised.value.kind == "PARSE_SYNTAX_ERROR"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("template", "kind"),
    [
        ("SELECT * FROM parquet.`{other}`", "TABLE_OR_VIEW_NOT_FOUND"),
        ("SELECT * FROM text.`/etc/hostname`", "TABLE_OR_VIEW_NOT_FOUND"),
        ("SELECT reflect('java.lang.System', 'getenv', 'PATH') AS v", "UNRESOLVED_ROUTINE"),
        ("SELECT java_method('java.lang.System', 'getenv', 'PATH') AS v", "UNRESOLVED_ROUTINE"),
        ("SELECT try_reflect('java.lang.System', 'getenv', 'PATH') AS v", "UNRESOLVED_ROUTINE"),
    ],
)
def test_no_file_but_the_registered_ones_nor_java_is_reachable(
    export: Export, spark: SparkEngine, template: str, kind: str
) -> None:
    # face_templates.parquet is in the same dataset version, but not a table of this request.
    other = export.files["face_templates"][0]
    with pytest.raises(EngineFailed) as raised:
        spark.execute(_request(export.files, template.format(other=other)))
    assert raised.value.kind == kind
    assert other not in str(raised.value)


def test_a_parameter_carrying_sql_is_a_value(export: Export, spark: SparkEngine) -> None:
    evil = "x' OR '1'='1"
    table = spark.execute(
        _request(
            export.files,
            "SELECT count(*) AS n FROM claims WHERE icd10 = :v",
            parameters={"v": evil},
        )
    ).table
    assert table.to_pylist() == [{"n": 0}]


def test_each_execution_has_its_own_tables(export: Export, spark: SparkEngine) -> None:
    spark.execute(_request(export.files, "SELECT count(*) AS n FROM claims"))
    with pytest.raises(EngineFailed) as raised:
        spark.execute(_request(export.files, "SELECT count(*) AS n FROM claims", tables=()))
    assert raised.value.kind == "TABLE_OR_VIEW_NOT_FOUND"


def test_an_engine_error_carries_no_data_value(export: Export, spark: SparkEngine) -> None:
    # ANSI mode: the cast fails (it does not yield null), and Spark's message quotes the
    # value it could not convert; the public message does not.
    with pytest.raises(EngineError) as raised:
        spark.execute(_request(export.files, "SELECT CAST(min(icd10) AS INT) AS n FROM claims"))
    assert isinstance(raised.value, EngineFailed)
    assert raised.value.kind == "CAST_INVALID_INPUT"
    assert str(raised.value) == "the engine could not run the query"
