"""The bookkeeping the zone's two worker pools share (:class:`enclave.compute.CkksWorkers`,
:class:`enclave.biometrics.FaceWorkers`): which workers are idle, waiting for one until a
deadline, giving it back (replaced when its call failed), starting them all and closing.

What a worker IS -- its process, its pipe, its protocol -- stays with each pool; this module
only needs what :class:`PooledWorker` names. Errors are the pool's own: ``failure`` is its
error class (constructed as ``failure(problem, detail)``: ``START``, ``CLOSED``), ``busy`` the
error for a call that found no free worker in time.
"""

from __future__ import annotations

import contextlib
import multiprocessing.connection
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar

__all__ = ["PipeWorker", "PooledWorker", "WorkerPool"]


class PooledWorker(Protocol):
    process: BaseProcess | None

    @property
    def pid(self) -> int | None: ...
    def wait_ready(self, deadline: float) -> None: ...
    def stop(self, *, kill: bool) -> None: ...
    def restart(self) -> None: ...


W = TypeVar("W", bound=PooledWorker)


class PipeWorker:
    """A worker process and the parent's end of its pipe: stopping and replacing it. A
    subclass starts the process in :meth:`start` (setting ``process`` and ``conn``) and may
    say goodbye on the pipe before it closes (:meth:`_goodbye`)."""

    process: BaseProcess | None = None
    conn: multiprocessing.connection.Connection | None = None

    def start(self) -> None:
        raise NotImplementedError

    def _goodbye(self, conn: multiprocessing.connection.Connection) -> None:
        """Sent before the pipe closes on a stop that is not a kill (default: nothing; the
        worker reads EOF and exits)."""

    def stop(self, *, kill: bool) -> None:
        """End the process: closing the pipe lets an idle worker exit; ``kill`` (or a worker
        that does not exit within 5 s) kills it."""
        process, conn = self.process, self.conn
        self.process = self.conn = None
        if conn is not None:
            if not kill:
                with contextlib.suppress(OSError):  # a worker already gone
                    self._goodbye(conn)
            conn.close()
        if process is not None:
            if kill:
                process.kill()
            process.join(timeout=5.0)
            if process.is_alive():
                process.kill()
                process.join()

    def restart(self) -> None:
        self.stop(kill=True)
        self.start()

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid


class WorkerPool(Generic[W]):
    """Idle workers behind one condition; thread-safe. Subclasses start theirs with
    :meth:`_start_workers` and run calls between :meth:`_acquire` and :meth:`_release`."""

    def __init__(
        self,
        *,
        what: str,
        failure: type[Exception],
        busy: Callable[[str], Exception],
    ) -> None:
        self._what = what  # e.g. "CKKS worker"
        self._failure = failure
        self._busy = busy
        self._changed = threading.Condition()
        self._closed = False
        self._workers: list[W] = []
        self._idle: list[W] = []

    def _start_workers(self, make: Callable[[int], W], count: int, start_timeout: float) -> None:
        """Start ``count`` workers and wait until each reports ready (``START`` otherwise,
        every started one stopped)."""
        try:
            for index in range(count):
                self._workers.append(make(index))
            deadline = time.monotonic() + start_timeout
            for worker in self._workers:
                try:
                    worker.wait_ready(deadline)
                except self._failure as exc:
                    raise self._failure(
                        "START",
                        f"a {self._what} process exited or was not ready in {start_timeout:g} s",
                    ) from exc
        except BaseException:
            for worker in self._workers:
                worker.stop(kill=True)
            raise
        self._idle = list(self._workers)

    def pids(self) -> tuple[int | None, ...]:
        """The workers' process ids, in worker order (for operators and tests)."""
        with self._changed:
            return tuple(w.pid for w in self._workers)

    def _check_open(self) -> None:
        with self._changed:
            if self._closed:
                raise self._closed_error()

    def _closed_error(self) -> Exception:
        return self._failure("CLOSED", f"the {self._what}s are closed")

    def _acquire(self, deadline: float, prefer: Callable[[W], bool] | None = None) -> W:
        """An idle worker (the first one ``prefer`` likes, else the first), waiting until
        ``deadline`` for one; ``busy`` past it, ``CLOSED`` once closed."""
        with self._changed:
            while not self._closed and not self._idle:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._busy(f"no {self._what} became free in time")
                self._changed.wait(remaining)
            if self._closed:
                raise self._closed_error()
            chosen = self._idle[0]
            if prefer is not None:
                chosen = next((w for w in self._idle if prefer(w)), chosen)
            self._idle.remove(chosen)
            return chosen

    def _release(self, worker: W, *, failed: bool) -> None:
        """Give ``worker`` back; one whose call failed is replaced first (the call answers at
        once; the new process starts meanwhile). After :meth:`close` it is stopped."""
        with self._changed:
            closed = self._closed
        if closed:
            worker.stop(kill=True)
            return
        if failed:
            worker.restart()
        with self._changed:
            if self._closed:
                worker.stop(kill=True)
            else:
                self._idle.append(worker)
            self._changed.notify()

    def close(self) -> None:
        """Stop every worker (idle ones at once; a call in flight ends CLOSED or CRASHED)."""
        with self._changed:
            if self._closed:
                return
            self._closed = True
            idle, self._idle = self._idle, []
            busy = [w for w in self._workers if w not in idle]
            self._changed.notify_all()
        for worker in idle:
            worker.stop(kill=False)
        for worker in busy:
            process = worker.process
            if process is not None:
                process.kill()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
