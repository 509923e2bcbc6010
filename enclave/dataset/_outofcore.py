"""The whole-table steps of an ingest, out of core: DuckDB over Parquet within a memory limit.

Row validation streams batch by batch; three steps need a whole table at once -- finding the
rows whose key repeats an earlier row's (unless a one-column integer key rises row by row, as
in an export numbered in order, where none can), and sorting a version's table for its lookup
index.
In memory they grow with the export (the claims' keys alone are 8 bytes a row: 0.6 GB at a
city's 79 million claims), so they run in DuckDB, which sorts and partitions within
``memory_limit`` and spills the rest into the new version's ``.tmp`` directory (inside the
zone, deleted with it; never the clear identifiers: the persons' ID numbers are compared as
their HMAC tokens, see :mod:`enclave.dataset._persons_table`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["OutOfCore"]


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _strictly_increasing(path: Path, column: str) -> bool:
    """Whether integer ``column`` of ``path`` has no null and rises from row to row: then no
    value repeats, as in an export numbered in order (the usual one), and the duplicate
    search out of core -- a sort of the whole table -- is not needed. Reads the one column a
    batch at a time; stops at the first row that does not rise."""
    handle = pq.ParquetFile(path, pre_buffer=False)
    if not pa.types.is_integer(handle.schema_arrow.field(column).type):
        return False
    last: int | None = None
    for batch in handle.iter_batches(batch_size=1 << 20, columns=[column]):
        values = batch.column(0)
        if values.null_count:
            return False
        keys = np.asarray(values.to_numpy())
        if len(keys) == 0:
            continue
        if (last is not None and keys[0] <= last) or bool(np.any(keys[1:] <= keys[:-1])):
            return False
        last = int(keys[-1])
    return True


def _name(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


class OutOfCore:
    """One DuckDB connection for an ingest: ``memory_mb`` of memory at most, spilling into
    ``spill_dir``, ``threads`` worker threads."""

    def __init__(self, spill_dir: Path, *, memory_mb: int, threads: int = 2) -> None:
        spill_dir.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(
            config={
                "memory_limit": f"{max(64, memory_mb)}MB",
                "threads": max(1, threads),
                "temp_directory": str(spill_dir),
                "preserve_insertion_order": False,
                "enable_external_access": True,
            }
        )
        self.con.execute("SET enable_progress_bar = false")  # the ingest reports its own

    def __enter__(self) -> OutOfCore:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.con.close()

    def later_duplicates(
        self, path: Path, keys: Sequence[str], *, row: str = "file_row_number"
    ) -> npt.NDArray[np.int64]:
        """Row numbers (ascending) of the rows of ``path`` whose ``keys`` equal an earlier
        row's; the first occurrence is kept, a row with a null key is never a duplicate.
        ``row``: the column holding the row numbers (default: the row's place in the file)."""
        if row == "file_row_number" and len(keys) == 1 and _strictly_increasing(path, keys[0]):
            return np.zeros(0, dtype=np.int64)
        columns = ", ".join(_name(k) for k in keys)
        not_null = " AND ".join(f"{_name(k)} IS NOT NULL" for k in keys)
        order = _name(row) if row != "file_row_number" else row
        query = (
            f"SELECT {order} AS r FROM (SELECT {order}, row_number() OVER "  # noqa: S608 (quoted names of our schema, a quoted path)
            f"(PARTITION BY {columns} ORDER BY {order}) AS nth "
            f"FROM read_parquet({_literal(path)}, file_row_number = true) WHERE {not_null}) "
            f"WHERE nth > 1 ORDER BY r"
        )
        rows = self.con.sql(query).fetchnumpy()["r"]
        return np.asarray(rows, dtype=np.int64)

    def sorted_batches(
        self, path: Path, columns: Sequence[str], order_by: str, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        """``columns`` of ``path`` ordered by ``order_by`` (ties in row order), in batches."""
        selected = ", ".join(_name(c) for c in columns)
        query = (
            f"SELECT {selected} FROM read_parquet({_literal(path)}, file_row_number = true) "  # noqa: S608 (as above)
            f"ORDER BY {_name(order_by)}, file_row_number"
        )
        reader = self.con.sql(query).to_arrow_reader(max(1, batch_rows))
        yield from reader

    def longest(self, path: Path, columns: Sequence[str]) -> dict[str, int]:
        """The longest value in bytes of each string or binary column of ``path`` (1 at
        least: the width of a fixed-width index field)."""
        if not columns:
            return {}
        lengths = ", ".join(f"max(octet_length({_name(c)}::BLOB))" for c in columns)
        query = f"SELECT {lengths} FROM read_parquet({_literal(path)})"  # noqa: S608 (as above)
        rows = self.con.execute(query).fetchall()
        values = rows[0] if rows else (None,) * len(columns)
        return {c: max(1, int(v or 0)) for c, v in zip(columns, values, strict=True)}
