"""Fixtures: real in-process gRPC upstreams on 127.0.0.1:0 with TLS (the engine and
persistence as small test doubles, the gateway's real Auth servicer; the gateway dials their
mesh listeners with its certificate), the real embedded Redis (its own
database, flushed per test), a fresh key pair, and the gateway over them served by uvicorn
on a free loopback port. Everything started here is stopped at teardown.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import uvicorn
from gateway_harness import (
    STEP_SECONDS,
    EngineServicer,
    GatewayFactory,
    Mesh,
    PersistenceServicer,
    Recorder,
    Registrar,
    instantiate,
    registrar,
    wait_started,
)
from trademesh.v1 import engine_pb2_grpc, feed_pb2_grpc, persistence_pb2_grpc

from gateway.app import build_app
from gateway.auth_service import auth_registrar
from gateway.policy import GatewayPolicy
from gateway.wiring import build_auth, redis_client
from mesh_runtime.config import Settings
from mesh_runtime.http_serving import QuietSignalServer
from mesh_runtime.ports import free_port
from mesh_runtime.revocation import TokenCheck
from mesh_runtime.serving import GrpcService
from mesh_runtime.tokens import TokenSigner, TokenVerifier, ensure_keypair
from tests.tls import files, use_pki

GATEWAY_DB = 13  # the gateway tests' Redis database, flushed before each test
FAST_POLICY = GatewayPolicy(bcrypt_rounds=4)


@pytest.fixture
async def base_settings(redis_url: str, tmp_path: Path) -> AsyncIterator[Settings]:
    """Settings with a fresh key pair under tmp_path and an empty Redis database."""
    url = redis_url.rsplit("/", 1)[0] + f"/{GATEWAY_DB}"
    settings = Settings().with_overrides(
        data_dir=tmp_path, redis_url=url,
        jwt_private_key_file=str(tmp_path / "keys" / "private.pem"),
        jwt_public_key_file=str(tmp_path / "keys" / "public.pem"))
    ensure_keypair(settings.private_key_path, settings.public_key_path)
    use_pki(settings)
    client: aioredis.Redis = aioredis.Redis.from_url(url)
    await client.flushdb()
    await client.aclose()
    yield settings


@pytest.fixture
def signer(base_settings: Settings) -> TokenSigner:
    return TokenSigner.from_file(base_settings.private_key_path, base_settings.jwt_issuer,
                                 base_settings.jwt_audience, base_settings.jwt_ttl_seconds)


@pytest.fixture
def user_token(signer: TokenSigner) -> str:
    return signer.issue("user-1")[0]


@pytest.fixture
async def mesh(base_settings: Settings) -> AsyncIterator[Mesh]:
    """Engine, persistence and feed upstreams and the real Auth service, all SERVING."""
    recorder = Recorder()
    persistence = instantiate(PersistenceServicer, recorder)
    registrars: dict[str, Registrar] = {
        "engine": registrar(engine_pb2_grpc.add_EngineServicer_to_server,
                            instantiate(EngineServicer, recorder), "trademesh.v1.Engine"),
        "persistence": registrar(persistence_pb2_grpc.add_PersistenceServicer_to_server,
                                 persistence, "trademesh.v1.Persistence"),
        "feed": registrar(feed_pb2_grpc.add_FeedServicer_to_server,
                          instantiate(feed_pb2_grpc.FeedServicer), "trademesh.v1.Feed"),
    }
    verifier = TokenVerifier.from_file(base_settings.public_key_path,
                                       base_settings.jwt_issuer, base_settings.jwt_audience)
    services = {name: GrpcService(f"test-{name}", "127.0.0.1", 0, [reg], tls=files(name),
                                  mesh_port=0, grace_seconds=0.2,
                                  token_check=TokenCheck(verifier, None))
                for name, reg in registrars.items()}
    client = redis_client(base_settings)
    parts = None
    try:
        for service in services.values():
            await asyncio.wait_for(service.start(), STEP_SECONDS)
            await service.set_serving(True)
        persistence_addr = f"127.0.0.1:{services['persistence'].mesh_port}"
        parts = build_auth(base_settings.with_overrides(persistence_mesh_addr=persistence_addr),
                           client, FAST_POLICY)
        services["auth"] = GrpcService("test-auth", "127.0.0.1", 0,
                                       [auth_registrar(parts.servicer)], tls=files("gateway"),
                                       mesh_port=0, grace_seconds=0.2, token_check=parts.check)
        await asyncio.wait_for(services["auth"].start(), STEP_SECONDS)
        await services["auth"].set_serving(True)
        # the mesh listeners: where the gateway dials its upstreams
        addresses = {name: f"127.0.0.1:{s.mesh_port}" for name, s in services.items()}
        yield Mesh(recorder, addresses, services, persistence)
    finally:
        for service in services.values():
            await asyncio.wait_for(service.stop(), STEP_SECONDS)
        if parts is not None:
            await parts.persistence.close(None)
        await client.aclose()


@pytest.fixture
async def gateway(mesh: Mesh, base_settings: Settings, user_token: str
                  ) -> AsyncIterator[GatewayFactory]:
    """Starts the gateway over ``mesh`` (``down=[...]`` points those upstreams nowhere);
    its client sends a valid user token unless ``token=None`` (or another) is given."""
    stack: list[tuple[uvicorn.Server, asyncio.Task[None], socket.socket]] = []
    clients: list[httpx.AsyncClient] = []

    async def start(down: Iterable[str] = (), token: str | None = user_token,
                    **overrides: Any) -> httpx.AsyncClient:
        addresses = dict(mesh.addresses)
        for name in down:
            addresses[name] = f"127.0.0.1:{free_port()}"
        settings = base_settings.with_overrides(
            **{f"{name}_mesh_addr": address for name, address in addresses.items()},
            upstream_timeout_seconds=overrides.pop("upstream_timeout_seconds", 5.0),
            redis_url=overrides.pop("redis_url", base_settings.redis_url),
            cors_origins=overrides.pop("cors_origins", ""))
        app = build_app(settings, readiness_check_seconds=0.5, **overrides)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        server = QuietSignalServer(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        port = sock.getsockname()[1]
        stack.append((server, task, sock))
        await asyncio.wait_for(wait_started(server), STEP_SECONDS)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=STEP_SECONDS,
                                   headers=headers)
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
