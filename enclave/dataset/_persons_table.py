"""Ingest of the persons table: validate, tokenize and encrypt the direct identifiers, index.

The clear ``id_number``, ``name`` and ``phone`` exist only in this process's memory; what is
written is, per identifier column, ``<col>_token`` (HMAC-SHA256, ``binary(32)``) and
``<col>_enc`` (AES-256-GCM, nonce-prefixed). The HMAC/AES loops run over the persons' three
identifier columns only, in batches, with progress.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from enclave.dataset._index import write_token_index
from enclave.dataset._validation import (
    RowVerdicts,
    duplicate_mask,
    id_number_reasons,
    mark_id_number_agreement,
)
from enclave.dataset.schema import TABLES, ColumnClass
from enclave.keys import Keyring

__all__ = ["IDENTIFIER_COLUMNS", "fixed_bytes", "ingest_persons"]

IDENTIFIER_COLUMNS = tuple(
    name for name, cls in TABLES["persons"].classes.items() if cls is ColumnClass.DIRECT_IDENTIFIER
)

Progress = Callable[[str, int, int], None]


def fixed_bytes(column: Any) -> npt.NDArray[np.bytes_]:
    """A string column as a fixed-width numpy bytes array (UTF-8; width = longest value)."""
    filled: Any = pc.cast(pc.fill_null(column, pa.scalar("")), pa.binary())
    values = filled.to_numpy(zero_copy_only=False)
    result: npt.NDArray[np.bytes_] = values.astype("S") if len(values) else np.array([], "S1")
    return result


def ingest_persons(
    source: Path,
    tables_dir: Path,
    index_dir: Path,
    keyring: Keyring,
    *,
    batch_rows: int,
    progress: Progress,
) -> tuple[npt.NDArray[np.int16], RowVerdicts, npt.NDArray[np.int64]]:
    """Write ``persons.parquet`` and the person index; return the per-row verdict codes, the
    rules they index, and the sorted accepted person ids."""
    spec = TABLES["persons"]
    table = pq.read_table(source)
    verdicts = RowVerdicts()
    codes = verdicts.base(spec, table)
    for row, reason in enumerate(id_number_reasons(table.column("id_number").to_pylist())):
        if reason is not None and codes[row] == 0:
            codes[row] = verdicts.code(reason)
    mark_id_number_agreement(table, codes, verdicts)
    verdicts.mark(codes, "duplicate_key", duplicate_mask(table, spec.primary_key))
    valid = np.nonzero(codes == 0)[0]
    again = duplicate_mask(table.select(["id_number"]).take(valid), ["id_number"])
    same_number = np.zeros(len(codes), dtype=np.bool_)
    same_number[valid[again]] = True
    verdicts.mark(codes, "duplicate:id_number", same_number)
    accepted = table.filter(pa.array(codes == 0))
    del table

    n = accepted.num_rows
    stored: dict[str, list[bytes | None]] = {}
    for column in IDENTIFIER_COLUMNS:
        stored[f"{column}_token"], stored[f"{column}_enc"] = [], []
    for start in range(0, n, batch_rows):
        chunk = accepted.slice(start, batch_rows)
        for column in IDENTIFIER_COLUMNS:
            values = chunk.column(column).to_pylist()
            stored[f"{column}_token"].extend(keyring.tokens(column, values))
            stored[f"{column}_enc"].extend(keyring.encrypt_many(column, values))
        progress("persons", chunk.num_rows, n)

    out: dict[str, Any] = {}
    for f in spec.schema:
        if f.name in IDENTIFIER_COLUMNS:
            out[f"{f.name}_token"] = pa.array(stored.pop(f"{f.name}_token"), type=pa.binary(32))
            out[f"{f.name}_enc"] = pa.array(stored.pop(f"{f.name}_enc"), type=pa.binary())
        else:
            out[f.name] = accepted.column(f.name)
    result = pa.table(out)
    pq.write_table(result, tables_dir / "persons.parquet", compression="zstd")

    person_ids = accepted.column("person_id").to_numpy()
    id_tokens = _fixed32(result.column("id_number_token"))
    records = np.empty(
        n,
        dtype=[
            ("person_id", "<i8"),
            ("name_token", "V32"),
            ("status", fixed_bytes(accepted.column("status")).dtype),
            ("gender", fixed_bytes(accepted.column("gender")).dtype),
            ("birth_date", "<i4"),
            ("region_code", fixed_bytes(accepted.column("region_code")).dtype),
        ],
    )
    records["person_id"] = person_ids
    records["name_token"] = _fixed32(result.column("name_token")).view("V32")
    for name in ("status", "gender", "region_code"):
        records[name] = fixed_bytes(accepted.column(name))
    records["birth_date"] = pc.cast(accepted.column("birth_date"), pa.int32()).to_numpy()
    write_token_index(index_dir, "persons", id_tokens, records)
    return codes, verdicts, np.sort(person_ids.astype(np.int64))


def _fixed32(column: Any) -> npt.NDArray[np.bytes_]:
    raw = b"".join(
        chunk.buffers()[1].to_pybytes()[32 * chunk.offset : 32 * (chunk.offset + len(chunk))]
        for chunk in column.chunks
    )
    result: npt.NDArray[np.bytes_] = np.frombuffer(raw, dtype="S32")
    return result
