"""The feed service's composition root: gRPC ``Feed`` and the WebSocket bridge.

`trademesh feed` runs :func:`run`. Health is SERVING while Redis (the fan-out) answers.
"""

from __future__ import annotations

import asyncio

import grpc
from trademesh.v1 import feed_pb2, feed_pb2_grpc

from feed_svc.ws_bridge import build_app
from mesh_runtime.config import Settings
from mesh_runtime.dependencies import redis_probe, watch_health
from mesh_runtime.http_serving import AsgiServer
from mesh_runtime.serving import GrpcService, Registrar, serve_until_signal

SERVICE_NAME = feed_pb2.DESCRIPTOR.services_by_name["Feed"].full_name


def register(servicer: feed_pb2_grpc.FeedServicer) -> Registrar:
    def add(server: grpc.aio.Server) -> list[str]:
        feed_pb2_grpc.add_FeedServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    return add


async def run(settings: Settings) -> None:
    service = GrpcService(
        "feed", settings.host, settings.feed_port,
        # The generated base answers UNIMPLEMENTED until the service's issue lands.
        [register(feed_pb2_grpc.FeedServicer())],  # type: ignore[abstract]
        grace_seconds=settings.shutdown_grace_seconds,
    )
    ws = AsgiServer(build_app(), settings.host, settings.ws_port, settings.log_level)
    ws_task = asyncio.create_task(ws.serve())

    async def stop_ws() -> None:
        ws.stop()
        await ws_task

    probes = [("redis", redis_probe(settings.redis_dsn))]
    await serve_until_signal(service, background=[lambda: watch_health(service, probes)],
                             cleanup=[stop_ws])
