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

import json
import math
from collections.abc import Sequence
from typing import Any

import opendp.prelude as dp
import pyarrow as pa
import pyarrow.compute as pc

from enclave.gate._gate import check_columns, check_rules, on_grid, released_table
from enclave.gate.errors import DuplicateCell, GateRulesInvalid
from enclave.gate.interface import (
    PERSONS_COLUMN,
    AggregateKind,
    DpResult,
    DpRules,
    GateRules,
    NoiseInfo,
    NoiseSpec,
)

__all__ = ["noise_plan", "release_dp"]

dp.enable_features("contrib")  # make_laplace is in OpenDP's contrib set (vetted, not hand-rolled)

_SPACE = (dp.vector_domain(dp.atom_domain(T="i64")), dp.l1_distance(T="i64"))
#: A map of cells (named by their keys) to counts, under the L0/L1/Linf distance
_MAP_SPACE = (
    dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T="i64")),
    dp.l01inf_distance(dp.absolute_distance(T="i64")),
)
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
    planned = _planned(rules)
    if rules.selection_domains is not None:
        return _release_selected(table, rules, planned)
    assert gate.domains is not None  # checked by _check_noise
    grid = on_grid(table, gate, gate.domains)  # domain order: the grid's rows are sorted
    noisy: dict[str, list[int]] = {}
    for spec, measurement, _info in planned:
        values = [int(v or 0) for v in grid.column(spec.column).to_pylist()]
        noisy[spec.column] = _drawn(measurement, values, spec.nonnegative)
    persons = noisy[rules.threshold]
    hidden = {i for i, n in enumerate(persons) if n < gate.min_persons}
    keys = {d: grid.column(d).combine_chunks() for d in gate.dimensions}
    out = _released(gate, keys, noisy, hidden)
    if gate.dimensions:  # the grid is in domain order already; sort as the exact gate does
        by = [(d, "ascending", "at_end") for d in gate.dimensions]
        order = pc.SortOptions(sort_keys=by)  # type: ignore[arg-type]
        out = out.take(pc.sort_indices(out, options=order))
    return DpResult(
        table=out,
        suppressed_cells=len(hidden),
        noise=tuple(info for _spec, _m, info in planned),
        epsilon_micro=rules.epsilon_micro,
    )


def _release_selected(table: pa.Table, rules: DpRules, planned: list[_Planned]) -> DpResult:
    """Partition selection: the cells are those the data has (within the dimensions' domains
    where they have one) that OpenDP's noisy threshold keeps; the other columns are noised
    over the kept cells only. Which cells are kept is itself differentially private (with
    ``delta``), so no cell is marked suppressed: a cell not kept is not in the answer."""
    gate = rules.rules
    domains = rules.selection_domains
    assert domains is not None
    index: dict[tuple[Any, ...], int] = {}
    keys = zip(*(table.column(d).to_pylist() for d in gate.dimensions), strict=True)
    for row, key in enumerate(keys):
        outside = any(
            value is None or (domain is not None and value not in domain)
            for value, domain in zip(key, domains, strict=True)
        )
        if outside:  # a null or a value outside a public domain is never released
            continue
        if key in index:
            raise DuplicateCell()
        index[key] = row
    by_name = {spec.column: (spec, measurement) for spec, measurement, _info in planned}
    threshold_values = table.column(rules.threshold).to_pylist()
    # OpenDP's map is keyed by text: each cell named by its keys' text (a column holds one
    # type, so its values' text is one-to-one), the key itself kept beside it
    names = {_cell_name(key): key for key in index}
    counts = {name: int(threshold_values[index[key]] or 0) for name, key in names.items()}
    _spec, selector = by_name[rules.threshold]
    kept = selector(counts) if counts else {}
    chosen = sorted(
        ((names[name], int(value)) for name, value in kept.items()),
        key=lambda item: tuple(str(v) for v in item[0]),
    )[: gate.row_cap]
    rows = [index[key] for key, _value in chosen]
    noisy: dict[str, list[int]] = {rules.threshold: [value for _key, value in chosen]}
    for spec, measurement, _info in planned:
        if spec.column == rules.threshold:
            continue
        column = table.column(spec.column).to_pylist()
        values = [int(column[row] or 0) for row in rows]
        noisy[spec.column] = _drawn(measurement, values, spec.nonnegative)
    columns = {
        d: pa.array([key[i] for key, _value in chosen], type=table.schema.field(d).type)
        for i, d in enumerate(gate.dimensions)
    }
    return DpResult(
        table=_released(gate, columns, noisy, set()),
        suppressed_cells=0,
        noise=tuple(info for _spec, _m, info in planned),
        epsilon_micro=rules.epsilon_micro,
    )


def _cell_name(key: tuple[Any, ...]) -> str:
    return json.dumps([str(v) for v in key], ensure_ascii=True, separators=(",", ":"))


def _drawn(measurement: dp.Measurement, values: list[int], nonnegative: bool) -> list[int]:
    drawn = [int(v) for v in measurement(values)] if values else []
    return [max(v, 0) for v in drawn] if nonnegative else drawn


