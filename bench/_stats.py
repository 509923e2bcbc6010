"""Small statistics the benchmarks and their tests share."""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Sequence

__all__ = ["goal", "load_line", "load_now", "mann_whitney_z", "percentile", "spread"]


def mann_whitney_z(a: Sequence[float], b: Sequence[float]) -> float:
    """The normal approximation of the Mann-Whitney U statistic of ``a`` against ``b``
    (ties get average ranks); positive when ``a`` tends to be larger."""
    pooled = sorted([(x, 0) for x in a] + [(x, 1) for x in b])
    ranks = [0.0] * len(pooled)
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        i = j + 1
    n1, n2 = len(a), len(b)
    r1 = sum(r for r, (_, group) in zip(ranks, pooled, strict=True) if group == 0)
    mean = n1 * n2 / 2
    sd = math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)
    return (r1 - n1 * (n1 + 1) / 2 - mean) / sd


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``samples`` by nearest rank: a value that occurred."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def load_now() -> tuple[str, str]:
    """The machine's load average now (``[load 1m 5m 15m]``), and a warning (or nothing)
    when the last minute's is above the number of cores: a number measured then is noisy."""
    one, five, fifteen = (round(value, 2) for value in os.getloadavg())
    cores = os.cpu_count() or 1
    # Judged on the printed (rounded) figure, so "load 2.00" is never called above 2 cores.
    warning = f"  WARNING: load above the {cores} cores, a noisy number" if one > cores else ""
    return f"[load {one:.2f} {five:.2f} {fifteen:.2f}]", warning


def load_line() -> str:
    """The load average to start a bench line with, the warning inside its brackets when
    there is one (``[load 2.10 1.63 1.14, above the 2 cores: a noisy number]``), so that the
    line still reads in order."""
    average, warning = load_now()
    if not warning:
        return average
    cores = os.cpu_count() or 1
    return f"{average[:-1]}, above the {cores} cores: a noisy number]"


def spread(values: Sequence[float], fmt: str) -> str:
    """``min/median/max`` of ``values``, each formatted with ``fmt``."""
    return "/".join(format(v, fmt) for v in (min(values), statistics.median(values), max(values)))


def goal(value: float, *, at_least: float | None = None, at_most: float | None = None) -> str:
    """``met`` or ``NOT met`` for ``value`` (a median) against a lower or an upper bound."""
    ok = (at_least is None or value >= at_least) and (at_most is None or value <= at_most)
    return "met" if ok else "NOT met"
