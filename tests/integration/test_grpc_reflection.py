"""Server reflection v1 and v1alpha, with the error details' descriptors (issue 14).

Clients not written here do the asking: ``buf curl`` forced to each protocol (it decodes a
refusal's details from the types compiled into it, so it cannot show whether reflection serves
them), and gRPC's own Python reflection client, which resolves ``google.rpc.ErrorInfo`` from the
server. That client speaks v1alpha; for v1 its requests go to v1's method name: v1's messages
are v1alpha's under another package name, byte for byte on the wire.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from tests.support.grpc_stack import Stack, grpc_stack
from tests.support.person_fakes import ALICE

BUF = Path(sys.executable).parent / "buf"
V1 = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
DETAILS = ("google.rpc.ErrorInfo", "google.rpc.RetryInfo", "google.rpc.BadRequest")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with grpc_stack(tmp_path_factory.mktemp("reflection")) as s:
        yield s


def _buf(stack: Stack, protocol: str, *args: str) -> subprocess.CompletedProcess[str]:
    assert BUF.exists(), "buf (dev dependency buf-bin) is missing: run `make sync`"
    return subprocess.run(
        [
            str(BUF),
            "curl",
            "--protocol",
            "grpc",
            "--http2-prior-knowledge",
            "--reflect-protocol",
            protocol,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("protocol", ["grpc-v1", "grpc-v1alpha"])
def test_buf_curl_lists_the_services_over_each_protocol(stack: Stack, protocol: str) -> None:
    listed = _buf(stack, protocol, "--list-services", f"http://{stack.target}")
    assert listed.returncode == 0, listed.stderr
    services = set(listed.stdout.split())
    assert {
        "dataward.v1.EligibilityService",
        "dataward.v1.AuditService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= services


def test_buf_curl_calls_with_the_schema_from_v1_alone(stack: Stack) -> None:
    stack.consent(ALICE)
    url = f"http://{stack.target}/dataward.v1.EligibilityService/Check"
    body = {
        "id_number": ALICE,
        "benefit": "BENEFIT_OUTPATIENT",
        "purpose": "PURPOSE_INSURANCE_UNDERWRITING",
    }
    token = stack.issuer.token()
    ok = _buf(
        stack, "grpc-v1", "-H", f"Authorization: Bearer {token}", "--data", json.dumps(body), url
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["eligible"] is True


def _pool_from(database: ProtoReflectionDescriptorDatabase) -> descriptor_pool.DescriptorPool:
    return descriptor_pool.DescriptorPool(database)


def test_v1alpha_client_resolves_the_error_details(stack: Stack) -> None:
    with grpc.insecure_channel(stack.target) as channel:
        pool = _pool_from(ProtoReflectionDescriptorDatabase(channel))
        for name in DETAILS:
            assert pool.FindMessageTypeByName(name).full_name == name
        info = pool.FindMessageTypeByName("google.rpc.ErrorInfo")
        assert [f.name for f in info.fields] == ["reason", "domain", "metadata"]
        assert pool.FindMessageTypeByName("google.rpc.Status").fields_by_name["details"]


class _V1Stub:
    """gRPC's reflection stub (``reflection_pb2_grpc.ServerReflectionStub``), its one method
    pointed at v1's name."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.ServerReflectionInfo = channel.stream_stream(
            V1,
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )


def test_v1_client_resolves_error_info_and_describes_v1_itself(stack: Stack) -> None:
    with grpc.insecure_channel(stack.target) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        database._stub = _V1Stub(channel)  # the library's client, speaking v1
        pool = _pool_from(database)
        assert pool.FindMessageTypeByName("google.rpc.ErrorInfo").fields_by_name["reason"]
        v1 = pool.FindServiceByName("grpc.reflection.v1.ServerReflection")
        method = v1.methods_by_name["ServerReflectionInfo"]
        assert method.input_type.full_name == "grpc.reflection.v1.ServerReflectionRequest"
        file = descriptor_pb2.FileDescriptorProto()
        v1.file.CopyToProto(file)
        assert file.name == "grpc/reflection/v1/reflection.proto"
        assert not file.options.deprecated  # v1alpha's is; v1's is not
        assert file.options.java_package == "io.grpc.reflection.v1"


def test_v1_unknown_symbol_is_not_found(stack: Stack) -> None:
    with grpc.insecure_channel(stack.target) as channel:
        request = reflection_pb2.ServerReflectionRequest(file_containing_symbol="no.such.Type")
        (answer,) = _V1Stub(channel).ServerReflectionInfo(iter([request]), timeout=10)
    assert answer.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
