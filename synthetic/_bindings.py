"""Family bindings of a chunk of persons, within the registry's monthly limits.

Candidates pair a holder with a member of the same chunk whose age difference names a
relation (spouse, child, parent, grandchild, grandparent); binding times fall while both are
alive. Limits from the consent rules are then enforced by rank within each calendar month:
a holder binds at most 5 new members a month, a member accepts at most 2 bindings a month.
Members under 16 at binding time are bound with documents, others by face or documents.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from synthetic._calendar import REF_DAY, YEAR, day
from synthetic._population import Population

__all__ = ["HOLDER_MONTHLY_LIMIT", "MEMBER_MONTHLY_LIMIT", "bindings_table"]

HOLDER_MONTHLY_LIMIT = 5
MEMBER_MONTHLY_LIMIT = 2
_FIRST_DAY = day(__import__("datetime").date(2019, 1, 1))
_RELATIONS = ("SPOUSE", "CHILD", "PARENT", "GRANDCHILD", "GRANDPARENT")
_METHODS = ("DOCUMENT", "FACE")
_TS = pa.timestamp("s", tz="UTC")


def _rank_within(keys: np.ndarray, order_by: np.ndarray) -> np.ndarray:
    """0-based rank of each row among rows with the same key, ordered by ``order_by``."""
    n = keys.shape[0]
    order = np.lexsort((order_by, keys))
    k = keys[order]
    new = np.ones(n, dtype=bool)
    new[1:] = k[1:] != k[:-1]
    start = np.maximum.accumulate(np.where(new, np.arange(n), 0))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - start
    return rank


def bindings_table(rng: np.random.Generator, pop: Population, lo: int, hi: int) -> pa.Table:
    size = hi - lo
    birth = pop.birth[lo:hi].astype(np.int64)
    male = pop.male[lo:hi]
    alive_until = np.minimum(pop.life_end[lo:hi].astype(np.int64), REF_DAY)
    # About a third of the persons appear as holders; a few bind many members at once.
    holders = rng.integers(0, size, int(size * 0.45))
    bursts = rng.integers(0, size, max(size // 200, 1))
    holder = np.concatenate([holders, np.repeat(bursts, 7)])
    member = np.asarray(rng.integers(0, size, size=(holder.shape[0],)))
    diff = (birth[member] - birth[holder]) / YEAR  # > 0: member is younger
    adult_holder = (REF_DAY - birth[holder]) / YEAR >= 20
    spouse = (
        (np.abs(diff) < 12)
        & (male[holder] != male[member])
        & ((REF_DAY - birth[member]) / YEAR >= 20)
    )
    relation: np.ndarray = np.select(
        [spouse, (diff >= 18) & (diff < 45), (diff <= -18) & (diff > -45), diff >= 45, diff <= -45],
        [0, 1, 2, 3, 4],
        -1,
    )
    ok = (relation >= 0) & adult_holder & (holder != member)
    relation = relation[ok]
    holder, member = holder[ok], member[ok]
    # Bound while both live, since 2019; bursts land in one month.
    lo_day = np.maximum(np.maximum(birth[holder] + int(18 * YEAR), birth[member]), _FIRST_DAY)
    hi_day = np.minimum(alive_until[holder], alive_until[member])
    ok = lo_day < hi_day
    holder, member, relation, lo_day, hi_day = (
        holder[ok],
        member[ok],
        relation[ok],
        lo_day[ok],
        hi_day[ok],
    )
    n = holder.shape[0]
    bound_day = lo_day + (rng.random(n) * (hi_day - lo_day)).astype(np.int64)
    bound = bound_day * 86400 + rng.integers(8 * 3600, 22 * 3600, n)
    # One binding per pair.
    pair = holder.astype(np.int64) * size + member
    _, first = np.unique(pair, return_index=True)
    keep = np.zeros(n, dtype=bool)
    keep[first] = True
    month = bound_day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    keep &= _rank_within(np.where(keep, holder * 10_000 + month, -1), bound) < HOLDER_MONTHLY_LIMIT
    keep &= _rank_within(np.where(keep, member * 10_000 + month, -1), bound) < MEMBER_MONTHLY_LIMIT
    idx = np.flatnonzero(keep)
    holder, member, relation, bound, hi_day = (
        holder[idx],
        member[idx],
        relation[idx],
        bound[idx],
        hi_day[idx],
    )
    n = idx.shape[0]
    under16 = (bound // 86400 - birth[member]) / YEAR < 16
    method = np.where(under16, 0, (rng.random(n) < 0.75).astype(np.int64))
    unbound = bound + (rng.random(n) * (hi_day * 86400 + 86400 - bound)).astype(np.int64)
    has_unbound = (rng.random(n) < 0.1) & (unbound > bound)
    order = np.lexsort((bound, holder))
    return pa.table(
        {
            "holder_person_id": pa.array(holder[order] + lo + 1, pa.int64()),
            "member_person_id": pa.array(member[order] + lo + 1, pa.int64()),
            "relation": pa.array(np.array(_RELATIONS)[relation[order]], pa.string()),
            "method": pa.array(np.array(_METHODS)[method[order]], pa.string()),
            "bound_at": pa.array(bound[order], pa.int64()).cast(_TS),
            "unbound_at": pa.array(unbound[order], pa.int64(), mask=~has_unbound[order]).cast(_TS),
        }
    )
