"""Fixed-width lookup indexes written at ingest and memory-mapped by :class:`enclave.dataset.Zone`.

- ``persons.tokens.npy`` (``S32``, sorted) and ``persons.records.npy`` (a structured array in
  the same order): a person lookup is one binary search, O(log n), touching a few pages.
- ``<name>.keys.npy`` (sorted unique int64 person ids), ``<name>.starts.npy`` (offsets,
  len(keys)+1) and ``<name>.records.npy`` (records grouped by key): the rows of one person
  are ``records[starts[i]:starts[i+1]]`` for ``i = searchsorted(keys, person_id)``.

numpy ``S32`` ignores trailing NUL bytes when comparing, consistently for stored and queried
tokens, so binary search and equality stay exact for 32-byte tokens.
"""

from __future__ import annotations

import bisect
import mmap
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import numpy as np
import numpy.typing as npt

__all__ = [
    "GroupIndex",
    "GroupIndexWriter",
    "TokenIndex",
    "TokenIndexWriter",
    "write_group_index",
    "write_scattered_group_index",
    "write_token_index",
]

NULL_INT32 = np.iinfo(np.int32).min
NULL_INT64 = np.iinfo(np.int64).min


def write_token_index(
    directory: Path, name: str, tokens: npt.NDArray[np.bytes_], records: npt.NDArray[np.void]
) -> None:
    """Sort ``records`` by ``tokens`` (unique 32-byte values) and save both."""
    order = np.argsort(tokens, kind="stable")
    np.save(directory / f"{name}.tokens.npy", tokens[order])
    np.save(directory / f"{name}.records.npy", records[order])


