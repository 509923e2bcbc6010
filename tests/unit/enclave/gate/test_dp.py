"""The gate's differentially private release as a pure function (issue 11).

:func:`release_dp` must release the full public grid whatever rows the data has, threshold
on the NOISY persons count (never the true one), clamp counts at zero, round, release an
average as the released sum over the released count, and draw OpenDP discrete-Laplace noise
at the scale it states (sensitivity x noisy columns / epsilon) with a 95% bound that holds.

The statistical tests cannot flake: each compares a count or a mean over tens of thousands
of draws with its exact value under the stated distribution (the discrete Laplace of scale
``s``: ``P(k) = (1 - a) / (1 + a) * a**|k|``, ``a = exp(-1/s)``) and allows six standard
deviations, a chance of a false failure under 1e-8 per assertion. A gate that used the true
persons count, or noise at another scale, fails them by far more.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import opendp.prelude as dp
import pyarrow as pa
import pytest

import query_engine
from enclave.gate import (
    MARKER_COLUMN,
    PERSONS_COLUMN,
    AggregateKind,
    AggregateSpec,
    AverageSpec,
    DpResult,
    DpRules,
    GateRules,
    GateRulesInvalid,
    NoiseSpec,
    dp_rules_for,
    noise_plan,
    release,
    release_dp,
)
from policies import default_policy

SIGMAS = 6.0
MICRO = 1_000_000
#: An epsilon so large that the noise is 0 with probability 1 - 1e-100: the deterministic
#: post-processing (grid, rounding, clamping, averages) shows exactly.
NO_NOISE = 10**9 * MICRO
HUGE = 10**9  # a true count no noise of these scales takes anywhere near 0


# -- the discrete Laplace distribution, exactly ------------------------------------------------
def _a(scale: float) -> float:
    return math.exp(-1.0 / scale)


def _pmf(scale: float, k: int) -> float:
    a = _a(scale)
    return (1 - a) / (1 + a) * a ** abs(k)


def _at_least(scale: float, k: int) -> float:
    """P(X >= k)."""
    a = _a(scale)
    if k >= 1:
        return a**k / (1 + a)
    return 1 - a ** (1 - k) / (1 + a)  # P(X <= k - 1) = P(X >= 1 - k)


def _variance(scale: float) -> float:
    a = _a(scale)
    return 2 * a / (1 - a) ** 2


def _support(scale: float) -> range:
    """Where all but 1e-30 of the mass lies."""
    reach = math.ceil(70 * scale) + 10
    return range(-reach, reach + 1)


def _fourth_moment(scale: float) -> float:
    return sum(k**4 * _pmf(scale, k) for k in _support(scale))


def _binomial_slack(n: int, p: float) -> float:
    """Six standard deviations of a count of n trials at rate p (plus one for discreteness)."""
    return SIGMAS * math.sqrt(n * p * (1 - p)) + 1


# -- inputs -----------------------------------------------------------------------------------
def _cells(n: int) -> tuple[str, ...]:
    """A domain of n cells whose sorted order is its own order."""
    return tuple(f"c{i:06d}" for i in range(n))


def _rules(
    dimensions: Sequence[str],
    domains: Sequence[Sequence[str]] | None,
    aggregates: Sequence[tuple[str, AggregateKind]],
    *,
    averages: Sequence[AverageSpec] = (),
    min_persons: int = 11,
    count_base: int = 1,
    sum_base: int = 1,
    row_cap: int = 1_000_000,
) -> GateRules:
    return GateRules(
        min_persons=min_persons,
        count_base=count_base,
        sum_base=sum_base,
        row_cap=row_cap,
        dimensions=tuple(dimensions),
        aggregates=tuple(AggregateSpec(name, kind) for name, kind in aggregates),
        averages=tuple(averages),
        domains=None if domains is None else tuple(tuple(d) for d in domains),
    )


def _dp(
    rules: GateRules,
    sensitivities: dict[str, int],
    epsilon_micro: int,
    *,
    signed: frozenset[str] = frozenset(),
) -> DpRules:
    noise = tuple(
        NoiseSpec(name, sensitivity, nonnegative=name not in signed)
        for name, sensitivity in sensitivities.items()
    )
    return DpRules(rules=rules, epsilon_micro=epsilon_micro, noise=noise)


def _table(columns: dict[str, Sequence[Any]], dimensions: Sequence[str]) -> pa.Table:
    return pa.table(
        {
            name: pa.array(values, type=pa.string() if name in dimensions else pa.int64())
            for name, values in columns.items()
        }
    )


def _ints(table: pa.Table, column: str) -> list[int]:
    """A released column none of whose cells were withheld."""
    values: list[int | None] = table.column(column).to_pylist()
    assert None not in values
    return [v for v in values if v is not None]


def _one_cell_each(cells: int, /, **values: int) -> pa.Table:
    """``cells`` cells of one dimension ``cell``, every aggregate the same in each."""
    columns: dict[str, Sequence[Any]] = {"cell": list(_cells(cells))}
    columns |= {name: [value] * cells for name, value in values.items()}
    return _table(columns, ["cell"])


COUNT, SUM = AggregateKind.COUNT, AggregateKind.SUM


# -- the grid ---------------------------------------------------------------------------------
GENDERS = ("F", "M")
BANDS = ("0-17", "18-29", "30-44")


def test_the_full_grid_leaves_in_the_exact_gates_order_whatever_rows_the_data_has() -> None:
    rules = _rules(["gender", "band"], [GENDERS, BANDS], [("n", COUNT)])
    spec = _dp(rules, {"n": 1, PERSONS_COLUMN: 1}, NO_NOISE)
    # the data holds two cells, in no particular order, and nothing of the other four
    data = _table(
        {"band": ["30-44", "0-17"], "gender": ["M", "F"], "n": [40, 30], PERSONS_COLUMN: [20, 15]},
        ["gender", "band"],
    )
    out = release_dp(data, spec).table
    assert out.column_names == ["gender", "band", "n", MARKER_COLUMN]
    keys = list(zip(out.column("gender").to_pylist(), out.column("band").to_pylist(), strict=True))
    assert keys == [(g, b) for g in GENDERS for b in BANDS]
    # the order is the exact gate's on the same grid: a DP answer and an exact one line up
    exact = release(data, rules).table
    assert exact.select(["gender", "band"]).equals(out.select(["gender", "band"]))
    rows = {k: r for k, r in zip(keys, out.to_pylist(), strict=True)}
    assert rows[("F", "0-17")]["n"] == 30 and rows[("M", "30-44")]["n"] == 40
    assert [k for k, r in rows.items() if r[MARKER_COLUMN]] == [
        ("F", "18-29"),
        ("F", "30-44"),
        ("M", "0-17"),
        ("M", "18-29"),
    ]
    # nothing at all matched: still the whole grid, every cell withheld
    empty = _table({"gender": [], "band": [], "n": [], PERSONS_COLUMN: []}, ["gender", "band"])
    nothing = release_dp(empty, spec)
    assert nothing.table.num_rows == 6 and nothing.suppressed_cells == 6


def test_a_domain_not_in_sorted_order_leaves_sorted_as_the_exact_gate_does() -> None:
    # GateRules' docstring says "in domain order"; both gates sort by the values instead
    # (I, II, IX, V: a chapter domain in its own order is I, II, V, IX). Either order is
    # fixed by the public domain alone; what matters is that DP and exact agree.
    chapters = ("I", "II", "V", "IX")
    rules = _rules(["chapter"], [chapters], [("n", COUNT)])
    data = _table({"chapter": ["IX"], "n": [50], PERSONS_COLUMN: [30]}, ["chapter"])
    out = release_dp(data, _dp(rules, {"n": 1, PERSONS_COLUMN: 1}, NO_NOISE)).table
    assert out.column("chapter").to_pylist() == sorted(chapters)
    assert release(data, rules).table.column("chapter").equals(out.column("chapter"))


def test_rows_outside_the_domains_are_dropped_and_change_nothing_else() -> None:
    rules = _rules(["gender", "band"], [GENDERS, BANDS], [("n", COUNT)])
    spec = _dp(rules, {"n": 1, PERSONS_COLUMN: 1}, NO_NOISE)
    inside: dict[str, Sequence[Any]] = {
        "gender": ["F"],
        "band": ["0-17"],
        "n": [30],
        PERSONS_COLUMN: [15],
    }
    outside: dict[str, Sequence[Any]] = {
        "gender": ["F", "X", None, "M"],
        "band": ["0-17", "0-17", "18-29", "99+"],
        "n": [30, 10_000, 10_000, 10_000],
        PERSONS_COLUMN: [15, 5_000, 5_000, 5_000],
    }
    clean = release_dp(_table(inside, ["gender", "band"]), spec).table
    dirty = release_dp(_table(outside, ["gender", "band"]), spec).table
    assert dirty.equals(clean)
    assert set(dirty.column("gender").to_pylist()) == set(GENDERS)
    assert set(dirty.column("band").to_pylist()) == set(BANDS)


def test_no_dimension_is_one_noisy_cell() -> None:
    rules = _rules([], [], [("n", COUNT)])
    data = _table({"n": [500], PERSONS_COLUMN: [100]}, [])
    out = release_dp(data, _dp(rules, {"n": 1, PERSONS_COLUMN: 1}, NO_NOISE))
    assert out.table.to_pylist() == [{"n": 500, MARKER_COLUMN: False}]


# -- the threshold ----------------------------------------------------------------------------
def test_the_threshold_reads_the_noisy_persons_count_never_the_true_one() -> None:
    # Three groups of cells: no person at all, exactly min_persons, a million. A gate that
    # thresholded on the true count would release none of the first and all of the second.
    m, min_persons = 8_000, 11
    persons = [0] * m + [min_persons] * m + [MICRO] * m
    data = _table(
        {"cell": list(_cells(3 * m)), "n": [0] * (3 * m), PERSONS_COLUMN: persons}, ["cell"]
    )
    rules = _rules(["cell"], [_cells(3 * m)], [("n", COUNT)], min_persons=min_persons)
    spec = _dp(rules, {"n": 10, PERSONS_COLUMN: 10}, 1 * MICRO)  # scale 10 x 2 / 1 = 20
    result = release_dp(data, spec)
    scale = {i.column: i.scale for i in result.noise}[PERSONS_COLUMN]
    assert scale == pytest.approx(20.0)
    marker = result.table.column(MARKER_COLUMN).to_pylist()
    released = [sum(not hidden for hidden in marker[g * m : (g + 1) * m]) for g in range(3)]
    # an empty cell passes when its noise reaches min_persons: P(X >= 11) = a^11 / (1 + a)
    passes = _at_least(scale, min_persons)
    assert 0.29 < passes < 0.30
    assert abs(released[0] - m * passes) <= _binomial_slack(m, passes)
    # a cell of exactly min_persons is withheld when its noise is negative: P(X < 0)
    withheld = 1 - _at_least(scale, 0)
    assert abs((m - released[1]) - m * withheld) <= _binomial_slack(m, withheld)
    # a million persons: always released
    assert released[2] == m
    # the marker and the nulls agree, and suppressed_cells counts them
    values = result.table.column("n").to_pylist()
    assert [v is None for v in values] == marker
    assert result.suppressed_cells == sum(marker)


def test_the_threshold_may_read_the_querys_own_distinct_count_never_the_true_persons() -> None:
    # With a COUNT(DISTINCT person) in the query, its noisy value is the threshold's: the
    # persons column is not noised, not read, and never leaves.
    m = 6_000
    data = _table(
        {
            "cell": list(_cells(2 * m)),
            "p": [0] * m + [MICRO] * m,
            PERSONS_COLUMN: [MICRO] * m + [0] * m,  # the opposite: never consulted
        },
        ["cell"],
    )
    rules = _rules(["cell"], [_cells(2 * m)], [("p", COUNT)])
    spec = dataclasses.replace(_dp(rules, {"p": 10}, MICRO // 2), threshold="p")  # scale 20
    result = release_dp(data, spec)
    assert [i.column for i in result.noise] == ["p"]
    assert result.table.column_names == ["cell", "p", MARKER_COLUMN]
    marker = result.table.column(MARKER_COLUMN).to_pylist()
    passes = _at_least(20.0, 11)
    assert abs(sum(not h for h in marker[:m]) - m * passes) <= _binomial_slack(m, passes)
    assert not any(marker[m:])


# -- partition selection (a dimension without a public domain) --------------------------------
def _selection(
    counts: Sequence[int],
    *,
    keys: Sequence[str | None] | None = None,
    domain: tuple[str, ...] | None = None,
    cells: int = 1,
    delta: float = 1e-10,
    row_cap: int = 1_000_000,
) -> tuple[DpResult, DpRules]:
    """One dimension ``k`` without a domain (or with ``domain``), its cells selected by the
    noisy threshold on ``p`` (the query's distinct persons), ``cells`` per person."""
    names = list(keys) if keys is not None else [f"k{i:06d}" for i in range(len(counts))]
    rules = dataclasses.replace(
        _rules(["k"], None, [("p", COUNT)], count_base=5, row_cap=row_cap), domains=None
    )
    spec = DpRules(
        rules=rules,
        epsilon_micro=MICRO,
        noise=(NoiseSpec("p", cells, cells=cells),),
        threshold="p",
        selection_domains=(domain,),
        delta=delta,
    )
    data = _table({"k": names, "p": list(counts), PERSONS_COLUMN: list(counts)}, ["k"])
    return release_dp(data, spec), spec


def _any_kept(scale: float, threshold: int, cells: int) -> float:
    """P(any of ``cells`` one-person cells kept): each when 1 + X >= threshold."""
    one = _at_least(scale, threshold - 1)
    return -math.expm1(cells * math.log1p(-one))


def test_selection_keeps_a_cell_one_person_makes_with_probability_at_most_delta() -> None:
    # OpenDP 0.16's map reports P[X > threshold - 1] for this, one short of what its
    # mechanism (keeping a noisy count >= threshold) does (opendp/opendp#2922): the gate's
    # threshold must be one higher than the map alone would make it
    for cells, delta in ((1, 1e-10), (3, 1e-10), (1, 1e-6)):
        (info,) = noise_plan(_selection([1], cells=cells, delta=delta)[1])
        assert info.mechanism == "laplace_threshold" and info.threshold is not None
        assert info.threshold >= 11  # never under min_persons
        assert info.scale == pytest.approx(cells / 1.0)  # sensitivity cells, epsilon 1
        # one person adds at most 1 to each of ``cells`` cells of their own, each kept when
        # its noise reaches threshold - 1; and the threshold is the smallest that holds
        assert _any_kept(info.scale, info.threshold, cells) <= delta
        assert info.threshold == 11 or _any_kept(info.scale, info.threshold - 1, cells) > delta
    # 20,000 one-person cells: at delta 1e-10 none is kept (P(any) < 3e-6)
    result, _spec = _selection([1] * 20_000)
    assert result.table.num_rows == 0 and result.suppressed_cells == 0


def test_selection_releases_large_cells_and_nothing_the_data_lacks() -> None:
    big = [MICRO] * 500
    result, _spec = _selection(big)
    assert result.table.num_rows == 500
    assert result.table.column("k").to_pylist() == [f"k{i:06d}" for i in range(500)]
    assert not any(result.table.column(MARKER_COLUMN).to_pylist())  # nothing marked withheld
    released = _ints(result.table, "p")
    assert all(v % 5 == 0 and abs(v - MICRO) < 1_000 for v in released)


def test_selection_keeps_a_cell_at_the_threshold_at_the_rate_its_noise_gives() -> None:
    (info,) = noise_plan(_selection([1])[1])
    assert info.threshold is not None
    m = 6_000
    result, _spec = _selection([info.threshold] * m)
    kept = result.table.num_rows
    rate = _at_least(info.scale, 0)  # kept when the noise is at least 0
    assert abs(kept - m * rate) <= _binomial_slack(m, rate)


def test_selection_never_releases_a_null_or_a_value_outside_a_domain() -> None:
    keys = ["a", "b", None, "zz"]
    result, _spec = _selection([MICRO] * 4, keys=keys, domain=("a", "b", "c"))
    assert result.table.column("k").to_pylist() == ["a", "b"]
    unbounded, _spec = _selection([MICRO] * 4, keys=keys)
    assert unbounded.table.column("k").to_pylist() == ["a", "b", "zz"]


def test_selection_caps_the_rows_in_key_order() -> None:
    result, _spec = _selection([MICRO] * 50, row_cap=7)
    assert result.table.column("k").to_pylist() == [f"k{i:06d}" for i in range(7)]


# -- clamping, rounding, averages --------------------------------------------------------------
def test_counts_are_clamped_at_zero_and_signed_sums_are_not() -> None:
    n = 20_000
    data = _one_cell_each(n, c=0, s=0, **{PERSONS_COLUMN: HUGE})
    rules = _rules(["cell"], [_cells(n)], [("c", COUNT), ("s", SUM)])
    spec = _dp(rules, {"c": 5, "s": 5, PERSONS_COLUMN: 5}, 3 * MICRO, signed=frozenset({"s"}))
    result = release_dp(data, spec)
    scale = result.noise[0].scale  # 5 x 3 / 3 = 5
    assert scale == pytest.approx(5.0)
    counts = _ints(result.table, "c")
    sums = _ints(result.table, "s")
    assert min(counts) == 0
    zeros = sum(1 for v in counts if v == 0)
    at_zero = 1 - _at_least(scale, 1)  # all the negative mass lands on 0
    assert abs(zeros - n * at_zero) <= _binomial_slack(n, at_zero)
    negative = sum(1 for v in sums if v < 0)
    below = 1 - _at_least(scale, 0)
    assert abs(negative - n * below) <= _binomial_slack(n, below)


def test_counts_and_sums_are_rounded_after_the_noise() -> None:
    rules = _rules(["gender"], [GENDERS], [("n", COUNT), ("s", SUM)], count_base=5, sum_base=100)
    data = _table(
        {"gender": ["F", "M"], "n": [12, 13], "s": [149, 150], PERSONS_COLUMN: [50, 50]},
        ["gender"],
    )
    exact = release_dp(data, _dp(rules, {"n": 1, "s": 1, PERSONS_COLUMN: 1}, NO_NOISE)).table
    assert exact.column("n").to_pylist() == [10, 15]  # to the nearest 5, ties upward
    assert exact.column("s").to_pylist() == [100, 200]
    n = 5_000
    data = _one_cell_each(n, n=1_000, s=123_456, **{PERSONS_COLUMN: HUGE})
    rules = _rules(["cell"], [_cells(n)], [("n", COUNT), ("s", SUM)], count_base=5, sum_base=100)
    noisy = release_dp(data, _dp(rules, {"n": 3, "s": 300, PERSONS_COLUMN: 1}, 3 * MICRO)).table
    assert all(v % 5 == 0 for v in _ints(noisy, "n"))
    assert all(v % 100 == 0 for v in _ints(noisy, "s"))
    assert len(set(_ints(noisy, "s"))) > 1  # noisy, then rounded


def test_an_average_is_the_released_sum_over_the_released_count() -> None:
    average = AverageSpec("mean", "mean__sum", "mean__count")
    rules = _rules(
        ["band"],
        [BANDS],
        [("mean__sum", SUM), ("mean__count", COUNT)],
        averages=[average],
        count_base=5,
        sum_base=100,
    )
    data = _table(
        {
            "band": ["0-17", "18-29", "30-44"],
            "mean__sum": [12_345, 900, 5_000],
            "mean__count": [33, 2, 40],  # 33 rounds to 35; 2 rounds to 0: no average
            PERSONS_COLUMN: [20, 20, 3],  # the last cell is withheld
        },
        ["band"],
    )
    spec = _dp(rules, {"mean__sum": 1, "mean__count": 1, PERSONS_COLUMN: 1}, NO_NOISE)
    out = release_dp(data, spec).table
    assert out.column_names == ["band", "mean", MARKER_COLUMN]
    assert out.schema.field("mean").type == pa.float64()
    assert out.column("mean").to_pylist() == [12_300 / 35, None, None]
    assert out.column(MARKER_COLUMN).to_pylist() == [False, False, True]


def test_a_noisy_average_is_a_quotient_of_rounded_noisy_parts() -> None:
    # With noise, every released average is (a multiple of sum_base) / (a multiple of
    # count_base): the parts were noised, clamped and rounded before the quotient.
    n = 2_000
    average = AverageSpec("mean", "mean__sum", "mean__count")
    rules = _rules(
        ["cell"],
        [_cells(n)],
        [("mean__sum", SUM), ("mean__count", COUNT)],
        averages=[average],
        count_base=5,
        sum_base=100,
    )
    data = _one_cell_each(n, mean__sum=100_000, mean__count=50, **{PERSONS_COLUMN: HUGE})
    spec = _dp(rules, {"mean__sum": 1_000, "mean__count": 2, PERSONS_COLUMN: 1}, 3 * MICRO)
    means = release_dp(data, spec).table.column("mean").to_pylist()
    for mean in means:  # the true count is 50, its noise of scale 2: within 5 .. 195
        assert mean is not None
        assert any(_multiple(mean * count, 100) for count in range(5, 200, 5))
    assert len(set(means)) > 1


def _multiple(value: float, base: int) -> bool:
    return abs(value - base * round(value / base)) < 1e-6


# -- the noise: its scale, its plan, its distribution ------------------------------------------
@pytest.mark.parametrize(
    ("sensitivity", "aggregates", "epsilon_micro"),
    [(1, 1, MICRO), (3, 1, MICRO), (7, 2, 1_500_000), (20, 3, 250_000), (2_000_000, 1, 10 * MICRO)],
)
def test_the_scale_is_sensitivity_times_columns_over_epsilon(
    sensitivity: int, aggregates: int, epsilon_micro: int
) -> None:
    names = [f"a{i}" for i in range(aggregates)]
    rules = _rules(["gender"], [GENDERS], [(name, COUNT) for name in names], count_base=5)
    sensitivities = {name: sensitivity for name in names} | {PERSONS_COLUMN: 1}
    spec = _dp(rules, sensitivities, epsilon_micro)
    columns = aggregates + 1
    planned = noise_plan(spec)
    assert [info.column for info in planned] == [*names, PERSONS_COLUMN]
    for info in planned:
        expected = sensitivities[info.column] * columns / (epsilon_micro / MICRO)
        assert info.scale == pytest.approx(expected, rel=1e-12)
        assert info.scale >= expected * (1 - 1e-15)  # nudged up, never down, to fit OpenDP's map
        assert info.mechanism == "discrete_laplace"
        assert info.epsilon_micro == epsilon_micro // columns
        accuracy = dp.discrete_laplacian_scale_to_accuracy(info.scale, 0.05)
        assert info.error_bound_95 == pytest.approx(accuracy + 5 // 2)
        # OpenDP's own privacy map: this column spends no more than its share
        measurement = dp.m.make_laplace(
            dp.vector_domain(dp.atom_domain(T="i64")), dp.l1_distance(T="i64"), scale=info.scale
        )
        spent = measurement.map(sensitivities[info.column])  # type: ignore[no-untyped-call]
        assert spent <= epsilon_micro / MICRO / columns * (1 + 1e-12)
    assert sum(info.epsilon_micro for info in planned) <= epsilon_micro


def test_noise_plan_is_what_release_dp_reports() -> None:
    average = AverageSpec("mean", "mean__sum", "mean__count")
    rules = _rules(
        ["gender", "band"],
        [GENDERS, BANDS],
        [("n", COUNT), ("s", SUM), ("mean__sum", SUM), ("mean__count", COUNT)],
        averages=[average],
        count_base=5,
        sum_base=1_000,
    )
    spec = _dp(
        rules,
        {"n": 20, "s": 40_000, "mean__sum": 40_000, "mean__count": 20, PERSONS_COLUMN: 1},
        MICRO,
        signed=frozenset({"s"}),
    )
    data = _table(
        {
            "gender": ["F"],
            "band": ["0-17"],
            "n": [300],
            "s": [-5_000],
            "mean__sum": [90_000],
            "mean__count": [300],
            PERSONS_COLUMN: [40],
        },
        ["gender", "band"],
    )
    released = release_dp(data, spec)
    assert isinstance(released, DpResult)
    assert released.noise == noise_plan(spec)
    assert released.epsilon_micro == MICRO
    sums = {i.column: i for i in released.noise}
    assert sums["s"].error_bound_95 == pytest.approx(
        dp.discrete_laplacian_scale_to_accuracy(sums["s"].scale, 0.05) + 500
    )


def _valid() -> DpRules:
    rules = _rules(["gender"], [GENDERS], [("n", COUNT), ("s", SUM)])
    return _dp(rules, {"n": 1, "s": 1, PERSONS_COLUMN: 1}, MICRO)


def _invalid_cases() -> dict[str, DpRules]:
    valid = _valid()
    n, s, persons = valid.noise
    return {
        "no domains": dataclasses.replace(
            valid, rules=dataclasses.replace(valid.rules, domains=None)
        ),
        "a column noised twice": dataclasses.replace(valid, noise=(n, n, s, persons)),
        "a column noised twice, another not": dataclasses.replace(valid, noise=(n, n, persons)),
        "an aggregate not noised": dataclasses.replace(valid, noise=(n, persons)),
        "the persons column not noised": dataclasses.replace(valid, noise=(n, s)),
        "a column the rules do not have": dataclasses.replace(
            valid, noise=(n, s, persons, NoiseSpec("other", 1))
        ),
        "sensitivity 0": dataclasses.replace(
            valid, noise=(n, dataclasses.replace(s, sensitivity=0), persons)
        ),
        "a negative sensitivity": dataclasses.replace(
            valid, noise=(n, s, dataclasses.replace(persons, sensitivity=-1))
        ),
        "epsilon under one micro per column": dataclasses.replace(valid, epsilon_micro=2),
        "epsilon 0": dataclasses.replace(valid, epsilon_micro=0),
        "a negative epsilon": dataclasses.replace(valid, epsilon_micro=-MICRO),
        "inconsistent gate rules": dataclasses.replace(
            valid, rules=dataclasses.replace(valid.rules, min_persons=0)
        ),
        "a threshold on a column that is not an aggregate": dataclasses.replace(
            valid, threshold="gender", noise=(n, s)
        ),
        "a threshold on an aggregate, the persons column noised too": dataclasses.replace(
            valid, threshold="n"
        ),
        "selection with a domain entry short": dataclasses.replace(
            valid, selection_domains=(), delta=1e-10
        ),
        "selection with delta 0": dataclasses.replace(valid, selection_domains=(None,), delta=0.0),
        "selection with delta over 1e-5": dataclasses.replace(
            valid, selection_domains=(None,), delta=1e-4
        ),
        "selection with no cell per person": dataclasses.replace(
            valid,
            selection_domains=(None,),
            delta=1e-10,
            noise=(n, s, dataclasses.replace(persons, cells=0)),
        ),
    }


@pytest.mark.parametrize("case", list(_invalid_cases()))
def test_inconsistent_dp_rules_release_nothing(case: str) -> None:
    spec = _invalid_cases()[case]
    data = _table({"gender": ["F"], "n": [50], "s": [50], PERSONS_COLUMN: [50]}, ["gender"])
    with pytest.raises(GateRulesInvalid):
        noise_plan(spec)
    with pytest.raises(GateRulesInvalid):
        release_dp(data, spec)


def test_the_smallest_valid_epsilon_is_one_micro_per_column() -> None:
    spec = dataclasses.replace(_valid(), epsilon_micro=3)
    assert [i.epsilon_micro for i in noise_plan(spec)] == [1, 1, 1]
    assert noise_plan(spec)[0].scale == pytest.approx(3 * MICRO / 3)


@pytest.fixture(scope="module")
def unrounded() -> tuple[DpResult, int]:
    """40,000 cells, each a count and a signed sum far from 0 (never clamped, never
    withheld), rounding base 1: the released value minus the true one is the noise itself."""
    n = 40_000
    data = _one_cell_each(n, c=HUGE, s=0, **{PERSONS_COLUMN: HUGE})
    rules = _rules(["cell"], [_cells(n)], [("c", COUNT), ("s", SUM)])
    spec = _dp(rules, {"c": 50, "s": 50, PERSONS_COLUMN: 1}, 3 * MICRO, signed=frozenset({"s"}))
    return release_dp(data, spec), n


def _noise(result: DpResult) -> list[int]:
    return [v - HUGE for v in _ints(result.table, "c")] + _ints(result.table, "s")


def test_the_empirical_noise_has_the_stated_variance(unrounded: tuple[DpResult, int]) -> None:
    result, _ = unrounded
    scale = result.noise[0].scale
    assert scale == pytest.approx(50.0) and result.noise[1].scale == scale
    draws = _noise(result)
    n = len(draws)
    variance = _variance(scale)
    assert variance == pytest.approx(2 * scale**2, rel=1e-4)  # 2 s^2 - 1/6, exactly
    mean = sum(draws) / n
    assert abs(mean) <= SIGMAS * math.sqrt(variance / n)
    # the mean square (the mean is known, 0) within six of its standard deviations
    square = sum(d * d for d in draws) / n
    spread = math.sqrt((_fourth_moment(scale) - variance**2) / n)
    assert abs(square - variance) <= SIGMAS * spread
    assert SIGMAS * spread < 0.06 * variance  # tight enough to tell a scale 3% off
    # and the shape: as many zeros as the discrete Laplace has
    zeros = sum(1 for d in draws if d == 0)
    assert abs(zeros - n * _pmf(scale, 0)) <= _binomial_slack(n, _pmf(scale, 0))


def test_the_95_percent_bound_covers_95_percent(unrounded: tuple[DpResult, int]) -> None:
    result, _ = unrounded
    info = result.noise[0]
    draws = _noise(result)
    n = len(draws)
    bound = info.error_bound_95  # rounding base 1: the noise's own bound
    exact = sum(_pmf(info.scale, k) for k in _support(info.scale) if abs(k) <= bound)
    assert 0.95 <= exact < 0.952  # conservative, and by little at this scale
    covered = sum(1 for d in draws if abs(d) <= bound)
    assert abs(covered - n * exact) <= _binomial_slack(n, exact)


def test_the_95_percent_bound_covers_rounding_too() -> None:
    # base 5 counts, base 100 sums: the bound adds half a base, so it still covers >= 95%
    n, truth = 20_000, 1_000_003  # not a multiple of either base
    data = _one_cell_each(n, c=truth, s=truth, **{PERSONS_COLUMN: HUGE})
    rules = _rules(["cell"], [_cells(n)], [("c", COUNT), ("s", SUM)], count_base=5, sum_base=100)
    spec = _dp(rules, {"c": 2, "s": 40, PERSONS_COLUMN: 1}, 3 * MICRO)
    result = release_dp(data, spec)
    for info, base in zip(result.noise[:2], (5, 100), strict=True):
        errors = [v - truth for v in _ints(result.table, info.column)]
        rounded = {
            k: base * ((truth + k + base // 2) // base) - truth for k in _support(info.scale)
        }
        exact = sum(
            _pmf(info.scale, k) for k, e in rounded.items() if abs(e) <= info.error_bound_95
        )
        assert exact >= 0.95
        covered = sum(1 for e in errors if abs(e) <= info.error_bound_95)
        assert abs(covered - n * exact) <= _binomial_slack(n, exact)


# -- dp_rules_for: the sensitivity the rewrite's bounds give -----------------------------------
CLAIMS = default_policy().views["claims_analysis"]  # contribution_limit 20, cents in [0, 2e7]


def _rewritten(sql: str, cells_per_person: int | None) -> query_engine.Rewritten:
    query = query_engine.parse(sql)
    return query_engine.rewrite(query, CLAIMS, {}, cells_per_person=cells_per_person)


def _sensitivities(sql: str, cells_per_person: int | None) -> dict[str, int]:
    spec = dp_rules_for(
        _rewritten(sql, cells_per_person),
        min_persons=11,
        rounding_base=100_000,
        row_cap=10_000,
        epsilon_micro=MICRO,
    )
    return {noise.column: noise.sensitivity for noise in spec.noise}


SELECT = (
    "SELECT {keys}COUNT(*) AS n, COUNT(DISTINCT person_key) AS p, SUM(total_cents) AS s,"
    " AVG(self_cents) AS m FROM claims_analysis{group}"
)


@pytest.mark.parametrize(
    ("keys", "cells_per_person", "cells"),
    [
        ((), None, 1),  # no dimension: one cell
        ((), 3, 1),
        (("gender",), 1, 1),
        (("gender",), 2, 2),
        (("gender",), 5, 2),  # at most the grid: 2 genders
        (("gender", "visit_type"), 5, 5),  # 12 cells, 5 per person
        (("gender", "visit_type"), 100, 12),
    ],
)
def test_the_sensitivity_is_the_per_cell_bound_times_the_cells_one_person_counts_in(
    keys: tuple[str, ...], cells_per_person: int | None, cells: int
) -> None:
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    sql = SELECT.format(keys="".join(f"{k}, " for k in keys), group=group)
    limit, cents = 20, 20_000_000
    assert _sensitivities(sql, cells_per_person) == {
        "n": limit * cells,  # COUNT(*): L rows per person and cell
        "p": 1 * cells,  # COUNT(DISTINCT person): one
        "s": limit * cents * cells,  # SUM: L rows at the larger clip magnitude
        "m__sum": limit * cents * cells,
        "m__count": limit * cells,
        # no PERSONS_COLUMN: the threshold reads the query's own COUNT(DISTINCT person)
    }


def test_the_threshold_reads_the_querys_distinct_persons_or_else_the_persons_column() -> None:
    def spec(sql: str) -> DpRules:
        return dp_rules_for(
            _rewritten(sql, 2),
            min_persons=11,
            rounding_base=5,
            row_cap=10_000,
            epsilon_micro=MICRO,
        )

    counted = spec(
        "SELECT gender, COUNT(*) AS n, COUNT(DISTINCT person_key) AS p"
        " FROM claims_analysis GROUP BY gender"
    )
    assert counted.threshold == "p"
    assert [n.column for n in counted.noise] == ["n", "p"]  # no second count of persons
    uncounted = spec("SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender")
    assert uncounted.threshold == PERSONS_COLUMN
    assert {n.column: n.sensitivity for n in uncounted.noise} == {"n": 40, PERSONS_COLUMN: 2}


def test_grouping_without_bounding_the_cells_per_person_is_refused() -> None:
    rewritten = _rewritten(
        "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender", None
    )
    with pytest.raises(GateRulesInvalid):
        dp_rules_for(
            rewritten, min_persons=11, rounding_base=5, row_cap=10_000, epsilon_micro=MICRO
        )


def test_only_sums_of_signed_measures_go_unclamped() -> None:
    rewritten = _rewritten(
        "SELECT gender, COUNT(*) AS n, SUM(total_cents) AS s, SUM(fund_cents) AS f"
        " FROM claims_analysis GROUP BY gender",
        1,
    )
    spec = dp_rules_for(
        rewritten,
        min_persons=11,
        rounding_base=5,
        row_cap=10_000,
        epsilon_micro=MICRO,
        signed_measures=frozenset({"total_cents"}),
    )
    assert {n.column: n.nonnegative for n in spec.noise} == {
        "n": True,
        "s": False,
        "f": True,
        PERSONS_COLUMN: True,
    }
