"""`rewrite(..., cells_per_person=K)` on real DuckDB over hand-made Parquet (issue 11).

DP noise is scaled to the cells one person can change, so a person with rows in many cells
must count in at most K of them -- in every aggregate alike (rows, distinct persons, sums) --
while a person with rows in K cells or fewer counts in full. The rewrite keeps each person's
cells whose md5 of the person and the keys (``person|key1|key2``, a NULL as the empty string)
is lowest, then by the keys:
a choice that depends on the person's own rows alone, so it is deterministic and additive over
persons. Exact release (``cells_per_person=None``) keeps every cell.

Every expected number comes from :func:`_oracle`, plain Python over the rows written to the
file, never from the rewritten SQL.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from policies import View
from query_engine.duckdb import DuckDBEngine
from query_engine.interface import PERSONS_COLUMN, ExecutionLimits
from query_engine.parse import parse
from query_engine.rewrite import rewrite
from tests.unit.query_engine.views import claims_view

LIMITS = ExecutionLimits(timeout_seconds=10, memory_bytes=200_000_000)
VIEW = claims_view()  # contribution limit 10, total_cents clipped to [0, 10_000_000]
LIMIT, LOWER, UPPER = 10, 0, 10_000_000
PROVINCES = ("11", "12", "44")
VISITS = ("IN", "OUT")

#: One claim: person, province, visit type, total_cents (the other columns are fixed).
Row = tuple[str, str | None, str, int]
Cell = tuple[str | None, ...]

BY_PROVINCE_AND_VISIT = (
    "SELECT province, visit_type, COUNT(*) AS n, COUNT(DISTINCT person_id) AS p,"
    " SUM(total_cents) AS s FROM claims_analysis GROUP BY province, visit_type"
)
BY_PROVINCE = (
    "SELECT province, COUNT(*) AS n, COUNT(DISTINCT person_id) AS p, SUM(total_cents) AS s"
    " FROM claims_analysis GROUP BY province"
)


def _write(
    directory: Path, rows: Sequence[Row], name: str = "claims.parquet"
) -> dict[str, tuple[str, ...]]:
    table = pa.table(
        {
            "person_id": pa.array([r[0] for r in rows], type=pa.string()),
            "province": pa.array([r[1] for r in rows], type=pa.string()),
            "gender": pa.array(["F"] * len(rows), type=pa.string()),
            "age_band": pa.array(["18-64"] * len(rows), type=pa.string()),
            "visit_type": pa.array([r[2] for r in rows], type=pa.string()),
            "institution_kind": pa.array(["A"] * len(rows), type=pa.string()),
            "total_cents": pa.array([r[3] for r in rows], type=pa.int64()),
            "fund_cents": pa.array([0] * len(rows), type=pa.int64()),
            "self_cents": pa.array([0] * len(rows), type=pa.int64()),
        }
    )
    path = directory / name
    pq.write_table(table, path)
    return {"claims": (str(path),)}


def _run(
    files: Mapping[str, tuple[str, ...]], sql: str, cells: int | None, view: View = VIEW
) -> dict[Cell, tuple[int, int, int, int]]:
    """Each cell's (n, p, s, persons) from the rewritten query on DuckDB."""
    rewritten = rewrite(parse(sql), view, {}, cells_per_person=cells)
    assert rewritten.cells_per_person == cells
    table = DuckDBEngine().execute(rewritten.request(files, LIMITS)).table
    keys = [c.name for c in rewritten.columns if c.kind.value == "dimension"]
    out: dict[Cell, tuple[int, int, int, int]] = {}
    for row in table.to_pylist():
        out[tuple(row[k] for k in keys)] = (row["n"], row["p"], row["s"], row[PERSONS_COLUMN])
    return out


def _md5_order(cell: Cell, person: str) -> tuple[str, tuple[str, ...]]:
    joined = "|".join([person, *("" if key is None else key for key in cell)])
    # then the keys themselves (NULLs last, as DuckDB orders them ascending)
    return hashlib.md5(joined.encode()).hexdigest(), tuple(
        "\U0010ffff" if key is None else key for key in cell
    )


