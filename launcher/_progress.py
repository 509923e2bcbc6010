"""Progress of long commands on stderr: a bar on a terminal, plain lines otherwise.

A bar (tqdm) redraws itself with carriage returns: in a log file or a CI job it becomes one
long unreadable line, so when stderr is not a terminal the same progress is a plain line at
every tenth of the work (``ingest: persons 40%``). Nothing is printed before the first unit of
work is done, so a command that fails on its input prints the error alone. A task of unknown
size (``total=None``: rows read from stdin) shows a running count instead: a bar without an end,
or a plain line every ``UNKNOWN_EVERY`` units and one when the task ends (``check: rows 25000``).
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from tqdm import tqdm

__all__ = ["UNKNOWN_EVERY", "ProgressDisplay"]

_STEPS = 10  # plain lines: one per tenth of a task
UNKNOWN_EVERY = 10_000  # plain lines of a task of unknown size: one per this many units


class ProgressDisplay:
    """Progress of one command over named tasks, done one after another.

    ``advance(task, done, total)`` adds ``done`` units to ``task`` (of ``total``); a new task
    finishes the previous one. ``close()`` ends the display (always call it, e.g. in
    ``finally``). ``unit``: what is counted (rows, photos...).
    """

    def __init__(self, command: str, *, unit: str, stream: TextIO | None = None) -> None:
        self.command, self.unit = command, unit
        self.stream = stream if stream is not None else sys.stderr
        self.terminal = _is_terminal(self.stream)
        self._task: str | None = None
        self._bar: tqdm[Any] | None = None
        self._done = 0
        self._step = 0
        self._unknown = False
        self._shown = 0  # the count the last plain line of an unknown-size task showed

    def advance(self, task: str, done: int, total: int | None) -> None:
        if task != self._task:
            self._finish_task()
            self._task, self._done, self._step = task, 0, 0
            self._unknown, self._shown = total is None, 0
            if self.terminal:
                self._bar = tqdm(
                    total=total,
                    desc=f"{task:<16}",
                    unit=self.unit,
                    unit_scale=True,
                    file=self.stream,
                )
        self._done += done
        if self._bar is not None:
            self._bar.update(done)
            return
        if total is None:
            if self._done // UNKNOWN_EVERY > self._shown // UNKNOWN_EVERY:
                self._show_count()
            return
        step = _STEPS if total <= 0 else min(_STEPS, self._done * _STEPS // total)
        if step > self._step:
            self._step = step
            print(f"{self.command}: {task} {step * 100 // _STEPS}%", file=self.stream, flush=True)

    def set_done(self, task: str, done: int, total: int | None) -> None:
        """Like :meth:`advance` for callers that report the running count, not increments."""
        current = self._done if task == self._task else 0
        self.advance(task, done - current, total)

    def close(self) -> None:
        self._finish_task()
        self._task = None

    def _finish_task(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._unknown and self._done > self._shown:
            self._show_count()
        self._unknown = False

    def _show_count(self) -> None:
        self._shown = self._done
        print(f"{self.command}: {self._task} {self._done}", file=self.stream, flush=True)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or a fake stream
        return False
