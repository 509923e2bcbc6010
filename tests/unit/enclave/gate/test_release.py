"""The output gate: primary and secondary suppression, rounding, the row cap, the columns."""

from __future__ import annotations

import pyarrow as pa
import pytest

from enclave.errors import ZoneError
from enclave.gate import (
    MARKER_COLUMN,
    PERSONS_COLUMN,
    AggregateKind,
    AggregateSpec,
    ColumnMissing,
    ColumnNotAllowed,
    ColumnTypeInvalid,
    DuplicateCell,
    GateError,
    GateRules,
    GateRulesInvalid,
    UnsupportedShape,
    release,
)
from tests.unit.enclave.gate.tables import Key, aggregate, determined, rules, with_margins

ONE = ("a",)
TWO = ("a", "b")


def hidden_keys(table: pa.Table, dimensions: tuple[str, ...]) -> set[tuple[object, ...]]:
    rows = table.to_pylist()
    return {tuple(r[d] for d in dimensions) for r in rows if r[MARKER_COLUMN]}


def test_a_cell_under_the_threshold_is_suppressed_and_marked() -> None:
    table = aggregate([((1,), 40, 1000, 10), ((2,), 40, 1000, 11), ((3,), 9, 500, None)], ONE)
    result = release(table, rules(ONE))
    assert result.table.to_pylist() == [
        {"a": 1, "n": None, "s": None, MARKER_COLUMN: True},
        {"a": 2, "n": 40, "s": 1000, MARKER_COLUMN: False},
        {"a": 3, "n": None, "s": None, MARKER_COLUMN: True},  # persons unknown: fail closed
    ]
    assert (result.suppressed_cells, result.rows_capped) == (2, False)


def test_the_threshold_is_the_rules() -> None:
    table = aggregate([((1,), 40, 1000, 10), ((2,), 40, 1000, 30)], ONE)
    assert release(table, rules(ONE, min_persons=5)).suppressed_cells == 0
    assert release(table, rules(ONE, min_persons=31)).suppressed_cells == 2


def test_counts_round_to_their_base_and_sums_to_theirs() -> None:
    cells = [((1,), 12, 149, 20), ((2,), 13, 150, 20), ((3,), 17, -149, 20), ((4,), 15, -151, 20)]
    result = release(aggregate(cells, ONE), rules(ONE, sum_base=100))
    assert result.table.column("n").to_pylist() == [10, 15, 15, 15]
    assert result.table.column("s").to_pylist() == [100, 200, -100, -200]
    other = release(aggregate(cells, ONE), rules(ONE, count_base=10, sum_base=7))
    assert other.table.column("n").to_pylist() == [10, 10, 20, 20]
    assert other.table.column("s").to_pylist() == [147, 147, -147, -154]


def test_the_row_cap_keeps_the_first_rows_in_dimension_order() -> None:
    # Input order and cell values do not choose the rows: ORDER BY n DESC LIMIT 1 is moot.
    cells = [((5,), 999, 0, 900), ((1,), 20, 0, 20), ((4,), 20, 0, 20), ((2,), 20, 0, 5)]
    cells.append(((3,), 20, 0, 20))
    result = release(aggregate(cells, ONE), rules(ONE, row_cap=3))
    assert result.table.column("a").to_pylist() == [1, 2, 3]
    assert (result.rows_capped, result.suppressed_cells) == (True, 1)
    assert not release(aggregate(cells, ONE), rules(ONE, row_cap=5)).rows_capped


def test_a_cell_recoverable_from_the_total_is_suppressed_too_one_dimension() -> None:
    cells = with_margins({(1,): (30, 300, 5), (2,): (40, 900, 25), (3,): (50, 500, 14)}, 1, False)
    result = release(aggregate(cells, ONE), rules(ONE))
    # a=1 is small; the total minus a=2 and a=3 would give it back, so the next smallest
    # (a=3, 14 persons) goes too; the total stays.
    assert hidden_keys(result.table, ONE) == {(1,), (3,)}
    assert result.table.to_pylist()[-1] == {"a": None, "n": 120, "s": 1700, MARKER_COLUMN: False}


