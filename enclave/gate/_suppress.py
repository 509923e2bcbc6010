"""Primary and secondary suppression over an answer's margins.

Primary: a row whose distinct persons are under the threshold (or unknown) is suppressed, and
so is one the caller names (a sum one person dominates).

Secondary, in two stages, each repeated until nothing changes:

1. The classic rule: an equation (a margin and its cells, :mod:`enclave.gate._margins`) with
   exactly one suppressed member gives that member away by subtraction, so its smallest
   released member (fewest persons, then first in dimension order) is suppressed too.
2. The exact test. Suppressed rows are the unknowns of the equations; an unknown is
   determined by the released values exactly when its unit vector lies in the row space of
   the system, which for a graph's incidence matrix is the cut space: exactly when its arc is
   a *bridge* of the graph of suppressed arcs. Stage 1 removes the degree-one bridges; this
   stage also finds those the classic rule misses (two suppressed blocks joined by one
   suppressed cell). For each bridge, the smallest released member of an equation at one of
   its ends (else anywhere in its component) is suppressed, and the test runs again. A bridge
   whose component has no released member left is pinned by the structure alone (to zero),
   not by any released value, and is left as it is.

The result: no suppressed value is a linear function of the released values of the answer.
(Released values are rounded, so a bound on a suppressed cell can still be had by
subtraction, within the rounding; `dp` release (enclave.gate._dp) closes that.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from enclave.gate._margins import Margins

__all__ = ["suppressed_rows"]

_Size = Callable[[int], tuple[int, int]]


def suppressed_rows(
    persons: Sequence[int | None],
    min_persons: int,
    margins: Margins,
    also: set[int] | None = None,
) -> set[int]:
    """The rows (by index) whose aggregates must be withheld; ``also`` are rows suppressed
    for another primary reason (one person dominating a sum)."""
    suppressed = {i for i, p in enumerate(persons) if p is None or p < min_persons}
    suppressed |= also or set()

    def size(i: int) -> tuple[int, int]:
        p = persons[i]
        return (p if p is not None else -1, i)

    while True:
        _classic(suppressed, margins, size)
        added = _break_a_bridge(suppressed, margins, size)
        if added is None:
            return suppressed
        suppressed.add(added)


def _classic(suppressed: set[int], margins: Margins, size: _Size) -> None:
    changed = True
    while changed:
        changed = False
        for rows in margins.equations:
            hidden = [r for r in rows if r in suppressed]
            if len(hidden) == 1:
                released = [r for r in rows if r not in suppressed]
                if released:
                    suppressed.add(min(released, key=size))
                    changed = True


def _break_a_bridge(suppressed: set[int], margins: Margins, size: _Size) -> int | None:
    """A released row to suppress so that the first breakable bridge stops being one."""
    arcs = [(row, *margins.arcs[row]) for row in sorted(suppressed) if row in margins.arcs]
    for row in _bridges(margins.ground + 1, arcs):
        ends = [n for n in margins.arcs[row] if n != margins.ground]
        near = _released_members(ends, suppressed, margins)
        if not near:
            near = _released_members(_component(row, arcs, margins), suppressed, margins)
        if near:
            return min(near, key=size)
    return None


def _released_members(nodes: Sequence[int], suppressed: set[int], margins: Margins) -> list[int]:
    return [r for n in nodes for r in margins.equations[n] if r not in suppressed]


def _component(row: int, arcs: Sequence[tuple[int, int, int]], margins: Margins) -> list[int]:
    """The equations connected to ``row``'s arc through suppressed arcs (ground excluded)."""
    adjacent: dict[int, set[int]] = {}
    for _, u, v in arcs:
        adjacent.setdefault(u, set()).add(v)
        adjacent.setdefault(v, set()).add(u)
    seen = set(margins.arcs[row])
    todo = list(seen)
    while todo:
        for w in adjacent.get(todo.pop(), ()):
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return sorted(n for n in seen if n != margins.ground)


def _bridges(nodes: int, arcs: Sequence[tuple[int, int, int]]) -> list[int]:
    """The rows whose arcs are bridges of the multigraph (Tarjan, iterative; parallel arcs
    are told apart by their row, so two suppressed cells between the same ends are no bridge)."""
    adjacent: list[list[tuple[int, int]]] = [[] for _ in range(nodes)]
    for row, u, v in arcs:
        adjacent[u].append((v, row))
        adjacent[v].append((u, row))
    order = [-1] * nodes
    low = [0] * nodes
    clock = 0
    found: list[int] = []
    for start in range(nodes):
        if order[start] != -1 or not adjacent[start]:
            continue
        order[start] = low[start] = clock
        clock += 1
        stack: list[tuple[int, int, int]] = [(start, -1, 0)]  # node, arc in, next neighbour
        while stack:
            v, via, nxt = stack[-1]
            if nxt < len(adjacent[v]):
                stack[-1] = (v, via, nxt + 1)
                w, row = adjacent[v][nxt]
                if row == via:
                    continue
                if order[w] == -1:
                    order[w] = low[w] = clock
                    clock += 1
                    stack.append((w, row, 0))
                else:
                    low[v] = min(low[v], order[w])
                continue
            stack.pop()
            if stack:
                u = stack[-1][0]
                low[u] = min(low[u], low[v])
                if low[v] > order[u]:
                    found.append(via)
    return sorted(found)
