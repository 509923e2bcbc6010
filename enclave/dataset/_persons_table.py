"""Ingest of the persons table: validate, tokenize and encrypt the direct identifiers, index.

The clear ``id_number``, ``name`` and ``phone`` exist only in this process's memory, one batch
at a time; what is written is, per identifier column, ``<col>_token`` (HMAC-SHA256,
``binary(32)``) and ``<col>_enc`` (AES-256-GCM, nonce-prefixed).

One pass over the export, a batch at a time, so memory does not grow with it: the row rules,
then the rows still accepted tokenized, encrypted and written in their stored form to a spill
file (never the clear values), where the repeated ID numbers are found as repeated tokens out of
core (:class:`OutOfCore`). Without any, the spill file is the table (moved); with some, it is
copied without them. The lookup index is then built from the table, sorted out of core too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from enclave.dataset._index import TokenIndexWriter
from enclave.dataset._outofcore import OutOfCore
from enclave.dataset._parquet import TableWriter, prefetched
from enclave.dataset._validation import (
    RowVerdicts,
    mark_id_number_agreement,
    mark_id_number_rules,
    open_export_table,
    rows_mask,
)
from enclave.dataset.schema import TABLES, ColumnClass
from enclave.keys import Keyring

__all__ = ["IDENTIFIER_COLUMNS", "fixed_bytes", "ingest_persons"]

IDENTIFIER_COLUMNS = tuple(
    name for name, cls in TABLES["persons"].classes.items() if cls is ColumnClass.DIRECT_IDENTIFIER
)
_INDEXED = ("person_id", "name_token", "status", "gender", "birth_date", "region_code")

Progress = Callable[[str, int, int], None]


def fixed_bytes(column: Any, width: int | None = None) -> npt.NDArray[np.bytes_]:
    """A string column as a fixed-width numpy bytes array (UTF-8; width = ``width``, or the
    longest value's)."""
    filled: Any = pc.cast(pc.fill_null(column, pa.scalar("")), pa.binary())
    values = filled.to_numpy(zero_copy_only=False)
    if width is not None:
        sized: npt.NDArray[np.bytes_] = np.asarray(values, dtype=f"S{max(1, width)}")
        return sized
    result: npt.NDArray[np.bytes_] = values.astype("S") if len(values) else np.array([], "S1")
    return result


def ingest_persons(
    source: Path,
    version_dir: Path,
    keyring: Keyring,
    *,
    batch_rows: int,
    progress: Progress,
    out_of_core: OutOfCore,
    spill_dir: Path,
) -> tuple[npt.NDArray[np.int16], RowVerdicts, npt.NDArray[np.int64]]:
    """Write ``persons.parquet`` and the person index; return the per-row verdict codes, the
    rules they index, and the sorted accepted person ids."""
    spec = TABLES["persons"]
    handle = open_export_table(source)
    n = handle.metadata.num_rows
    verdicts = RowVerdicts()
    codes = np.zeros(n, dtype=np.int16)
    same_key = rows_mask(out_of_core.later_duplicates(source, spec.primary_key), n)
    schema = _stored_schema(handle.schema_arrow)
    # the rows the row rules accept, in their stored form (tokens and ciphertexts only), in
    # export order: candidate i is the i-th row whose code is still 0 after this pass
    candidates = spill_dir / "persons-candidates.parquet"
    ids: list[npt.NDArray[np.int64]] = []
    with TableWriter(candidates, schema) as writer:
        offset = 0
        for batch in prefetched(handle.iter_batches(batch_size=batch_rows)):
            rows = slice(offset, offset + batch.num_rows)
            chunk = verdicts.base(spec, batch)
            mark_id_number_rules(batch.column("id_number"), chunk, verdicts)
            mark_id_number_agreement(batch, chunk, verdicts)
            verdicts.mark(chunk, "duplicate_key", same_key[rows])
            codes[rows] = chunk
            good = batch.filter(pa.array(chunk == 0))
            writer.write_batch(_stored_batch(good, schema, keyring))
            ids.append(np.asarray(good.column("person_id").to_numpy(), dtype=np.int64))
            offset += batch.num_rows
            progress("persons", batch.num_rows, n)
    del same_key
    person_ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
    del ids
    # a later row with an ID number already accepted (compared as tokens, out of core)
    repeated = out_of_core.later_duplicates(candidates, ["id_number_token"])
    verdicts.mark(codes, "duplicate:id_number", rows_mask(np.nonzero(codes == 0)[0][repeated], n))
    table_file = version_dir / "tables" / "persons.parquet"
    if len(repeated):
        _drop_rows(candidates, table_file, schema, repeated, batch_rows)
        candidates.unlink()
        person_ids = np.delete(person_ids, repeated)
    else:  # the usual export: the candidates are the table
        candidates.replace(table_file)
    _write_index(out_of_core, table_file, version_dir / "index", batch_rows)
    return codes, verdicts, np.sort(person_ids)


def _stored_schema(source: pa.Schema) -> pa.Schema:
    fields: list[pa.Field[Any]] = []
    for f in TABLES["persons"].schema:
        if f.name in IDENTIFIER_COLUMNS:
            fields.append(pa.field(f"{f.name}_token", pa.binary(32)))
            fields.append(pa.field(f"{f.name}_enc", pa.binary()))  # type: ignore[arg-type]
        else:
            fields.append(pa.field(f.name, source.field(f.name).type))
    return pa.schema(fields)


def _stored_batch(good: pa.RecordBatch, schema: pa.Schema, keyring: Keyring) -> pa.RecordBatch:
    """Accepted export rows as the zone stores them: each identifier tokenized and encrypted."""
    columns: list[Any] = []
    for f in TABLES["persons"].schema:
        if f.name in IDENTIFIER_COLUMNS:
            values = good.column(f.name).to_pylist()
            columns.append(pa.array(keyring.tokens(f.name, values), pa.binary(32)))
            columns.append(pa.array(keyring.encrypt_many(f.name, values), pa.binary()))
        else:
            columns.append(good.column(f.name))
    return pa.record_batch(columns, schema=schema)


def _drop_rows(
    source: Path,
    target: Path,
    schema: pa.Schema,
    rows: npt.NDArray[np.int64],
    batch_rows: int,
) -> None:
    """Copy ``source`` to ``target`` without the rows numbered ``rows`` (ascending)."""
    handle = open_export_table(source)
    drop = rows_mask(rows, handle.metadata.num_rows)
    with TableWriter(target, schema) as writer:
        offset = 0
        for batch in prefetched(handle.iter_batches(batch_size=batch_rows)):
            writer.write_batch(batch.filter(pa.array(~drop[offset : offset + batch.num_rows])))
            offset += batch.num_rows


def _write_index(
    out_of_core: OutOfCore, table_file: Path, index_dir: Path, batch_rows: int
) -> None:
    """The persons' token index: records sorted by ID-number token, written in chunks."""
    widths = out_of_core.longest(table_file, ["status", "gender", "region_code"])
    dtype = np.dtype(
        [
            ("person_id", "<i8"),
            ("name_token", "V32"),
            ("status", f"S{widths['status']}"),
            ("gender", f"S{widths['gender']}"),
            ("birth_date", "<i4"),
            ("region_code", f"S{widths['region_code']}"),
        ]
    )
    columns = ["id_number_token", *_INDEXED]
    batches = out_of_core.sorted_batches(table_file, columns, "id_number_token", batch_rows)
    with TokenIndexWriter(index_dir, "persons", dtype) as index:
        for batch in batches:
            records = np.empty(batch.num_rows, dtype=dtype)
            records["person_id"] = batch.column("person_id").to_numpy()
            records["name_token"] = _fixed32(batch.column("name_token")).view("V32")
            for name in ("status", "gender", "region_code"):
                records[name] = fixed_bytes(batch.column(name), widths[name])
            records["birth_date"] = pc.cast(batch.column("birth_date"), pa.int32()).to_numpy()
            index.add(_fixed32(batch.column("id_number_token")), records)


def _fixed32(values: Any) -> npt.NDArray[np.bytes_]:
    """A column of 32-byte values (fixed or variable width, as DuckDB returns them) as one
    numpy ``S32`` array, without a Python object per value."""
    column: Any = values if values.type == pa.binary(32) else pc.cast(values, pa.binary(32))
    chunks: list[Any] = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    raw = b"".join(
        chunk.buffers()[1].to_pybytes()[32 * chunk.offset : 32 * (chunk.offset + len(chunk))]
        for chunk in chunks
    )
    result: npt.NDArray[np.bytes_] = np.frombuffer(raw, dtype="S32")
    return result
