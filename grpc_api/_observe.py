"""Every call's outcome in the operational log and the metrics (issue 14).

:class:`ObserveInterceptor` is the server's outermost interceptor: it sees each call after
everything else has decided it (the guard's admission, the servicer, the status table), so
what it records is what the caller got. Per call:

- a request id (16 hex characters, made here: a caller-chosen one could carry a value), sent
  to the caller as ``x-request-id`` in the trailing metadata, with the status (a refusal's
  too), so a partner can quote it and the operator find the line. A streaming call also
  sends it as initial metadata at its start. A unary call does not: initial metadata sent on
  its own is a batch of its own in gRPC (about 0.15 ms of server CPU per call, issue 15),
  while trailing metadata goes out with the answer;
- one line on the ``dataward.grpc`` logger: ``call_refused`` (WARNING) for a status the
  caller can cause, ``call_failed`` (ERROR) for one of the zone's (``INTERNAL``, ``UNKNOWN``,
  ``UNAVAILABLE``, ``DATA_LOSS``), each with the ``ErrorInfo`` reason read from the status
  the call really ended with; ``call_slow`` (WARNING) for a successful call slower than
  ``slow_ms``; otherwise ``call`` (DEBUG). Fields: ``request_id``, ``method``
  (``EligibilityService/Check``), ``status``, ``reason``, ``duration_ms``. Never a request's
  or an answer's content: the interceptor does not read them;
- with :class:`CallMetrics`: ``dataward_grpc_calls_total{method,status}``,
  ``dataward_grpc_call_duration_seconds{method}`` and
  ``dataward_grpc_rate_limited_total{method}`` (refusals with reason ``RATE_LIMITED``).

Methods are only those the server registered (an unknown method never reaches an
interceptor's handler), so the label sets stay bounded whatever a caller sends.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2
from prometheus_client import CollectorRegistry, Counter, Histogram

from grpc_api._refusals import short_method

__all__ = ["REQUEST_ID_KEY", "CallMetrics", "ObserveInterceptor"]

REQUEST_ID_KEY = "x-request-id"
_STATUS_DETAILS_KEY = "grpc-status-details-bin"
_FAILED = frozenset(
    {
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)
_RATE_LIMITED = "RATE_LIMITED"
_log = logging.getLogger("dataward.grpc")
# Seconds: a cached eligibility check takes ~1 ms, a CKKS batch or a Spark query many seconds.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120)


class CallMetrics:
    """The API's call metrics, registered in ``registry`` (one per server, never the global
    one: two servers in a process, as in tests, keep their own counts)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls = Counter(
            "dataward_grpc_calls",
            "gRPC calls answered, by method and status code",
            ("method", "status"),
            registry=registry,
        )
        self.duration = Histogram(
            "dataward_grpc_call_duration_seconds",
            "gRPC call latency, from the call's start to its answer, by method",
            ("method",),
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.rate_limited = Counter(
            "dataward_grpc_rate_limited",
            "gRPC calls refused RESOURCE_EXHAUSTED RATE_LIMITED, by method",
            ("method",),
            registry=registry,
        )

    def record(self, method: str, status: str, reason: str, seconds: float) -> None:
        self.calls.labels(method, status).inc()
        self.duration.labels(method).observe(seconds)
        if reason == _RATE_LIMITED:
            self.rate_limited.labels(method).inc()


class ObserveInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg,misc]
    def __init__(
        self,
        *,
        slow_ms: int = 500,
        metrics: CallMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._slow_seconds = slow_ms / 1000
        self._metrics = metrics
        self._clock = clock
        # method -> (the handler below us, its observed wrapper): built once per method
        self._wrapped: dict[str, tuple[Any, grpc.RpcMethodHandler[Any, Any]]] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(details)
        if handler is None:
            return None
        method: str = details.method
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(short_method(method), handler)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap(
        self, method: str, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any]:
        parse, serialize = handler.request_deserializer, handler.response_serializer
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, handler.unary_unary), parse, serialize
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._unary(method, handler.stream_unary), parse, serialize
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._streaming(method, handler.unary_stream), parse, serialize
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._streaming(method, handler.stream_stream), parse, serialize
            )
        return handler

    def _unary(
        self, method: str, inner: Callable[[Any, grpc.ServicerContext], Any]
    ) -> Callable[[Any, grpc.ServicerContext], Any]:
        def observed(request: Any, context: grpc.ServicerContext) -> Any:
            request_id, started = self._begin(context, streaming=False)
            try:
                answer = inner(request, context)
            except BaseException:
                self._end(method, request_id, context, started, failed=True)
                raise
            self._end(method, request_id, context, started, failed=False)
            return answer

        return observed

    def _streaming(
        self, method: str, inner: Callable[[Any, grpc.ServicerContext], Iterator[Any]]
    ) -> Callable[[Any, grpc.ServicerContext], Iterator[Any]]:
        def observed(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            request_id, started = self._begin(context, streaming=True)
            try:
                yield from inner(request, context)
            except BaseException:  # GeneratorExit too: the caller went away
                self._end(method, request_id, context, started, failed=True)
                raise
            self._end(method, request_id, context, started, failed=False)

        return observed

    def _begin(self, context: grpc.ServicerContext, *, streaming: bool) -> tuple[str, float]:
        request_id = os.urandom(8).hex()  # secrets.token_hex(8), without its layers
        started = self._clock()
        if streaming:  # before the first answer, which may come long before the end
            context.send_initial_metadata(((REQUEST_ID_KEY, request_id),))
        return request_id, started

    def _end(
        self,
        method: str,
        request_id: str,
        context: grpc.ServicerContext,
        started: float,
        *,
        failed: bool,
    ) -> None:
        seconds = self._clock() - started
        trailing = tuple(context.trailing_metadata() or ())  # type: ignore[attr-defined]
        # After the servicer's own trailing metadata (a refusal's status details): gRPC sends
        # what is set when the call ends, an abort's status included.
        context.set_trailing_metadata((*trailing, (REQUEST_ID_KEY, request_id)))
        code: grpc.StatusCode | None = context.code()  # type: ignore[attr-defined]
        if code is None:
            code = grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK
        reason = _reason(trailing) if code is not grpc.StatusCode.OK else ""
        if self._metrics is not None:
            self._metrics.record(method, code.name, reason, seconds)
        if code is grpc.StatusCode.OK:
            slow = seconds > self._slow_seconds
            level, event = (logging.WARNING, "call_slow") if slow else (logging.DEBUG, "call")
        elif code in _FAILED:
            level, event = logging.ERROR, "call_failed"
        else:
            level, event = logging.WARNING, "call_refused"
        if _log.isEnabledFor(level):
            fields: dict[str, Any] = {
                "request_id": request_id,
                "method": method,
                "status": code.name,
                "duration_ms": round(seconds * 1000, 1),
            }
            if reason:
                fields["reason"] = reason
            _log.log(level, event, extra=fields)


def _reason(metadata: tuple[tuple[str, str | bytes], ...]) -> str:
    """The ``ErrorInfo`` reason of the status the call ended with, read from its trailing
    metadata ("" when it has none)."""
    for key, value in metadata:
        if key != _STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        try:
            status = status_pb2.Status.FromString(value)
        except Exception:  # pragma: no cover (we wrote it)
            return ""
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info):
                return str(info.reason)
    return ""
