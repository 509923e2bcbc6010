"""A pool of precomputed Paillier obfuscators ``r^n mod n^2`` for one partner key.

An obfuscator costs one 3072-bit-exponent modular exponentiation modulo ``n^2`` (about 30 ms
on the development machine); the rest of a 20-feature score costs about 1.5 ms. The pool
computes them ahead, in a background thread, with ``gmpy2.powmod_base_list``, which releases
the GIL while it works, so refilling takes another core, not the scoring thread's time.

Each value is handed out once (``take()`` pops it) and each ``r`` is drawn fresh with
:mod:`secrets`; when the pool is empty ``take()`` computes one inline rather than wait, and
counts it (:attr:`PoolStats.inline`): a pool that keeps running dry is too small or its
refills too slow for the load.
"""

from __future__ import annotations

import collections
import secrets
import threading
from dataclasses import dataclass

try:
    import gmpy2
except ImportError:  # refused with how to install it: require_gmpy2(), GmpyMissing
    gmpy2 = None

from enclave.compute._key import PartnerKey, require_gmpy2
from enclave.compute.errors import ModelInvalid, ObfuscatorPoolClosed

__all__ = ["ObfuscatorPool", "PoolStats", "fresh_obfuscator"]


def fresh_obfuscator(key: PartnerKey) -> int:
    """``r^n mod n^2`` for a fresh uniform ``r`` in ``[1, n)`` (a unit except with
    probability about 2^-1535: finding a non-unit would factor ``n``)."""
    r = 1 + secrets.randbelow(key.n - 1)
    return int(gmpy2.powmod(r, key.n, key.nsquare))


@dataclass(frozen=True)
class PoolStats:
    available: int  # values ready now
    produced: int  # values the background thread computed
    taken: int  # values handed out from the pool
    inline: int  # values computed by take() because the pool was empty


class ObfuscatorPool:
    """Keeps up to ``target`` obfuscators of ``key`` ready, refilled by a daemon thread in
    batches of ``batch`` whenever it falls below ``target`` (``target=0``: none kept, every
    ``take()`` inline). Thread-safe; ``close()`` (or leaving the ``with`` block) stops the
    thread and drops the values left."""

    def __init__(self, key: PartnerKey, *, target: int = 256, batch: int = 8) -> None:
        require_gmpy2()
        if target < 0 or batch < 1:
            raise ModelInvalid("the obfuscator pool's target must be >= 0 and its batch >= 1")
        self.key = key
        self._target, self._batch = target, batch
        self._ready: collections.deque[int] = collections.deque()
        self._changed = threading.Condition()
        self._closed = False
        self._produced = self._taken = self._inline = 0
        self._thread = threading.Thread(target=self._refill, name="obfuscator-pool", daemon=True)
        self._thread.start()

    def take(self) -> int:
        """One obfuscator, never handed out before; computed inline when the pool is empty."""
        with self._changed:
            if self._closed:
                raise ObfuscatorPoolClosed()
            if self._ready:
                self._taken += 1
                value = self._ready.popleft()
                self._changed.notify_all()
                return value
            self._inline += 1
            self._changed.notify_all()
        return fresh_obfuscator(self.key)

    def stats(self) -> PoolStats:
        with self._changed:
            return PoolStats(len(self._ready), self._produced, self._taken, self._inline)

    def wait_full(self, timeout: float | None = None) -> bool:
        """Block until the pool holds ``target`` values (True) or ``timeout`` passes."""
        with self._changed:
            return (
                self._changed.wait_for(
                    lambda: self._closed or len(self._ready) >= self._target, timeout
                )
                and not self._closed
            )

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._ready.clear()
            self._changed.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> ObfuscatorPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _refill(self) -> None:
        n, nsquare = self.key.n, self.key.nsquare
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._closed or len(self._ready) < self._target)
                if self._closed:
                    return
                count = min(self._batch, self._target - len(self._ready))
            bases = [1 + secrets.randbelow(n - 1) for _ in range(count)]
            values = [int(v) for v in gmpy2.powmod_base_list(bases, n, nsquare)]
            with self._changed:
                if self._closed:
                    return
                self._ready.extend(values)
                self._produced += len(values)
                self._changed.notify_all()
