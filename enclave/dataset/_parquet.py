"""Parquet in and out of an ingest, overlapped with the work on each batch (issue 15).

An ingest reads a batch, validates (and for persons and face templates tokenizes, encrypts)
it, and writes it. pyarrow decodes and encodes Parquet without holding the GIL, so the
reading of the next batch (:func:`prefetched`) and the writing of the last one
(:class:`TableWriter`) run in threads beside the Python work of this one: on two cores the
ingest takes about as long as its slowest step instead of their sum. Each hand-over holds one
batch, so memory grows by two batches at most.

The files are written with dictionary encoding for string columns only (codes, enums: few
distinct values), never for integers, tokens or ciphertexts, where pyarrow builds a
dictionary and drops it once it overflows, which made encoding a claims table a third
slower; ciphertext and token columns are stored uncompressed (random bytes do not compress).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["TableWriter", "prefetched", "write_options"]

T = TypeVar("T")
_DONE = object()


def write_options(schema: pa.Schema) -> dict[str, Any]:
    """The ``ParquetWriter`` options for a zone table of ``schema``."""
    strings = [f.name for f in schema if pa.types.is_string(f.type)]
    codecs = {
        f.name: "none"
        if pa.types.is_binary(f.type) or pa.types.is_fixed_size_binary(f.type)
        else "zstd"
        for f in schema
    }
    return {"compression": codecs, "use_dictionary": strings}


class TableWriter:
    """A Parquet file written batch by batch in a background thread, one batch queued.

    ``with`` closes it: on success :meth:`close` waits for the last batch and raises the
    writer's error if it had one; on an error in the block the file is closed and left for
    the caller to delete. A failed write is raised by the next :meth:`write_batch`.
    """

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._writer = pq.ParquetWriter(path, schema, **write_options(schema))
        self._queue: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._error is None:  # after a failure, drain so write_batch never blocks
                try:
                    self._writer.write_batch(batch)
                except BaseException as exc:  # re-raised in the caller's thread
                    self._error = exc

    def write_batch(self, batch: pa.RecordBatch) -> None:
        self._raise()
        self._queue.put(batch)

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _stop(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._writer.close()

    def close(self) -> None:
        self._stop()
        self._raise()

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            self._stop()


def prefetched(items: Iterator[T]) -> Generator[T]:
    """``items``, the next one produced in a background thread while this one is used.

    The producer's error is raised where its item would have come; when the consumer stops
    early (an error, or a ``break``), the producer stops after the item it is making."""
    hand: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _offer(hand, item, stop):
                    return
        except BaseException as exc:  # re-raised in the consumer's thread
            _offer(hand, _Failed(exc), stop)
            return
        _offer(hand, _DONE, stop)

    thread = threading.Thread(target=produce, name="ingest-reader", daemon=True)
    thread.start()
    try:
        while (item := hand.get()) is not _DONE:
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def _offer(hand: queue.Queue[Any], item: object, stop: threading.Event) -> bool:
    """Put ``item`` unless the consumer stopped; whether it was put."""
    while not stop.is_set():
        try:
            hand.put(item, timeout=0.05)
        except queue.Full:
            continue
        return True
    return False
