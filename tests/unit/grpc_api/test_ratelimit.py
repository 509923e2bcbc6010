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


def test_a_scaled_key_gets_a_multiple_of_the_rate_and_burst() -> None:
    clock = _Clock()
    buckets = TokenBuckets(1.0, 2, clock=clock, scale={"*": 10.0})
    assert all(buckets.acquire("*") is None for _ in range(20))
    assert buckets.acquire("*") == 0.1
    assert buckets.acquire("a") is None and buckets.acquire("a") is None
    assert buckets.acquire("a") == 1.0


def test_a_full_map_is_rebuilt_at_most_once_a_second() -> None:
    clock = _Clock()
    buckets = TokenBuckets(1.0, 1, clock=clock, max_keys=2)
    assert buckets.acquire("a") is None and buckets.acquire("b") is None
    clock.now = 1.5  # both refilled: the first new key rebuilds the map and gets its own
    assert buckets.acquire("c") is None and buckets.acquire("d") is None
    clock.now = 2.0  # full of draining buckets, and the last rebuild was 0.5 s ago: wait
    assert buckets.acquire("e") == 1.0
    clock.now = 2.6  # a rebuild is allowed again and "c", "d" have refilled
    assert buckets.acquire("e") is None


def test_ipv6_callers_count_by_their_64() -> None:
    from grpc_api._guard import client_address

    class _Peer:
        def __init__(self, peer: str) -> None:
            self._peer = peer

        def peer(self) -> str:
            return self._peer

    one = client_address(_Peer("ipv6:[2001:db8:1:2::1]:5555"))  # type: ignore[arg-type]
    other = client_address(_Peer("ipv6:[2001:db8:1:2:ffff::9]:6000"))  # type: ignore[arg-type]
    assert one == other == "ipv6:2001:db8:1:2::/64"
    assert client_address(_Peer("ipv6:[2001:db8:1:3::1]:1")) != one  # type: ignore[arg-type]
    assert client_address(_Peer("ipv4:10.0.0.1:443")) == "ipv4:10.0.0.1"  # type: ignore[arg-type]
