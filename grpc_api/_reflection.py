"""Server reflection, ``grpc.reflection.v1`` and ``v1alpha``, describing the error details too.

grpcurl and ``buf curl`` ask ``grpc.reflection.v1`` first; grpcio-reflection (1.85) implements
only ``v1alpha``. The two protocols are one protocol under two package names: v1's
``reflection.proto`` is v1alpha's with the package renamed (same messages, same field numbers,
same single bidirectional method; gRPC's proposal A15 made v1 that copy). So the v1 service is
the library's own v1alpha servicer behind v1's method name (the bytes on the wire are the
same), and v1's file descriptor, derived here from v1alpha's by renaming, is added to the pool
so that reflection can describe itself under either name.

Every refusal carries ``google.rpc.ErrorInfo`` (and ``RetryInfo``) in its status details as
``Any`` (issue 14): a generic client decodes them only if reflection serves
``google/rpc/error_details.proto``, so the whole file (with ``status.proto``) is in the pool and
answers ``file_containing_symbol`` for each of its messages, though no service names them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from google.rpc import error_details_pb2, status_pb2
from grpc_reflection.v1alpha import reflection, reflection_pb2

__all__ = ["ERROR_DETAIL_FILES", "V1_FILE", "V1_SERVICE", "enable_reflection"]

V1_FILE = "grpc/reflection/v1/reflection.proto"
V1_PACKAGE = "grpc.reflection.v1"
V1_SERVICE = f"{V1_PACKAGE}.ServerReflection"
V1ALPHA_SERVICE: str = reflection.SERVICE_NAME
# The descriptor files a client needs to decode a refusal's details.
ERROR_DETAIL_FILES = (error_details_pb2.DESCRIPTOR.name, status_pb2.DESCRIPTOR.name)


def _v1_file_proto() -> descriptor_pb2.FileDescriptorProto:
    """v1's ``reflection.proto``: v1alpha's renamed, with v1's file options as published."""
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    old = f".{proto.package}."
    proto.name = V1_FILE
    proto.package = V1_PACKAGE
    for message in proto.message_type:
        for field in message.field:
            if field.type_name.startswith(old):
                field.type_name = f".{V1_PACKAGE}.{field.type_name.removeprefix(old)}"
    for service in proto.service:
        for method in service.method:
            method.input_type = f".{V1_PACKAGE}.{method.input_type.removeprefix(old)}"
            method.output_type = f".{V1_PACKAGE}.{method.output_type.removeprefix(old)}"
    proto.options.Clear()  # v1alpha's are deprecated=true and its own Go/Java names
    proto.options.go_package = "google.golang.org/grpc/reflection/grpc_reflection_v1"
    proto.options.java_multiple_files = True
    proto.options.java_package = "io.grpc.reflection.v1"
    proto.options.java_outer_classname = "ServerReflectionProto"
    return proto


def _add_v1_file(pool: descriptor_pool.DescriptorPool) -> None:
    # Two servers built at once may both add it: the pool accepts an identical file again.
    try:
        pool.FindFileByName(V1_FILE)
    except KeyError:
        pool.AddSerializedFile(_v1_file_proto().SerializeToString())


def enable_reflection(service_names: Iterable[str], server: grpc.Server) -> None:
    """Serve reflection v1 and v1alpha on ``server``, listing ``service_names`` and both
    reflection services, from the default descriptor pool (where the generated stubs and the
    ``google.rpc`` error details register themselves)."""
    pool = descriptor_pool.Default()
    _add_v1_file(pool)
    for name in ERROR_DETAIL_FILES:  # imported above, so registered: fail loudly if not
        pool.FindFileByName(name)
    servicer = reflection.ReflectionServicer(
        (*service_names, V1ALPHA_SERVICE, V1_SERVICE), pool=pool
    )
    server.add_generic_rpc_handlers(
        tuple(_handler(name, servicer) for name in (V1ALPHA_SERVICE, V1_SERVICE))
    )


def _handler(
    service: str, servicer: reflection.ReflectionServicer
) -> grpc.GenericRpcHandler[Any, Any]:
    method = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    return grpc.method_handlers_generic_handler(service, {"ServerReflectionInfo": method})
