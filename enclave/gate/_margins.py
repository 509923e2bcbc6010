"""The additive structure of an answer with margins, as a graph.

A null in a dimension means "all values". A row ``M`` with nulls and a dimension ``d`` null in
``M`` make one *equation*: ``M`` = the sum of the rows that agree with ``M`` where ``M`` is
set, are set on ``d`` and null where ``M`` is null otherwise (``GROUP BY ROLLUP`` and ``CUBE``
answers hold exactly these; rows GROUP BY left out are zero, which only makes the analysis
stricter). Every aggregate column obeys the same equations, so one structure serves them all.

When every row occurs in at most two equations, with signs that can be made opposite, the
equations are the node-arc incidence of a directed graph: equations are nodes, rows are arcs
(a row in one equation only ends at a shared *ground* node), as flow conservation. That holds
for one dimension with its total, two dimensions with one or both margins and the grand total,
and hierarchies (``ROLLUP``) of any depth. It is what makes the exact test of
:mod:`enclave.gate._suppress` possible; any other shape (``CUBE`` over three dimensions, say)
is refused with :class:`UnsupportedShape`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from enclave.gate.errors import UnsupportedShape

__all__ = ["Margins", "margins_of"]

Key = tuple[Hashable, ...]


@dataclass(frozen=True)
class Margins:
    """``equations[k]`` lists the rows (by index) of equation ``k``, its margin first; ``arcs``
    maps a row in some equation to its two end nodes (an equation, or ``ground``)."""

    equations: tuple[tuple[int, ...], ...]
    arcs: dict[int, tuple[int, int]]

    @property
    def ground(self) -> int:
        return len(self.equations)


def margins_of(keys: Sequence[Key]) -> Margins:
    """The equations among ``keys`` (the dimension values of each row, ``None`` = all).

    Raises :class:`UnsupportedShape` when they do not form a graph."""
    index = {key: i for i, key in enumerate(keys)}
    members: dict[tuple[int, int], list[int]] = {}
    for i, key in enumerate(keys):
        for d, value in enumerate(key):
            if value is None:
                continue
            parent = index.get((*key[:d], None, *key[d + 1 :]))
            if parent is not None:
                members.setdefault((parent, d), []).append(i)
    equations = tuple((margin, *children) for (margin, _), children in sorted(members.items()))
    occurs: dict[int, list[tuple[int, int]]] = {}
    for k, rows in enumerate(equations):
        occurs.setdefault(rows[0], []).append((k, 1))
        for child in rows[1:]:
            occurs.setdefault(child, []).append((k, -1))
    if any(len(places) > 2 for places in occurs.values()):
        raise UnsupportedShape()
    _orient(len(equations), occurs)
    ground = len(equations)
    arcs = {
        row: (places[0][0], places[1][0] if len(places) == 2 else ground)
        for row, places in occurs.items()
    }
    return Margins(equations, arcs)


def _orient(count: int, occurs: dict[int, list[tuple[int, int]]]) -> None:
    """Check that each equation can be multiplied by +1 or -1 so that every row shared by two
    equations has opposite signs in them (else the system is no graph: refuse)."""
    links: list[list[tuple[int, int]]] = [[] for _ in range(count)]
    for places in occurs.values():
        if len(places) == 2:
            (u, su), (v, sv) = places
            same = -su * sv  # flip[v] must be flip[u] * same
            links[u].append((v, same))
            links[v].append((u, same))
    flip = [0] * count
    for start in range(count):
        if flip[start]:
            continue
        flip[start] = 1
        queue = deque([start])
        while queue:
            u = queue.popleft()
            for v, same in links[u]:
                want = flip[u] * same
                if not flip[v]:
                    flip[v] = want
                    queue.append(v)
                elif flip[v] != want:
                    raise UnsupportedShape()
