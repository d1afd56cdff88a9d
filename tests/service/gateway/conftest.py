"""Fixtures: real in-process gRPC upstreams on 127.0.0.1:0 and the gateway over them, served
by uvicorn on a free loopback port. Everything started here is stopped at teardown.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx
import pytest
import uvicorn
from gateway_harness import (
    STEP_SECONDS,
    EngineServicer,
    GatewayFactory,
    Mesh,
    PersistenceServicer,
    Recorder,
    Registrar,
    free_port,
    instantiate,
    registrar,
    wait_started,
)
from trademesh.v1 import engine_pb2_grpc, feed_pb2_grpc, persistence_pb2_grpc

from gateway.app import build_app
from gateway.auth_service import register_auth
from mesh_runtime.config import Settings
from mesh_runtime.http_serving import QuietSignalServer
from mesh_runtime.serving import GrpcService


@pytest.fixture
async def mesh() -> AsyncIterator[Mesh]:
    """Engine, persistence, feed and auth upstreams, all SERVING."""
    recorder = Recorder()
    registrars: dict[str, Registrar] = {
        "engine": registrar(engine_pb2_grpc.add_EngineServicer_to_server,
                            instantiate(EngineServicer, recorder), "trademesh.v1.Engine"),
        "persistence": registrar(persistence_pb2_grpc.add_PersistenceServicer_to_server,
                                 instantiate(PersistenceServicer, recorder),
                                 "trademesh.v1.Persistence"),
        "feed": registrar(feed_pb2_grpc.add_FeedServicer_to_server,
                          instantiate(feed_pb2_grpc.FeedServicer), "trademesh.v1.Feed"),
        "auth": register_auth,
    }
    services = {name: GrpcService(f"test-{name}", "127.0.0.1", 0, [reg], grace_seconds=0.2)
                for name, reg in registrars.items()}
    try:
        for service in services.values():
            await asyncio.wait_for(service.start(), STEP_SECONDS)
            await service.set_serving(True)
        addresses = {name: f"127.0.0.1:{s.port}" for name, s in services.items()}
        yield Mesh(recorder, addresses, services)
    finally:
        for service in services.values():
            await asyncio.wait_for(service.stop(), STEP_SECONDS)


@pytest.fixture
async def gateway(mesh: Mesh) -> AsyncIterator[GatewayFactory]:
    """Starts the gateway over ``mesh`` (``down=[...]`` points those upstreams nowhere)."""
    stack: list[tuple[uvicorn.Server, asyncio.Task[None], socket.socket]] = []
    clients: list[httpx.AsyncClient] = []

    async def start(down: Iterable[str] = (), **overrides: Any) -> httpx.AsyncClient:
        addresses = dict(mesh.addresses)
        for name in down:
            addresses[name] = f"127.0.0.1:{free_port()}"
        settings = Settings().with_overrides(
            **{f"{name}_addr": address for name, address in addresses.items()},
            upstream_timeout_seconds=overrides.pop("upstream_timeout_seconds", 5.0))
        app = build_app(settings, readiness_check_seconds=0.5, **overrides)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        server = QuietSignalServer(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        port = sock.getsockname()[1]
        stack.append((server, task, sock))
        await asyncio.wait_for(wait_started(server), STEP_SECONDS)
        client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=STEP_SECONDS)
        clients.append(client)
        return client

    try:
        yield start
    finally:
        for client in clients:
            await client.aclose()
        for server, task, sock in stack:
            server.should_exit = True
            await asyncio.wait_for(task, STEP_SECONDS)
            sock.close()