def test_a_cell_recoverable_from_either_margin_is_protected_two_dimensions() -> None:
    cells: dict[Key, tuple[int, int, int]] = {
        (a, b): (50, 1000, 20 + a + b) for a in range(3) for b in range(3)
    }
    cells[(1, 1)] = (3, 60, 3)
    table = aggregate(with_margins(cells, 2, cube=True), TWO)
    result = release(table, rules(TWO))
    hidden = hidden_keys(result.table, TWO)
    # Its row and its column each lose their smallest other cell, and so does the corner.
    assert hidden == {(1, 1), (1, 0), (0, 1), (0, 0)}
    keys = [tuple(r[d] for d in TWO) for r in result.table.to_pylist()]
    assert determined(keys, {keys.index(k) for k in hidden}) == set()


def test_a_bridge_the_classic_rule_misses_is_broken() -> None:
    # Two suppressed 2x2 blocks joined by one suppressed cell: every row and column holds two
    # or more suppressed cells, yet the joining cell is the difference of known sums.
    small = {(1, 1), (1, 2), (2, 1), (2, 2), (3, 3), (3, 4), (4, 3), (4, 4), (1, 3)}
    cells: dict[Key, tuple[int, int, int]] = {
        (a, b): (40, 100, 3 if (a, b) in small else 30 + a)
        for a in range(1, 5)
        for b in range(1, 5)
    }
    table = aggregate(with_margins(cells, 2, cube=True), TWO)
    result = release(table, rules(TWO))
    hidden = hidden_keys(result.table, TWO)
    assert small < hidden
    keys = [tuple(r[d] for d in TWO) for r in result.table.to_pylist()]
    assert determined(keys, {keys.index(k) for k in hidden}) == set()


def test_a_hierarchy_is_protected_at_every_level() -> None:
    cells: dict[Key, tuple[int, int, int]] = {
        (a, b): (40, 100, 30) for a in range(2) for b in range(3)
    }
    cells[(0, 0)] = (5, 10, 5)
    table = aggregate(with_margins(cells, 2, cube=False), TWO)  # ROLLUP(a, b)
    result = release(table, rules(TWO))
    keys = [tuple(r[d] for d in TWO) for r in result.table.to_pylist()]
    hidden = {keys.index(k) for k in hidden_keys(result.table, TWO)}
    assert len(hidden) >= 2
    assert determined(keys, hidden) == set()


def test_margins_over_three_dimensions_are_refused() -> None:
    keys = [(a, b, c) for a in (1, 2, None) for b in (1, 2, None) for c in (1, 2, None)]
    table = pa.table(
        {
            "a": [k[0] for k in keys],
            "b": [k[1] for k in keys],
            "c": [k[2] for k in keys],
            "n": pa.array([50] * len(keys), pa.int64()),
            PERSONS_COLUMN: pa.array([50] * len(keys), pa.int64()),
        }
    )
    three = GateRules(
        sum_base=1,
        row_cap=100,
        dimensions=("a", "b", "c"),
        aggregates=(AggregateSpec("n", AggregateKind.COUNT),),
    )
    with pytest.raises(UnsupportedShape) as excinfo:
        release(table, three)
    assert excinfo.value.reason == "FIELD_INVALID"
    # A three-level hierarchy (ROLLUP) is a graph, and is handled.
    rollup = [k for k in keys if not (k[0] is None and k[1] is not None)]
    rollup = [k for k in rollup if not (k[1] is None and k[2] is not None)]
    mask = pa.array([k in rollup for k in keys])
    assert release(table.filter(mask), three).suppressed_cells == 0


def test_only_the_declared_columns_leave_and_never_the_persons() -> None:
    table = aggregate([((1,), 40, 1000, 20)], ONE)
    result = release(table, rules(ONE))
    assert result.table.column_names == ["a", "n", "s", MARKER_COLUMN]
    assert PERSONS_COLUMN not in result.table.column_names
    with pytest.raises(ColumnNotAllowed) as excinfo:
        release(table.append_column("person_id", pa.array([7], pa.int64())), rules(ONE))
    assert "person_id" in excinfo.value.public_message
    with pytest.raises(ColumnNotAllowed):
        release(table, rules(()))  # a dimension nobody declared is an undeclared column


