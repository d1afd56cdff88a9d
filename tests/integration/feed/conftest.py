"""Fixtures: the real engine with its market-data publisher linked to a real feed."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "service" / "feed"))

from feed_clients import WAIT, make_settings, start_node
from mesh_harness import Mesh, reset_stores
from trademesh.v1 import engine_pb2_grpc

from engine_svc.app import build, register, wall_clock_ms
from engine_svc.market_data import MarketDataPublisher
from engine_svc.servicer import EngineServicer
from mesh_runtime.ports import free_port
from mesh_runtime.revocation import TokenCheck
from mesh_runtime.serving import GrpcService
from mesh_runtime.tokens import TokenVerifier
from tests.tls import free_mesh_ports, user_channel


@pytest.fixture
async def mesh(redis_url: str, postgres_url: str, tmp_path: Path) -> AsyncIterator[Mesh]:
    await reset_stores(redis_url, postgres_url)
    base, signer = make_settings(tmp_path, redis_url)
    settings = free_mesh_ports(base.with_overrides(postgres_url=postgres_url))
    verifier = TokenVerifier.from_file(settings.public_key_path, settings.jwt_issuer,
                                       settings.jwt_audience)
    ws_port, channel = free_port(), f"test-mesh-{uuid.uuid4().hex}"
    async with AsyncExitStack() as stack:
        feed = await start_node(settings, ws_port, channel, mesh_port=settings.feed_mesh_port)
        sequencer, _ = await build(settings, stack)
        publisher = MarketDataPublisher(sequencer, settings, snapshot_seconds=2.0)
        sequencer.add_listener(publisher)
        tasks = [asyncio.create_task(sequencer.run()), asyncio.create_task(publisher.run())]
        servicer = EngineServicer(sequencer, wall_clock_ms, depth=publisher.depth)
        service = GrpcService("engine", "127.0.0.1", 0, [register(servicer)],
                              tls=settings.tls_files("engine"), mesh_port=0, grace_seconds=1,
                              token_check=TokenCheck(verifier, None))
        await service.start()
        channel_ = user_channel(f"127.0.0.1:{service.port}")
        mesh = Mesh(settings, signer, sequencer, publisher,
                    engine_pb2_grpc.EngineStub(channel_), feed, ws_port, channel)
        try:
            await asyncio.wait_for(publisher.connected.wait(), WAIT)
            yield mesh
        finally:
            await channel_.close()
            await service.stop()
            tasks[1].cancel()
            await sequencer.close()
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
            await mesh.feed.stop()
