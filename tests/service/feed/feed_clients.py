"""Test clients for the feed: a WebSocket client that flattens batched frames, a fake
engine publishing on ``Feed.PublishMarketData`` (on the mesh listener, with the engine's
certificate), and a running in-process feed node."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import websockets
from trademesh.v1 import feed_pb2, feed_pb2_grpc, market_pb2

from feed_svc.app import FeedConfig, FeedNode
from mesh_runtime.config import Settings
from mesh_runtime.tokens import TokenSigner, ensure_keypair
from tests.tls import service_channel, use_pki

WAIT = 20.0  # seconds: the bound on every wait in these tests


def make_settings(tmp_path: Path, redis_url: str) -> tuple[Settings, TokenSigner]:
    private, public = tmp_path / "jwt.pem", tmp_path / "jwt.pub.pem"
    ensure_keypair(private, public)
    settings = use_pki(Settings(data_dir=tmp_path, redis_url=redis_url,
                                jwt_private_key_file=str(private),
                                jwt_public_key_file=str(public)))
    signer = TokenSigner.from_file(private, settings.jwt_issuer, settings.jwt_audience, 600)
    return settings, signer


async def start_node(settings: Settings, ws_port: int, channel: str, grpc_port: int = 0,
                     mesh_port: int = 0, **config: Any) -> FeedNode:
    cfg = FeedConfig(relay_channel=channel, **{"oracle": "off", **config})
    node = FeedNode(settings, cfg, grpc_port=grpc_port, mesh_port=mesh_port, ws_port=ws_port)
    await node.start()
    return node


class WsClient:
    """A real ``websockets`` client; ``next()`` returns one message. Without ``batch`` every
    frame must be one message object, as API.md says; with it, arrays are flattened."""

    def __init__(self, ws: websockets.ClientConnection, batch: bool = False) -> None:
        self.ws = ws
        self.batch = batch
        self._pending: list[dict[str, Any]] = []
        self._id = 0

    @classmethod
    async def connect(cls, port: int, batch: bool = False, **kw: Any) -> WsClient:
        url = f"ws://127.0.0.1:{port}/ws" + ("?batch=1" if batch else "")
        ws = await asyncio.wait_for(websockets.connect(url, **kw), WAIT)
        return cls(ws, batch)

    async def close(self) -> None:
        await asyncio.wait_for(self.ws.close(), WAIT)

    async def send(self, method: str, params: list[Any] | None = None) -> int:
        self._id += 1
        body: dict[str, Any] = {"method": method, "id": self._id}
        if params is not None:
            body["params"] = params
        await self.ws.send(json.dumps(body))
        return self._id

    async def next(self, within: float = WAIT) -> dict[str, Any]:
        while not self._pending:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), within))
            assert self.batch or isinstance(frame, dict), f"an array frame unasked: {frame}"
            self._pending = frame if isinstance(frame, list) else [frame]
        return self._pending.pop(0)

    async def call(self, method: str, params: list[Any] | None = None) -> dict[str, Any]:
        """Sends a request and returns its reply (data messages before it are dropped)."""
        request_id = await self.send(method, params)
        return await self.until(lambda m: m.get("id") == request_id and "stream" not in m)

    async def until(self, match: Callable[[dict[str, Any]], bool],
                    most: int = 100_000) -> dict[str, Any]:
        for _ in range(most):
            message = await self.next()
            if match(message):
                return message
        raise AssertionError("no matching message")

    async def stream(self, channel: str) -> dict[str, Any]:
        """The next data message of ``channel``."""
        return (await self.until(lambda m: m.get("stream") == channel))["data"]


class FakeEngine:
    """Publishes market data to a feed like the engine's publisher does."""

    def __init__(self, address: str) -> None:
        self._channel = service_channel(address, "engine")
        self._queue: asyncio.Queue[feed_pb2.PublishMarketDataRequest | None] = asyncio.Queue()
        stub = feed_pb2_grpc.FeedStub(self._channel)
        self._call = stub.PublishMarketData(self._requests())  # type: ignore[arg-type]

    async def _requests(self):  # type: ignore[no-untyped-def]
        while (item := await self._queue.get()) is not None:
            yield item

    def send(self, **item: Any) -> None:
        self._queue.put_nowait(feed_pb2.PublishMarketDataRequest(**item))

    def snapshot(self, market: str, seq: int, bids: list[tuple[str, str]],
                 asks: list[tuple[str, str]]) -> None:
        self.send(depth_snapshot=market_pb2.DepthSnapshot(
            market=market, sequence=seq, bids=_levels(bids), asks=_levels(asks)))

    def diff(self, market: str, seq: int, bids: list[tuple[str, str]],
             asks: list[tuple[str, str]]) -> None:
        self.send(depth_update=market_pb2.DepthUpdate(
            market=market, sequence=seq, bids=_levels(bids), asks=_levels(asks)))

    def trade(self, market: str, trade_id: int, price: str, qty: str, ms: int) -> None:
        trade = market_pb2.Trade(trade_id=str(trade_id), market=market, price=price,
                                 quantity=qty, taker_side="BUY")
        trade.time.FromMilliseconds(ms)
        self.send(trade=trade)

    async def close(self) -> None:
        self._queue.put_nowait(None)
        await asyncio.wait_for(self._call, WAIT)
        await self._channel.close()


def _levels(levels: list[tuple[str, str]]) -> list[market_pb2.PriceLevel]:
    return [market_pb2.PriceLevel(price=p, quantity=q) for p, q in levels]


def apply_depth(book: dict[str, dict[str, str]], data: dict[str, Any]) -> None:
    """Applies a depth message (snapshot or update) to a client-side book."""
    if data["type"] == "snapshot":
        book["bids"], book["asks"] = {}, {}
    for side in ("bids", "asks"):
        for level in data.get(side, []):
            if level["quantity"] == "0" and data["type"] == "update":
                book[side].pop(level["price"], None)
            else:
                book[side][level["price"]] = level["quantity"]


@dataclass
class Feed:
    node: FeedNode
    settings: Settings
    signer: TokenSigner
    ws_port: int
    channel: str

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.node.service.port}"

    @property
    def mesh_address(self) -> str:
        return f"127.0.0.1:{self.node.service.mesh_port}"

    def engine(self) -> FakeEngine:
        return FakeEngine(self.mesh_address)
