"""``kill -9`` of a real engine process while its events stream to persistence: after a
restart no fill is missing from PostgreSQL and none is there twice (count, distinct ids and
summed quantity compared with the fills of the engine's journal, replayed)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from persistence_harness import Persistence, fetch
from trademesh.v1 import engine_pb2, engine_pb2_grpc, order_pb2

from engine_svc import command_codec
from engine_svc.core.engine import Engine
from engine_svc.core.events import OrderFilled
from engine_svc.core.markets import default_markets
from engine_svc.journal import Journal
from mesh_runtime.child_process import Child, ChildSpec
from mesh_runtime.config import Settings
from mesh_runtime.ports import free_port
from mesh_runtime.tokens import TokenSigner
from tests.integration.engine.test_crash import USERS, _serving, _stream_until_killed
from tests.tls import user_channel

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
Auth = dict[str, tuple[tuple[str, str], ...]]


async def test_kill_9_of_the_engine_process_mid_stream(
        settings: Settings, persistence: Persistence, tmp_path: Path) -> None:
    port = free_port()
    address = f"127.0.0.1:{port}"
    engine_settings = settings.with_overrides(
        engine_port=port, persistence_mesh_addr=persistence.mesh_address, log_level="WARNING",
        engine_snapshot_seconds=3600.0,  # the journal stays whole
        max_open_orders=100_000)  # its few users rest thousands of orders
    signer = TokenSigner.from_file(settings.private_key_path, settings.jwt_issuer,
                                   settings.jwt_audience, 600)
    auth: Auth = {u: (("authorization", f"Bearer {signer.issue(u)[0]}"),)
                  for u in [*USERS, "__fees__"]}
    admin = (("authorization", f"Bearer {signer.issue('ops', admin=True)[0]}"),)
    spec = ChildSpec("engine", [sys.executable, "-m", "trademesh_cli", "engine"],
                     tmp_path / "engine.log", {**os.environ, **engine_settings.as_env()})
    engine = Child(spec)
    await engine.start()
    try:
        await _serving(address)
        acked = await _stream_until_killed(engine, address, auth)  # SIGKILL mid-stream
        assert len(acked) >= 300
        engine = Child(spec)
        await engine.start()
        await _serving(address)
        await _cross_some_more(address, auth)
        await _drained(address, admin, engine)
        fills = await _journal_fills(settings.redis_dsn)
        assert len(fills) > 100
        markets = default_markets().markets
        total = sum(markets[f.market].lots_to_qty(f.quantity) for f in fills)
        rows = await fetch(settings.postgres_dsn,
                           "SELECT count(*) AS n, count(DISTINCT (fill_id, liquidity)) AS d, "
                           "sum(quantity) AS q FROM fills")
        assert (rows[0]["n"], rows[0]["d"], rows[0]["q"]) == (
            2 * len(fills), 2 * len(fills), 2 * total)
    finally:
        await engine.stop()


async def _cross_some_more(address: str, auth: Auth) -> None:
    """Crossing orders after the restart, so the new engine's link writes fills too."""
    async with user_channel(address) as channel:
        stub = engine_pb2_grpc.EngineStub(channel)
        for i in range(20):
            for user, side in ((USERS[0], order_pb2.SELL), (USERS[1], order_pb2.BUY)):
                await stub.PlaceOrder(engine_pb2.PlaceOrderRequest(
                    market="SOL-USD", side=side, type=order_pb2.LIMIT, quantity="0.5",
                    price=str(90 + i % 3)), metadata=auth[user], timeout=10)


async def _drained(address: str, admin: tuple[tuple[str, str], ...], engine: Child) -> None:
    async with user_channel(address) as channel:
        stub = engine_pb2_grpc.EngineStub(channel)
        status = None
        for _ in range(600):
            status = await stub.GetEngineStatus(engine_pb2.GetEngineStatusRequest(),
                                                metadata=admin, timeout=10)
            if status.persisted_sequence == status.event_sequence > 0:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"persistence did not catch up: {status}\n{engine.log_tail(30)}")


async def _journal_fills(redis_url: str) -> list[OrderFilled]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        commands = [command_codec.decode(raw)
                    async for _, raw in Journal(client).commands_after(0)]
    finally:
        await client.aclose()
    replayed = Engine(default_markets())
    fills: list[OrderFilled] = []
    for command in commands:
        fills.extend(e for e in replayed.apply(command) if isinstance(e, OrderFilled))
    return fills
