# ruff: noqa: B023  (closures used only within their loop iteration)
"""WorkerPool under races (issue 15 review): its idle accounting and Ran under stress, and
the faults the review found."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable

import pytest

from grpc_api._pool import Ran, WorkerPool

WAIT = 10.0


# --- stress: what held --------------------------------------------------------------------


def test_stress_no_call_waits_while_a_thread_could_be_started() -> None:
    """Rounds of churn (short calls from several submitters, callbacks added late), then
    max-1 blocking calls plus one more: the last must start (never queued behind the held)."""
    rng = random.Random(28)
    for max_workers in (1, 2, 3, 5):
        pool = WorkerPool(max_workers, "s")
        ran_count = 0
        count_lock = threading.Lock()
        callbacks: list[int] = []

        def short() -> None:
            nonlocal ran_count
            with count_lock:
                ran_count += 1

        try:
            submitted = 0
            for _round in range(60):
                churn = rng.randrange(0, 40)

                def submitter(n: int) -> None:
                    for _ in range(n):
                        r = pool.submit(short)
                        r.add_done_callback(lambda _r: callbacks.append(1))

                threads = [threading.Thread(target=submitter, args=(churn,)) for _ in range(3)]
                for t in threads:
                    t.start()
                # hold max-1 threads while the churn is still finishing
                gate = threading.Event()
                started = threading.Semaphore(0)

                def held() -> None:
                    started.release()
                    gate.wait(WAIT)

                for _ in range(max_workers - 1):
                    pool.submit(held)
                for t in threads:
                    t.join()
                submitted += 3 * churn
                for _ in range(max_workers - 1):
                    assert started.acquire(timeout=WAIT)
                # one more: a thread is free or can be started, so it must run now
                last = threading.Event()
                pool.submit(last.set)
                assert last.wait(WAIT), f"a call waited with {max_workers - 1} held"
                gate.set()
                assert pool.threads <= max_workers
            pool.shutdown(wait=True)
            assert ran_count == submitted
            assert len(callbacks) == submitted  # each callback exactly once
        finally:
            pool.shutdown(wait=True)


def test_stress_all_max_workers_can_be_busy_at_once_after_churn() -> None:
    """After heavy concurrent churn (with a backlog), max_workers blocking calls all run."""
    pool = WorkerPool(4, "s")
    try:
        for _round in range(30):
            gate0 = threading.Event()
            for _ in range(4):  # a backlog behind 4 held threads
                pool.submit(gate0.wait, WAIT)
            for _ in range(50):
                pool.submit(lambda: None)
            gate0.set()
            gate = threading.Event()
            started = threading.Semaphore(0)

            def held() -> None:
                started.release()
                gate.wait(WAIT)

            for _ in range(4):
                pool.submit(held)
            for _ in range(4):
                assert started.acquire(timeout=WAIT)
            gate.set()
        assert pool.threads == 4
    finally:
        pool.shutdown(wait=True)


def test_stress_add_done_callback_racing_the_end_runs_it_exactly_once() -> None:
    pool = WorkerPool(4, "s")
    try:
        counts = [0] * 5000
        lock = threading.Lock()
        all_done = threading.Semaphore(0)

        def cb(i: int) -> None:
            with lock:
                counts[i] += 1
            all_done.release()

        def counted(i: int) -> Callable[[Ran], None]:
            return lambda _r: cb(i)

        for i in range(len(counts)):
            r = pool.submit(lambda: None)
            r.add_done_callback(counted(i))
        for _ in counts:
            assert all_done.acquire(timeout=WAIT)
        assert set(counts) == {1}
    finally:
        pool.shutdown(wait=True)


def test_shutdown_while_submitters_race_runs_every_accepted_call() -> None:
    for _ in range(20):
        pool = WorkerPool(3, "s")
        accepted: list[Ran] = []
        ran: list[int] = []

        def submitter() -> None:
            for _ in range(200):
                try:
                    accepted.append(pool.submit(ran.append, 1))
                except RuntimeError:
                    return

        threads = [threading.Thread(target=submitter) for _ in range(4)]
        for t in threads:
            t.start()
        pool.shutdown(wait=True)
        for t in threads:
            t.join()
        assert len(ran) == len(accepted) and all(r.done() for r in accepted)
        assert not any(t.name.startswith("s_") and t.is_alive() for t in threading.enumerate())


def test_nothing_of_a_call_outlives_it() -> None:
    import gc
    import weakref

    class Request:
        pass

    pool = WorkerPool(1, "s")
    try:
        for raises in (False, True):
            req = Request()
            ref = weakref.ref(req)
            ended = threading.Event()

            def call(r: Request, raises: bool = raises) -> Request:
                if raises:
                    raise ValueError(r)
                return r

            pool.submit(call, req, raises=raises).add_done_callback(lambda _r: ended.set())
            del req
            assert ended.wait(WAIT)
            # the worker is idle in get() now
            for _ in range(100):
                gc.collect()
                if ref() is None:
                    break
                threading.Event().wait(0.01)
            assert ref() is None, f"request kept alive (raises={raises})"
    finally:
        pool.shutdown(wait=True)


# --- faults ------------------------------------------------------------------------------


def test_fault_a_thread_that_fails_to_start_is_not_counted_nor_joined(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``Thread.start`` can fail (RuntimeError: can't start new thread). The pool records the
    thread before starting it: the phantom counts against max_workers forever and
    ``shutdown(wait=True)`` raises on joining it."""
    pool = WorkerPool(2, "f")
    real_start = threading.Thread.start
    failed: list[str] = []

    def start_once_failing(self: threading.Thread) -> None:
        if self.name.startswith("f_") and not failed:
            failed.append(self.name)
            raise RuntimeError("can't start new thread")
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start_once_failing)
    try:
        with pytest.raises(RuntimeError, match="can't start"):
            pool.submit(print)
        gate = threading.Event()
        started = threading.Semaphore(0)

        def held() -> None:
            started.release()
            gate.wait(WAIT)

        pool.submit(held)
        pool.submit(held)
        ok = started.acquire(timeout=WAIT) and started.acquire(timeout=1.0)
        gate.set()
        assert ok, "two threads allowed, but the failed start still counts as one"
        assert pool.threads == 2
    finally:
        gate_ = threading.Event()
        gate_.set()
        pool.shutdown(wait=True)  # before the fix: cannot join thread before it is started


