"""Server reflection under both names, v1alpha and v1, each able to describe itself.

grpcio-reflection serves and ships descriptors for ``grpc.reflection.v1alpha`` only, while
clients such as grpcurl, ``buf curl`` and Postman ask ``grpc.reflection.v1`` first and then
describe every service listed. The two protocols' messages are identical on the wire, so
v1alpha's servicer and codecs answer both names; the v1 file descriptor is derived at start
from v1alpha's (same messages, package ``grpc.reflection.v1``) and added to the default
pool, so listing v1 never names a service that cannot be described.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc
from grpc_reflection.v1alpha._async import ReflectionServicer

V1_SERVICE = "grpc.reflection.v1.ServerReflection"
V1_FILE = "grpc/reflection/v1/reflection.proto"
_V1ALPHA_PACKAGE = "grpc.reflection.v1alpha"
_V1_PACKAGE = "grpc.reflection.v1"


def enable_reflection(service_names: Iterable[str], server: grpc.aio.Server) -> list[str]:
    """Serves reflection (v1alpha and v1) for ``service_names`` and both reflection
    services; returns every name reflection lists."""
    ensure_v1_descriptors()
    listed = [*service_names, reflection.SERVICE_NAME, V1_SERVICE]
    servicer = ReflectionServicer(listed)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(V1_SERVICE, {
        "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
            servicer.ServerReflectionInfo,
            request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
            response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString),
    }),))
    return listed


def ensure_v1_descriptors() -> None:
    """Adds ``grpc/reflection/v1/reflection.proto`` to the default pool (once)."""
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(V1_FILE)
        return
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    proto.name, proto.package = V1_FILE, _V1_PACKAGE
    proto.ClearField("options")
    for message in proto.message_type:
        _rename_message(message)
    for service in proto.service:
        for method in service.method:
            method.input_type = _renamed(method.input_type)
            method.output_type = _renamed(method.output_type)
    pool.AddSerializedFile(proto.SerializeToString())


def _rename_message(message: descriptor_pb2.DescriptorProto) -> None:
    for field in message.field:
        if field.type_name:
            field.type_name = _renamed(field.type_name)
    for nested in message.nested_type:
        _rename_message(nested)


def _renamed(type_name: str) -> str:
    old = f".{_V1ALPHA_PACKAGE}."
    return f".{_V1_PACKAGE}." + type_name[len(old):] if type_name.startswith(old) else type_name

