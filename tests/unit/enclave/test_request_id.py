"""Request ids: the audit log's fixed format, a UUIDv7's layout, time-ordered, never repeated."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from enclave.audit import REQUEST_ID
from enclave.release import new_request_id


def test_a_request_id_is_a_uuid7_in_the_logs_fixed_format() -> None:
    before = time.time_ns() // 1_000_000
    made = new_request_id()
    after = time.time_ns() // 1_000_000
    assert REQUEST_ID.fullmatch(made)
    parsed = uuid.UUID(made)
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert before <= parsed.int >> 80 <= after  # its first 48 bits: the Unix milliseconds


def test_ids_made_later_sort_after_and_none_repeats() -> None:
    first = [new_request_id() for _ in range(2000)]
    time.sleep(0.002)  # the next millisecond at least
    later = [new_request_id() for _ in range(2000)]
    assert max(first) < min(later)
    assert len(set(first + later)) == 4000
    # the random part (12 bits after the version, 62 after the variant) varies in each bit
    values = [int(x, 16) for x in first]
    random_bits = [(v >> 64 & 0xFFF) << 62 | v & (1 << 62) - 1 for v in values]
    varying = sum(len({b >> bit & 1 for b in random_bits}) == 2 for bit in range(74))
    assert varying == 74


def test_the_random_pool_hands_each_byte_out_once_across_refills(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from enclave.release import _skeleton

    reads: list[bytes] = []

    def counting(n: int) -> bytes:  # os.urandom, numbered: every byte read is known
        start = sum(len(r) for r in reads)
        made = bytes((start + k) % 251 for k in range(n))
        reads.append(made)
        return made

    monkeypatch.setattr(os, "urandom", counting)  # the module _skeleton reads it from
    pool = _skeleton._RandomPool()
    pool._SIZE = 64  # a refill every 6 takes
    taken = [pool.take(10) for _ in range(100)]
    assert len(reads) == 17  # one read of 64 bytes serves six takes of 10
    # in order, each byte of each read handed out once, a read's last 4 bytes never
    expected = [r[k : k + 10] for r in reads for k in range(0, 60, 10)]
    assert taken == expected[:100]


def test_a_forked_child_never_hands_out_its_parents_next_bytes() -> None:
    from enclave.release._skeleton import _RANDOM

    _RANDOM.take(1)  # the pool holds bytes now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next bytes, to the parent
        os.close(read)
        os.write(write, _RANDOM.take(32))
        os._exit(0)
    os.close(write)
    child = os.read(read, 32)
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 32 and child != _RANDOM.take(32)
