"""The engine service's composition root: builds the servicer and serves it.

`trademesh engine` runs :func:`run`. Health is SERVING while Redis (the journal) answers.
"""

from __future__ import annotations

import grpc
from trademesh.v1 import engine_pb2, engine_pb2_grpc

from mesh_runtime.config import Settings
from mesh_runtime.dependencies import redis_probe, watch_health
from mesh_runtime.serving import GrpcService, Registrar, serve_until_signal

SERVICE_NAME = engine_pb2.DESCRIPTOR.services_by_name["Engine"].full_name


def register(servicer: engine_pb2_grpc.EngineServicer) -> Registrar:
    def add(server: grpc.aio.Server) -> list[str]:
        engine_pb2_grpc.add_EngineServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    return add


async def run(settings: Settings) -> None:
    service = GrpcService(
        "engine", settings.host, settings.engine_port,
        # The generated base answers UNIMPLEMENTED until the service's issue lands.
        [register(engine_pb2_grpc.EngineServicer())],  # type: ignore[abstract]
        grace_seconds=settings.shutdown_grace_seconds,
    )
    probes = [("redis", redis_probe(settings.redis_dsn))]
    await serve_until_signal(service, background=[lambda: watch_health(service, probes)])
