"""GrpcService on a real grpc.aio server on loopback: health, reflection, stop (over TLS)."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from trademesh.v1 import engine_pb2, engine_pb2_grpc

from engine_svc.app import SERVICE_NAME, register
from mesh_runtime.serving import GrpcService
from tests.tls import files, user_channel


async def _health(address: str, service: str = "") -> int:
    async with user_channel(address) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=2
        )
        return int(reply.status)


async def _list_services(address: str) -> set[str]:
    async with user_channel(address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        names: set[str] = set()
        async for reply in stub.ServerReflectionInfo(iter([request]), timeout=2):
            names.update(s.name for s in reply.list_services_response.service)
        return names


async def _reflect_v1(address: str, *requests: reflection_pb2.ServerReflectionRequest
                      ) -> list[reflection_pb2.ServerReflectionResponse]:
    """The v1 protocol, spoken with v1alpha's messages (the same on the wire)."""
    async with user_channel(address) as channel:
        call = channel.stream_stream(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
        return [reply async for reply in call(iter(requests), timeout=2)]


@pytest.fixture
async def service() -> GrpcService:
    svc = GrpcService("engine", "127.0.0.1", 0,
                      [register(engine_pb2_grpc.EngineServicer())],  # type: ignore[abstract]
                      tls=files("engine"), mesh_port=0, grace_seconds=1)
    await svc.start()
    yield svc  # type: ignore[misc]
    await svc.stop()


async def test_health_starts_not_serving_and_follows_set_serving(service: GrpcService) -> None:
    address = f"127.0.0.1:{service.port}"
    assert await _health(address) == health_pb2.HealthCheckResponse.NOT_SERVING
    await service.set_serving(True)
    assert await _health(address) == health_pb2.HealthCheckResponse.SERVING
    assert await _health(address, SERVICE_NAME) == health_pb2.HealthCheckResponse.SERVING
    await service.set_serving(False)
    assert await _health(address, SERVICE_NAME) == health_pb2.HealthCheckResponse.NOT_SERVING


async def test_reflection_lists_the_service_and_health(service: GrpcService) -> None:
    names = await _list_services(f"127.0.0.1:{service.port}")
    assert {"trademesh.v1.Engine", "grpc.health.v1.Health"} <= names


async def test_reflection_v1_lists_and_describes_the_service(service: GrpcService) -> None:
    from google.protobuf import descriptor_pb2

    listed, described = await _reflect_v1(
        f"127.0.0.1:{service.port}",
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="trademesh.v1.Engine"))
    names = {s.name for s in listed.list_services_response.service}
    assert {"trademesh.v1.Engine", "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection"} <= names
    files = [descriptor_pb2.FileDescriptorProto.FromString(raw) for raw in
             described.file_descriptor_response.file_descriptor_proto]
    assert any(any(svc.name == "Engine" for svc in f.service) for f in files)


async def test_unfilled_rpc_answers_unimplemented(service: GrpcService) -> None:
    async with user_channel(f"127.0.0.1:{service.port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await engine_pb2_grpc.EngineStub(channel).ListMarkets(
                engine_pb2.ListMarketsRequest(), timeout=2)
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_stop_refuses_new_calls(service: GrpcService) -> None:
    address = f"127.0.0.1:{service.port}"
    await service.stop()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _health(address)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