def test_a_missing_or_mistyped_column_is_refused() -> None:
    table = aggregate([((1,), 40, 1000, 20)], ONE)
    with pytest.raises(ColumnMissing):
        release(table.drop_columns([PERSONS_COLUMN]), rules(ONE))
    with pytest.raises(ColumnMissing):
        release(table.drop_columns(["s"]), rules(ONE))
    wrong = table.set_column(1, "n", pa.array([40.0], pa.float64()))
    with pytest.raises(ColumnTypeInvalid):
        release(wrong, rules(ONE))


def test_rules_that_do_not_hold_together_are_refused() -> None:
    table = aggregate([((1,), 40, 1000, 20)], ONE)
    for bad in ({"min_persons": 0}, {"count_base": 0}, {"sum_base": 0}, {"row_cap": 0}):
        with pytest.raises(GateRulesInvalid):
            release(table, rules(ONE, **bad))
    with pytest.raises(GateRulesInvalid):
        release(table, rules(("n",)))
    with pytest.raises(GateRulesInvalid):
        release(table, rules((MARKER_COLUMN,)))


def test_two_rows_for_one_cell_are_refused() -> None:
    with pytest.raises(DuplicateCell):
        release(aggregate([((1,), 40, 1000, 20), ((1,), 40, 1000, 20)], ONE), rules(ONE))


def test_a_global_aggregate_has_one_row() -> None:
    table = aggregate([((), 7, 70, 7)], ())
    assert release(table, rules(())).table.to_pylist() == [
        {"n": None, "s": None, MARKER_COLUMN: True}
    ]


def test_every_gate_error_is_a_zone_error_with_a_declared_reason() -> None:
    for kind in (GateError, GateRulesInvalid, ColumnNotAllowed, ColumnMissing, DuplicateCell):
        assert issubclass(kind, ZoneError)
        assert kind.reason == "INTERNAL"
    assert UnsupportedShape.reason == "FIELD_INVALID"


def test_a_nested_dimension_is_refused() -> None:
    table = aggregate([((1,), 40, 1000, 20)], ONE).set_column(0, "a", pa.array([[1]]))
    with pytest.raises(ColumnTypeInvalid):
        release(table, rules(ONE))


def test_an_empty_answer_releases_an_empty_table() -> None:
    result = release(aggregate([], TWO), rules(TWO))
    assert (result.table.num_rows, result.table.column_names) == (
        0,
        ["a", "b", "n", "s", "suppressed"],
    )


def test_the_input_order_does_not_change_the_answer() -> None:
    cells: dict[Key, tuple[int, int, int]] = {
        (a, b): (40, 10 * a + b, 5 + 3 * a + b) for a in range(4) for b in range(3)
    }
    rows = with_margins(cells, 2, cube=True)
    first = release(aggregate(rows, TWO), rules(TWO)).table
    assert release(aggregate(rows[::-1], TWO), rules(TWO)).table.equals(first)


def test_a_small_total_over_large_cells_is_not_given_away_by_them() -> None:
    # Not from real data (a total covers at least its largest cell's persons), but the gate
    # does not trust its input: the hidden total is the sum of released cells, so one goes too.
    cells = [((1,), 40, 100, 20), ((2,), 40, 100, 30), ((None,), 80, 200, 4)]
    assert hidden_keys(release(aggregate(cells, ONE), rules(ONE)).table, ONE) == {(1,), (None,)}


def test_separate_one_dimension_groupings_carry_no_equation() -> None:
    # GROUPING SETS ((a), (b)) without a grand total: no cell is the sum of others.
    cells = [((1, None), 40, 1, 5), ((2, None), 40, 1, 30), ((None, 1), 40, 1, 30)]
    cells.append(((None, 2), 40, 1, 30))
    assert release(aggregate(cells, TWO), rules(TWO)).suppressed_cells == 1


def test_the_cap_withholds_rows_after_suppression_saw_them_all() -> None:
    cells = with_margins({(1,): (30, 300, 5), (2,): (40, 900, 25), (3,): (50, 500, 14)}, 1, False)
    result = release(aggregate(cells, ONE), rules(ONE, row_cap=2))
    assert result.table.to_pylist() == [
        {"a": 1, "n": None, "s": None, MARKER_COLUMN: True},
        {"a": 2, "n": 40, "s": 900, MARKER_COLUMN: False},
    ]
    assert (result.suppressed_cells, result.rows_capped) == (1, True)
