"""A request stream read on its own thread into a bounded queue (issue 15, ``CheckBatch``).

The servicer of a bidirectional stream cannot read its next request while it waits for the
zone; a reader thread can. :class:`StreamReader` pulls requests off the stream, at most
``bound`` of them read and not yet taken (back-pressure: past it the reader stops pulling, so
a client streaming faster than the zone answers is held by gRPC's flow control, not by the
server's memory), and :meth:`StreamReader.take` hands the servicer what has arrived, up to a
limit, in order -- one zone call's group.

The stream's end, and an exception the stream raised (a cancelled call, a malformed item the
interceptor refused), come after the requests read before them: :meth:`take` returns them as
the group's ``ending``. :meth:`close` (the servicer's ``finally``) stops the reader: it never
pulls again, a reader waiting for room ends at once, and one blocked on the stream ends as
soon as the stream does -- which gRPC does once the call has its status, or is cancelled.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["READER_THREAD", "Ending", "StreamReader"]

_T = TypeVar("_T")

READER_THREAD = "checkbatch-reader"


@dataclass(frozen=True)
class Ending:
    """How the stream ended: ``error`` is what it raised (None: the client half-closed)."""

    error: BaseException | None = None


class StreamReader(Generic[_T]):
    """Reads ``requests`` on a daemon thread; at most ``bound`` requests are read and not yet
    taken (the reader takes a slot before it pulls a request, :meth:`take` gives it back)."""

    def __init__(self, requests: Iterator[_T], *, bound: int, name: str = READER_THREAD) -> None:
        if bound < 1:
            raise ValueError("bound must be at least 1")
        self._requests = requests
        self._slots = threading.Semaphore(bound)
        self._queue: queue.SimpleQueue[_T | Ending] = queue.SimpleQueue()
        self._stopped = threading.Event()
        self._ended = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        ending = Ending()
        try:
            while True:
                self._slots.acquire()  # blocks while ``bound`` requests wait: back-pressure
                if self._stopped.is_set():
                    break  # the ending still goes in: a take() waiting for it returns
                try:
                    request = next(self._requests)
                except StopIteration:
                    break
                self._queue.put(request)
        except BaseException as exc:  # handed to the servicer, which raises it in its thread
            ending = Ending(exc)
        self._queue.put(ending)

    def take(self, limit: int) -> tuple[list[_T], Ending | None]:
        """Wait for the next request (or the end), then take what else has arrived, up to
        ``limit`` requests in all, in order; and the stream's ending if it came after them
        (``([], ending)`` once every request was taken)."""
        if self._ended:
            return [], Ending()
        taken: list[_T] = []
        item = self._queue.get()
        while True:
            if isinstance(item, Ending):
                self._ended = True
                return taken, item
            taken.append(item)
            self._slots.release()
            if len(taken) >= limit:
                return taken, None
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return taken, None

    def close(self) -> None:
        """Stop reading: no request is pulled after this; a reader waiting for a slot ends,
        one blocked on the stream ends when the stream does."""
        self._stopped.set()
        self._slots.release()

    @property
    def thread(self) -> threading.Thread:
        """The reader thread (for tests: it ends once the stream has)."""
        return self._thread
