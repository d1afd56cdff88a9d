"""The four gRPC servers of the mesh, real and in-process, for the call-policy table test.

Engine (sequencer on Redis, snapshots in PostgreSQL), persistence (PostgreSQL), feed (Redis
relay) and the gateway's Auth service (persistence's users over the mesh), each a
:class:`~mesh_runtime.serving.GrpcService` on free loopback ports with TLS: a public
listener and a mutual-TLS mesh listener, the session's test PKI, the real revocation set in
Redis. :class:`Caller` says how a table cell calls: which listener, which certificate,
which token.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import redis.asyncio as aioredis

from engine_svc import app as engine_app
from engine_svc.servicer import EngineServicer
from feed_svc.app import FeedConfig, FeedNode
from gateway.auth_service import auth_registrar
from gateway.policy import GatewayPolicy
from gateway.wiring import build_auth, redis_client
from mesh_runtime.config import Settings
from mesh_runtime.ports import free_port
from mesh_runtime.revocation import RedisRevocations, TokenCheck
from mesh_runtime.serving import GrpcService
from mesh_runtime.tokens import TokenSigner, TokenVerifier, ensure_keypair
from persistence_svc import app as persistence_app
from tests.tls import service_channel, use_pki, user_channel

SERVICES = ("engine", "persistence", "feed", "gateway")


@dataclass(frozen=True, slots=True)
class Caller:
    """One column of the table: plaintext, TLS to the public listener with or without a
    token, or a service's certificate on the mesh listener."""

    name: str
    plaintext: bool = False
    identity: str = ""  # a service certificate (mesh listener)
    token: str = ""  # "user", "admin", or a bad one: "revoked", "expired", "garbage"


CALLERS = (
    Caller("plaintext", plaintext=True),
    Caller("tls-anonymous"),
    Caller("trader-jwt", token="user"),
    Caller("revoked-jwt", token="revoked"),
    Caller("expired-jwt", token="expired"),
    Caller("garbage-jwt", token="garbage"),
    Caller("admin-jwt", token="admin"),
    *(Caller(f"service-{name}", identity=name) for name in SERVICES),
    Caller("gateway-forwarding-trader-jwt", identity="gateway", token="user"),
    Caller("engine-with-revoked-jwt", identity="engine", token="revoked"),
)
BAD_TOKENS = ("revoked", "expired", "garbage")


@dataclass
class PolicyMesh:
    """Addresses by gRPC service full name: (public listener, mesh listener)."""

    settings: Settings
    signer: TokenSigner
    expired_signer: TokenSigner  # issues tokens that expired a minute ago
    revocations: RedisRevocations
    listeners: dict[str, tuple[str, str]]

    def channel(self, service: str, caller: Caller) -> grpc.aio.Channel:
        public, mesh = self.listeners[service]
        if caller.plaintext:
            return grpc.aio.insecure_channel(public)
        if caller.identity:
            return service_channel(mesh, caller.identity)
        return user_channel(public)

    async def metadata(self, caller: Caller) -> tuple[tuple[str, str], ...]:
        """A fresh token per call (a cell may log its token out), revoked if asked."""
        if not caller.token:
            return ()
        if caller.token == "garbage":
            return (("authorization", "Bearer not.a.jwt"),)
        signer = self.expired_signer if caller.token == "expired" else self.signer
        token, expires = signer.issue(f"table-{uuid.uuid4().hex[:8]}",
                                      admin=caller.token == "admin")
        if caller.token == "revoked":
            verifier = TokenVerifier.from_file(self.settings.public_key_path,
                                               self.settings.jwt_issuer,
                                               self.settings.jwt_audience)
            await self.revocations.revoke(verifier.verify(token).token_id, expires)
        return (("authorization", f"Bearer {token}"),)


