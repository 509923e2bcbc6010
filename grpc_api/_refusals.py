"""Refusals made by the API front end become audit leaves before the call is answered.

Every :class:`~grpc_api.errors.ApiError` the guard or a servicer raises happens before the zone
logs the request, so :class:`Refusals` hands it to the zone's
:class:`enclave.audit.RefusalTrail` first. If that log fails, the call fails with
UNAVAILABLE instead of being answered (fail closed: no unlogged decision leaves).

One exception, by design (issue 8, fault 10): refusals of calls WITHOUT a valid token cost
an audit write each, and anyone can send them. Past a per-client-address rate
(:class:`grpc_api._ratelimit.TokenBuckets`) they are answered RESOURCE_EXHAUSTED
``RATE_LIMITED`` without a leaf of their own; :meth:`Refusals.dropped` counts them, and a
background thread logs ONE :class:`~enclave.audit.RefusalSummary` leaf per interval (and a
last one at :meth:`Refusals.close`) saying how many were dropped from how many addresses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from enclave.audit import RefusalTrail
from grpc_api._tokens import Principal
from grpc_api.errors import ApiError, Unavailable

__all__ = ["Refusals", "short_method"]

_PACKAGE_PREFIX = "/dataward.v1."


def short_method(method: str) -> str:
    """``/dataward.v1.EligibilityService/Check`` -> ``EligibilityService/Check`` (as the zone
    names methods in its own leaves)."""
    return method.removeprefix(_PACKAGE_PREFIX).lstrip("/")[:200] or "unknown"


DROPPED_REASON = "UNAUTHENTICATED_RATE_LIMITED"


class Refusals:
    def __init__(
        self,
        trail: RefusalTrail,
        *,
        summary_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not summary_seconds > 0:
            raise ValueError("summary_seconds must be greater than 0")
        self._trail = trail
        self._summary_seconds = summary_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._dropped = 0
        self._addresses: set[str] = set()
        self._window_start = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start logging a summary leaf every ``summary_seconds`` while refusals are dropped."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="refusal-summaries", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the thread and log what is still counted."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self._summary_seconds):
            self.flush()

    def dropped(self, address: str) -> None:
        """Count a refusal answered without a leaf (see the module docstring)."""
        with self._lock:
            self._dropped += 1
            if len(self._addresses) < 1_000_000:
                self._addresses.add(address)

    def flush(self) -> None:
        """Log one summary leaf of the refusals counted since the last one (none if none).

        A failing log keeps the counts for the next attempt."""
        with self._lock:
            dropped, addresses = self._dropped, len(self._addresses)
            window = self._clock() - self._window_start
            if not dropped:
                self._window_start = self._clock()
                return
        try:
            self._trail.summary(
                dropped=dropped,
                addresses=addresses,
                reason=DROPPED_REASON,
                window_seconds=max(1, round(window)),
            )
        except Exception:
            return
        with self._lock:
            self._dropped -= dropped
            if not self._dropped:
                self._addresses.clear()
            self._window_start = self._clock()

    def record(
        self, method: str, principal: Principal | None, purpose: str, exc: ApiError
    ) -> ApiError:
        """Log ``exc`` as a refused request; returns the error to answer with.

        That is ``exc`` once its leaves are durable, or :class:`Unavailable` if the audit log
        failed (its cause chained, never shown to the caller).
        """
        try:
            self._trail.refusal(
                client_id=principal.client_id if principal else "",
                organization=principal.organization if principal else "",
                method=short_method(method),
                purpose=purpose,
                reason=exc.reason,
            )
        except Exception as failure:
            unavailable = Unavailable("the zone cannot record the request now; retry later")
            unavailable.__cause__ = failure
            return unavailable
        return exc
