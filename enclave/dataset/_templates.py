"""Face templates as the zone keeps them (issue 13): never clear floats on disk.

The export's ``face_templates.template`` (128 float32) is sealed per row at ingest and at
enrolment: ``template_sealed`` = AES-256-GCM (:meth:`enclave.keys.Keyring.seal`) of the 512
little-endian float32 bytes, with the row's person id in the associated data, so a sealed
template copied onto another person's row does not open. The version's Parquet file holds
``person_id, template_sealed, source, enrolled_at``; the lookup index
``index/face_templates.*.npy`` (a group index by person id, one fixed-width record of the
sealed bytes each) serves :meth:`enclave.dataset.Zone.face_template_sealed` in O(log n).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.exceptions import InvalidTag

from enclave.biometrics import Template
from enclave.dataset._index import GroupIndex, GroupIndexWriter
from enclave.dataset.schema import FACE_TEMPLATE_DIM
from enclave.errors import CorruptDataset
from enclave.keys import Keyring

__all__ = [
    "SEALED_TEMPLATE_BYTES",
    "SEALED_TEMPLATE_COLUMN",
    "TEMPLATE_INDEX",
    "TEMPLATE_RECORD",
    "FaceTemplates",
    "merge_template_index",
    "open_template",
    "seal_template",
    "seal_templates",
    "stored_schema",
    "template_label",
    "template_records",
]

SEALED_TEMPLATE_COLUMN = "template_sealed"
TEMPLATE_INDEX = "face_templates"
# nonce (12) + 512 bytes of float32 + GCM tag (16)
SEALED_TEMPLATE_BYTES = 12 + 4 * FACE_TEMPLATE_DIM + 16
TEMPLATE_RECORD = np.dtype([("sealed", "u1", (SEALED_TEMPLATE_BYTES,))])


def template_label(person_id: int) -> str:
    """The associated data of a person's sealed template."""
    return f"face_template\x00{int(person_id)}"


def seal_template(keyring: Keyring, person_id: int, values: np.ndarray) -> bytes:
    """One template's sealed bytes (``values``: 128 floats, stored as little-endian float32)."""
    data = np.ascontiguousarray(values, dtype="<f4")
    if data.shape != (FACE_TEMPLATE_DIM,):
        raise ValueError(f"a face template is {FACE_TEMPLATE_DIM} floats")
    return keyring.seal(template_label(person_id), data.tobytes())


def stored_schema(source: pa.Schema) -> pa.Schema:
    """The schema the zone writes for face_templates read with schema ``source``."""
    index = source.get_field_index("template")
    return source.set(index, pa.field(SEALED_TEMPLATE_COLUMN, pa.binary(), nullable=False))


def seal_templates(batch: pa.RecordBatch, keyring: Keyring) -> pa.RecordBatch:
    """An export batch of face_templates in its stored form (templates sealed per row)."""
    ids = batch.column("person_id").to_numpy(zero_copy_only=False)
    column: Any = batch.column("template")
    flat = column.flatten().to_numpy(zero_copy_only=False)
    values = np.ascontiguousarray(flat, dtype="<f4").reshape(len(ids), FACE_TEMPLATE_DIM)
    raw = memoryview(values.tobytes())
    size = 4 * FACE_TEMPLATE_DIM
    # what seal_template does for each row, with one cipher object for the batch
    labels = [template_label(pid).encode() for pid in ids.tolist()]
    blobs = [raw[i * size : (i + 1) * size] for i in range(len(labels))]
    sealed = pa.array(keyring.seal_many(labels, blobs), pa.binary())
    index = batch.schema.get_field_index("template")
    return batch.set_column(index, stored_schema(batch.schema).field(index), sealed)


def template_records(table: pa.Table | pa.RecordBatch) -> np.ndarray:
    """The index records of stored (sealed) rows, in their order."""
    column: Any = table.column(SEALED_TEMPLATE_COLUMN)
    if column.type != pa.binary(SEALED_TEMPLATE_BYTES):
        lengths: Any = pc.binary_length(column)
        if pc.any(pc.not_equal(lengths, pa.scalar(SEALED_TEMPLATE_BYTES))).as_py():
            raise ValueError("a sealed face template has the wrong size")
        column = pc.cast(column, pa.binary(SEALED_TEMPLATE_BYTES))
    chunks: list[Any] = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    size = SEALED_TEMPLATE_BYTES
    raw = b"".join(
        chunk.buffers()[1].to_pybytes()[size * chunk.offset : size * (chunk.offset + len(chunk))]
        for chunk in chunks
    )
    return np.frombuffer(raw, dtype=TEMPLATE_RECORD).copy()


def merge_template_index(
    directory: Path,
    live: GroupIndex,
    ids: npt.NDArray[np.int64],
    records: npt.NDArray[np.void],
    *,
    chunk: int,
) -> None:
    """The lookup index of ``live``'s records with those of ``ids`` (ascending, unique) put in
    place of theirs or added, written ``chunk`` live keys at a time: the live index is read
    from its memory map and never held whole."""
    with GroupIndexWriter(directory, TEMPLATE_INDEX, TEMPLATE_RECORD) as writer:
        size, taken = len(live.keys), 0
        for lo in range(0, size, chunk):
            hi = min(size, lo + chunk)
            keys = np.asarray(live.keys[lo:hi], dtype=np.int64)
            starts = np.asarray(live.starts[lo : hi + 1], dtype=np.int64)
            rows = np.repeat(keys, np.diff(starts))
            kept = np.asarray(live.records[int(starts[0]) : int(starts[-1])])
            # the new ids below the next chunk's first key go with this chunk
            upto = len(ids) if hi == size else int(np.searchsorted(ids, int(live.keys[hi])))
            here, here_records = ids[taken:upto], records[taken:upto]
            taken = upto
            keep = ~np.isin(rows, here)
            merged = np.concatenate([rows[keep], here])
            order = np.argsort(merged, kind="stable")
            writer.add(merged[order], np.concatenate([kept[keep], here_records])[order])
        writer.add(ids[taken:], records[taken:])  # all of them when the live index is empty


def open_template(keyring: Keyring, person_id: int, sealed: bytes) -> Template:
    """The template a :func:`seal_template` blob holds; :class:`CorruptDataset` if it was
    altered or belongs to another person's row."""
    try:
        data = keyring.unseal(template_label(person_id), sealed)
        return Template(np.frombuffer(data, dtype="<f4").astype(np.float32))
    except (InvalidTag, ValueError) as exc:
        raise CorruptDataset("a sealed face template does not open") from exc


class SealedTemplates(Protocol):
    def face_template_sealed(self, person_id: int) -> bytes | None: ...


class FaceTemplates:
    """The reference templates of a dataset version (:class:`enclave.dataset.Zone`), opened
    with the zone's keyring: ``enclave.persons.ReferenceTemplates``."""

    def __init__(self, zone: SealedTemplates, keyring: Keyring) -> None:
        self._zone = zone
        self._keyring = keyring

    def reference(self, person_id: int) -> Template | None:
        sealed = self._zone.face_template_sealed(person_id)
        return None if sealed is None else open_template(self._keyring, person_id, sealed)

    def __repr__(self) -> str:
        return "FaceTemplates()"
