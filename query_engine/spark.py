"""`SparkEngine`: Apache Spark as the distributed engine, over the same Parquet as DuckDB.

One SparkSession per engine, created at the first query (or by `start`, which `dataward
serve` calls so that a missing pyspark or Java stops it at once) and reused until `close`.
Each execution runs in a fresh session of it (`SparkSession.newSession`: its own temporary
views and SQL settings, the one SparkContext shared), so no table or setting of one query is
seen by the next: the zone tables of the request are registered there as temporary views
over exactly their Parquet files, read-only. The SQL (rendered for the ``spark`` dialect by
the transpile stage, named ``:name`` placeholders) must parse with Spark's own parser as one
query (`parseQuery`: a `SET`, `ADD JAR`, DDL, `INSERT` or a second statement is refused
before anything runs, a second check behind the restricted grammar); the parameters are
bound by name as values (``spark.sql(sql, args=...)``), never spliced into the text.

What is shut, as far as Spark allows: no Hive (the in-memory catalog, nothing persisted), no
SQL directly on files (``spark.sql.runSQLOnFiles`` off: ``parquet.`/path``` finds no table),
ANSI mode (an overflow or a bad cast fails instead of wrapping or yielding null), no
`reflect`/`java_method` (each execution's session drops them: they call any static Java
method, the server's environment one call away), no web UI, no console progress, the driver
bound to the loopback address in local mode; Spark's shuffle blocks and spills -- it writes
them, DuckDB's engine never spills -- go, encrypted with a key of the application's
(``spark.io.encryption.enabled``), under the engine's `local_dir` (in the zone), and Spark's
logs are off, since its error messages quote data values.

Limits. The time limit is enforced: the query's jobs carry a job group that a timer cancels
(interrupting their tasks) at the limit, repeatedly until the call returns, so a cancel that
lands before the first job still stops it (`QueryTimeout`, as DuckDB's engine raises). Memory
and threads are the application's, not the query's: in local mode every task runs in the
driver JVM, whose heap is `SparkOptions.driver_memory_bytes`, and the master URL's
``local[N]`` gives N task slots shared by the queries running at once (the FAIR scheduler
interleaves them); on a ``spark://`` master each executor has `executor_memory_bytes` and
the application at most `max_cores` cores. Per query only the number of shuffle partitions
follows ``threads``; a query over memory spills (encrypted) rather than failing, so
`QueryMemoryExceeded` is raised only for Spark's own out-of-memory errors.

Results have exactly the schema DuckDB's engine gives the same query: strings as ``string``,
every integer (and Spark's decimals of scale 0) as ``int64``, every field nullable, no
metadata. Every failure is an `EngineError` (never a Py4J or PySpark exception); its kind is
Spark's error condition or the JVM exception's class, never its message (which may quote
values). pyspark is imported only when the session is made: without it (the ``spark``
extra) or without Java, `start` and `execute` raise `EngineUnavailable`.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from query_engine.errors import (
    EngineFailed,
    EngineUnavailable,
    QueryMemoryExceeded,
    QueryTimeout,
)
from query_engine.interface import ExecutionRequest, ExecutionResult

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["SparkEngine", "SparkOptions"]

_CANCEL_EVERY = 0.05  # seconds: a cancel that lands before the query's first job is retried
_MIN_MEMORY_BYTES = 512 * 2**20  # Spark refuses to start a JVM with less (~450 MiB)
_MASTERS = ("local", "spark://")
# pyspark logs every SQL error with its message (which may quote a data value) to stderr.
_QUERY_LOGGERS = ("SQLQueryContextLogger", "DataFrameQueryContextLogger")
# Built-in functions that call any static Java method: `reflect('java.lang.System', 'getenv',
# ...)` would read the server's environment. No SQL of a partner names a function, but the
# engine does not rely on it (as DuckDB's turns external access off whatever the SQL).
_REFLECTION = ("reflect", "java_method", "try_reflect")
_OUT_OF_MEMORY = ("OutOfMemory", "UNABLE_TO_ACQUIRE_MEMORY")
_INSTALL = (
    "the Spark engine needs pyspark: install dataward's `spark` extra "
    "(`make sync`, or `pip install 'dataward[spark]'`)"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SparkOptions:
    """Where Spark runs and what the application may take (fixed when its session starts).

    `master` is ``local``, ``local[N]`` or ``local[*]`` (Spark in this process's JVM, N task
    slots) or ``spark://host:port`` (a standalone cluster, whose executors must read the
    Parquet files at the same paths). `local_dir` receives Spark's shuffle and spill files
    (encrypted) and its warehouse directory; ``None`` leaves Spark's default (``/tmp``).
    """

    master: str = "local[2]"
    driver_memory_bytes: int = 2 * 2**30
    executor_memory_bytes: int = 2 * 2**30
    max_cores: int = 2
    local_dir: Path | None = None
    app_name: str = "dataward-zone"

    def __post_init__(self) -> None:
        if not self.master.startswith(_MASTERS):
            raise ValueError("master must be local, local[N], local[*] or spark://host:port")
        if min(self.driver_memory_bytes, self.executor_memory_bytes) < _MIN_MEMORY_BYTES:
            raise ValueError(f"Spark needs at least {_MIN_MEMORY_BYTES // 2**20} MiB of memory")
        if self.max_cores < 1:
            raise ValueError("max_cores must be at least 1")

    @property
    def local(self) -> bool:
        return self.master.startswith("local")

    def conf(self) -> dict[str, str]:
        """The Spark configuration of the application."""
        conf = {
            "spark.master": self.master,
            "spark.app.name": self.app_name,
            "spark.driver.memory": f"{self.driver_memory_bytes // 2**20}m",
            "spark.executor.memory": f"{self.executor_memory_bytes // 2**20}m",
            "spark.cores.max": str(self.max_cores),
            "spark.sql.catalogImplementation": "in-memory",
            "spark.sql.runSQLOnFiles": "false",
            "spark.sql.ansi.enabled": "true",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.io.encryption.enabled": "true",
            "spark.scheduler.mode": "FAIR",
            "spark.log.level": "OFF",
        }
        if self.local:
            conf["spark.driver.host"] = "127.0.0.1"
            conf["spark.driver.bindAddress"] = "127.0.0.1"
        if self.local_dir is not None:
            conf["spark.local.dir"] = str(self.local_dir)
            conf["spark.sql.warehouse.dir"] = str(self.local_dir / "warehouse")
        return conf


class SparkEngine:
    """Runs rewritten queries on Apache Spark (implements `query_engine.Engine`)."""

    def __init__(self, options: SparkOptions | None = None) -> None:
        self._options = options or SparkOptions()
        self._lock = threading.Lock()
        self._session: SparkSession | None = None

    @property
    def dialect(self) -> str:
        return "spark"

    @property
    def options(self) -> SparkOptions:
        return self._options

    def start(self) -> None:
        """Create the session now (else the first query does); `EngineUnavailable` if Spark
        cannot start (no pyspark, no Java). A ``spark://`` master is registered with in the
        background: one out of reach shows as the first queries' failures or timeouts."""
        self._spark()

    def close(self) -> None:
        """Stop the session (a later query starts a new one)."""
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            session.stop()

    def execute(self, request: ExecutionRequest) -> ExecutionResult:
        limits = request.limits
        began = time.perf_counter()
        spark = self._spark()  # EngineUnavailable without pyspark: imported only from here on
        from py4j.protocol import Py4JError
        from pyspark.errors import PySparkException

        context = spark.sparkContext
        group = f"dataward-{uuid.uuid4().hex}"
        with _deadline(context, group, limits.timeout_seconds) as timed_out:
            try:
                # The job group is the calling thread's (pyspark pins a JVM thread to it):
                # every job this query starts, the result's collection too, carries it.
                context.setJobGroup(group, "dataward query", interruptOnCancel=True)
                session = _sealed(spark.newSession())
                session.conf.set("spark.sql.shuffle.partitions", str(limits.threads))
                _one_query(session, request.sql)
                for name, paths in request.tables.items():
                    session.read.parquet(*paths).createTempView(name)
                frame = session.sql(request.sql, args=dict(request.parameters))
                table = _normalised(frame.toArrow())
            except (PySparkException, Py4JError) as exc:
                if timed_out.is_set():
                    raise QueryTimeout(limits.timeout_seconds) from None
                kind = _kind(exc)
                if any(marker in kind for marker in _OUT_OF_MEMORY):
                    raise QueryMemoryExceeded(limits.memory_bytes) from None
                raise EngineFailed(kind) from None
            finally:
                # The thread serves other calls next: its jobs must not carry this group.
                with suppress(Py4JError):  # a dead JVM: the query has failed already
                    context.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
        return ExecutionResult(table=table, elapsed_seconds=time.perf_counter() - began)

    def _spark(self) -> SparkSession:
        with self._lock:
            if self._session is None:
                self._session = _start(self._options)
            return self._session


