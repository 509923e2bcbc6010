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

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["GroupIndex", "TokenIndex", "write_group_index", "write_token_index"]

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


def _load(path: Path) -> npt.NDArray[np.generic]:
    # mmap: opening costs nothing, pages load on first touch; an open mapping survives the
    # file being unlinked when an old version is pruned. np.asarray drops the np.memmap
    # subclass (same memory, no copy), whose per-call overhead triples a lookup's cost.
    array: npt.NDArray[np.generic] = np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))
    return array


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
        pos = int(self.tokens.searchsorted(token))
        # numpy S32 values drop trailing NULs; compare the same way on both sides
        if pos < len(self.tokens) and self.tokens[pos] == token.rstrip(b"\x00"):
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
        pos = min(int(self.tokens.searchsorted(token)), size - 1)
        value = self.records[pos][field].item()
        found = bool(self.tokens[pos] == token.rstrip(b"\x00"))
        return value if found else None


@dataclass(frozen=True)
class GroupIndex:
    keys: npt.NDArray[np.int64]
    starts: npt.NDArray[np.int64]
    records: npt.NDArray[np.void]

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
        pos = min(int(np.searchsorted(self.keys, key)), size - 1)
        start, end = int(self.starts[pos]), int(self.starts[pos + 1])
        return start, (end - start if int(self.keys[pos]) == key else 0)

    def get(self, key: int) -> npt.NDArray[np.void]:
        """The records of ``key`` (empty if none); a miss does the same reads as a hit, so
        the time taken does not tell whether the key is there (issue 8, fault 8)."""
        size = len(self.keys)
        if size == 0:
            return self.records[0:0]
        pos = min(int(np.searchsorted(self.keys, key)), size - 1)
        start, end = int(self.starts[pos]), int(self.starts[pos + 1])
        return self.records[start : end if int(self.keys[pos]) == key else start]
