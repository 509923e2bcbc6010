"""`DuckDBEngine`: the embedded engine, one in-memory DuckDB connection per execution.

Each call opens a fresh connection (no state survives between queries), registers each zone
table as a view over its Parquet files, then closes the door behind it: `allowed_paths` is
exactly those files, `enable_external_access` is turned off (no other file, no network, no
extension install or load, no `COPY`), and `lock_configuration` makes every setting final, so
no SQL that reaches the engine can turn access back on. Memory and threads come from the
request's limits; spilling to disk is off (`temp_directory` empty: nothing of the registry is
written outside the zone's own files), so a query over its memory limit fails. A timer thread
interrupts the connection at the time limit. DuckDB's own parser must see exactly one
`SELECT`, a second check behind the restricted grammar.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb as _duckdb

from query_engine.errors import EngineFailed, QueryMemoryExceeded, QueryTimeout
from query_engine.interface import ExecutionRequest, ExecutionResult

__all__ = ["DuckDBEngine"]

_INTERRUPT_EVERY = 0.05  # seconds: an interrupt that lands before the query starts is retried


class DuckDBEngine:
    """Runs rewritten queries on embedded DuckDB (implements `query_engine.Engine`)."""

    @property
    def dialect(self) -> str:
        return "duckdb"

    def execute(self, request: ExecutionRequest) -> ExecutionResult:
        limits = request.limits
        began = time.perf_counter()
        try:
            connection = _duckdb.connect(
                ":memory:",
                config={
                    "threads": limits.threads,
                    "memory_limit": f"{limits.memory_bytes}B",
                    "temp_directory": "",
                    "autoinstall_known_extensions": False,
                    "autoload_known_extensions": False,
                    "allow_community_extensions": False,
                    "allow_unsigned_extensions": False,
                },
            )
        except _duckdb.Error as exc:
            raise EngineFailed(type(exc).__name__) from None
        try:
            self._prepare(connection, request)
            with _deadline(connection, limits.timeout_seconds) as timed_out:
                try:
                    statement = self._statement(connection, request.sql)
                    relation = connection.sql(statement.query, params=dict(request.parameters))
                    table = relation.to_arrow_table()
                except _duckdb.InterruptException:
                    raise QueryTimeout(limits.timeout_seconds) from None
                except _duckdb.OutOfMemoryException:
                    raise QueryMemoryExceeded(limits.memory_bytes) from None
                except _duckdb.Error as exc:
                    if timed_out.is_set():
                        raise QueryTimeout(limits.timeout_seconds) from None
                    raise EngineFailed(type(exc).__name__) from None
        finally:
            connection.close()
        return ExecutionResult(table=table, elapsed_seconds=time.perf_counter() - began)

    @staticmethod
    def _prepare(connection: _duckdb.DuckDBPyConnection, request: ExecutionRequest) -> None:
        """Register the tables as views over their files, then lock external access."""
        files = [path for paths in request.tables.values() for path in paths]
        try:
            for table, paths in request.tables.items():
                connection.read_parquet(list(paths)).create_view(table, replace=False)
            # Only these files stay readable; then nothing may change any setting again.
            connection.execute("SET allowed_paths = $paths", {"paths": files})
            connection.execute("SET enable_external_access = false")
            connection.execute("SET lock_configuration = true")
        except _duckdb.Error as exc:
            raise EngineFailed(type(exc).__name__) from None

    @staticmethod
    def _statement(connection: _duckdb.DuckDBPyConnection, sql: str) -> _duckdb.Statement:
        statements = connection.extract_statements(sql)
        if len(statements) != 1 or statements[0].type is not _duckdb.StatementType.SELECT:
            raise EngineFailed("not one SELECT statement")
        return statements[0]


@contextmanager
def _deadline(connection: _duckdb.DuckDBPyConnection, seconds: float) -> Iterator[threading.Event]:
    """Interrupt `connection` from a timer thread once `seconds` have passed, until done.

    Yields an event set when the time limit was reached.
    """
    done = threading.Event()
    timed_out = threading.Event()

    def watch() -> None:
        if done.wait(seconds):
            return
        timed_out.set()
        while not done.is_set():
            connection.interrupt()
            done.wait(_INTERRUPT_EVERY)

    watcher = threading.Thread(target=watch, name="duckdb-deadline", daemon=True)
    watcher.start()
    try:
        yield timed_out
    finally:
        done.set()
        watcher.join()
