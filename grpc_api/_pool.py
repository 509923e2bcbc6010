"""The gRPC server's worker threads (issue 15): a lean pool in place of ``ThreadPoolExecutor``.

grpcio's sync server hands every call to its thread pool with ``submit`` and registers one
callback on what ``submit`` returns (``add_done_callback``: its count of active calls), and
nothing else. ``concurrent.futures.ThreadPoolExecutor`` does much more per call -- a Future
with its Condition (an RLock, a waiter list, ``notify_all``), a work item, a semaphore taken on
submit and released after each call -- and under load every one of those steps is a turn at
the one GIL shared with the zone. :class:`WorkerPool` does what grpcio uses: a queue of calls,
at most ``max_workers`` threads started as they are needed, and a :class:`Ran` per call whose
callbacks run once the call has ended. Measured with the full stack under ``bench.grpc``'s
load (scratch runs, 20k persons, 32 client threads, two each alternating): server CPU per
check 877-916 us against 966-969 us with ``ThreadPoolExecutor`` (the worker threads and the
poller each about 20 us less).

What a call raises is grpcio's to handle (its handlers answer the client and catch what the
servicer raised); anything that still escapes is logged by its type only and the thread goes
on with the next call.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Ran", "WorkerPool"]

_log = logging.getLogger("dataward.grpc")
_Call = tuple["Ran", Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class Ran:
    """What :meth:`WorkerPool.submit` returns: runs its callbacks once the call has ended."""

    __slots__ = ("_callbacks", "_ended", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ended = False
        self._callbacks: list[Callable[[Ran], object]] = []

    def done(self) -> bool:
        return self._ended

    def add_done_callback(self, callback: Callable[[Ran], object]) -> None:
        """Call ``callback(self)`` once the call has ended: at once if it has."""
        with self._lock:
            if not self._ended:
                self._callbacks.append(callback)
                return
        try:  # as Future.add_done_callback: logged, never raised into grpcio's poller
            callback(self)
        except Exception as exc:
            _log.error("worker_callback_failed", extra={"error": type(exc).__name__})

    def _end(self) -> None:
        with self._lock:
            self._ended = True
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback(self)
            except BaseException as exc:  # grpcio's own bookkeeping; never the next call's fault
                _log.error("worker_callback_failed", extra={"error": type(exc).__name__})


class WorkerPool:
    """At most ``max_workers`` threads named ``<name>_<n>``, running submitted calls in order
    of submission; a thread is started only when no started one is idle."""

    def __init__(self, max_workers: int, name: str) -> None:
        if max_workers < 1:
            raise ValueError("a pool needs at least one worker thread")
        self._max = max_workers
        self._name = name
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._lock = threading.Lock()  # _idle, _threads, _closed
        self._idle = 0  # started threads not running a call (nor about to take one)
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(self, function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Ran:
        """Run ``function(*args, **kwargs)`` on a worker thread; raises RuntimeError once the
        pool is shut down."""
        ran = Ran()
        with self._lock:
            if self._closed:
                raise RuntimeError("the worker pool is shut down")
            if self._idle:
                self._idle -= 1  # that thread takes this call
            elif len(self._threads) < self._max:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}_{len(self._threads)}", daemon=True
                )
                thread.start()  # may raise (can't start new thread): then nothing is recorded
                self._threads.append(thread)
            self._calls.put((ran, function, args, kwargs))
        return ran

    def _work(self) -> None:
        while True:
            call = self._calls.get()
            if call is None:
                return
            ran, function, args, kwargs = call
            try:
                function(*args, **kwargs)
            except BaseException as exc:  # grpcio's handlers catch the servicer's faults
                _log.error("worker_call_failed", extra={"error": type(exc).__name__})
            finally:
                del call, function, args, kwargs  # nothing of the call outlives it
            ran._end()
            with self._lock:
                self._idle += 1

    @property
    def threads(self) -> int:
        """How many worker threads have been started."""
        with self._lock:
            return len(self._threads)

    def shutdown(self, wait: bool = False) -> None:
        """Take no more calls; each thread ends once the calls queued before are run (with
        ``wait``, this waits for that). Idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                for _ in self._threads:
                    self._calls.put(None)
            threads = list(self._threads)
        if wait:
            for thread in threads:
                thread.join()
