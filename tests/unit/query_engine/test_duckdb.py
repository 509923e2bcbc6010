"""`DuckDBEngine` on a real export: DuckDB's own settings hold even for SQL that validation
would never let through (the engine is called directly with it here)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pytest

from query_engine.duckdb import DuckDBEngine
from query_engine.errors import EngineError, EngineFailed, QueryMemoryExceeded, QueryTimeout
from query_engine.interface import Engine, ExecutionLimits, ExecutionRequest, ParameterValue

Files = Mapping[str, tuple[str, ...]]
LIMITS = ExecutionLimits(timeout_seconds=10, memory_bytes=300_000_000)


def _request(
    files: Files,
    sql: str,
    *,
    limits: ExecutionLimits = LIMITS,
    parameters: Mapping[str, ParameterValue] | None = None,
    tables: tuple[str, ...] = ("claims", "persons"),
) -> ExecutionRequest:
    return ExecutionRequest(
        sql=sql,
        parameters=parameters or {},
        tables={table: files[table] for table in tables},
        limits=limits,
    )


def test_it_is_an_engine_that_returns_an_arrow_table(export_files: Files) -> None:
    engine: Engine = DuckDBEngine()
    assert engine.dialect == "duckdb"
    result = engine.execute(
        _request(
            export_files,
            "SELECT count(*) AS n FROM claims WHERE visit_type = $t",
            parameters={"t": "OUTPATIENT"},
        )
    )
    assert isinstance(result.table, pa.Table)
    assert result.table.column_names == ["n"]
    assert result.table.column("n")[0].as_py() > 0
    assert result.elapsed_seconds > 0


@pytest.mark.parametrize(
    "template",
    [
        "SELECT * FROM read_csv('{other}')",
        "SELECT * FROM read_parquet('{other}')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM '{other}'",
        "SELECT * FROM read_csv('https://example.invalid/x.csv')",
        "SELECT * FROM glob('{directory}/*')",
        "SELECT * FROM sniff_csv('{other}')",  # read files with external access off before 1.1
        "SELECT * FROM parquet_metadata('{other}')",
    ],
)
def test_no_file_but_the_registered_ones_is_readable(export_files: Files, template: str) -> None:
    # face_templates.parquet is in the same export, but not a table of this request.
    other = Path(export_files["face_templates"][0])
    sql = template.format(other=other, directory=other.parent)
    with pytest.raises(EngineFailed) as raised:
        DuckDBEngine().execute(_request(export_files, sql))
    assert raised.value.kind in {"PermissionException", "IOException", "HTTPException"}
    assert str(other) not in str(raised.value)  # the public message names no path


@pytest.mark.parametrize(
    "sql",
    [
        "COPY claims TO '{target}'",
        "COPY (SELECT * FROM claims) TO '{target}' (FORMAT parquet)",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "ATTACH '{target}' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "CREATE TABLE t AS SELECT 1",
        "SELECT 1; COPY claims TO '{target}'",
        "PRAGMA database_list",
        "EXPORT DATABASE '{target}'",
    ],
)
def test_nothing_but_one_select_runs(export_files: Files, tmp_path: Path, sql: str) -> None:
    target = tmp_path / "out.csv"
    with pytest.raises(EngineFailed):
        DuckDBEngine().execute(_request(export_files, sql.format(target=target)))
    assert list(tmp_path.iterdir()) == []


def test_external_access_is_off_and_the_configuration_locked(export_files: Files) -> None:
    sql = (
        "SELECT current_setting('enable_external_access') AS external, "
        "current_setting('lock_configuration') AS locked, "
        "current_setting('threads') AS threads"
    )
    table = DuckDBEngine().execute(_request(export_files, sql)).table
    assert table.to_pylist() == [{"external": False, "locked": True, "threads": 1}]


def test_a_parameter_carrying_sql_is_a_value(export_files: Files) -> None:
    evil = "x'; COPY claims TO '/tmp/leak.csv'; --"
    table = (
        DuckDBEngine()
        .execute(
            _request(
                export_files,
                "SELECT count(*) AS n FROM claims WHERE icd10 = $v",
                parameters={"v": evil},
            )
        )
        .table
    )
    assert table.to_pylist() == [{"n": 0}]
    assert not Path("/tmp/leak.csv").exists()


@pytest.mark.parametrize("seconds", [0.3, 0.0001])  # the second fires before the query starts
def test_the_time_limit_interrupts_a_slow_query(export_files: Files, seconds: float) -> None:
    limits = ExecutionLimits(timeout_seconds=seconds, memory_bytes=300_000_000)
    began = time.perf_counter()
    with pytest.raises(QueryTimeout) as raised:
        DuckDBEngine().execute(
            _request(
                export_files,
                "SELECT sum(hash(i)) AS s FROM range(100000000000) t(i)",
                limits=limits,
            )
        )
    assert time.perf_counter() - began < 5
    assert f"{seconds:g} s" in str(raised.value)
    assert isinstance(raised.value, EngineError)


def test_the_memory_limit_stops_a_query_without_spilling(export_files: Files) -> None:
    limits = ExecutionLimits(timeout_seconds=10, memory_bytes=30_000_000)
    with pytest.raises(QueryMemoryExceeded):
        DuckDBEngine().execute(
            _request(
                export_files,
                "SELECT count(DISTINCT i) AS n FROM range(100000000) t(i)",
                limits=limits,
            )
        )


def test_each_execution_is_a_fresh_connection(export_files: Files) -> None:
    engine = DuckDBEngine()
    engine.execute(_request(export_files, "SELECT count(*) AS n FROM claims"))
    # A table registered for one request is unknown to the next.
    with pytest.raises(EngineFailed) as raised:
        engine.execute(
            _request(export_files, "SELECT count(*) AS n FROM claims", tables=("persons",))
        )
    assert raised.value.kind == "CatalogException"


def test_an_engine_error_carries_no_data_value(export_files: Files) -> None:
    # A conversion error quotes the value it could not convert; the public message does not.
    with pytest.raises(EngineFailed) as raised:
        DuckDBEngine().execute(
            _request(export_files, "SELECT CAST(min(icd10) AS INTEGER) AS n FROM claims")
        )
    assert str(raised.value) == "the engine could not run the query"
