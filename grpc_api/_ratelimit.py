"""Token buckets: per partner organization, and per client address for refusals of calls
without a valid token."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

__all__ = ["TokenBuckets"]


class TokenBuckets:
    """``rate`` requests per second with bursts up to ``burst``, per key."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
        scale: Mapping[str, float] | None = None,
    ) -> None:
        """``max_keys`` bounds memory when keys are client addresses (anyone can make new
        ones): past it, buckets that have refilled -- identical to a new one -- are dropped,
        at most once a second (a rebuild costs O(keys)); until then a new key waits.
        ``scale`` gives some keys a multiple of the rate and burst (e.g. one shared by all)."""
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys
        self._scale = dict(scale or {})
        self._last_purge = float("-inf")

    def acquire(self, key: str) -> float | None:
        """Take one token: None if granted, else the seconds until one is available."""
        with self._lock:
            now = self._clock()
            if key not in self._buckets and len(self._buckets) >= self._max_keys:
                if now - self._last_purge >= 1.0:
                    self._forget_full(now)
                    self._last_purge = now
                if len(self._buckets) >= self._max_keys:  # all busy: no new key for now
                    return 1.0 / self._rate
            factor = self._scale.get(key, 1.0)
            rate, burst = self._rate * factor, self._burst * factor
            tokens, last = self._buckets.get(key, (burst, now))
            tokens = min(burst, tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return None
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / rate

    def _forget_full(self, now: float) -> None:
        refill = self._burst / self._rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < refill}
