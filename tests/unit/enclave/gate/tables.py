"""Aggregates for the gate tests, and an exact oracle for what subtraction can recover."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from fractions import Fraction

import pyarrow as pa

from enclave.gate import PERSONS_COLUMN, AggregateKind, AggregateSpec, GateRules

Key = tuple[Hashable, ...]
# One cell: its dimension values (None = all), its row count, its sum, its distinct persons.
Cell = tuple[Key, int, int, int | None]


def aggregate(cells: Sequence[Cell], dimensions: Sequence[str]) -> pa.Table:
    columns: dict[str, list[object]] = {
        d: [c[0][i] for c in cells] for i, d in enumerate(dimensions)
    }
    columns["n"] = [c[1] for c in cells]
    columns["s"] = [c[2] for c in cells]
    columns[PERSONS_COLUMN] = [c[3] for c in cells]
    types = {"n": pa.int64(), "s": pa.int64(), PERSONS_COLUMN: pa.int64()}
    return pa.table({k: pa.array(v, type=types.get(k, pa.int64())) for k, v in columns.items()})


def rules(dimensions: Sequence[str], **overrides: int) -> GateRules:
    fields: dict[str, int] = {"min_persons": 11, "count_base": 5, "sum_base": 100, "row_cap": 1000}
    fields |= overrides
    return GateRules(
        min_persons=fields["min_persons"],
        count_base=fields["count_base"],
        sum_base=fields["sum_base"],
        row_cap=fields["row_cap"],
        dimensions=tuple(dimensions),
        aggregates=(AggregateSpec("n", AggregateKind.COUNT), AggregateSpec("s", AggregateKind.SUM)),
    )


def with_margins(cells: dict[Key, tuple[int, int, int]], width: int, cube: bool) -> list[Cell]:
    """``cells`` plus the margins over them: for one dimension the total; for two, the row
    margins and the grand total (ROLLUP), and the column margins too when ``cube``."""
    out: list[Cell] = [(k, n, s, p) for k, (n, s, p) in cells.items()]
    margins: dict[Key, list[int]] = {}

    def add(key: Key, n: int, s: int, p: int) -> None:
        m = margins.setdefault(key, [0, 0, 0])
        m[0], m[1], m[2] = m[0] + n, m[1] + s, m[2] + p

    for key, (n, s, p) in cells.items():
        add((None,) * width, n, s, p)
        if width == 2:
            add((key[0], None), n, s, p)
            if cube:
                add((None, key[1]), n, s, p)
    out += [(k, n, s, p) for k, (n, s, p) in margins.items()]
    return out


def equations(keys: Sequence[Key]) -> list[tuple[int, list[int]]]:
    """Written out independently of the gate: (margin, its cells) for every margin row and
    every dimension it sums over."""
    index = {k: i for i, k in enumerate(keys)}
    found: list[tuple[int, list[int]]] = []
    for m, key in enumerate(keys):
        for d, value in enumerate(key):
            if value is not None:
                continue
            children = [
                i
                for i, other in enumerate(keys)
                if other[d] is not None
                and all(
                    other[j] == key[j] if key[j] is not None else other[j] is None
                    for j in range(len(key))
                    if j != d
                )
            ]
            if children:
                found.append((m, children))
    assert all(k in index for k in keys)
    return found


def determined(keys: Sequence[Key], hidden: set[int]) -> set[int]:
    """The hidden rows whose value is a linear function of the others' (exact: the unit vector
    of the row lies in the row space of the equations restricted to the hidden rows)."""
    unknowns = sorted(hidden)
    column = {r: j for j, r in enumerate(unknowns)}
    matrix: list[list[Fraction]] = []
    for margin, children in equations(keys):
        row = [Fraction(0)] * len(unknowns)
        for r, sign in [(margin, 1), *((c, -1) for c in children)]:
            if r in column:
                row[column[r]] += sign
        matrix.append(row)
    pivots: list[tuple[int, int]] = []  # (matrix row, column)
    top = 0
    for j in range(len(unknowns)):
        pick = next((i for i in range(top, len(matrix)) if matrix[i][j] != 0), None)
        if pick is None:
            continue
        matrix[top], matrix[pick] = matrix[pick], matrix[top]
        lead = matrix[top][j]
        matrix[top] = [x / lead for x in matrix[top]]
        for i in range(len(matrix)):
            if i != top and matrix[i][j] != 0:
                f = matrix[i][j]
                matrix[i] = [a - f * b for a, b in zip(matrix[i], matrix[top], strict=True)]
        pivots.append((top, j))
        top += 1
    return {
        unknowns[j] for i, j in pivots if all(x == 0 for k, x in enumerate(matrix[i]) if k != j)
    }
