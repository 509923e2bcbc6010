"""The one mapping from the zone's gRPC refusals to portal errors and HTTP statuses, with the
zone's words and reason kept: every status code a StewardService call can end in, over a real
channel to a server on 127.0.0.1 that refuses as the zone does (google.rpc.Status trailer with
a dataward.v1 ErrorInfo)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from dataward.v1 import steward_pb2, steward_pb2_grpc
from portal._http_errors import status_for
from portal._zone_calls import zone_error
from portal.errors import (
    ZoneConflictError,
    ZoneInvalidArgumentError,
    ZoneNotFoundError,
    ZonePermissionError,
    ZoneUnavailableError,
)

C = grpc.StatusCode


class _Refusing:
    """Answers StewardService/GetPolicy with the refusal the test sets, as the zone does."""

    code = C.INTERNAL
    reason = ""
    metadata: dict[str, str] = {}  # noqa: RUF012 (set per test)

    def get_policy(
        self, request: steward_pb2.GetPolicyRequest, context: grpc.ServicerContext
    ) -> steward_pb2.GetPolicyResponse:
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.ErrorInfo(
                reason=self.reason, domain="dataward.v1", metadata=self.metadata
            )
        )
        status = status_pb2.Status(
            code=self.code.value[0], message="the zone's own words", details=[detail]
        )
        context.abort_with_status(rpc_status.to_status(status))
        raise AssertionError("unreachable")


@pytest.fixture
def refusing() -> Iterator[tuple[_Refusing, steward_pb2_grpc.StewardServiceStub]]:
    refusal = _Refusing()
    handler = grpc.unary_unary_rpc_method_handler(
        refusal.get_policy,
        request_deserializer=steward_pb2.GetPolicyRequest.FromString,
        response_serializer=steward_pb2.GetPolicyResponse.SerializeToString,
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "dataward.v1.StewardService", {"GetPolicy": handler}
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield refusal, steward_pb2_grpc.StewardServiceStub(channel)
    finally:
        channel.close()
        server.stop(None)


@pytest.mark.parametrize(
    ("code", "kind", "status"),
    [
        (C.FAILED_PRECONDITION, ZoneConflictError, 409),
        (C.NOT_FOUND, ZoneNotFoundError, 404),
        (C.INVALID_ARGUMENT, ZoneInvalidArgumentError, 400),
        (C.PERMISSION_DENIED, ZonePermissionError, 403),
        (C.UNAUTHENTICATED, ZonePermissionError, 403),
        (C.UNAVAILABLE, ZoneUnavailableError, 503),
        (C.DEADLINE_EXCEEDED, ZoneUnavailableError, 503),
        (C.RESOURCE_EXHAUSTED, ZoneUnavailableError, 503),
        (C.INTERNAL, ZoneUnavailableError, 503),
    ],
)
def test_each_refusal_keeps_its_meaning_and_the_zones_words(
    refusing: tuple[_Refusing, steward_pb2_grpc.StewardServiceStub],
    code: grpc.StatusCode,
    kind: type[Exception],
    status: int,
) -> None:
    servicer, stub = refusing
    servicer.code, servicer.reason, servicer.metadata = code, "SOME_REASON", {"field": "epsilon"}
    with pytest.raises(grpc.RpcError) as failed:
        stub.GetPolicy(steward_pb2.GetPolicyRequest(), timeout=5)
    error = zone_error(failed.value)
    assert type(error) is kind and status_for(error) == status
    if code in (C.UNAVAILABLE, C.DEADLINE_EXCEEDED):
        assert "not reachable" in error.public_message
    else:
        assert "the zone's own words" in error.public_message
    if isinstance(error, ZoneConflictError | ZoneNotFoundError | ZonePermissionError):
        assert error.reason == "SOME_REASON"
    if isinstance(error, ZoneInvalidArgumentError):
        assert error.field == "epsilon" and "epsilon" in error.public_message


def test_a_server_that_is_not_there_is_503() -> None:
    # port 9 (discard): nothing listens on it here
    with grpc.insecure_channel("127.0.0.1:9") as channel, pytest.raises(grpc.RpcError) as failed:
        steward_pb2_grpc.StewardServiceStub(channel).GetPolicy(
            steward_pb2.GetPolicyRequest(), timeout=2
        )
    error = zone_error(failed.value)
    assert isinstance(error, ZoneUnavailableError) and status_for(error) == 503
