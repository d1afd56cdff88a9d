"""The WebSocket bridge's request/response protocol against a running feed."""

from __future__ import annotations

import contextlib
import json

import httpx
import pytest
import websockets
from feed_clients import Feed, WsClient


async def test_errors_keep_the_connection_usable(feed: Feed) -> None:
    client = await WsClient.connect(feed.ws_port)
    try:
        assert await client.call("PING") == {"result": "PONG", "id": 1}
        await client.ws.send("{not json")
        reply = await client.next()
        assert reply["error"]["code"] == "MALFORMED_JSON" and reply["id"] is None
        reply = await client.call("SUBSCRIBE", ["trades@NOPE-PERP"])
        assert reply["error"]["code"] == "UNKNOWN_CHANNEL" and reply["id"] == 2
        reply = await client.call("SUBSCRIBE", ["kline_7m@BTC-PERP"])
        assert reply["error"]["code"] == "UNKNOWN_CHANNEL"
        reply = await client.call("AUTH", ["not-a-token"])
        assert reply["error"]["code"] == "UNAUTHENTICATED"
        reply = await client.call("SUBSCRIBE", ["user"])
        assert reply["error"]["code"] == "UNAUTHENTICATED"
        reply = await client.call("FROB", [])
        assert reply["error"]["code"] == "INVALID_REQUEST"
        for method, params in (("FROB", None), ("FROB", "x"), (None, [])):
            await client.ws.send(json.dumps({"method": method, "params": params, "id": 9}))
            reply = await client.next()  # the method named first, whatever params hold
            assert reply["error"] == {"code": "INVALID_REQUEST", "message": (
                f"method: unknown method {method!r} (AUTH, PING, SUBSCRIBE or UNSUBSCRIBE)")}
        reply = await client.call("SUBSCRIBE", ["depth@btc-perp"])
        assert "upper case: BTC-PERP" in reply["error"]["message"]
        for bad in ({"method": "SUBSCRIBE", "id": 50}, {"method": "UNSUBSCRIBE", "params": [],
                                                         "id": 51},
                    {"method": "SUBSCRIBE", "params": "trades@BTC-PERP", "id": 52}):
            await client.ws.send(json.dumps(bad))
            reply = await client.next()
            assert reply["error"]["code"] == "INVALID_REQUEST", reply
            assert reply["error"]["message"].startswith("params:") and reply["id"] == bad["id"]
        for bad_id in ('{"x": 1}', "[1]", "true", "NaN", "Infinity"):
            await client.ws.send('{"method": "PING", "id": ' + bad_id + '}')
            reply = await client.next()
            assert reply == {"error": {"code": "INVALID_REQUEST", "message":
                                       "id: expected a number, a string or null"}, "id": None}
        for good_id in ("req-7", 0.25, 2**53, None):
            await client.ws.send(json.dumps({"method": "PING", "id": good_id}))
            assert await client.next() == {"result": "PONG", "id": good_id}
        await client.ws.send(json.dumps({"method": "PING", "pad": "x" * 20_000, "id": 99}))
        assert (await client.next())["error"]["code"] == "MESSAGE_TOO_LARGE"
        assert (await client.call("PING"))["result"] == "PONG"
    finally:
        await client.close()


async def test_subscription_limit_and_all_or_nothing(feed: Feed) -> None:
    client = await WsClient.connect(feed.ws_port)
    try:
        reply = await client.call("SUBSCRIBE", ["trades@BTC-PERP", "bogus@BTC-PERP"])
        assert reply["error"]["code"] == "UNKNOWN_CHANNEL"
        session = next(iter(feed.node.bridge.sessions))
        assert session.channels == {}
        many = [f"kline_{i}@{m}" for i in ("1m", "5m", "1h", "1d")
                for m in ("BTC-PERP", "ETH-PERP", "SOL-PERP", "SOL-USD")]
        many += [f"{k}@{m}" for k in ("trades", "depth", "ticker")
                 for m in ("BTC-PERP", "ETH-PERP", "SOL-PERP", "SOL-USD")]
        many += [f"mark@{m}" for m in ("BTC-PERP", "ETH-PERP", "SOL-PERP")]
        assert (await client.call("SUBSCRIBE", many))["result"] is None
        more = ["mark@BTC-PERP"] * 1 + [f"depth@{m}" for m in ("SOL-USD",)]
        assert (await client.call("SUBSCRIBE", more))["result"] is None  # already held
        assert len(session.channels) == len(set(many))
    finally:
        await client.close()


async def test_too_many_subscriptions(feed: Feed) -> None:
    from feed_svc.session import Limits
    feed.node.bridge._limits = Limits(max_subscriptions=2)
    client = await WsClient.connect(feed.ws_port)
    try:
        assert (await client.call("SUBSCRIBE", ["trades@BTC-PERP"]))["result"] is None
        reply = await client.call("SUBSCRIBE", ["trades@ETH-PERP", "trades@SOL-PERP"])
        assert reply["error"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
        assert (await client.call("SUBSCRIBE", ["trades@ETH-PERP"]))["result"] is None
    finally:
        await client.close()


async def test_auth_then_user_channel(feed: Feed) -> None:
    client = await WsClient.connect(feed.ws_port)
    try:
        token = feed.signer.issue("alice")[0]
        assert (await client.call("AUTH", [token]))["result"] == {"userId": "alice"}
        assert (await client.call("SUBSCRIBE", ["user"]))["result"] is None
    finally:
        await client.close()


async def test_a_flooding_client_is_limited_then_disconnected(feed: Feed) -> None:
    from feed_svc.session import Limits
    feed.node.bridge._limits = Limits(requests_per_second=1, request_burst=5)
    flood, calm = await WsClient.connect(feed.ws_port), await WsClient.connect(feed.ws_port)
    try:
        for _ in range(8):
            await flood.ws.send(json.dumps({"method": "PING", "id": 1}))
        replies = [await flood.next() for _ in range(8)]
        assert [r.get("result") for r in replies[:5]] == ["PONG"] * 5
        assert {r["error"]["code"] for r in replies[5:]} == {"RATE_LIMITED"}
        assert (await calm.call("PING"))["result"] == "PONG"  # per connection
        for _ in range(5):  # still sending while limited: five more and it is cut off
            with contextlib.suppress(websockets.ConnectionClosed):
                await flood.ws.send(json.dumps({"method": "PING", "id": 2}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            for _ in range(10):
                await flood.next()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert closed.value.rcvd.reason.startswith("TOO_MANY_REQUESTS")
        assert (await calm.call("PING"))["result"] == "PONG"
    finally:
        await calm.close()
        with contextlib.suppress(Exception):
            await flood.close()


async def test_plain_http_to_the_websocket_path_is_told_to_upgrade(feed: Feed) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"http://127.0.0.1:{feed.ws_port}/ws")
    assert response.status_code == 426 and response.headers["upgrade"] == "websocket"
    assert response.json()["error"]["code"] == "UPGRADE_REQUIRED"
