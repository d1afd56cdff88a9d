"""The engine's market data through the feed to real WebSocket clients."""

from __future__ import annotations

import random
from typing import Any

import grpc
import pytest
import websockets
from feed_clients import WAIT, WsClient, apply_depth
from mesh_harness import Mesh
from trademesh.v1 import engine_pb2, order_pb2

M = "SOL-USD"


async def place(mesh: Mesh, user: str, side: Any, price: str, qty: str,
                market: str = M) -> engine_pb2.PlaceOrderResponse:
    return await mesh.stub.PlaceOrder(engine_pb2.PlaceOrderRequest(
        market=market, side=side, type=order_pb2.LIMIT, price=price, quantity=qty),
        metadata=mesh.auth(user), timeout=WAIT)


async def fund(mesh: Mesh, *users: str) -> None:
    for user in users:
        await mesh.deposit(user, "USD", "1000000")
        await mesh.deposit(user, "SOL", "10000")


async def test_a_trade_reaches_trades_ticker_and_kline(mesh: Mesh) -> None:
    await fund(mesh, "alice", "bob")
    client = await WsClient.connect(mesh.ws_port)
    try:
        channels = [f"trades@{M}", f"ticker@{M}", f"kline_1m@{M}"]
        assert (await client.call("SUBSCRIBE", channels))["result"] is None
        await place(mesh, "bob", order_pb2.SELL, "150.125", "2")
        await place(mesh, "alice", order_pb2.BUY, "150.125", "0.5")
        latest: dict[str, dict[str, Any]] = {}
        while len(latest) < 3 or latest[f"kline_1m@{M}"]["volume"] != "0.5" or \
                latest[f"ticker@{M}"]["last"] != "150.125":
            message = await client.until(lambda m: "stream" in m)
            latest[message["stream"]] = message["data"]
        trade, ticker = latest[f"trades@{M}"], latest[f"ticker@{M}"]
        assert (trade["price"], trade["quantity"], trade["takerSide"]) == \
            ("150.125", "0.5", "BUY"), latest
        assert ticker["volume24h"] == "0.5" and ticker["high24h"] == "150.125", latest
        assert ticker["bestAsk"] == "150.125"
        candle = {"data": latest[f"kline_1m@{M}"]}
        assert candle["data"]["open"] == candle["data"]["close"] == "150.125"
        assert candle["data"]["closed"] is False
    finally:
        await client.close()


async def follow_depth(client: WsClient, mesh: Mesh, market: str,
                       book: dict[str, dict[str, str]]) -> None:
    """Applies depth messages until the client's book equals the engine's; checks that
    diffs are consecutive after each snapshot."""
    last = None
    for _ in range(100_000):
        if book.get("bids") is not None and last is not None and \
                book == mesh.engine_book(market):
            return
        data = await client.stream(f"depth@{market}")
        if data["type"] == "snapshot":
            last = int(data["sequence"])
        else:
            assert last is not None and int(data["sequence"]) == last + 1
            last += 1
        apply_depth(book, data)
    raise AssertionError("the book never matched")


async def random_burst(mesh: Mesh, rng: random.Random, count: int) -> None:
    live: list[tuple[str, str]] = []
    for _ in range(count):
        user = rng.choice(["alice", "bob"])
        if live and rng.random() < 0.25:
            owner, order_id = live.pop(rng.randrange(len(live)))
            try:
                await mesh.stub.CancelOrder(engine_pb2.CancelOrderRequest(order_id=order_id),
                                            metadata=mesh.auth(owner), timeout=WAIT)
            except grpc.aio.AioRpcError as err:  # filled meanwhile
                assert err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ABORTED,
                                      grpc.StatusCode.FAILED_PRECONDITION), err
            continue
        side = rng.choice([order_pb2.BUY, order_pb2.SELL])
        price = f"{rng.randint(148_000, 152_000) / 1000:.3f}"
        qty = f"{rng.randint(1, 300) / 100:.2f}"
        reply = await place(mesh, user, side, price, qty)
        live.append((user, reply.order.order_id))


async def test_depth_diffs_rebuild_the_engine_book(mesh: Mesh) -> None:
    await fund(mesh, "alice", "bob")
    client = await WsClient.connect(mesh.ws_port)
    try:
        await client.call("SUBSCRIBE", [f"depth@{M}"])
        book: dict[str, dict[str, str]] = {}
        await random_burst(mesh, random.Random(7), 300)
        await follow_depth(client, mesh, M, book)
        assert book["bids"] and book["asks"]
    finally:
        await client.close()


async def test_user_channel_gets_only_its_users_events(mesh: Mesh) -> None:
    await fund(mesh, "alice", "bob", "carol")
    alice = await WsClient.connect(mesh.ws_port)
    try:
        await alice.call("AUTH", [mesh.signer.issue("alice")[0]])
        assert (await alice.call("SUBSCRIBE", ["user"]))["result"] is None
        await place(mesh, "carol", order_pb2.SELL, "151", "1")
        await place(mesh, "bob", order_pb2.BUY, "151", "0.5")  # carol and bob trade
        await place(mesh, "bob", order_pb2.SELL, "152", "1")
        await place(mesh, "alice", order_pb2.BUY, "152", "0.25")  # alice takes from bob
        seen: dict[str, dict[str, Any]] = {}
        while len(seen) < 3:  # an order, a fill and a balance: all alice's, nobody else's
            data = await alice.stream("user")
            assert data["userId"] == "alice", data
            seen.update({k: data[k] for k in ("order", "fill", "balance") if k in data})
        assert seen["fill"]["userId"] == seen["order"]["userId"] == "alice"
        assert (seen["fill"]["price"], seen["fill"]["quantity"]) == ("151", "0.25")
    finally:
        await alice.close()


async def test_feed_restart_midstream(mesh: Mesh) -> None:
    await fund(mesh, "alice", "bob")
    rng = random.Random(11)
    client = await WsClient.connect(mesh.ws_port)
    await client.call("SUBSCRIBE", [f"depth@{M}", f"trades@{M}"])
    await random_burst(mesh, rng, 60)
    await follow_depth(client, mesh, M, {})
    await mesh.restart_feed()
    await random_burst(mesh, rng, 60)  # while the engine reconnects to the new feed
    with pytest.raises(websockets.ConnectionClosed):  # the restart closed it
        for _ in range(100_000):
            await client.next()
    client = await WsClient.connect(mesh.ws_port)
    try:
        await client.call("SUBSCRIBE", [f"depth@{M}"])
        await random_burst(mesh, rng, 60)
        await follow_depth(client, mesh, M, {})
    finally:
        await client.close()
