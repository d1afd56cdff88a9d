"""An engine service on a real in-process gRPC server (TLS), with real Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import grpc
import pytest
import redis.asyncio as aioredis
from trademesh.v1 import engine_pb2_grpc

from engine_svc.app import build, configure, register
from engine_svc.sequencer import Sequencer
from engine_svc.servicer import EngineServicer
from mesh_runtime.config import Settings
from mesh_runtime.revocation import MemoryRevocations, TokenCheck
from mesh_runtime.serving import GrpcService
from mesh_runtime.tokens import TokenSigner, TokenVerifier, ensure_keypair
from tests.tls import files, service_channel, user_channel


class FakeClock:
    """A settable clock (ms) so command timestamps are deterministic."""

    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def __call__(self) -> int:
        self.now += 1
        return self.now


@dataclass
class EngineHarness:
    settings: Settings
    signer: TokenSigner
    verifier: TokenVerifier
    clock: FakeClock
    stack: AsyncExitStack
    revocations: MemoryRevocations = field(default_factory=MemoryRevocations)
    sequencer: Sequencer | None = None
    service: GrpcService | None = None
    channel: grpc.aio.Channel | None = None
    task: asyncio.Task[None] | None = None

    @property
    def stub(self) -> engine_pb2_grpc.EngineStub:
        assert self.channel is not None
        return engine_pb2_grpc.EngineStub(self.channel)

    def mesh_stub(self, identity: str) -> tuple[grpc.aio.Channel, engine_pb2_grpc.EngineStub]:
        """A channel to the mesh listener presenting ``identity``'s certificate (the
        caller closes it), and a stub on it."""
        assert self.service is not None
        channel = service_channel(f"127.0.0.1:{self.service.mesh_port}", identity)
        return channel, engine_pb2_grpc.EngineStub(channel)

    def auth(self, user: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.signer.issue(user)[0]}"),)

    def admin(self) -> tuple[tuple[str, str], ...]:
        """An operator's token (GetEngineStatus is for admins and the gateway)."""
        return (("authorization", f"Bearer {self.signer.issue('operator', admin=True)[0]}"),)

    async def start(self) -> None:
        self.sequencer, _ = await build(self.settings, self.stack)
        self.task = asyncio.create_task(self.sequencer.run())
        await configure(self.sequencer, self.settings)
        tokens = TokenCheck(self.verifier, self.revocations)
        servicer = EngineServicer(self.sequencer, self.clock, tokens=tokens)
        self.service = GrpcService("engine", "127.0.0.1", 0, [register(servicer)],
                                   tls=files("engine"), mesh_port=0, grace_seconds=1,
                                   token_check=tokens)
        await self.service.start()
        self.channel = user_channel(f"127.0.0.1:{self.service.port}")

    async def stop(self) -> None:
        if self.channel is not None:
            await self.channel.close()
            self.channel = None
        if self.service is not None:
            await self.service.stop()
            self.service = None
        if self.sequencer is not None and self.task is not None:
            if not self.task.done():
                await self.sequencer.close()
            await asyncio.wait_for(self.task, 30)
            self.sequencer = self.task = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()


async def reset_stores(redis_url: str, postgres_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.delete("trademesh:journal", "trademesh:outbox")
    finally:
        await client.aclose()
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute("DROP TABLE IF EXISTS engine_snapshots")
    finally:
        await conn.close()


@pytest.fixture
async def harness(redis_url: str, postgres_url: str, tmp_path: Path
                  ) -> AsyncIterator[EngineHarness]:
    await reset_stores(redis_url, postgres_url)
    private, public = tmp_path / "jwt.pem", tmp_path / "jwt.pub.pem"
    ensure_keypair(private, public)
    settings = Settings(redis_url=redis_url, postgres_url=postgres_url,
                        jwt_private_key_file=str(private), jwt_public_key_file=str(public))
    signer = TokenSigner.from_file(private, settings.jwt_issuer, settings.jwt_audience, 600)
    verifier = TokenVerifier.from_file(public, settings.jwt_issuer, settings.jwt_audience)
    async with AsyncExitStack() as stack:
        h = EngineHarness(settings, signer, verifier, FakeClock(), stack)
        await h.start()
        try:
            yield h
        finally:
            await h.stop()
