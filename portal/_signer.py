"""The serving portal's background checkpoint signer.

While the server runs, a daemon thread calls ``sign`` every ``interval`` seconds (``sign``
signs only when the log grew, so an idle portal signs nothing); :meth:`PeriodicSigner.stop`
signs once more, so a clean shutdown leaves every leaf covered by a signed checkpoint.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["PeriodicSigner"]

_logger = logging.getLogger("dataward.portal")  # the operational log (launcher._oplog)


class PeriodicSigner:
    """Runs ``sign`` at most every ``interval`` seconds in a thread, and once at :meth:`stop`."""

    def __init__(self, sign: Callable[[], object], interval: float) -> None:
        if not interval > 0:
            raise ValueError("the checkpoint interval must be greater than 0")
        self._sign = sign
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (idempotent)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, daemon=True, name="portal-log-signer")
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and sign a last checkpoint (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            self._sign()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._sign()
            except Exception as exc:  # keep signing later; the leaves stay in the database
                # The type only: a database error's text may quote statement parameters.
                _logger.error("checkpoint_failed", extra={"exception": type(exc).__name__})
