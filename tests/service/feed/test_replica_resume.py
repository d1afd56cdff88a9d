"""A feed replica whose Redis connection is cut mid-stream still gives its clients every
trade and every user event, in order: it resumes the fan-out stream where it stopped (real
Redis, real ``CLIENT KILL``; WebSocket and gRPC clients on the cut replica)."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
from feed_clients import WAIT, FakeEngine, Feed, WsClient, start_node
from trademesh.v1 import event_pb2, feed_pb2, feed_pb2_grpc

from feed_svc.app import FeedNode
from mesh_runtime.ports import free_port
from tests.tls import user_channel

NOW = time.time_ns() // 1_000_000
TRADES = 600
CUT_AFTER = 100
USER_EVERY = 10  # a user event after every tenth trade


def publish(engine: FakeEngine, first: int, last: int) -> None:
    """Trades ``first..last``, and a user event for alice after every tenth one."""
    for trade_id in range(first, last + 1):
        engine.trade("BTC-PERP", trade_id, "100", "1", NOW)
        if trade_id % USER_EVERY == 0:
            event = event_pb2.EngineEvent(sequence=trade_id, user_id="alice")
            event.balance.user_id = "alice"
            event.balance.balance.asset, event.balance.balance.available = "USD", "1"
            engine.send(user_event=event)


async def cut_reader(redis_url: str, node: FeedNode) -> int:
    """Kills ``node``'s fan-out reading connection; returns how many were killed."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        clients = await client.client_list()
        ids = [c["id"] for c in clients if c.get("name") == node.relay.subscriber_name]
        for client_id in ids:
            await client.client_kill_filter(_id=client_id)
        return len(ids)
    finally:
        await client.aclose()


async def grpc_trades(address: str, count: int, subscribed: asyncio.Event) -> list[str]:
    async with user_channel(address) as channel:
        stream = feed_pb2_grpc.FeedStub(channel).Subscribe(
            feed_pb2.SubscribeRequest(channels=["trades@BTC-PERP"]))
        ids: list[str] = []
        subscribed.set()
        async for message in stream:
            if message.WhichOneof("data") == "trade":
                ids.append(message.trade.trade_id)
                if len(ids) == count:
                    stream.cancel()
                    return ids
        return ids


async def test_a_replica_cut_from_redis_mid_stream_loses_no_trade(
        feed: Feed, redis_url: str) -> None:
    port = free_port()
    other = await start_node(feed.settings, port, feed.channel)
    engine = feed.engine()  # publishes through the first replica only
    ws = await WsClient.connect(port, batch=True)
    alice = await WsClient.connect(port)
    subscribed = asyncio.Event()
    grpc_client = asyncio.create_task(
        grpc_trades(f"127.0.0.1:{other.service.port}", TRADES, subscribed))
    try:
        await ws.call("SUBSCRIBE", ["trades@BTC-PERP"])
        await alice.call("AUTH", [feed.signer.issue("alice")[0]])
        await alice.call("SUBSCRIBE", ["user"])
        await asyncio.wait_for(subscribed.wait(), WAIT)
        listeners = other.hub._listeners
        for _ in range(500):  # bounded: until the gRPC subscriber is registered too
            if len(listeners.get("trades@BTC-PERP", ())) == 2:
                break
            await asyncio.sleep(0.01)
        received: list[str] = []
        publish(engine, 1, CUT_AFTER)
        while len(received) < CUT_AFTER // 2:
            received.append((await ws.stream("trades@BTC-PERP"))["tradeId"])
        assert await cut_reader(redis_url, other) == 1
        publish(engine, CUT_AFTER + 1, TRADES)  # published while it reconnects
        while len(received) < TRADES:
            received.append((await ws.stream("trades@BTC-PERP"))["tradeId"])
        by_grpc = await asyncio.wait_for(grpc_client, WAIT)
        events = [(await alice.stream("user"))["sequence"]
                  for _ in range(TRADES // USER_EVERY)]
        expected = [str(i) for i in range(1, TRADES + 1)]
        assert received == expected
        assert by_grpc == expected
        assert events == [str(i) for i in range(USER_EVERY, TRADES + 1, USER_EVERY)]
        assert other.relay.connections >= 2  # it really was cut and came back
    finally:
        grpc_client.cancel()
        await asyncio.gather(grpc_client, return_exceptions=True)
        await ws.close()
        await alice.close()
        await engine.close()
        await other.stop()
