"""A one-shot hand-off of an outcome from the audit log's committer to one waiting caller."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

__all__ = ["Handoff"]

_T = TypeVar("_T")


class Handoff(Generic[_T]):
    """A one-shot answer from the committer to one waiting caller.

    What ``concurrent.futures.Future`` does here, for a fraction of its cost: a lock taken at
    creation and released once the outcome is set, instead of a Condition with its waiter
    list and ``notify_all`` (two of these per eligibility answer, across dozens of threads).
    """

    __slots__ = ("_done", "_error", "_ready", "_value")

    def __init__(self) -> None:
        self._ready = threading.Lock()
        self._ready.acquire()
        self._value: _T | None = None
        self._error: BaseException | None = None
        self._done = False  # only the committer thread sets and reads it

    def done(self) -> bool:
        return self._done

    def set_result(self, value: _T) -> None:
        self._value, self._done = value, True
        self._ready.release()

    def set_exception(self, error: BaseException) -> None:
        self._error, self._done = error, True
        self._ready.release()

    def result(self) -> _T:
        """Block until the outcome is set; raises the error set, if any."""
        with self._ready:  # released by the committer, then at once by us: later calls pass
            pass
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]  # set before the release
