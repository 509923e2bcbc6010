"""Differentially private release: OpenDP noise on the integer aggregates, then the gate.

:func:`release_dp` lays the computed aggregate on the full grid of the dimensions' public
domains (every cell, zeros where the data has none), then draws, for each aggregate column
and the persons column, one OpenDP discrete-Laplace measurement over the whole column
(``make_laplace`` on a vector of ``i64`` under the L1 distance; its scale is the column's
sensitivity over its share of epsilon, and OpenDP's privacy map checks that the shares add
up to no more than the charge). Everything after the noise is post-processing, which
differential privacy allows: a cell whose *noisy* persons count (the query's own
``COUNT(DISTINCT person)`` when it has one, so no epsilon goes to a second count) is under
``min_persons`` is withheld, counts are clamped at zero, counts and sums rounded, an
average is the released noisy sum over the released noisy count. The true persons count
and the top contributor (the exact gate's dominance check) are never used: both would leak
past the noise.

Only OpenDP draws noise: never numpy, ``random`` or float arithmetic on the values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import opendp.prelude as dp
import pyarrow as pa
import pyarrow.compute as pc

from enclave.gate._gate import check_columns, check_rules, on_grid, quotients, rounded
from enclave.gate.errors import GateRulesInvalid
from enclave.gate.interface import (
    MARKER_COLUMN,
    PERSONS_COLUMN,
    AggregateKind,
    DpResult,
    DpRules,
    NoiseInfo,
    NoiseSpec,
)

__all__ = ["noise_plan", "release_dp"]

dp.enable_features("contrib")  # make_laplace is in OpenDP's contrib set (vetted, not hand-rolled)

_SPACE = (dp.vector_domain(dp.atom_domain(T="i64")), dp.l1_distance(T="i64"))
#: The 95% bound of the released error: noise within it with this probability.
_ALPHA = 0.05


def release_dp(table: pa.Table, rules: DpRules) -> DpResult:
    """Release ``table`` (dimensions, ``int64`` aggregates, :data:`PERSONS_COLUMN`) with
    differential privacy under ``rules``. Raises :class:`GateRulesInvalid` (releasing
    nothing) when the rules are inconsistent: no domains, a column noised twice or not at
    all, a sensitivity under 1, an epsilon under 1 micro per column."""
    gate = rules.rules
    check_rules(gate)
    _check_noise(rules)
    check_columns(table, gate)
    assert gate.domains is not None  # checked by _check_noise
    grid = on_grid(table, gate, gate.domains)  # domain order: the grid's rows are sorted
    noisy: dict[str, list[int]] = {}
    planned = _planned(rules)
    for spec, measurement, _info in planned:
        values = [int(v or 0) for v in grid.column(spec.column).to_pylist()]
        drawn = [int(v) for v in measurement(values)] if values else []
        noisy[spec.column] = [max(v, 0) for v in drawn] if spec.nonnegative else drawn
    persons = noisy[rules.threshold]
    hidden = {i for i, n in enumerate(persons) if n < gate.min_persons}
    columns: dict[str, pa.Array[Any]] = {
        d: grid.column(d).combine_chunks() for d in gate.dimensions
    }
    released: dict[str, list[int | None]] = {}
    for spec_ in gate.aggregates:
        base = _base(gate, spec_.name)
        released[spec_.name] = [
            None if i in hidden else rounded(v, base) for i, v in enumerate(noisy[spec_.name])
        ]
    averages = {average.sum: average for average in gate.averages}
    parts = {average.count for average in gate.averages}
    for spec_ in gate.aggregates:
        if spec_.name in averages:
            average = averages[spec_.name]
            columns[average.name] = quotients(released[average.sum], released[average.count])
        elif spec_.name not in parts:
            columns[spec_.name] = pa.array(released[spec_.name], type=pa.int64())
    marker = [i in hidden for i in range(grid.num_rows)]
    columns[MARKER_COLUMN] = pa.array(marker, type=pa.bool_())
    out = pa.table(columns)
    if gate.dimensions:  # the grid is in domain order already; sort as the exact gate does
        by = [(d, "ascending", "at_end") for d in gate.dimensions]
        order = pc.SortOptions(sort_keys=by)  # type: ignore[arg-type]
        out = out.take(pc.sort_indices(out, options=order))
    return DpResult(
        table=out,
        suppressed_cells=sum(marker),
        noise=tuple(info for _spec, _m, info in planned),
        epsilon_micro=rules.epsilon_micro,
    )


def noise_plan(rules: DpRules) -> tuple[NoiseInfo, ...]:
    """The noise :func:`release_dp` would add under ``rules``, without any data: what a dry
    run tells a partner before any budget is spent."""
    check_rules(rules.rules)
    _check_noise(rules)
    return tuple(info for _spec, _m, info in _planned(rules))


def _planned(rules: DpRules) -> list[tuple[NoiseSpec, dp.Measurement, NoiseInfo]]:
    """Each column's measurement and what it means; checks with OpenDP's privacy maps that
    the columns together spend no more than the charge."""
    share = rules.epsilon_micro / len(rules.noise) / 1_000_000
    planned = []
    used = 0.0
    for spec in rules.noise:
        measurement, scale = _measurement(spec.sensitivity, share)
        used += float(measurement.map(spec.sensitivity))  # type: ignore[no-untyped-call]
        base = _base(rules.rules, spec.column)
        bound = float(dp.discrete_laplacian_scale_to_accuracy(scale, _ALPHA)) + base // 2
        micro = rules.epsilon_micro // len(rules.noise)
        planned.append((spec, measurement, NoiseInfo(spec.column, micro, scale, bound)))
    if used > rules.epsilon_micro / 1_000_000 * (1 + 1e-9):  # OpenDP's own accounting
        raise GateRulesInvalid("the noise would spend more epsilon than charged")
    return planned


def _measurement(sensitivity: int, epsilon: float) -> tuple[dp.Measurement, float]:
    """OpenDP's discrete Laplace on an ``i64`` vector, its scale the sensitivity over
    ``epsilon``, nudged up until OpenDP's privacy map says it spends no more than that."""
    scale = sensitivity / epsilon
    measurement = dp.m.make_laplace(*_SPACE, scale=scale)
    while float(measurement.map(sensitivity)) > epsilon:  # type: ignore[no-untyped-call]
        scale = math.nextafter(scale, math.inf)
        measurement = dp.m.make_laplace(*_SPACE, scale=scale)
    return measurement, scale


def _base(rules: Any, column: str) -> int:
    """The rounding base of ``column``: sums to ``sum_base``, counts and persons to
    ``count_base``."""
    for spec in rules.aggregates:
        if spec.name == column:
            return int(rules.sum_base if spec.kind is AggregateKind.SUM else rules.count_base)
    return int(rules.count_base)


def _check_noise(rules: DpRules) -> None:
    gate = rules.rules
    if gate.domains is None:
        raise GateRulesInvalid("a DP answer needs every dimension's public domain")
    noised: Sequence[str] = [spec.column for spec in rules.noise]
    expected = {spec.name for spec in gate.aggregates}
    if rules.threshold == PERSONS_COLUMN:
        expected.add(PERSONS_COLUMN)
    elif rules.threshold not in expected:
        raise GateRulesInvalid("the threshold reads a column that is not an aggregate")
    if len(set(noised)) != len(noised) or set(noised) != expected:
        raise GateRulesInvalid("every aggregate (and the persons column) is noised exactly once")
    if any(spec.sensitivity < 1 for spec in rules.noise):
        raise GateRulesInvalid("a sensitivity is at least 1")
    if rules.epsilon_micro < len(rules.noise):
        raise GateRulesInvalid("the epsilon is too small to share across the columns")
