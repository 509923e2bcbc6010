"""Properties of the gate (hypothesis): for random answers with or without margins, no released
cell covers fewer persons than the threshold and no suppressed cell can be recomputed from the
released cells -- neither by one subtraction (total minus its released cells) nor by any linear
combination of the answer's equations (an exact oracle written apart from the gate)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enclave.gate import MARKER_COLUMN, release
from tests.unit.enclave.gate.tables import (
    Cell,
    Key,
    aggregate,
    determined,
    equations,
    rules,
    with_margins,
)

MIN = 11


@st.composite
def answers(draw: st.DrawFn) -> tuple[tuple[str, ...], list[Cell]]:
    width = draw(st.sampled_from([1, 2]))
    dims = ("a", "b")[:width]
    domain = st.tuples(*(st.integers(0, 5) for _ in range(width)))
    keys = draw(st.sets(domain, min_size=1, max_size=36))
    # Persons mostly around the threshold, so that primary suppression bites often.
    persons = st.one_of(st.integers(1, 16), st.integers(1, 400))
    cells: dict[Key, tuple[int, int, int]] = {}
    for key in sorted(keys):
        p = draw(persons)
        cells[key] = (p + draw(st.integers(0, 30)), draw(st.integers(-5000, 50000)), p)
    shape = draw(st.sampled_from(["none", "rollup", "cube"]))
    rows: list[Cell] = [(k, n, s, p) for k, (n, s, p) in cells.items()]
    if shape != "none":
        rows = with_margins(cells, width, cube=shape == "cube")
    return dims, rows


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers())
def test_nothing_small_leaves_and_nothing_suppressed_is_recomputable(
    answer: tuple[tuple[str, ...], list[Cell]],
) -> None:
    dims, rows = answer
    persons = {k: p for k, _, _, p in rows}
    result = release(aggregate(rows, dims), rules(dims, min_persons=MIN))
    out = result.table.to_pylist()
    assert set(result.table.column_names) == {*dims, "n", "s", MARKER_COLUMN}
    keys: list[Key] = [tuple(r[d] for d in dims) for r in out]
    hidden = {i for i, r in enumerate(out) if r[MARKER_COLUMN]}
    assert result.suppressed_cells == len(hidden)
    for i, r in enumerate(out):
        if i in hidden:
            assert r["n"] is None and r["s"] is None
        else:
            p = persons[keys[i]]
            assert p is not None and p >= MIN
    true_n = {k: n for k, n, _, _ in rows}
    for margin, children in equations(keys):
        members = [margin, *children]
        missing = [m for m in members if m in hidden]
        # Never exactly one unknown in a margin's equation: the subtraction
        # total - sum(released cells) would give it back.
        assert len(missing) != 1
        if margin not in hidden and len(missing) >= 1:
            by_subtraction = true_n[keys[margin]] - sum(
                true_n[keys[c]] for c in children if c not in hidden
            )
            assert all(by_subtraction != true_n[keys[m]] for m in missing)
    assert determined(keys, hidden) == set()


@st.composite
def hierarchies(draw: st.DrawFn) -> list[Cell]:
    """ROLLUP(a, b, c): the cells, the (a, b) and (a) subtotals and the grand total."""
    keys = draw(st.sets(st.tuples(*(st.integers(0, 2) for _ in range(3))), min_size=1, max_size=20))
    rows: dict[Key, list[int]] = {}
    for key in sorted(keys):
        p = draw(st.integers(1, 30))
        n, s = p + draw(st.integers(0, 5)), draw(st.integers(0, 9999))
        for level in ((key[0], key[1], key[2]), (key[0], key[1], None), (key[0], None, None)):
            acc = rows.setdefault(level, [0, 0, 0])
            acc[0], acc[1], acc[2] = acc[0] + n, acc[1] + s, acc[2] + p
        acc = rows.setdefault((None, None, None), [0, 0, 0])
        acc[0], acc[1], acc[2] = acc[0] + n, acc[1] + s, acc[2] + p
    return [(k, n, s, p) for k, (n, s, p) in rows.items()]


@settings(max_examples=150, deadline=None)
@given(hierarchies(), st.integers(1, 60))
def test_hierarchies_and_the_cap_hold_the_same_guarantees(rows: list[Cell], cap: int) -> None:
    dims = ("a", "b", "c")
    persons = {k: p for k, _, _, p in rows}
    full = release(aggregate(rows, dims), rules(dims, min_persons=MIN, row_cap=10_000))
    keys: list[Key] = [tuple(r[d] for d in dims) for r in full.table.to_pylist()]
    hidden = {i for i, r in enumerate(full.table.to_pylist()) if r[MARKER_COLUMN]}
    assert all((persons[k] or 0) >= MIN for i, k in enumerate(keys) if i not in hidden)
    assert determined(keys, hidden) == set()
    capped = release(aggregate(rows, dims), rules(dims, min_persons=MIN, row_cap=cap))
    assert capped.table.num_rows == min(cap, len(rows))
    assert capped.rows_capped == (cap < len(rows))
    # The cap keeps a prefix of the uncapped answer: which rows leave never depends on values.
    assert capped.table.equals(full.table.slice(0, capped.table.num_rows))
