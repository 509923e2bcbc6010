"""The engine seam: how a validated, rewritten query is run (DuckDB or Spark).

Only the seam lives here (STYLE.md item 2): the `Engine` Protocol and the frozen values that
cross it. Implementations are siblings (`duckdb.py`, `spark.py`), and give the same query
the same result table, schema and row order included. The stages before it are
engine-neutral: rewriting yields SQL that the transpile stage (`_transpile.py`) renders in
`Engine.dialect` (a sqlglot dialect name), with every parameter still a named placeholder;
the engine binds `parameters` as values (never spliced into the text) and reads the zone's
tables, read-only, from the Parquet files of one dataset version. Failures are `EngineError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

import pyarrow as pa

__all__ = [
    "PERSONS_COLUMN",
    "Engine",
    "ExecutionLimits",
    "ExecutionRequest",
    "ExecutionResult",
    "OutputColumn",
    "OutputKind",
    "ParameterValue",
    "Rewritten",
]

ParameterValue = str | int | Decimal

PERSONS_COLUMN = "__persons"
"""The column of distinct persons per cell, for the output gate (it never leaves the gate)."""


class OutputKind(StrEnum):
    """What a column of a rewritten query's result holds (the gate rounds counts and sums)."""

    DIMENSION = "dimension"
    COUNT = "count"
    SUM = "sum"
    PERSONS = "persons"
    TOP = "top"
    """The largest one person's bounded sum of a measure in the cell (never leaves the gate:
    it checks that no one person dominates a released sum)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputColumn:
    """One result column: its `name`, `kind`, and the query's select item (`item`) behind it.

    An `AVG` item is two columns, `<item>__sum` (SUM) and `<item>__count` (COUNT): the average
    is their quotient, computed after the gate, so nothing before it is a float. The gate
    (`enclave.gate.rules_for`) releases it as one `float64` column named `<item>`, its rounded
    sum over its rounded count; the two parts never leave.
    """

    name: str
    kind: OutputKind
    item: str
    measure: str | None = None
    """For a SUM (an AVG's sum part too) and a TOP column, the view measure it sums."""
    domain: tuple[str, ...] | None = None
    """For a dimension, its public domain (the view column's): the gate releases exactly the
    grid of the grouped dimensions' domains, so which cells exist in the data never shows."""
    per_person: int | None = None
    """For a count, a sum and the persons column: the most one person changes this column
    in one cell (counts of rows: the contribution limit L; distinct persons: 1; sums: L
    times the larger magnitude of the clip bounds). Times the cells one person counts in,
    it is the column's L1 sensitivity, which differential privacy's noise is scaled to."""
    distinct_persons: bool = False
    """A `COUNT(DISTINCT <person key>)`: the same value as the persons column, so a DP answer
    thresholds on its noisy value instead of spending epsilon on a second count."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Rewritten:
    """A validated query rewritten over its view, ready for an engine of `dialect`.

    `sql` inlines the view, bounds each person's contribution to each cell, clips measures
    and adds `PERSONS_COLUMN`; it holds no value of the query: every literal and parameter is
    a named placeholder bound from `parameters`. `tables` are the zone tables it reads;
    `columns` describe the result, in order, all aggregates `int64`.
    """

    sql: str
    dialect: str
    parameters: Mapping[str, ParameterValue]
    tables: tuple[str, ...]
    columns: tuple[OutputColumn, ...]
    cells_per_person: int | None = None
    """The most cells of the answer one person's rows count in (None: unbounded, as in exact
    release): the rewrite keeps each person's first cells by a hash of the cell's keys."""

    def request(
        self, files: Mapping[str, tuple[str, ...]], limits: ExecutionLimits
    ) -> ExecutionRequest:
        """The execution request over `files` (zone table to Parquet files) within `limits`.

        Only the tables the query reads are passed on; a missing one is a `KeyError` (a bug
        of the caller: the dataset version lacks a table the policy's view reads).
        """
        return ExecutionRequest(
            sql=self.sql,
            parameters=self.parameters,
            tables={table: tuple(files[table]) for table in self.tables},
            limits=limits,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionLimits:
    """Limits for one execution, from settings (STYLE.md item 12), enforced by the engine."""

    timeout_seconds: float
    memory_bytes: int
    threads: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionRequest:
    """One query to run.

    `sql` is in the engine's dialect and refers only to the names in `tables`, which map a
    zone table to the Parquet files of the dataset version it is read from. `parameters` are
    bound by name as values. The engine allows no file, network or extension access beyond
    reading those files.
    """

    sql: str
    parameters: Mapping[str, ParameterValue]
    tables: Mapping[str, tuple[str, ...]]
    limits: ExecutionLimits


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionResult:
    """The raw, ungated result: it goes to the output gate, never straight to a partner."""

    table: pa.Table
    elapsed_seconds: float


class Engine(Protocol):
    """Runs rewritten queries over a dataset version's Parquet files."""

    @property
    def dialect(self) -> str:
        """The sqlglot dialect the transpile stage renders for this engine (`duckdb`, `spark`)."""
        ...

    def execute(self, request: ExecutionRequest) -> ExecutionResult:
        """Run `request` within its limits; raise `EngineError` on any failure or limit hit."""
        ...
