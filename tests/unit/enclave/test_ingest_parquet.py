"""The ingest's overlapped Parquet reading and writing (issue 15): every batch, in order,
and an error on either side reaches the ingest instead of being lost in a thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from enclave.dataset._parquet import TableWriter, prefetched, write_options

_FIELDS: list[pa.Field[Any]] = [pa.field("n", pa.int64()), pa.field("code", pa.string())]
_FIELDS.append(pa.field("sealed", pa.binary()))
SCHEMA = pa.schema(_FIELDS)


def _batch(start: int, rows: int = 3) -> pa.RecordBatch:
    numbers = list(range(start, start + rows))
    return pa.record_batch(
        [numbers, [f"c{n % 2}" for n in numbers], [bytes([n % 256]) * 4 for n in numbers]],
        schema=SCHEMA,
    )


def test_the_writer_writes_every_batch_in_order(tmp_path: Path) -> None:
    with TableWriter(tmp_path / "t.parquet", SCHEMA) as writer:
        for start in range(0, 300, 3):
            writer.write_batch(_batch(start))
    table = pq.read_table(tmp_path / "t.parquet")
    assert table.column("n").to_pylist() == list(range(300))
    assert table.schema == SCHEMA


def test_a_failed_write_is_raised_to_the_caller(tmp_path: Path) -> None:
    other = pa.record_batch([[1]], names=["other"])
    # raised by a later write_batch or by close, whichever comes after the thread's failure
    with (
        pytest.raises(ValueError, match="schema"),
        TableWriter(tmp_path / "t.parquet", SCHEMA) as w,
    ):
        w.write_batch(other)
        for start in range(0, 30, 3):
            w.write_batch(_batch(start))


def test_an_error_in_the_block_closes_the_writer(tmp_path: Path) -> None:
    with pytest.raises(KeyError), TableWriter(tmp_path / "t.parquet", SCHEMA) as writer:
        writer.write_batch(_batch(0))
        raise KeyError("the ingest failed")
    assert not any(t.name == "ingest-writer" for t in threading.enumerate())


def test_options_encode_strings_by_dictionary_and_keep_ciphertexts_uncompressed() -> None:
    options = write_options(SCHEMA)
    assert options["use_dictionary"] == ["code"]
    assert options["compression"] == {"n": "zstd", "code": "zstd", "sealed": "none"}


def test_prefetched_yields_every_item_in_order() -> None:
    assert list(prefetched(iter(range(1000)))) == list(range(1000))
    assert list(prefetched(iter([]))) == []


def test_the_producers_error_is_raised_where_its_item_would_come() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise OSError("the export is unreadable")

    seen: list[int] = []
    with pytest.raises(OSError, match="unreadable"):
        for item in prefetched(items()):
            seen.append(item)
    assert seen == [1, 2]


def test_a_consumer_that_stops_early_stops_the_producer() -> None:
    made: list[int] = []

    def items() -> Iterator[int]:
        for n in range(1_000_000):
            made.append(n)
            yield n

    stream = prefetched(items())
    for item in stream:
        if item == 5:
            break
    stream.close()  # the generator's finally: stop and join the producer
    assert len(made) < 10
    assert not any(t.name == "ingest-reader" for t in threading.enumerate())
