"""Token buckets keyed by client address stay bounded however many addresses call."""

from __future__ import annotations

from grpc_api._ratelimit import TokenBuckets


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_refilled_buckets_are_forgotten_past_the_key_limit() -> None:
    clock = _Clock()
    buckets = TokenBuckets(1.0, 2, clock=clock, max_keys=3)
    for key in ("a", "b", "c"):
        assert buckets.acquire(key) is None
    # All three are still draining: a fourth address must wait instead of growing the map.
    assert buckets.acquire("d") == 1.0
    clock.now = 10.0  # every bucket has refilled: they are forgotten, "d" gets its own
    assert buckets.acquire("d") is None
    assert len(buckets._buckets) == 1


def test_burst_then_rate() -> None:
    clock = _Clock()
    buckets = TokenBuckets(2.0, 2, clock=clock)
    assert buckets.acquire("x") is None and buckets.acquire("x") is None
    assert buckets.acquire("x") == 0.5
    clock.now = 0.5
    assert buckets.acquire("x") is None
