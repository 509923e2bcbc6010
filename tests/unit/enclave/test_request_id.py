"""Request ids: the audit log's fixed format, a UUIDv7's layout, time-ordered, never repeated."""

from __future__ import annotations

import time
import uuid

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
