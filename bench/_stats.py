"""Small statistics the benchmarks and their tests share."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["mann_whitney_z", "percentile"]


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
