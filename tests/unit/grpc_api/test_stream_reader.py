"""StreamReader (issue 15, CheckBatch): reads on its own thread, never more than ``bound``
requests ahead of what was taken, hands groups over in order, ends with its stream."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator

import pytest

from grpc_api._stream_reader import Ending, StreamReader

WAIT = 10.0  # the bound on waiting for a thread to get somewhere; never a timing assertion


def until(condition: object, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(0.002)


class Feed:
    """A request stream the test controls: it counts what the reader pulled."""

    def __init__(self) -> None:
        self.pulled = 0
        self._items: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.waiting = threading.Event()  # the reader is blocked on the stream

    def put(self, *items: object) -> None:
        for item in items:
            self._items.put(item)

    def __iter__(self) -> Iterator[int]:
        while True:
            self.waiting.set()
            item = self._items.get()
            self.waiting.clear()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            self.pulled += 1
            yield int(item)  # type: ignore[call-overload]


def test_the_reader_never_reads_more_than_the_bound_ahead_of_what_was_taken() -> None:
    feed = Feed()
    feed.put(*range(100))
    reader: StreamReader[int] = StreamReader(iter(feed), bound=4)
    try:
        until(lambda: feed.pulled == 4, "the reader pulled 4")
        taken: list[int] = []
        while len(taken) < 40:  # the reader, and never past the bound, after each take
            got, ending = reader.take(3)
            assert ending is None and 1 <= len(got) <= 3
            taken += got
            # Invariant at every moment: read but not taken <= bound.
            assert feed.pulled - len(taken) <= 4
            held = len(taken)
            until(lambda held=held: feed.pulled - held == 4, "the reader caught up to the bound")
        assert taken == list(range(len(taken)))  # in order
    finally:
        reader.close()
        feed.put(None)
    reader.thread.join(WAIT)
    assert not reader.thread.is_alive()


def test_take_drains_what_arrived_up_to_its_limit_then_the_ending() -> None:
    feed = Feed()
    feed.put(*range(5))
    reader: StreamReader[int] = StreamReader(iter(feed), bound=8)
    until(lambda: feed.pulled == 5 and feed.waiting.is_set(), "all 5 read")
    assert reader.take(3) == ([0, 1, 2], None)
    assert reader.take(3) == ([3, 4], None)  # what has arrived; no waiting for a third
    feed.put(None)
    assert reader.take(3) == ([], Ending())
    assert reader.take(3) == ([], Ending())
    reader.thread.join(WAIT)
    assert not reader.thread.is_alive()


def test_the_end_comes_with_the_last_requests() -> None:
    reader: StreamReader[int] = StreamReader(iter([1, 2]), bound=8)
    reader.thread.join(WAIT)
    assert reader.take(8) == ([1, 2], Ending())


def test_what_the_stream_raises_comes_after_the_requests_before_it() -> None:
    feed = Feed()
    failure = RuntimeError("cancelled")
    feed.put(1, 2, failure)
    reader: StreamReader[int] = StreamReader(iter(feed), bound=8)
    reader.thread.join(WAIT)
    got, ending = reader.take(8)
    assert got == [1, 2] and ending is not None and ending.error is failure


def test_close_ends_a_reader_waiting_for_room_and_it_pulls_nothing_more() -> None:
    feed = Feed()
    feed.put(*range(10))
    reader: StreamReader[int] = StreamReader(iter(feed), bound=2)
    until(lambda: feed.pulled == 2, "the reader filled its bound")
    reader.close()
    reader.thread.join(WAIT)
    assert not reader.thread.is_alive()
    assert feed.pulled == 2


def test_close_ends_a_reader_blocked_on_the_stream_once_the_stream_ends() -> None:
    feed = Feed()
    reader: StreamReader[int] = StreamReader(iter(feed), bound=2)
    until(feed.waiting.is_set, "the reader waits on the stream")
    reader.close()
    feed.put(7)  # the stream yields once more, then ends: the reader takes nothing further
    reader.thread.join(WAIT)
    assert not reader.thread.is_alive()


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        StreamReader(iter([1]), bound=0)
