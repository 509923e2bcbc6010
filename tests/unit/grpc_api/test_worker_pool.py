"""WorkerPool: the gRPC server's worker threads (issue 15), what grpcio asks of its pool."""

from __future__ import annotations

import logging
import threading

import pytest

from grpc_api._pool import Ran, WorkerPool

WAIT = 10.0  # a bound on waiting for a thread; never a timing assertion


def test_each_call_runs_and_its_callbacks_run_once_it_has_ended() -> None:
    pool = WorkerPool(4, "t")
    try:
        gate = threading.Event()
        seen: list[str] = []
        ended = threading.Event()

        def call() -> None:
            gate.wait(WAIT)
            seen.append("call")

        def callback(_: Ran) -> None:
            seen.append("callback")
            ended.set()

        ran = pool.submit(call)
        ran.add_done_callback(callback)
        assert not ran.done() and seen == []  # registered before the call has ended
        gate.set()
        assert ended.wait(WAIT)
        assert seen == ["call", "callback"] and ran.done()
        later: list[Ran] = []
        ran.add_done_callback(later.append)  # after the end: at once, on this thread
        assert later == [ran]
    finally:
        pool.shutdown(wait=True)


def test_arguments_are_passed_and_threads_are_started_only_when_none_is_idle() -> None:
    pool = WorkerPool(8, "t")
    try:
        got: list[tuple[int, str]] = []

        def record(n: int, tag: str, *, done: threading.Event) -> None:
            got.append((n, tag))
            done.set()

        for n in range(20):  # one after another: the one thread is idle again each time
            done = threading.Event()
            pool.submit(record, n, "x", done=done)
            assert done.wait(WAIT)
            while not _idle(pool):
                threading.Event().wait(0.001)
        assert got == [(n, "x") for n in range(20)]
        assert pool.threads == 1
    finally:
        pool.shutdown(wait=True)


def _idle(pool: WorkerPool) -> bool:
    with pool._lock:
        return pool._idle > 0


def test_no_more_threads_than_its_bound_and_later_calls_wait_their_turn() -> None:
    pool = WorkerPool(3, "t")
    try:
        gate = threading.Event()
        started = threading.Semaphore(0)
        finished: list[int] = []

        def held(n: int) -> None:
            started.release()
            gate.wait(WAIT)
            finished.append(n)

        for n in range(7):
            pool.submit(held, n)
        for _ in range(3):
            assert started.acquire(timeout=WAIT)
        assert not started.acquire(timeout=0.05)  # the other four wait for a thread
        assert pool.threads == 3
        assert {t.name for t in threading.enumerate() if t.name.startswith("t_")} == {
            "t_0",
            "t_1",
            "t_2",
        }
        gate.set()
        for _ in range(4):
            assert started.acquire(timeout=WAIT)
        pool.shutdown(wait=True)
        assert sorted(finished) == list(range(7))
    finally:
        gate.set()
        pool.shutdown(wait=True)


@pytest.mark.parametrize("raised", [KeyError, SystemExit])
def test_a_call_that_raises_is_logged_and_its_thread_goes_on(
    caplog: pytest.LogCaptureFixture, raised: type[BaseException]
) -> None:
    pool = WorkerPool(1, "t")
    try:
        ended = threading.Event()

        def broken() -> None:
            raise raised("a clear identifier 110101199003074578")

        with caplog.at_level(logging.ERROR, logger="dataward.grpc"):
            pool.submit(broken).add_done_callback(lambda r: ended.set())
            assert ended.wait(WAIT)
            after = threading.Event()
            pool.submit(after.set)
            assert after.wait(WAIT)
        failed = [r for r in caplog.records if r.getMessage() == "worker_call_failed"]
        assert [getattr(r, "error", None) for r in failed] == [raised.__name__]
        assert "110101199003074578" not in caplog.text  # the type only, never its message
        assert pool.threads == 1
    finally:
        pool.shutdown(wait=True)


def test_a_failing_callback_does_not_end_the_thread_nor_skip_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pool = WorkerPool(1, "t")
    try:
        gate = threading.Event()
        seen = threading.Event()
        ran = pool.submit(gate.wait, WAIT)

        def broken(_: Ran) -> None:
            raise RuntimeError("bookkeeping")

        ran.add_done_callback(broken)
        ran.add_done_callback(lambda r: seen.set())
        with caplog.at_level(logging.ERROR, logger="dataward.grpc"):
            gate.set()
            assert seen.wait(WAIT)
        assert any(r.getMessage() == "worker_callback_failed" for r in caplog.records)
        after = threading.Event()
        pool.submit(after.set)
        assert after.wait(WAIT)
    finally:
        pool.shutdown(wait=True)


def test_shutdown_runs_what_was_queued_ends_the_threads_and_refuses_later_calls() -> None:
    pool = WorkerPool(2, "t")
    gate = threading.Event()
    done: list[int] = []

    def held(n: int) -> None:
        gate.wait(WAIT)
        done.append(n)

    for n in range(5):
        pool.submit(held, n)
    stopper = threading.Thread(target=pool.shutdown, kwargs={"wait": True})
    stopper.start()
    gate.set()
    stopper.join(WAIT)
    assert not stopper.is_alive()
    assert sorted(done) == list(range(5))
    assert not any(t.name.startswith("t_") and t.is_alive() for t in threading.enumerate())
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(print)
    pool.shutdown()  # twice is fine


def test_a_pool_needs_a_thread() -> None:
    with pytest.raises(ValueError, match="at least one"):
        WorkerPool(0, "t")
