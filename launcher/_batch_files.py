"""The files of ``dataward check --batch`` (issue 15): the rows read in, the results written out.

The input is CSV (a file, or ``-`` for stdin) whose header names ``id_number`` and optionally
``consent_ref`` and ``as_of`` (``YYYY-MM-DD``), or a ``.parquet`` file with those columns
(strings; ``as_of`` a date or a string). It is read row by row, never held whole. A problem of
the file itself -- no header, a header without ``id_number``, columns of another name, text
that is not UTF-8, malformed CSV, a Parquet column of the wrong type -- is
:class:`BatchInputInvalid` (exit 65) naming the row and the column, never a value (the header
of a file without one IS a row of ID numbers). A problem of one row's values is that row's
``problem`` (an item error in the output), not a failure of the run.

The output (``.csv`` or ``.parquet`` by its suffix) has one row per input row, by its row
number, with the answer and never the ID number: the results file must not become one more
copy of clear identifiers. It is written beside its final name and renamed into place only
once complete, so a run that fails leaves no half a file.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "COLUMNS",
    "OUTPUT_COLUMNS",
    "BatchInput",
    "BatchInputInvalid",
    "BatchInputMissing",
    "BatchOutputExists",
    "BatchRow",
    "ResultRow",
    "ResultWriter",
    "open_input",
    "open_output",
]

COLUMNS = ("id_number", "consent_ref", "as_of")
OUTPUT_COLUMNS = (
    "row",
    "eligible",
    "coverage_class",
    "reasons",
    "request_id",
    "receipt_leaf_index",
    "error_code",
    "error_reason",
)
MAX_ID_NUMBER = 64  # characters: far past any ID number; longer is not sent
MAX_CONSENT_REF = 256
_PARQUET_ROWS = 8192  # rows read, and written, per Parquet batch


class BatchInputInvalid(Exception):  # noqa: N818 (reads as what happened)
    """The input file is not what ``--batch`` takes (exit 65): the message names the row and
    the column, never a value."""


class BatchInputMissing(Exception):  # noqa: N818
    """The input file does not exist or cannot be read (exit 66)."""


class BatchOutputExists(Exception):  # noqa: N818
    """``--out`` exists (give ``--force`` to replace it), or cannot be created (exit 73)."""


@dataclass(frozen=True)
class BatchRow:
    """One input row: its number (1 = the first row after the header) and its values, or
    ``problem``, the reason it is not sent (``ID_NUMBER_MISSING``, ``AS_OF_INVALID``...)."""

    number: int
    id_number: str = ""
    consent_ref: str = ""
    as_of: dt.date | None = None
    problem: str = ""


def _row(number: int, id_number: Any, consent_ref: Any, as_of: Any) -> BatchRow:
    id_number = (id_number or "").strip() if isinstance(id_number, str | None) else None
    if id_number is None:
        return BatchRow(number, problem="ID_NUMBER_INVALID")
    if not id_number:
        return BatchRow(number, problem="ID_NUMBER_MISSING")
    if len(id_number) > MAX_ID_NUMBER:
        return BatchRow(number, problem="ID_NUMBER_TOO_LONG")
    consent_ref = (consent_ref or "").strip()
    if len(consent_ref) > MAX_CONSENT_REF:
        return BatchRow(number, problem="CONSENT_REF_TOO_LONG")
    date: dt.date | None = None
    if isinstance(as_of, dt.date):
        date = as_of
    elif as_of is not None and as_of.strip():
        try:
            date = dt.date.fromisoformat(as_of.strip())
        except ValueError:
            return BatchRow(number, problem="AS_OF_INVALID")
    return BatchRow(number, id_number, consent_ref, date)


class BatchInput:
    """The rows of one input; ``total`` is their number when known before reading (a file),
    ``None`` for stdin."""

    def __init__(self, rows: Iterator[BatchRow], total: int | None) -> None:
        self._rows = rows
        self.total = total

    def rows(self) -> Iterator[BatchRow]:
        return self._rows


def _header(names: list[str], where: str) -> dict[str, int]:
    names = [name.strip() for name in names]
    if "id_number" not in names:
        raise BatchInputInvalid(
            f"{where}: the header (row 0) must name an id_number column (and may name "
            "consent_ref and as_of); the first row of a CSV file is its header"
        )
    others = [name for name in names if name not in COLUMNS]
    if others:
        raise BatchInputInvalid(
            f"{where}: the header has {len(others)} column(s) other than id_number, "
            "consent_ref and as_of (leave other columns out of the batch file)"
        )
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise BatchInputInvalid(f"{where}: column {twice[0]} is named twice in the header")
    return {name: names.index(name) for name in names}


def _lines(stream: IO[bytes], where: str) -> Iterator[str]:
    """The lines of a file as text, each decoded alone, so that bad UTF-8 names its line."""
    for number, raw in enumerate(stream, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BatchInputInvalid(f"{where}: line {number} is not UTF-8 text") from None
        yield line.removeprefix("\ufeff") if number == 1 else line


def _csv_rows(stream: Iterable[str], where: str) -> Iterator[list[str]]:
    """The CSV records of ``stream`` (the header first); decoding and CSV errors name the row."""
    reader = csv.reader(stream)
    number = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError:
            raise BatchInputInvalid(f"{where}: row {number} is not UTF-8 text") from None
        except csv.Error:
            raise BatchInputInvalid(f"{where}: row {number} is not well-formed CSV") from None
        number += 1
        yield record


def _csv_input(
    stream: Iterable[str], where: str, total: int | None, file: IO[bytes] | None = None
) -> BatchInput:
    records = _csv_rows(stream, where)
    try:
        first = next(records, None)
        if first is None:
            raise BatchInputInvalid(f"{where}: the input is empty (no header)")
        columns = _header(first, where)
    except BaseException:
        if file is not None:
            file.close()
        raise
    width = len(first)

    def rows() -> Iterator[BatchRow]:
        try:
            for number, record in enumerate(records, start=1):
                if not record:  # a blank line is a row too, without an ID number
                    yield BatchRow(number, problem="ID_NUMBER_MISSING")
                    continue
                if len(record) != width:
                    yield BatchRow(number, problem="ROW_MALFORMED")
                    continue
                yield _row(
                    number,
                    record[columns["id_number"]],
                    record[columns["consent_ref"]] if "consent_ref" in columns else "",
                    record[columns["as_of"]] if "as_of" in columns else None,
                )
        finally:
            if file is not None:
                file.close()

    return BatchInput(rows(), total)


def _parquet_input(path: Path, where: str) -> BatchInput:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError):
        raise BatchInputInvalid(f"{where}: not a Parquet file") from None
    schema = parquet.schema_arrow
    _header(list(schema.names), where)
    for name in schema.names:
        kind = schema.field(name).type
        allowed = pa.types.is_string(kind) or pa.types.is_large_string(kind)
        if name == "as_of":
            allowed = allowed or pa.types.is_date(kind)
        if not allowed:
            taken = "a string or a date" if name == "as_of" else "a string"
            raise BatchInputInvalid(f"{where}: column {name} is {kind}, not {taken}")
    names = list(schema.names)

    def rows() -> Iterator[BatchRow]:
        number = 0
        for batch in parquet.iter_batches(batch_size=_PARQUET_ROWS, columns=names):
            values = {name: batch.column(name).to_pylist() for name in names}
            for i in range(batch.num_rows):
                number += 1
                yield _row(
                    number,
                    values["id_number"][i],
                    values["consent_ref"][i] if "consent_ref" in values else "",
                    values["as_of"][i] if "as_of" in values else None,
                )

    return BatchInput(rows(), parquet.metadata.num_rows)


def open_input(batch: str) -> BatchInput:
    """The rows of ``batch``: a CSV or ``.parquet`` file, or ``-`` for CSV on stdin. A file's
    rows are counted first (which also finds a CSV file's decoding errors before any check)."""
    if batch == "-":
        return _csv_input(sys.stdin, "stdin", None)
    path = Path(batch)
    where = f"--batch {path}"
    if not path.is_file():
        raise BatchInputMissing(f"{where}: no such file")
    if not os.access(path, os.R_OK):
        raise BatchInputMissing(f"{where}: the file cannot be read")
    if path.suffix == ".parquet":
        return _parquet_input(path, where)
    try:
        with path.open("rb") as counting:
            total = max(0, sum(1 for _ in _csv_rows(_lines(counting, where), where)) - 1)
        stream = path.open("rb")
    except OSError:
        raise BatchInputMissing(f"{where}: the file cannot be read") from None
    return _csv_input(_lines(stream, where), where, total, stream)


@dataclass(frozen=True)
class ResultRow:
    """One output row: an answer (``eligible`` set) or an error (``error_reason`` set)."""

    row: int
    eligible: bool | None = None
    coverage_class: str = ""
    reasons: str = ""  # ;-separated
    request_id: str = ""
    receipt_leaf_index: int | None = None
    error_code: str = ""
    error_reason: str = ""


class ResultWriter:
    """Writes result rows to a temporary file beside ``out``; :meth:`commit` renames it into
    place, :meth:`discard` removes it."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self._partial = out.with_name(f".{out.name}.partial")
        self._parquet = out.suffix == ".parquet"
        self._buffer: list[ResultRow] = []
        self._pq: pq.ParquetWriter | None = None
        self._csv: IO[str] | None = None
        try:
            if self._parquet:
                self._pq = pq.ParquetWriter(self._partial, _SCHEMA)
            else:
                self._csv = self._partial.open("w", encoding="utf-8", newline="")
                self._writer = csv.writer(self._csv)
                self._writer.writerow(OUTPUT_COLUMNS)
        except OSError as exc:
            raise BatchOutputExists(f"--out {out}: cannot be created ({exc.strerror})") from None
        self.rows = 0

    def write(self, row: ResultRow) -> None:
        self.rows += 1
        if self._csv is not None:
            eligible = "" if row.eligible is None else str(row.eligible).lower()
            leaf = "" if row.receipt_leaf_index is None else str(row.receipt_leaf_index)
            self._writer.writerow(
                [
                    row.row,
                    eligible,
                    row.coverage_class,
                    row.reasons,
                    row.request_id,
                    leaf,
                    row.error_code,
                    row.error_reason,
                ]
            )
            return
        self._buffer.append(row)
        if len(self._buffer) >= _PARQUET_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._pq is None or not self._buffer:
            return
        columns = {name: [getattr(r, name) for r in self._buffer] for name in OUTPUT_COLUMNS}
        self._pq.write_table(pa.Table.from_pydict(columns, schema=_SCHEMA))
        self._buffer.clear()

    def commit(self) -> None:
        if self._csv is not None:
            self._csv.close()
        else:
            self._flush()
            assert self._pq is not None
            self._pq.close()
        self._partial.replace(self.out)

    def discard(self) -> None:
        try:
            if self._csv is not None:
                self._csv.close()
            elif self._pq is not None:
                self._pq.close()
        finally:
            self._partial.unlink(missing_ok=True)


_TYPES: dict[str, pa.DataType] = {
    "row": pa.int64(),
    "eligible": pa.bool_(),
    "coverage_class": pa.string(),
    "reasons": pa.string(),
    "request_id": pa.string(),
    "receipt_leaf_index": pa.int64(),
    "error_code": pa.string(),
    "error_reason": pa.string(),
}
_SCHEMA = pa.schema(_TYPES)


def open_output(out: Path, *, force: bool) -> ResultWriter:
    """A writer for ``out`` (.csv or .parquet); an existing file only with ``force``."""
    if out.exists() and not force:
        raise BatchOutputExists(f"--out {out}: the file exists (give --force to replace it)")
    if out.is_dir():
        raise BatchOutputExists(f"--out {out}: is a directory")
    return ResultWriter(out)
