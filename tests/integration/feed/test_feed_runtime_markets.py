"""A market added at runtime is on every channel: the engine's publisher announces it with
a snapshot, the feed learns it, WebSocket clients trade-watch it like a built-in one."""

from __future__ import annotations

import asyncio

from feed_clients import WAIT, WsClient, apply_depth
from mesh_harness import Mesh
from trademesh.v1 import engine_pb2, market_pb2, order_pb2

M = "TATA-INR"


async def add_tata(mesh: Mesh) -> None:
    admin = (("authorization", f"Bearer {mesh.signer.issue('root', admin=True)[0]}"),)
    for symbol, decimals in (("INR", 2), ("TATA", 0)):
        await mesh.stub.AddAsset(engine_pb2.AddAssetRequest(symbol=symbol, decimals=decimals),
                                 metadata=admin, timeout=WAIT)
    await mesh.stub.AddMarket(engine_pb2.AddMarketRequest(market=market_pb2.Market(
        symbol=M, kind=market_pb2.SPOT, base_asset="TATA", quote_asset="INR",
        tick_size="0.05", lot_size="1")), metadata=admin, timeout=WAIT)


async def subscribed(client: WsClient, channels: list[str]) -> None:
    """Subscribes once the feed knows the market (it learns it from the engine's snapshot)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while (reply := await client.call("SUBSCRIBE", channels)).get("result", 0) is not None:
        assert loop.time() < deadline, reply
        await asyncio.sleep(0.05)


async def test_trades_and_depth_of_a_runtime_market(mesh: Mesh) -> None:
    await add_tata(mesh)
    await mesh.deposit("alice", "INR", "100000")
    await mesh.deposit("bob", "TATA", "100")
    client = await WsClient.connect(mesh.ws_port)
    try:
        await subscribed(client, [f"trades@{M}"])
        for user, side, qty in (("bob", order_pb2.SELL, "10"), ("alice", order_pb2.BUY, "3")):
            await mesh.stub.PlaceOrder(engine_pb2.PlaceOrderRequest(
                market=M, side=side, type=order_pb2.LIMIT, price="1000.05", quantity=qty),
                metadata=mesh.auth(user), timeout=WAIT)
        trade = await client.stream(f"trades@{M}")
        assert (trade["price"], trade["quantity"], trade["takerSide"]) == ("1000.05", "3", "BUY")
        assert (await client.call("SUBSCRIBE", [f"depth@{M}"]))["result"] is None
        book: dict[str, dict[str, str]] = {}
        while book != mesh.engine_book(M):
            data = await client.stream(f"depth@{M}")
            if book or data["type"] == "snapshot":
                apply_depth(book, data)
        assert book == {"bids": {}, "asks": {"1000.05": "7"}}
    finally:
        await client.close()
