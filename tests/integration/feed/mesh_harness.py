"""The real engine (Redis journal, PostgreSQL snapshots) with its market-data publisher,
linked to a real feed replica over gRPC, with Redis fan-out and the WebSocket bridge."""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis
from trademesh.v1 import engine_pb2, engine_pb2_grpc

sys.path.insert(0, str(Path(__file__).parents[2] / "service" / "feed"))

from feed_clients import WAIT, start_node

from engine_svc.decimal_edge import formatter
from engine_svc.market_data import MarketDataPublisher
from engine_svc.sequencer import Sequencer
from feed_svc.app import FeedNode
from mesh_runtime.config import Settings
from mesh_runtime.tokens import TokenSigner


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


@dataclass
class Mesh:
    settings: Settings
    signer: TokenSigner
    sequencer: Sequencer
    publisher: MarketDataPublisher
    stub: engine_pb2_grpc.EngineStub
    feed: FeedNode
    ws_port: int
    channel: str

    def auth(self, user: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.signer.issue(user)[0]}"),)

    async def restart_feed(self) -> None:
        await self.feed.stop()
        self.feed = await start_node(self.settings, self.ws_port, self.channel,
                                     mesh_port=self.settings.feed_mesh_port)

    def engine_book(self, market: str) -> dict[str, dict[str, str]]:
        spec = self.sequencer.config.markets[market]
        price, qty = formatter(spec.tick_size), formatter(spec.lot_size)
        bids, asks = self.sequencer.engine.depth(market, 100)
        return {"bids": {price(p): qty(q) for p, q in bids},
                "asks": {price(p): qty(q) for p, q in asks}}

    async def deposit(self, user: str, asset: str, amount: str) -> None:
        await self.stub.Deposit(engine_pb2.DepositRequest(
            asset=asset, amount=amount, transaction_id=uuid.uuid4().hex),
            metadata=self.auth(user), timeout=WAIT)