def write_group_index(
    directory: Path, name: str, keys: npt.NDArray[np.int64], records: npt.NDArray[np.void]
) -> None:
    """Group ``records`` by ``keys`` and save the sorted unique keys, offsets and records."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    unique, starts = np.unique(sorted_keys, return_index=True)
    offsets = np.append(starts, len(sorted_keys)).astype(np.int64)
    np.save(directory / f"{name}.keys.npy", unique.astype(np.int64))
    np.save(directory / f"{name}.starts.npy", offsets)
    np.save(directory / f"{name}.records.npy", records[order])


def write_scattered_group_index(
    directory: Path,
    name: str,
    keys: npt.NDArray[np.int64],
    records: Iterable[npt.NDArray[np.void]],
    dtype: np.dtype[Any],
) -> None:
    """:func:`write_group_index` for records too wide to sort whole (a face template's is
    540 bytes): ``keys`` of every row (8 bytes each) are sorted in memory, and the records,
    coming a chunk at a time in row order, are each written straight to their sorted place
    in the memory-mapped output file (dirty file pages, never a copy of the records)."""
    order = np.argsort(keys, kind="stable")
    place = np.empty_like(order)
    place[order] = np.arange(len(order), dtype=order.dtype)
    sorted_keys = keys[order]
    del order
    with (directory / f"{name}.records.npy").open("w+b") as handle:
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False}
        np.lib.format.write_array_header_1_0(handle, {**header, "shape": (len(keys),)})
        offset = handle.tell()
        handle.truncate(offset + len(keys) * dtype.itemsize)
        start = 0
        mapped = mmap.mmap(handle.fileno(), 0) if len(keys) else None
        out: npt.NDArray[np.void] | None = None
        try:
            for chunk in records:
                if chunk.dtype != dtype or start + len(chunk) > len(keys):
                    raise ValueError("the record chunks do not fit the keys")
                if mapped is None or len(chunk) == 0:  # no keys, or an empty chunk
                    continue
                out = np.frombuffer(mapped, dtype=dtype, count=len(keys), offset=offset)
                for lo in range(0, len(chunk), _SCATTER_ROWS):
                    hi = min(len(chunk), lo + _SCATTER_ROWS)
                    out[place[start + lo : start + hi]] = chunk[lo:hi]
                    # Out of this process's memory, not out of the file: a shared file
                    # mapping's dirty pages stay in the page cache. Each record lands on a
                    # page of its own, so without this the whole file (2.4 GB of templates
                    # at 4.5M persons) would count as the ingest's resident memory.
                    mapped.madvise(mmap.MADV_DONTNEED)
                start += len(chunk)
            if mapped is not None:
                mapped.flush()
        finally:
            out = None  # the view first: a mapping with a view on it cannot close
            if mapped is not None:
                mapped.close()
        if start != len(keys):
            raise ValueError("the record chunks do not fit the keys")
    unique, starts = np.unique(sorted_keys, return_index=True)
    np.save(directory / f"{name}.keys.npy", unique.astype(np.int64))
    np.save(directory / f"{name}.starts.npy", np.append(starts, len(keys)).astype(np.int64))


#: Records written to their places between two releases of the mapped pages (32 MiB at most).
_SCATTER_ROWS = 8192


class _NpyWriter:
    """A ``.npy`` file of records written in chunks, so an index never has to be whole in
    memory. The header, which holds the count, is written first and rewritten at ``close``
    with the count written: numpy pads the header so its length does not depend on the count
    (room for 21 digits, ``np.lib.format.GROWTH_AXIS_MAX_DIGITS``), which ``close`` checks."""

    def __init__(self, path: Path, dtype: np.dtype[Any]) -> None:
        self.path, self.dtype, self.written = path, dtype, 0
        self.handle = path.open("wb")
        self.header_size = self._header(0)

    def _header(self, count: int) -> int:
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": (count,),
        }
        start = self.handle.tell()
        np.lib.format.write_array_header_1_0(self.handle, header)
        return self.handle.tell() - start

    def write(self, array: npt.NDArray[Any]) -> None:
        if array.dtype != self.dtype:
            raise ValueError("an index chunk does not fit the index being written")
        self.handle.write(np.ascontiguousarray(array).tobytes())
        self.written += len(array)

    def close(self) -> None:
        with self.handle:
            self.handle.seek(0)
            if self._header(self.written) != self.header_size:
                raise ValueError("an index header changed size")  # never with numpy's padding


class _Closing:
    """``with`` closes the writer: completely on success, only its files on an error."""

    def close(self) -> None:
        raise NotImplementedError

    def _files(self) -> list[_NpyWriter]:
        raise NotImplementedError

    def __enter__(self) -> Self:
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
            for file in self._files():
                file.handle.close()


class TokenIndexWriter(_Closing):
    """:func:`write_token_index` in chunks: ``add`` the records in ascending token order."""

    def __init__(self, directory: Path, name: str, dtype: np.dtype[Any]) -> None:
        self.tokens = _NpyWriter(directory / f"{name}.tokens.npy", np.dtype("S32"))
        self.records = _NpyWriter(directory / f"{name}.records.npy", dtype)

    def add(self, tokens: npt.NDArray[np.bytes_], records: npt.NDArray[np.void]) -> None:
        self.tokens.write(tokens.astype("S32"))
        self.records.write(records)

    def close(self) -> None:
        self.tokens.close()
        self.records.close()

    def _files(self) -> list[_NpyWriter]:
        return [self.tokens, self.records]


class GroupIndexWriter(_Closing):
    """:func:`write_group_index` in chunks: ``add`` the records in ascending key order (ties in
    row order); only the unique keys and their offsets are held until ``close``."""

    def __init__(self, directory: Path, name: str, dtype: np.dtype[Any]) -> None:
        self.directory, self.name = directory, name
        self.records = _NpyWriter(directory / f"{name}.records.npy", dtype)
        self.keys: list[npt.NDArray[np.int64]] = []
        self.starts: list[npt.NDArray[np.int64]] = []
        self.last: int | None = None

    def in_order(self, keys: npt.NDArray[np.int64]) -> bool:
        """Whether ``keys`` may be added next (ascending, from the last key added on)."""
        if len(keys) == 0:
            return True
        return (self.last is None or keys[0] >= self.last) and not bool(np.any(np.diff(keys) < 0))

    def add(self, keys: npt.NDArray[np.int64], records: npt.NDArray[np.void]) -> None:
        if len(keys) != len(records):
            raise ValueError("an index chunk has as many keys as records")
        if not self.in_order(keys):
            raise ValueError("index chunks must come in ascending key order")
        if len(keys) == 0:
            return
        new = np.ones(len(keys), dtype=np.bool_)
        new[1:] = keys[1:] != keys[:-1]
        if self.last is not None and keys[0] == self.last:
            new[0] = False
        offset = self.records.written
        self.keys.append(keys[new].astype(np.int64))
        self.starts.append(np.nonzero(new)[0].astype(np.int64) + offset)
        self.last = int(keys[-1])
        self.records.write(records)

    def close(self) -> None:
        self.records.close()
        keys = np.concatenate(self.keys) if self.keys else np.zeros(0, np.int64)
        starts = np.concatenate(self.starts) if self.starts else np.zeros(0, np.int64)
        np.save(self.directory / f"{self.name}.keys.npy", keys.astype(np.int64))
        offsets = np.append(starts, self.records.written).astype(np.int64)
        np.save(self.directory / f"{self.name}.starts.npy", offsets)

    def _files(self) -> list[_NpyWriter]:
        return [self.records]

    def discard(self) -> None:
        """Close and delete what was written (the rows came out of order)."""
        self.records.handle.close()
        self.records.path.unlink(missing_ok=True)


def _load(path: Path) -> npt.NDArray[np.generic]:
    # mmap: opening costs nothing, pages load on first touch; an open mapping survives the
    # file being unlinked when an old version is pruned. np.asarray drops the np.memmap
    # subclass (same memory, no copy), whose per-call overhead triples a lookup's cost.
    array: npt.NDArray[np.generic] = np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))
    return array


# _GIL_HELD (issue 15): a lookup bisects in Python (the C bisect over the mapped array, about
# as fast: 0.8 against 0.7 us at 100k tokens, 0.5 against 1.3 us for an int64 key) rather than
# with numpy's searchsorted, which gives Python's GIL up for its search and must take it back
# after: on a busy server each take waited for another thread, and the lookups of a group of
# checks spent a fifth of the group thread's time waiting there (py-spy, bench.grpc's load).


@dataclass(frozen=True)
class TokenIndex:
    tokens: npt.NDArray[np.bytes_]
    records: npt.NDArray[np.void]

    @classmethod
    def open(cls, directory: Path, name: str) -> TokenIndex:
        return cls(
            tokens=_load(directory / f"{name}.tokens.npy"),  # type: ignore[arg-type]
            records=_load(directory / f"{name}.records.npy"),  # type: ignore[arg-type]
        )

    def find(self, token: bytes) -> tuple[Any, ...] | None:
        """The record (as a tuple of Python values) stored under a 32-byte token, or None."""
        # numpy S32 values drop trailing NULs; compare the same way on both sides
        key = token.rstrip(b"\x00")
        pos = bisect.bisect_left(self.tokens, key)  # see _GIL_HELD
        if pos < len(self.tokens) and self.tokens[pos] == key:
            record: tuple[Any, ...] = self.records[pos].item()
            return record
        return None

    def find_field(self, token: bytes, field: str) -> Any:
        """One field of the record under ``token``, or None -- at the same cost either way.

        A miss still reads a record (the nearest one) and compares, so the time a lookup
        takes does not tell whether the token is in the index (issue 8, fault 8).
        """
        size = len(self.tokens)
        if size == 0:
            return None
        key = token.rstrip(b"\x00")
        pos = min(bisect.bisect_left(self.tokens, key), size - 1)  # see _GIL_HELD
        value = self.records[pos][field].item()
        found = bool(self.tokens[pos] == key)
        return value if found else None


@dataclass(frozen=True)
class GroupIndex:
    keys: npt.NDArray[np.int64]
    starts: npt.NDArray[np.int64]
    records: npt.NDArray[np.void]
    # The keys as a sequence of Python ints (no copy), for bisect (see _GIL_HELD).
    _key_list: memoryview = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = np.ascontiguousarray(self.keys, dtype=np.int64)  # a view when it already is
        object.__setattr__(self, "_key_list", keys.data)

    @classmethod
    def open(cls, directory: Path, name: str) -> GroupIndex:
        return cls(
            keys=_load(directory / f"{name}.keys.npy"),  # type: ignore[arg-type]
            starts=_load(directory / f"{name}.starts.npy"),  # type: ignore[arg-type]
            records=_load(directory / f"{name}.records.npy"),  # type: ignore[arg-type]
        )

    def span(self, key: int) -> tuple[int, int]:
        """``(start, count)`` of the records of ``key`` (count 0 if none), at the same cost
        either way."""
        size = len(self.keys)
        if size == 0:
            return 0, 0
        pos = min(bisect.bisect_left(self._key_list, key), size - 1)  # see _GIL_HELD
        start, end = int(self.starts[pos]), int(self.starts[pos + 1])
        return start, (end - start if int(self.keys[pos]) == key else 0)

    def get(self, key: int) -> npt.NDArray[np.void]:
        """The records of ``key`` (empty if none); a miss does the same reads as a hit, so
        the time taken does not tell whether the key is there (issue 8, fault 8)."""
        size = len(self.keys)
        if size == 0:
            return self.records[0:0]
        pos = min(bisect.bisect_left(self._key_list, key), size - 1)  # see _GIL_HELD
        start, end = int(self.starts[pos]), int(self.starts[pos + 1])
        return self.records[start : end if int(self.keys[pos]) == key else start]
