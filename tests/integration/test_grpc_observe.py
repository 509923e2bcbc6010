"""The observing interceptor over a real gRPC server on port 0 (the health service stands for
any servicer): a successful call slower than ``slow_ms`` is ``call_slow``, a fast one ``call``
at DEBUG only, a refused one ``call_refused`` with its status; every call gets a request id
in its trailing metadata (a streaming call in its initial metadata too), and is counted by
method and status."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from prometheus_client import CollectorRegistry

from grpc_api import REQUEST_ID_KEY, CallMetrics
from grpc_api._observe import ObserveInterceptor
from grpc_api._status import abort
from grpc_api.errors import Unavailable

CHECK = "grpc.health.v1.Health/Check"


def _server(interceptor: ObserveInterceptor) -> tuple[grpc.Server, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), interceptors=[interceptor])
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def stub(registry: CollectorRegistry) -> Iterator[health_pb2_grpc.HealthStub]:
    seconds = itertools.count()  # each clock reading one second later: every call takes 1 s
    interceptor = ObserveInterceptor(
        slow_ms=1500, metrics=CallMetrics(registry), clock=lambda: float(next(seconds))
    )
    server, port = _server(interceptor)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield health_pb2_grpc.HealthStub(channel)
    server.stop(None)


def test_outcomes_are_logged_by_kind_with_request_ids(
    stub: health_pb2_grpc.HealthStub,
    registry: CollectorRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="dataward.grpc"):
        answer, call = stub.Check.with_call(health_pb2.HealthCheckRequest(service=""), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        request_id = dict(call.trailing_metadata())[REQUEST_ID_KEY]
        with pytest.raises(grpc.RpcError) as refused:
            stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)
        assert refused.value.code() is grpc.StatusCode.NOT_FOUND
    lines = [r for r in caplog.records if r.name == "dataward.grpc"]
    assert [(r.getMessage(), r.status) for r in lines] == [  # type: ignore[attr-defined]
        ("call", "OK"),
        ("call_refused", "NOT_FOUND"),
    ]
    assert lines[0].request_id == request_id  # type: ignore[attr-defined]
    assert lines[0].method == CHECK and lines[0].duration_ms == 1000.0  # type: ignore[attr-defined]
    assert "no.such.Service" not in repr([vars(r) for r in lines])
    assert (
        registry.get_sample_value("dataward_grpc_calls_total", {"method": CHECK, "status": "OK"})
        == 1.0
    )
    assert (
        registry.get_sample_value(
            "dataward_grpc_calls_total", {"method": CHECK, "status": "NOT_FOUND"}
        )
        == 1.0
    )
    assert (
        registry.get_sample_value("dataward_grpc_call_duration_seconds_sum", {"method": CHECK})
        == 2.0
    )


def test_a_successful_call_slower_than_slow_ms_is_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seconds = itertools.count(step=2)  # every call takes 2 s, past slow_ms
    server, port = _server(ObserveInterceptor(slow_ms=1500, clock=lambda: float(next(seconds))))
    try:
        with (
            grpc.insecure_channel(f"127.0.0.1:{port}") as channel,
            caplog.at_level(logging.INFO, logger="dataward.grpc"),
        ):
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    finally:
        server.stop(None)
    slow = [r for r in caplog.records if r.name == "dataward.grpc"]
    assert [(r.levelname, r.getMessage(), r.duration_ms) for r in slow] == [  # type: ignore[attr-defined]
        ("WARNING", "call_slow", 2000.0)
    ]


def _failing_server(interceptor: ObserveInterceptor) -> tuple[grpc.Server, int]:
    """A service whose Bug method raises and whose Down method ends UNAVAILABLE through the
    API's own status table (an ErrorInfo reason in the status details)."""

    def bug(_request: bytes, _context: grpc.ServicerContext) -> bytes:
        raise RuntimeError("a message that may hold a value: 110101199003077777")

    def down(_request: bytes, context: grpc.ServicerContext) -> bytes:
        abort(context, Unavailable("the zone cannot record the request now; retry later"))

    def stream(_request: bytes, _context: grpc.ServicerContext) -> Iterator[bytes]:
        yield b"one"
        yield b"two"

    handlers = {
        "Bug": grpc.unary_unary_rpc_method_handler(bug),
        "Down": grpc.unary_unary_rpc_method_handler(down),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), interceptors=[interceptor])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("t.Svc", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def test_failures_are_errors_with_their_reason_never_their_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, port = _failing_server(ObserveInterceptor())
    try:
        with (
            grpc.insecure_channel(f"127.0.0.1:{port}") as channel,
            caplog.at_level(logging.INFO, logger="dataward.grpc"),
        ):
            for name, code in (
                ("Bug", grpc.StatusCode.UNKNOWN),
                ("Down", grpc.StatusCode.UNAVAILABLE),
            ):
                with pytest.raises(grpc.RpcError) as failed:
                    call = channel.unary_unary(f"/t.Svc/{name}", None, None)
                    call(b"", timeout=5)
                assert failed.value.code() is code
    finally:
        server.stop(None)
    lines = [r for r in caplog.records if r.name == "dataward.grpc"]
    assert [
        (r.levelname, r.getMessage(), r.method, r.status, getattr(r, "reason", None))  # type: ignore[attr-defined]
        for r in lines
    ] == [
        ("ERROR", "call_failed", "t.Svc/Bug", "UNKNOWN", None),
        ("ERROR", "call_failed", "t.Svc/Down", "UNAVAILABLE", "UNAVAILABLE"),
    ]
    assert "110101199003077777" not in repr([vars(r) for r in lines])


def test_the_request_id_rides_with_a_refusals_status_details_and_a_streams_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The request id is added to the servicer's own trailing metadata, never in place of it:
    a refusal keeps its ErrorInfo reason (what the SDK reads). A stream gets the id at its
    start as well, the same id at its end."""
    server, port = _failing_server(ObserveInterceptor())
    try:
        with (
            grpc.insecure_channel(f"127.0.0.1:{port}") as channel,
            caplog.at_level(logging.INFO, logger="dataward.grpc"),
        ):
            with pytest.raises(grpc.RpcError) as failed:
                channel.unary_unary("/t.Svc/Down", None, None)(b"", timeout=5)
            stream = channel.unary_stream("/t.Svc/Stream", None, None)(b"", timeout=5)
            first = dict(stream.initial_metadata())[REQUEST_ID_KEY]
            assert list(stream) == [b"one", b"two"]
            last = dict(stream.trailing_metadata())[REQUEST_ID_KEY]
    finally:
        server.stop(None)
    error: grpc.Call = failed.value  # type: ignore[assignment]
    refused_id = dict(error.trailing_metadata())[REQUEST_ID_KEY]
    status = rpc_status.from_call(error)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info) and info.reason == "UNAVAILABLE"
    logged = [r for r in caplog.records if r.name == "dataward.grpc"]
    assert [r.request_id for r in logged] == [refused_id]  # type: ignore[attr-defined]
    assert first == last and len(first) == 16 and first != refused_id
