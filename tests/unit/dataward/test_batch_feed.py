"""check_many's request side (``_Feed``) under a stream that ends while gRPC's thread is
packing: every item taken is either answered, returned as unanswered or still carried --
none is lost between being taken and being counted sent (issue 15 review)."""

from __future__ import annotations

import random
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

import pytest

from dataward.client import Benefit, EligibilityQuery, Purpose
from dataward.client._batch import _Feed, _Item, _Source, packed_window
from dataward.v1 import eligibility_pb2

ITEMS = 256


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Thread switches every 0.1 ms, so the race shows if the code has one (it did, 8 trials
    in 300, with the item taken and counted sent in two lock sections)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    yield
    sys.setswitchinterval(before)


@pytest.mark.usefixtures("fast_switching")
def test_a_stream_closed_mid_pack_loses_no_carried_item() -> None:
    rng = random.Random(15)
    for _trial in range(300):
        carry = deque(_Item(i, eligibility_pb2.CheckRequest(), "n") for i in range(ITEMS))
        feed = _Feed(_Source(iter(()), lambda: "n"), carry, limit=1000, window=ITEMS, pack=64)
        started = threading.Event()
        messages: list[int] = []

        def consume(
            f: _Feed = feed, ready: threading.Event = started, out: list[int] = messages
        ) -> None:
            ready.set()
            out.extend(len(m.items) for m in f.requests())

        sender = threading.Thread(target=consume)
        sender.start()
        started.wait()
        time.sleep(rng.random() * 0.0005)
        unanswered = feed.close(wait=True)
        sender.join()
        kept = [i.index for i in unanswered] + [i.index for i in carry]
        assert sorted(kept) == list(range(ITEMS))
        assert len(kept) == ITEMS  # none twice either
        assert all(1 <= n <= 64 for n in messages)


def _queries(n: int, gap: Callable[[int], object]) -> Iterator[EligibilityQuery]:
    for k in range(n):
        gap(k)
        yield EligibilityQuery(f"{k:018d}", Benefit.OUTPATIENT, Purpose.INSURANCE_UNDERWRITING)


def test_a_slow_iterable_is_not_held_for_a_whole_pack() -> None:
    """Items coming 50 ms apart leave one or two to a message, not 64 (PACK_WAIT)."""
    source = _Source(_queries(5, lambda k: time.sleep(0.05 if k else 0)), lambda: "n", ahead=64)
    feed = _Feed(source, deque(), limit=1000, window=256, pack=64)
    sizes = [len(m.items) for m in feed.requests()]
    assert sum(sizes) == 5 and max(sizes) <= 2, sizes


def test_a_pack_leaves_while_the_source_blocks_and_a_close_ends_the_wait() -> None:
    """A live source that gives one query and then nothing for as long as it likes: the
    first goes at once, alone, and a close of the stream ends the wait for the next within
    a poll (the source's next query is the next stream's, none lost)."""
    more = threading.Event()
    source = _Source(_queries(2, lambda k: more.wait() if k else None), lambda: "n", ahead=64)
    feed = _Feed(source, deque(), limit=1000, window=256, pack=64)
    messages = feed.requests()
    started = time.monotonic()
    first = next(messages)
    assert [r.id_number for r in first.items] == [f"{0:018d}"]
    assert time.monotonic() - started < 1.0  # not held for the blocked source
    closer = threading.Timer(0.2, feed.close, kwargs={"wait": True})
    closer.start()
    assert list(messages) == []  # the wait for a next first item ended with the close
    closer.join()
    more.set()
    later = source.pull()
    assert later is not None and later.index == 1 and later.request.id_number == f"{1:018d}"
    assert source.pull() is None and source.pulled == 2


def test_a_stopped_source_reads_no_further() -> None:
    """stop (the caller left check_many) ends the reading after the query under way: the
    iterable is not drained behind the caller's back."""
    given: list[int] = []

    def counted() -> Iterator[EligibilityQuery]:
        for query in _queries(1000, lambda k: None):
            given.append(1)
            yield query

    source = _Source(counted(), lambda: "n", ahead=4)
    assert source.pull() is not None
    reader = source._reader
    assert reader is not None
    reader.join(0.5)
    assert reader.is_alive()  # blocked on the full queue: the caller has not taken more
    source.stop()
    reader.join(2.0)
    assert not reader.is_alive()
    assert len(given) <= 4 + 2  # the queue's 4, the one taken, the one under way at most


@pytest.mark.parametrize(
    ("limit", "pack", "window"),
    [(-1, 64, 256), (0, 64, 256), (64 * 1024, 64, 16), (64 * 1024, 1, 256), (1024, 64, 1)],
)
def test_the_packed_window_follows_the_clients_message_limit(
    limit: int, pack: int, window: int
) -> None:
    """One unanswered item per 4 KiB of max_message_bytes at most, packed; -1 (gRPC's "no
    limit") keeps the window asked for: it used to make it 1, one item at a time."""
    assert packed_window(256, pack, limit) == window