def _oracle(
    rows: Sequence[Row], keys: Sequence[int], cells: int | None
) -> dict[Cell, tuple[int, int, int, int]]:
    """What the documented rule gives: per person and cell at most LIMIT rows counted, the
    person's clipped sum kept within [n * LOWER, n * UPPER]; each person in its ``cells``
    lowest-hash cells only (``None``: all). ``keys`` index a row's dimension fields."""
    per_person: dict[str, dict[Cell, list[int]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        cell = tuple(row[k] for k in keys)
        clipped = min(max(row[3], LOWER), UPPER)
        per_person[row[0]][cell].append(clipped)  # type: ignore[index]
    out: dict[Cell, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for person, person_cells in per_person.items():
        kept = sorted(person_cells, key=lambda cell: _md5_order(cell, person))
        if cells is not None:
            kept = kept[:cells]
        for cell in kept:
            values = person_cells[cell]
            n = min(len(values), LIMIT)
            totals = out[cell]
            totals[0] += n
            totals[1] += 1
            totals[2] += min(max(sum(values), n * LOWER), n * UPPER)
            totals[3] += 1
    return {cell: (t[0], t[1], t[2], t[3]) for cell, t in out.items()}


def _persons_in(result: Mapping[Cell, tuple[int, int, int, int]]) -> int:
    return sum(p for _n, p, _s, _persons in result.values())


def _spread(person: str, cells: Sequence[tuple[str, str]], rows_each: int = 2) -> list[Row]:
    """``person`` with ``rows_each`` claims of 1,000 cents in each (province, visit) cell."""
    return [(person, p, v, 1_000) for p, v in cells for _ in range(rows_each)]


ALL_CELLS = [(p, v) for p in PROVINCES for v in VISITS]


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_a_person_in_many_cells_counts_in_at_most_k(tmp_path: Path, k: int) -> None:
    rows = _spread("many", ALL_CELLS)  # six cells
    result = _run(_write(tmp_path, rows), BY_PROVINCE_AND_VISIT, k)
    assert len(result) == k
    assert _persons_in(result) == k
    # every aggregate alike: each kept cell has the person's two rows and 2,000 cents,
    # and nothing of the person is anywhere else
    assert set(result.values()) == {(2, 1, 2_000, 1)}
    assert result == _oracle(rows, (1, 2), k)


def test_the_cells_kept_are_the_lowest_by_the_md5_of_their_keys(tmp_path: Path) -> None:
    rows = _spread("many", ALL_CELLS)
    expected = sorted(ALL_CELLS, key=lambda cell: _md5_order(cell, "many"))[:2]
    assert set(_run(_write(tmp_path, rows), BY_PROVINCE_AND_VISIT, 2)) == set(expected)
    # one key: the md5 of the province alone
    by_province = _run(_write(tmp_path, rows, "again.parquet"), BY_PROVINCE, 1)
    ((province,),) = by_province
    assert province == min(PROVINCES, key=lambda p: hashlib.md5(f"many|{p}".encode()).hexdigest())
    assert by_province[(province,)] == (4, 1, 4_000, 1)  # both visit types of that province


def test_persons_within_k_cells_count_in_full(tmp_path: Path) -> None:
    few = _spread("few", ALL_CELLS[:2], rows_each=3)  # two cells
    lots = [("lots", "44", "IN", 500)] * 15  # one cell, more rows than the contribution limit
    rows = few + lots
    for k in (2, 3, 100):
        result = _run(_write(tmp_path, rows, f"k{k}.parquet"), BY_PROVINCE_AND_VISIT, k)
        assert result == _run(_write(tmp_path, rows, f"x{k}.parquet"), BY_PROVINCE_AND_VISIT, None)
        assert result[("11", "IN")] == (3, 1, 3_000, 1)
        assert result[("11", "OUT")] == (3, 1, 3_000, 1)
        # the contribution limit still holds within the cell: 10 of 15 rows counted; the sum
        # is kept within 10 rows' bounds [0, 10 x 10^7], which 7,500 cents is
        assert result[("44", "IN")] == (LIMIT, 1, 7_500, 1)


def test_the_choice_is_deterministic_and_ignores_row_order(tmp_path: Path) -> None:
    rows = _population(seed=11, persons=60)
    shuffled = list(rows)
    random.Random(5).shuffle(shuffled)
    first = _run(_write(tmp_path, rows, "a.parquet"), BY_PROVINCE_AND_VISIT, 2)
    again = _run(_write(tmp_path, rows, "a2.parquet"), BY_PROVINCE_AND_VISIT, 2)
    reordered = _run(_write(tmp_path, shuffled, "b.parquet"), BY_PROVINCE_AND_VISIT, 2)
    assert first == again == reordered == _oracle(rows, (1, 2), 2)


def test_a_persons_choice_depends_on_their_own_rows_alone(tmp_path: Path) -> None:
    # So the answer is the sum of each person's own part: adding someone else's rows never
    # moves another person's kept cells (what would make the sensitivity a lie).
    alone = _spread("many", ALL_CELLS)
    others = _population(seed=3, persons=40)
    together = _run(_write(tmp_path, alone + others, "t.parquet"), BY_PROVINCE_AND_VISIT, 2)
    mine = _run(_write(tmp_path, alone, "m.parquet"), BY_PROVINCE_AND_VISIT, 2)
    theirs = _run(_write(tmp_path, others, "o.parquet"), BY_PROVINCE_AND_VISIT, 2)
    summed: dict[Cell, tuple[int, ...]] = {}
    for part in (mine, theirs):
        for cell, values in part.items():
            before = summed.get(cell, (0, 0, 0, 0))
            summed[cell] = tuple(a + b for a, b in zip(before, values, strict=True))
    assert together == summed


def test_the_cells_are_chosen_among_the_rows_the_where_keeps(tmp_path: Path) -> None:
    rows = _spread("many", ALL_CELLS)
    sql = BY_PROVINCE_AND_VISIT.replace(" GROUP BY", " WHERE visit_type = 'OUT' GROUP BY")
    result = _run(_write(tmp_path, rows), sql, 1)
    kept = min(((p, "OUT") for p in PROVINCES), key=lambda cell: _md5_order(cell, "many"))
    assert result == {kept: (2, 1, 2_000, 1)}


def test_a_null_key_is_a_cell_like_any_other(tmp_path: Path) -> None:
    rows: list[Row] = [("n", None, "IN", 100), ("n", "11", "IN", 100), ("n", "12", "OUT", 100)]
    rows += _population(seed=8, persons=30)
    for k in (1, 2):
        result = _run(_write(tmp_path, rows, f"{k}.parquet"), BY_PROVINCE_AND_VISIT, k)
        assert result == _oracle(rows, (1, 2), k)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("k", [1, 2, 4])
def test_a_random_population_matches_the_rule(tmp_path: Path, seed: int, k: int) -> None:
    rows = _population(seed=seed, persons=80)
    files = _write(tmp_path, rows)
    assert _run(files, BY_PROVINCE_AND_VISIT, k) == _oracle(rows, (1, 2), k)
    assert _run(files, BY_PROVINCE, k) == _oracle(rows, (1,), k)
    # however the persons spread, nobody counts in more than k cells
    assert _persons_in(_run(files, BY_PROVINCE_AND_VISIT, k)) <= k * len({r[0] for r in rows})


def test_exact_release_keeps_every_cell(tmp_path: Path) -> None:
    rows = _population(seed=4, persons=80)
    files = _write(tmp_path, rows)
    rewritten = rewrite(parse(BY_PROVINCE_AND_VISIT), VIEW, {})
    assert rewritten.cells_per_person is None
    assert "__kept" not in rewritten.sql and "ROW_NUMBER" not in rewritten.sql.upper()
    exact = _run(files, BY_PROVINCE_AND_VISIT, None)
    assert exact == _oracle(rows, (1, 2), None)
    # K at least the grid keeps every cell too: the same numbers
    assert _run(files, BY_PROVINCE_AND_VISIT, len(ALL_CELLS)) == exact


def test_without_a_dimension_nothing_is_dropped(tmp_path: Path) -> None:
    rows = _spread("many", ALL_CELLS)
    sql = (
        "SELECT COUNT(*) AS n, COUNT(DISTINCT person_id) AS p, SUM(total_cents) AS s"
        " FROM claims_analysis"
    )
    rewritten = rewrite(parse(sql), VIEW, {}, cells_per_person=1)
    assert "__kept" not in rewritten.sql
    table = DuckDBEngine().execute(rewritten.request(_write(tmp_path, rows), LIMITS)).table
    # one cell: the person's 12 rows, capped at the contribution limit of 10
    assert table.select(["n", "p", "s"]).to_pylist() == [{"n": LIMIT, "p": 1, "s": 12_000}]


def test_cells_per_person_under_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        rewrite(parse(BY_PROVINCE), VIEW, {}, cells_per_person=0)


def _population(*, seed: int, persons: int) -> list[Row]:
    """``persons`` persons, each with 1 to 20 claims spread over a random few of the cells
    (sometimes a province outside the domain), amounts from 0 to past the clip bound."""
    rng = random.Random(seed)
    rows: list[Row] = []
    for i in range(persons):
        spread = rng.sample([*ALL_CELLS, ("99", "IN")], rng.randint(1, 5))
        for _ in range(rng.randint(1, 20)):
            province, visit = rng.choice(spread)
            amount = rng.choice([0, 1, 999, 50_000, UPPER - 1, UPPER + 5_000])
            rows.append((f"p{i:03d}", province, visit, amount))
    return rows