def mesh_settings(tmp_path: Path, redis_url: str, database: str) -> Settings:
    private, public = tmp_path / "jwt.pem", tmp_path / "jwt.pub.pem"
    ensure_keypair(private, public)
    return use_pki(Settings(data_dir=tmp_path, redis_url=redis_url, postgres_url=database,
                            host="127.0.0.1", jwt_private_key_file=str(private),
                            jwt_public_key_file=str(public), bcrypt_rounds=4))


@asynccontextmanager
async def running_mesh(settings: Settings) -> AsyncIterator[PolicyMesh]:
    """The four servers, started; stopped (with everything they opened) on exit."""
    verifier = TokenVerifier.from_file(settings.public_key_path, settings.jwt_issuer,
                                       settings.jwt_audience)
    async with AsyncExitStack() as stack:
        revocations = RedisRevocations.from_url(settings.redis_dsn)
        stack.push_async_callback(revocations.close)
        check = TokenCheck(verifier, revocations)

        async def serve(name: str, service: GrpcService) -> tuple[str, str]:
            await service.start()
            stack.push_async_callback(service.stop)
            await service.set_serving(True)
            return f"127.0.0.1:{service.port}", f"127.0.0.1:{service.mesh_port}"

        def grpc_service(name: str, identity: str, registrar: Callable[[Any], Any],
                         tokens: TokenCheck) -> GrpcService:
            return GrpcService(name, "127.0.0.1", 0, [registrar],
                               tls=settings.tls_files(identity), mesh_port=0,
                               grace_seconds=0.2, token_check=tokens)

        listeners: dict[str, tuple[str, str]] = {}
        sequencer = await _engine_state(settings, stack)
        listeners["trademesh.v1.Engine"] = await serve("engine", grpc_service(
            "engine", "engine", engine_app.register(
                EngineServicer(sequencer, engine_app.wall_clock_ms)), check))
        servicer = await persistence_app.build(settings, stack)
        listeners["trademesh.v1.Persistence"] = await serve("persistence", grpc_service(
            "persistence", "persistence", persistence_app.register(servicer), check))
        feed = FeedNode(settings, FeedConfig(oracle="off",
                                             relay_channel=f"policy-{uuid.uuid4().hex}"),
                        grpc_port=0, mesh_port=0, ws_port=free_port())
        await feed.start()
        stack.push_async_callback(feed.stop)
        listeners["trademesh.v1.Feed"] = (f"127.0.0.1:{feed.service.port}",
                                          f"127.0.0.1:{feed.service.mesh_port}")
        client = redis_client(settings)
        stack.push_async_callback(client.aclose)
        persistence_mesh = listeners["trademesh.v1.Persistence"][1]
        parts = build_auth(settings.with_overrides(persistence_mesh_addr=persistence_mesh),
                           client, GatewayPolicy(bcrypt_rounds=4))
        stack.push_async_callback(parts.persistence.close, None)
        listeners["trademesh.v1.Auth"] = await serve("auth", grpc_service(
            "auth", "gateway", auth_registrar(parts.servicer), parts.check))
        def signer(ttl_seconds: int) -> TokenSigner:
            return TokenSigner.from_file(settings.private_key_path, settings.jwt_issuer,
                                         settings.jwt_audience, ttl_seconds)

        yield PolicyMesh(settings, signer(600), signer(-60), revocations, listeners)


async def _engine_state(settings: Settings, stack: AsyncExitStack) -> Any:
    """The engine's sequencer on fresh journal keys, running until the stack closes."""
    import asyncio

    client = aioredis.Redis.from_url(settings.redis_dsn)
    try:
        await client.delete("trademesh:journal", "trademesh:outbox")
    finally:
        await client.aclose()
    sequencer, _ = await engine_app.build(settings, stack)
    task = asyncio.create_task(sequencer.run())

    async def stop() -> None:
        if not task.done():
            await sequencer.close()
        await asyncio.wait_for(task, 30)

    stack.push_async_callback(stop)
    return sequencer
