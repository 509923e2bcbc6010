"""Ingest in bounded memory (issue 15): the whole-table steps out of core, indexes in chunks.

What the streaming ingest must keep from the in-memory one: the same rows accepted and
rejected with the same reasons, the same lookups -- whatever the export's row order (an index
built as the rows stream by when they come sorted, sorted out of core otherwise) and however
small the batches; and nothing left behind (the spill directory) after success or failure.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from enclave.dataset import Zone, ingest, open_template
from enclave.dataset._index import (
    GroupIndex,
    GroupIndexWriter,
    TokenIndexWriter,
    write_group_index,
    write_scattered_group_index,
)
from enclave.dataset._outofcore import OutOfCore
from enclave.dataset._templates import TEMPLATE_INDEX, TEMPLATE_RECORD, merge_template_index
from enclave.dataset._validation import duplicate_mask
from enclave.errors import IngestError
from enclave.keys import init_zone, open_keyring
from tests.support.zone_source import MASTER_KEY, make_source


def _lookups(zone_dir: Path, persons: list[int], numbers: list[str]) -> list[tuple[Any, ...]]:
    keyring = open_keyring(zone_dir, MASTER_KEY)
    zone = Zone.open(zone_dir, keyring)
    out: list[tuple[Any, ...]] = []
    at = dt.datetime(2024, 4, 1, tzinfo=dt.UTC)
    for pid, number in zip(persons, numbers, strict=True):
        found = zone.find_person(number)
        sealed = zone.face_template_sealed(pid)
        template = None if sealed is None else open_template(keyring, pid, sealed).values.tolist()
        out.append(
            (
                None if found is None else (found.status, found.gender, found.region_code),
                sorted(zone.enrolments(pid), key=repr),  # a person's rows: in export order
                sorted(zone.family_bindings(pid), key=repr),
                zone.guardians(pid, at),
                template,
            )
        )
    return out


def _ingest(tmp_path: Path, name: str, source: Path, *, batch_rows: int = 250_000) -> Path:
    zone = tmp_path / name
    init_zone(zone, MASTER_KEY)
    keyring = open_keyring(zone, MASTER_KEY)
    ingest(zone, source, keyring, max_reject_share=1.0, batch_rows=batch_rows)
    return zone


def test_an_export_in_any_row_order_gives_the_same_lookups(tmp_path: Path) -> None:
    src = make_source(60)
    persons = list(src.column("persons", "person_id"))
    numbers = list(src.column("persons", "id_number"))
    sorted_dir = src.write(tmp_path / "sorted")
    rng = random.Random(5)
    for table in ("enrolments", "family_bindings", "face_templates", "persons", "claims"):
        columns = src.tables[table]
        order = list(range(len(next(iter(columns.values())))))
        rng.shuffle(order)
        for name in columns:
            columns[name][:] = [columns[name][i] for i in order]
    shuffled_dir = src.write(tmp_path / "shuffled")
    expected = _lookups(_ingest(tmp_path, "a", sorted_dir), persons, numbers)
    assert any(row[1] for row in expected) and any(row[2] for row in expected)
    assert any(row[4] is not None for row in expected) and any(row[3] for row in expected)
    for batch_rows in (7, 1_000):
        zone = _ingest(tmp_path, f"b{batch_rows}", shuffled_dir, batch_rows=batch_rows)
        assert _lookups(zone, persons, numbers) == expected


def test_small_batches_give_the_same_version_as_one_batch(tmp_path: Path) -> None:
    src = make_source(50)
    ids = src.column("persons", "id_number")
    ids[9] = ids[3]  # a repeated number, rejected as a later duplicate across batches
    for column in ("birth_date", "gender"):  # (agreeing with it, or it would be a mismatch)
        src.column("persons", column)[9] = src.column("persons", column)[3]
    src.column("persons", "person_id")[20] = src.column("persons", "person_id")[2]
    src.column("claims", "claim_id")[100] = src.column("claims", "claim_id")[1]
    source = src.write(tmp_path / "src")
    whole = _ingest(tmp_path, "whole", source, batch_rows=1_000_000)
    small = _ingest(tmp_path, "small", source, batch_rows=3)
    for zone in (whole, small):
        assert not list((zone / "data" / "versions").glob("*.tmp"))  # no spill left behind
    versions = [zone / "data" / "versions" for zone in (whole, small)]
    live = [next(v.iterdir()) for v in versions]
    for table in ("persons", "enrolments", "claims", "family_bindings", "face_templates"):
        a, b = (pq.read_table(v / "rejects" / f"{table}.parquet").to_pylist() for v in live)
        assert a == b, table
    rejected = pq.read_table(live[0] / "rejects" / "persons.parquet").to_pylist()
    assert {"row": 9, "reason": "duplicate:id_number"} in rejected
    assert {"row": 20, "reason": "duplicate_key"} in rejected
    for name in ("enrolments", "bindings_by_holder", "bindings_by_member", "face_templates"):
        for part in ("keys", "starts"):
            a, b = (np.load(v / "index" / f"{name}.{part}.npy") for v in live)
            assert np.array_equal(a, b), (name, part)
        a, b = (np.load(v / "index" / f"{name}.records.npy") for v in live)
        if name != "face_templates":  # sealed with each zone's own key
            assert a.tobytes() == b.tobytes(), name


def test_later_duplicates_match_the_in_memory_rule(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 5_000
    a = rng.integers(0, 400, n).astype(object)
    b = rng.integers(0, 3, n).astype(object)
    a[rng.integers(0, n, 50)] = None  # a null key part is never a duplicate
    table = pa.table({"a": pa.array(list(a), pa.int64()), "b": pa.array(list(b), pa.int64())})
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=700)
    with OutOfCore(tmp_path / "spill", memory_mb=64) as ooc:
        for keys in (["a"], ["a", "b"]):
            expected = np.nonzero(duplicate_mask(table, keys))[0]
            assert np.array_equal(ooc.later_duplicates(path, keys), expected), keys
        assert ooc.longest(path, []) == {}


@pytest.mark.parametrize(
    ("keys", "repeated"),
    [
        ([1, 2, 5, 9, 10], []),  # rising: no search out of core, nothing repeats
        ([1, 2, 2, 9, 10], [2]),  # equal neighbours
        ([1, 2, 5, 1, 10], [3]),  # a fall
        ([1, 2, None, 3, 3], [4]),  # a null is never a duplicate, nor ends the search
    ],
)
def test_an_ordered_key_is_checked_without_sorting(
    tmp_path: Path, keys: list[int | None], repeated: list[int]
) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"k": pa.array(keys, pa.int64())}), path, row_group_size=2)
    with OutOfCore(tmp_path / "spill", memory_mb=64) as ooc:
        assert ooc.later_duplicates(path, ["k"]).tolist() == repeated


def test_indexes_written_in_chunks_equal_the_whole_ones(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    keys = np.sort(rng.integers(0, 300, 2_000)).astype(np.int64)
    dtype = np.dtype([("v", "<i8"), ("s", "S3")])
    records = np.zeros(len(keys), dtype=dtype)
    records["v"] = np.arange(len(keys))
    records["s"] = [str(k % 7).encode() for k in keys]
    (tmp_path / "whole").mkdir()
    (tmp_path / "parts").mkdir()
    write_group_index(tmp_path / "whole", "x", keys, records)
    with GroupIndexWriter(tmp_path / "parts", "x", dtype) as writer:
        for start in range(0, len(keys), 333):  # chunk edges inside a key's group
            writer.add(keys[start : start + 333], records[start : start + 333])
        assert not writer.in_order(keys[:1] - 1)
        with pytest.raises(ValueError, match="ascending"):
            writer.add(keys[:1] - 1, records[:1])
    for part in ("keys", "starts", "records"):
        whole = np.load(tmp_path / "whole" / f"x.{part}.npy")
        parts = np.load(tmp_path / "parts" / f"x.{part}.npy")
        assert whole.dtype == parts.dtype and np.array_equal(whole, parts), part
    tokens = np.sort(np.array([bytes([i]) * 32 for i in range(40)], dtype="S32"))
    with TokenIndexWriter(tmp_path / "parts", "t", dtype) as writer:
        writer.add(tokens[:25], records[:25])
        writer.add(tokens[25:], records[25:40])
    assert np.array_equal(np.load(tmp_path / "parts" / "t.tokens.npy"), tokens)
    assert len(np.load(tmp_path / "parts" / "t.records.npy", mmap_mode="r")) == 40


def test_a_scattered_index_equals_the_whole_one(tmp_path: Path) -> None:
    """Wide records (face templates) are sorted by their keys alone and each written to its
    place: the same files as the in-memory sort, ties in row order; chunks that do not add
    up to the keys are refused."""
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 400, 3_000).astype(np.int64)  # unsorted, with ties
    dtype = np.dtype([("row", "<i8"), ("pad", "u1", (300,))])
    records = np.zeros(len(keys), dtype=dtype)
    records["row"] = np.arange(len(keys))
    (tmp_path / "whole").mkdir()
    (tmp_path / "scattered").mkdir()
    write_group_index(tmp_path / "whole", "x", keys, records)
    chunks = [records[a : a + 451] for a in range(0, len(records), 451)]
    write_scattered_group_index(tmp_path / "scattered", "x", keys, iter(chunks), dtype)
    for part in ("keys", "starts", "records"):
        whole = np.load(tmp_path / "whole" / f"x.{part}.npy")
        scattered = np.load(tmp_path / "scattered" / f"x.{part}.npy")
        assert whole.dtype == scattered.dtype and np.array_equal(whole, scattered), part
    other = np.zeros(3, dtype=np.dtype([("row", "<i8"), ("pad", "u1", (299,))]))
    for short in (chunks[:-1], [*chunks, records[:1]], [chunks[0], other]):
        with pytest.raises(ValueError, match="do not fit"):  # not a BufferError of the map
            write_scattered_group_index(tmp_path / "scattered", "y", keys, iter(short), dtype)


def test_a_failed_ingest_leaves_no_spill_and_the_live_version(tmp_path: Path) -> None:
    src = make_source(30)
    zone = _ingest(tmp_path, "z", src.write(tmp_path / "good"))
    live = (zone / "data" / "CURRENT").read_text()
    bad = tmp_path / "bad"
    src.write(bad)
    claims = bad / "claims.parquet"
    data = bytearray(claims.read_bytes())
    footer = int.from_bytes(data[-8:-4], "little") + 8  # metadata length + its length and magic
    for i in range(8, len(data) - footer - 8):  # the column chunks, not the schema or footer
        data[i] ^= 0x5A
    claims.write_bytes(bytes(data))
    assert pq.read_schema(claims) == pq.read_schema(tmp_path / "good" / "claims.parquet")
    with pytest.raises(IngestError):
        ingest(zone, bad, open_keyring(zone, MASTER_KEY), max_reject_share=1.0)
    assert (zone / "data" / "CURRENT").read_text() == live
    assert sorted(p.name for p in (zone / "data" / "versions").iterdir()) == [live.strip()]


@pytest.mark.parametrize("chunk", [1, 7, 64, 10_000])
def test_a_merged_template_index_equals_one_written_whole(tmp_path: Path, chunk: int) -> None:
    """enroll-faces merges its new records into the live index chunk by chunk: the result is
    the index of the live rows with the enrolled persons' replaced or added -- new ids below,
    between and above the live ones, at chunk edges too."""
    rng = np.random.default_rng(chunk)
    live_ids = np.sort(rng.choice(np.arange(0, 1_000, 2), 150, replace=False)).astype(np.int64)
    new_ids = np.unique(
        np.concatenate([rng.choice(live_ids, 20), rng.integers(-5, 1_005, 30)])
    ).astype(np.int64)

    def records(ids: np.ndarray, tag: int) -> np.ndarray:
        out = np.zeros(len(ids), dtype=TEMPLATE_RECORD)
        out["sealed"][:, 0] = tag
        out["sealed"][:, 1:9] = ids.astype("<i8").view(np.uint8).reshape(-1, 8)
        return out

    (tmp_path / "live").mkdir()
    write_group_index(tmp_path / "live", TEMPLATE_INDEX, live_ids, records(live_ids, 1))
    live = GroupIndex.open(tmp_path / "live", TEMPLATE_INDEX)
    for name, base in (("merged", live), ("from-empty", None)):
        (tmp_path / name).mkdir()
        source = base or GroupIndex(
            np.zeros(0, np.int64), np.zeros(1, np.int64), records(np.zeros(0, np.int64), 1)
        )
        merge_template_index(tmp_path / name, source, new_ids, records(new_ids, 2), chunk=chunk)
    kept = live_ids[~np.isin(live_ids, new_ids)]
    expected_ids = np.concatenate([kept, new_ids])
    expected = np.concatenate([records(kept, 1), records(new_ids, 2)])
    (tmp_path / "whole").mkdir()
    write_group_index(tmp_path / "whole", TEMPLATE_INDEX, expected_ids, expected)
    for part in ("keys", "starts", "records"):
        whole = np.load(tmp_path / "whole" / f"{TEMPLATE_INDEX}.{part}.npy")
        merged = np.load(tmp_path / "merged" / f"{TEMPLATE_INDEX}.{part}.npy")
        assert whole.dtype == merged.dtype and np.array_equal(whole, merged), part
    only_new = GroupIndex.open(tmp_path / "from-empty", TEMPLATE_INDEX)
    assert np.array_equal(only_new.keys, new_ids)
    assert np.array_equal(only_new.records, records(new_ids, 2))


def test_an_ingest_out_of_its_memory_says_which_setting_to_raise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB past its limit (a huge export at a small zone.ingest_memory_mb) is an
    IngestError naming the setting and its value, not the bare "ingest failed"."""

    def out_of_memory(*args: object, **kwargs: object) -> object:
        raise duckdb.OutOfMemoryException("failed to allocate data of size 2.0 MiB")

    monkeypatch.setattr(OutOfCore, "later_duplicates", out_of_memory)
    source = make_source(12).write(tmp_path / "src")
    zone = tmp_path / "zone"
    init_zone(zone, MASTER_KEY)
    with pytest.raises(IngestError, match=r"zone.ingest_memory_mb = 600\): raise it"):
        ingest(zone, source, open_keyring(zone, MASTER_KEY), memory_mb=600)
    assert not list((zone / "data" / "versions").glob("*"))