def _start(options: SparkOptions) -> SparkSession:
    try:
        from pyspark import SparkConf
        from pyspark.errors import PySparkException
        from pyspark.logger import PySparkLogger
        from pyspark.sql import SparkSession
    except ImportError:
        raise EngineUnavailable(_INSTALL) from None
    for name in _QUERY_LOGGERS:
        PySparkLogger.getLogger(name).disabled = True
    if options.local_dir is not None:
        options.local_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    conf = SparkConf(loadDefaults=True).setAll(list(options.conf().items()))
    try:
        session = SparkSession.builder.config(conf=conf).getOrCreate()
    except (PySparkException, OSError) as exc:
        raise EngineUnavailable(
            f"Spark could not start ({_kind(exc)}): it needs Java 17 or newer (`java` on PATH "
            "or JAVA_HOME)"
        ) from None
    master = session.sparkContext.master
    if master != options.master:  # pyspark keeps one SparkContext per process
        raise EngineUnavailable(
            f"this process already runs Spark against {master}, not {options.master}"
        )
    return session


def _sealed(session: SparkSession) -> SparkSession:
    """``session`` without the functions that call arbitrary Java methods (each new session
    has its own copy of the built-in functions: the others keep theirs)."""
    jvm = session.sparkContext._jvm
    assert jvm is not None  # a started session has its gateway
    registry = session._jsparkSession.sessionState().functionRegistry()
    builtin, system = jvm.scala.Some("builtin"), jvm.scala.Some("system")
    for name in _REFLECTION:
        registry.dropFunction(
            jvm.org.apache.spark.sql.catalyst.FunctionIdentifier(name, builtin, system)
        )
    return session


