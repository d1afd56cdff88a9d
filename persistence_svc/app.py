"""The persistence service's composition root: builds the servicer and serves it.

`trademesh persistence` runs :func:`run`. Health is SERVING while PostgreSQL answers.
"""

from __future__ import annotations

import grpc
from trademesh.v1 import persistence_pb2, persistence_pb2_grpc

from mesh_runtime.config import Settings
from mesh_runtime.dependencies import postgres_probe, watch_health
from mesh_runtime.serving import GrpcService, Registrar, serve_until_signal

SERVICE_NAME = persistence_pb2.DESCRIPTOR.services_by_name["Persistence"].full_name


def register(servicer: persistence_pb2_grpc.PersistenceServicer) -> Registrar:
    def add(server: grpc.aio.Server) -> list[str]:
        persistence_pb2_grpc.add_PersistenceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    return add


async def run(settings: Settings) -> None:
    service = GrpcService(
        "persistence", settings.host, settings.persistence_port,
        # The generated base answers UNIMPLEMENTED until the service's issue lands.
        [register(persistence_pb2_grpc.PersistenceServicer())],  # type: ignore[abstract]
        grace_seconds=settings.shutdown_grace_seconds,
    )
    probes = [("postgres", postgres_probe(settings.postgres_dsn))]
    await serve_until_signal(service, background=[lambda: watch_health(service, probes)])
