"""Per-partner rate limits: one token bucket per organization."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

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
    ) -> None:
        """``max_keys`` bounds memory when keys are client addresses (anyone can make new
        ones): past it, buckets that have refilled -- identical to a new one -- are dropped."""
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def acquire(self, key: str) -> float | None:
        """Take one token: None if granted, else the seconds until one is available."""
        with self._lock:
            now = self._clock()
            if key not in self._buckets and len(self._buckets) >= self._max_keys:
                self._forget_full(now)
                if len(self._buckets) >= self._max_keys:  # all busy: no new key for now
                    return 1.0 / self._rate
            tokens, last = self._buckets.get(key, (self._burst, now))
            tokens = min(self._burst, tokens + (now - last) * self._rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return None
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self._rate

    def _forget_full(self, now: float) -> None:
        refill = self._burst / self._rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < refill}
