"""Unauthenticated streams are bounded (issue 14 review): health Watch and reflection need no
token and each open stream holds a server thread, so one client address may hold
MAX_PUBLIC_STREAMS_PER_ADDRESS of them and every anonymous caller together
MAX_PUBLIC_STREAMS; past it the stream is refused RESOURCE_EXHAUSTED RATE_LIMITED with a
retry delay, and a closed stream gives its place back. Partners' own calls are unaffected."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from grpc_api._guard import MAX_PUBLIC_STREAMS, MAX_PUBLIC_STREAMS_PER_ADDRESS, Guard
from grpc_api.errors import TooManyStreams
from tests.support.grpc_stack import Stack, grpc_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with grpc_stack(tmp_path_factory.mktemp("public-streams")) as s:
        yield s


def _watch(channel: grpc.Channel) -> Any:
    stub = health_pb2_grpc.HealthStub(channel)
    stream = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)
    first = next(stream)  # the stream is open and served
    assert first.status == health_pb2.HealthCheckResponse.SERVING
    return stream


def _reason(error: grpc.RpcError) -> str:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    if status is None:
        return ""
    info = error_details_pb2.ErrorInfo()
    for detail in status.details:
        if detail.Unpack(info):
            return str(info.reason)
    return ""


def test_an_address_holds_a_bounded_number_of_open_anonymous_streams(stack: Stack) -> None:
    with grpc.insecure_channel(stack.target) as channel:
        open_streams = [_watch(channel) for _ in range(MAX_PUBLIC_STREAMS_PER_ADDRESS)]
        with pytest.raises(grpc.RpcError) as refused:
            _watch(channel)
        assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert _reason(refused.value) == "RATE_LIMITED"
        assert "per client address" in (refused.value.details() or "")
        # a unary call still answers while the anonymous streams are held
        health = health_pb2_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == 1
        open_streams.pop().cancel()
        deadline = time.monotonic() + 10
        while True:  # the cancelled stream's place comes back once the server sees it end
            try:
                open_streams.append(_watch(channel))
                break
            except grpc.RpcError:
                assert time.monotonic() < deadline, "a closed stream never gave its place back"
                time.sleep(0.1)
        for stream in open_streams:
            stream.cancel()


class _Context:
    def __init__(self, peer: str) -> None:
        self._peer = peer

    def peer(self) -> str:
        return self._peer


def test_all_anonymous_callers_together_are_bounded_too() -> None:
    guard = Guard.__new__(Guard)  # only the stream counts are exercised
    guard._streams_lock = threading.Lock()
    guard._public_streams = {}
    releases = [
        guard.open_public_stream(_Context(f"ipv4:127.0.0.{n}:5000"))  # type: ignore[arg-type]
        for n in range(1, MAX_PUBLIC_STREAMS + 1)
    ]
    with pytest.raises(TooManyStreams, match="unauthenticated"):
        guard.open_public_stream(_Context("ipv4:127.0.1.1:5000"))  # type: ignore[arg-type]
    releases[0]()
    releases[0]()  # idempotent: a second release frees nothing more
    again = guard.open_public_stream(_Context("ipv4:127.0.1.1:5000"))  # type: ignore[arg-type]
    with pytest.raises(TooManyStreams):
        guard.open_public_stream(_Context("ipv4:127.0.1.2:5000"))  # type: ignore[arg-type]
    for release in [*releases[1:], again]:
        release()
    assert guard._public_streams == {}