def _released(
    gate: GateRules,
    dimensions: dict[str, pa.Array[Any]],
    noisy: dict[str, list[int]],
    hidden: set[int],
) -> pa.Table:
    """The released table of the noisy values (the exact gate's :func:`released_table`)."""
    rows = len(next(iter(noisy.values()))) if noisy else 0
    values: dict[str, list[int | None]] = {
        spec.name: list(noisy[spec.name]) for spec in gate.aggregates
    }
    return released_table(gate, dimensions, values, hidden, rows)


def noise_plan(rules: DpRules) -> tuple[NoiseInfo, ...]:
    """The noise :func:`release_dp` would add under ``rules``, without any data: what a dry
    run tells a partner before any budget is spent."""
    check_rules(rules.rules)
    _check_noise(rules)
    return tuple(info for _spec, _m, info in _planned(rules))


_Planned = tuple[NoiseSpec, dp.Measurement, NoiseInfo]


def _planned(rules: DpRules) -> list[_Planned]:
    """Each column's measurement and what it means; checks with OpenDP's privacy maps that
    the columns together spend no more than the charge."""
    share = rules.epsilon_micro / len(rules.noise) / 1_000_000
    micro = rules.epsilon_micro // len(rules.noise)
    planned: list[_Planned] = []
    used = 0.0
    for spec in rules.noise:
        base = _base(rules.rules, spec.column)
        if rules.selection_domains is not None and spec.column == rules.threshold:
            selector, scale, threshold = _selector(spec, share, rules)
            used += float(selector.map(_l01inf(spec))[0])  # type: ignore[no-untyped-call]
            bound = float(dp.discrete_laplacian_scale_to_accuracy(scale, _ALPHA)) + base // 2
            info = NoiseInfo(spec.column, micro, scale, bound, "laplace_threshold", threshold)
            planned.append((spec, selector, info))
            continue
        measurement, scale = _measurement(spec.sensitivity, share)
        used += float(measurement.map(spec.sensitivity))  # type: ignore[no-untyped-call]
        bound = float(dp.discrete_laplacian_scale_to_accuracy(scale, _ALPHA)) + base // 2
        planned.append((spec, measurement, NoiseInfo(spec.column, micro, scale, bound)))
    if used > rules.epsilon_micro / 1_000_000 * (1 + 1e-9):  # OpenDP's own accounting
        raise GateRulesInvalid("the noise would spend more epsilon than charged")
    return planned


def _l01inf(spec: NoiseSpec) -> tuple[int, int, int]:
    """What one person changes: cells, the total over them, the most in one cell."""
    return (spec.cells, spec.sensitivity, max(1, spec.sensitivity // spec.cells))


def _selector(spec: NoiseSpec, epsilon: float, rules: DpRules) -> tuple[dp.Measurement, float, int]:
    """OpenDP's noisy threshold (``make_laplace_threshold``) on the threshold column's
    counts per cell: its scale spends ``epsilon``; its threshold is the smallest at least
    ``min_persons`` with which a cell one person alone makes is kept with probability at
    most ``delta``.

    That probability is not OpenDP's privacy map's delta: the map (0.16) gives
    ``P[X > threshold - li]`` while the mechanism keeps a noisy count at or above the
    threshold, so a cell of ``li`` is kept with ``P[X >= threshold - li]``, a factor
    ``e^(1/scale)`` more (opendp/opendp#2922). It is the map's delta of the threshold one
    lower, which is what the search asks."""
    d_in = _l01inf(spec)

    def selector(scale: float, threshold: int) -> dp.Measurement:
        return dp.m.make_laplace_threshold(*_MAP_SPACE, scale=scale, threshold=threshold)

    scale = spec.sensitivity / epsilon
    floor = rules.rules.min_persons
    while float(selector(scale, floor).map(d_in)[0]) > epsilon:  # type: ignore[no-untyped-call]
        scale = math.nextafter(scale, math.inf)

    def tight(threshold: int) -> bool:  # P[X >= threshold - li] = P[X > (threshold - 1) - li]
        lower = selector(scale, threshold - 1)
        return float(lower.map(d_in)[1]) <= rules.delta  # type: ignore[no-untyped-call]

    floor = max(floor, d_in[2] + 1)  # the map needs a threshold - 1 of at least li
    found = floor if tight(floor) else dp.binary_search(tight, bounds=(floor, 2**31 - 1))  # type: ignore[arg-type]
    threshold = int(found)
    return selector(scale, threshold), scale, threshold


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
    if rules.selection_domains is None and gate.domains is None:
        raise GateRulesInvalid("a DP answer needs the dimensions' domains or partition selection")
    if rules.selection_domains is not None:
        if len(rules.selection_domains) != len(gate.dimensions) or not gate.dimensions:
            raise GateRulesInvalid("partition selection needs one entry per dimension")
        if not 0 < rules.delta <= 1e-5:
            raise GateRulesInvalid("partition selection needs a delta in (0, 1e-5]")
        if any(spec.cells < 1 for spec in rules.noise):
            raise GateRulesInvalid("partition selection needs the cells one person changes")
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
