"""The obfuscator pool: refilled in the background, each value handed out once, inline when
empty (counted), closed for good."""

from __future__ import annotations

import threading

import pytest

from enclave.compute import ModelInvalid, ObfuscatorPool, ObfuscatorPoolClosed
from tests.unit.enclave.compute.conftest import Partner


def test_the_pool_fills_to_its_target_and_refills_after_takes(partner: Partner) -> None:
    with ObfuscatorPool(partner.key, target=6, batch=4) as pool:
        assert pool.wait_full(timeout=60)
        assert pool.stats().available == 6
        taken = [pool.take() for _ in range(6)]
        assert pool.wait_full(timeout=60)
        stats = pool.stats()
    assert len(set(taken)) == 6
    assert (stats.available, stats.taken, stats.inline) == (6, 6, 0)
    assert stats.produced >= 12
    # each is r^n mod n^2: an encryption of 0, so multiplying by it changes no plaintext
    seven = partner.public.raw_encrypt(7)
    for value in taken:
        assert partner.decrypt(value) == 0
        assert partner.decrypt(seven * value % partner.public.nsquare) == 7


def test_an_empty_pool_computes_inline_and_counts_it(partner: Partner) -> None:
    with ObfuscatorPool(partner.key, target=0) as pool:
        values = {pool.take() for _ in range(3)}
        stats = pool.stats()
    assert len(values) == 3
    assert (stats.available, stats.produced, stats.taken, stats.inline) == (0, 0, 0, 3)
    assert all(partner.decrypt(v) == 0 for v in values)


def test_threads_taking_at_once_never_share_a_value(partner: Partner) -> None:
    got: list[int] = []
    lock = threading.Lock()
    with ObfuscatorPool(partner.key, target=16, batch=8) as pool:
        assert pool.wait_full(timeout=60)

        def take_five() -> None:
            mine = [pool.take() for _ in range(5)]
            with lock:
                got.extend(mine)

        threads = [threading.Thread(target=take_five) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        stats = pool.stats()
    assert len(got) == len(set(got)) == 20
    assert stats.taken + stats.inline == 20


def test_a_closed_pool_refuses_and_its_thread_ends(partner: Partner) -> None:
    pool = ObfuscatorPool(partner.key, target=2, batch=1)
    pool.close()
    with pytest.raises(ObfuscatorPoolClosed):
        pool.take()
    assert not pool._thread.is_alive()
    assert pool.stats().available == 0
    pool.close()  # twice is harmless


def test_a_pool_needs_a_sane_size(partner: Partner) -> None:
    with pytest.raises(ModelInvalid):
        ObfuscatorPool(partner.key, target=-1)
    with pytest.raises(ModelInvalid):
        ObfuscatorPool(partner.key, batch=0)