def test_fault_a_callback_added_after_the_end_that_raises_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The deferred path logs a failing callback by type and goes on; the at-once path let it
    escape into the caller -- grpcio's poller thread, under its state lock -- unlike
    ``Future.add_done_callback`` (which logs and ignores) and unlike Ran's own other path."""
    pool = WorkerPool(1, "f")
    try:
        ended = threading.Event()
        ran = pool.submit(lambda: None)
        ran.add_done_callback(lambda _r: ended.set())
        assert ended.wait(WAIT)

        def broken(_: Ran) -> None:
            raise RuntimeError("bookkeeping 110101199003074578")

        with caplog.at_level(logging.ERROR, logger="dataward.grpc"):
            ran.add_done_callback(broken)  # before the fix: raises here
        assert [r.getMessage() for r in caplog.records] == ["worker_callback_failed"]
        assert "110101199003074578" not in caplog.text
    finally:
        pool.shutdown(wait=True)


def test_fault_a_callback_raising_base_exception_does_not_end_the_thread() -> None:
    """A callback raising a BaseException (SystemExit, ...) escaped ``_end`` and ended its
    worker thread for good, still counted in ``threads``: with max_workers=1 the pool then
    never runs another call (a call's own BaseException is caught; its callbacks' were not)."""
    pool = WorkerPool(1, "f")
    try:
        gate = threading.Event()
        ran = pool.submit(gate.wait, WAIT)

        def bye(_: Ran) -> None:
            raise SystemExit

        ran.add_done_callback(bye)
        gate.set()
        after = threading.Event()
        pool.submit(after.set)
        assert after.wait(2.0), "the pool's only thread died in a callback"
    finally:
        pool.shutdown()