def _one_query(session: SparkSession, sql: str) -> None:
    """Spark's own parser must see exactly one query: nothing else is run."""
    # No public API parses without running: `sql()` runs a command (SET, ADD JAR, DDL) at once.
    from pyspark.errors.exceptions.captured import capture_sql_exception

    parser = session._jsparkSession.sessionState().sqlParser()
    capture_sql_exception(parser.parseQuery)(sql)


def _normalised(table: pa.Table) -> pa.Table:
    """``table`` with the types DuckDB's engine gives the same query, every field nullable."""
    fields = []
    for item in table.schema:
        kind = item.type
        if pa.types.is_integer(kind) or (pa.types.is_decimal(kind) and kind.scale == 0):
            kind = pa.int64()
        elif pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
            kind = pa.string()
        fields.append(pa.field(item.name, kind, nullable=True))
    schema = pa.schema(fields)
    try:
        return table.cast(schema, safe=True).replace_schema_metadata(None)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise EngineFailed("result type outside the engine's contract") from None


def _kind(exc: BaseException) -> str:
    """Spark's error condition, else the JVM exception's class, else the Python class: never
    the message, which may quote a value."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    if isinstance(exc, PySparkException) and exc.getCondition():
        return str(exc.getCondition())
    java = getattr(exc, "java_exception", None)
    if java is not None:
        try:
            return str(java.getClass().getName())
        except Py4JError:  # the JVM is gone: the Python class will do
            return type(exc).__name__
    return type(exc).__name__


@contextmanager
def _deadline(context: Any, group: str, seconds: float) -> Iterator[threading.Event]:
    """Cancel the job group ``group`` from a timer thread once ``seconds`` have passed, and
    again every `_CANCEL_EVERY` until the block ends. Yields an event set at the limit."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    done = threading.Event()
    timed_out = threading.Event()

    def watch() -> None:
        if done.wait(seconds):
            return
        timed_out.set()
        while not done.is_set():
            try:
                context.cancelJobGroup(group)
            except (Py4JError, PySparkException):  # a stopped context: the query fails itself
                return
            done.wait(_CANCEL_EVERY)

    watcher = threading.Thread(target=watch, name="spark-deadline", daemon=True)
    watcher.start()
    try:
        yield timed_out
    finally:
        done.set()
        watcher.join()
