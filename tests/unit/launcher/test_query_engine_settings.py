"""`query.engine` and `query.spark_master`: which engine the zone builds, with what limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from launcher._exit_codes import exit_code_for
from launcher._wiring import SPARK_LOCAL_DIR, query_engine_for
from launcher.settings import SettingsError, load_settings
from query_engine import DuckDBEngine, EngineUnavailable, SparkEngine


def test_duckdb_by_default() -> None:
    settings = load_settings(environ={})
    assert settings.query.engine == "duckdb"
    assert settings.query.spark_master == "local[2]"
    assert isinstance(query_engine_for(settings), DuckDBEngine)


def test_spark_from_the_environment_with_limits_from_the_query_settings(tmp_path: Path) -> None:
    env = {
        "DATAWARD_QUERY_ENGINE": "spark",
        "DATAWARD_QUERY_SPARK_MASTER": "spark://spark-master.zone.internal:7077",
        "DATAWARD_QUERY_MEMORY_MB": "1024",
        "DATAWARD_QUERY_THREADS": "4",
        "DATAWARD_QUERY_MAX_CONCURRENT": "3",
        "DATAWARD_ZONE": str(tmp_path),
    }
    engine = query_engine_for(load_settings(environ=env))
    assert isinstance(engine, SparkEngine)  # built, not started: no JVM until a query
    options = engine.options
    assert options.master == "spark://spark-master.zone.internal:7077"
    assert options.driver_memory_bytes == 3 * 1024 * 2**20  # every query at once, local mode
    assert options.executor_memory_bytes == 1024 * 2**20
    assert options.max_cores == 12
    assert options.local_dir == tmp_path / SPARK_LOCAL_DIR
    conf = options.conf()
    assert conf["spark.sql.ansi.enabled"] == "true"
    assert conf["spark.sql.runSQLOnFiles"] == "false"
    assert conf["spark.sql.catalogImplementation"] == "in-memory"
    assert conf["spark.io.encryption.enabled"] == "true"
    assert "spark.driver.bindAddress" not in conf  # a cluster's executors must reach it


def test_the_command_line_wins_over_the_setting() -> None:
    env = {"DATAWARD_QUERY_ENGINE": "spark"}
    settings = load_settings(environ=env, overrides={"query": {"engine": "duckdb"}})
    assert settings.query.engine == "duckdb"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DATAWARD_QUERY_ENGINE", "sqlite", "setting query.engine must be one of duckdb, spark"),
        ("DATAWARD_QUERY_SPARK_MASTER", "yarn", "setting query.spark_master must be local"),
    ],
)
def test_bad_engine_settings_are_named(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(environ={variable: value})
    assert message in str(raised.value)


def test_too_little_memory_for_spark_is_a_settings_error() -> None:
    env = {"DATAWARD_QUERY_ENGINE": "spark", "DATAWARD_QUERY_MEMORY_MB": "256"}
    with pytest.raises(SettingsError) as raised:
        query_engine_for(load_settings(environ=env))
    assert "query.engine spark" in str(raised.value) and "512 MiB" in str(raised.value)


def test_an_engine_that_cannot_start_is_exit_69_with_its_reason() -> None:
    reason = "the Spark engine needs pyspark: install dataward's `spark` extra"
    assert exit_code_for(EngineUnavailable(reason)) == (69, reason)
