"""SqliteAuditStore.append inserts a commit's leaves in a few many-row statements (issue 15):
every count of rows lands whole, in order, with its lookup columns, in one transaction."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from enclave.audit import AuditStorageError, NewCheckpoint, NewLeaf, SqliteAuditStore
from enclave.audit._sqlite import _MAX_ROWS, _leaf_insert, _statement_rows


def _leaves(start: int, count: int) -> list[NewLeaf]:
    made = []
    for i in range(start, start + count):
        leaf = f'{{"seq":{i}}}'.encode()
        token = f"{i:064x}" if i % 3 == 0 else None
        made.append(NewLeaf(i, leaf, hashlib.sha256(leaf).digest(), token, f"{i:032x}"))
    return made


@pytest.mark.parametrize("count", [1, 2, 3, 30, _MAX_ROWS - 1, _MAX_ROWS, _MAX_ROWS + 1, 700])
def test_every_count_of_leaves_lands_whole_and_in_order(tmp_path: Path, count: int) -> None:
    store = SqliteAuditStore.open(tmp_path / "audit.db")
    try:
        first = _leaves(0, 5)
        store.append(first)
        new = _leaves(5, count)
        store.append(new, NewCheckpoint(5 + count, "note"))
        stored = list(store.leaves())
        assert [(s.index, s.leaf, s.leaf_hash) for s in stored] == [
            (x.index, x.leaf, x.leaf_hash) for x in [*first, *new]
        ]
        assert store.latest_checkpoint() is not None
        for x in new:  # the lookup columns of each row, wherever its statement began
            if x.person_token is not None:
                assert [s.index for s in store.by_person(x.person_token)] == [x.index]
    finally:
        store.close()


def test_a_refused_row_leaves_none_of_its_commit(tmp_path: Path) -> None:
    store = SqliteAuditStore.open(tmp_path / "audit.db")
    try:
        store.append(_leaves(0, 3))
        clash = _leaves(3, _MAX_ROWS + 10)
        clash[-1] = _leaves(1, 1)[0]  # index 1 again, in the commit's last statement
        with pytest.raises(AuditStorageError):
            store.append(clash)
        assert [s.index for s in store.leaves()] == [0, 1, 2]
    finally:
        store.close()


def test_a_commits_rows_are_split_into_few_statements_of_a_handful_of_sizes() -> None:
    assert _statement_rows(30) == [16, 8, 4, 2]
    assert _statement_rows(_MAX_ROWS * 2 + 3) == [_MAX_ROWS, _MAX_ROWS, 2, 1]
    sizes: set[int] = set()
    for rows in range(1, 2000):
        counts = _statement_rows(rows)
        assert sum(counts) == rows
        assert len(counts) <= rows // _MAX_ROWS + _MAX_ROWS.bit_length()
        assert all(c & (c - 1) == 0 and c <= _MAX_ROWS for c in counts)  # powers of two
        sizes.update(counts)
    assert len(sizes) == _MAX_ROWS.bit_length()  # so few texts stay in SQLite's cache


def test_a_statement_has_its_rows_placeholders() -> None:
    assert _leaf_insert(1) == "INSERT INTO leaves VALUES (?, ?, ?, ?, ?)"
    assert _leaf_insert(4).count("?") == 20
