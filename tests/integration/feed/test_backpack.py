"""The Backpack ticker adapter against a local WebSocket server replaying recorded frames,
and a feed whose oracle is that real feed."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import grpc
import pytest
import websockets
from feed_clients import WAIT, WsClient, make_settings, start_node
from trademesh.v1 import feed_pb2, feed_pb2_grpc

from feed_svc.backpack import BackpackOracle, parse_ticker
from mesh_runtime.ports import free_port
from tests.tls import user_channel

RECORDED = [  # Backpack's public ticker stream format (E in microseconds)
    '{"result":null,"id":null}',
    '{"stream":"ticker.SOL_USDC","data":{"e":"ticker","E":1732233600123456,"s":"SOL_USDC",'
    '"o":"240.12","c":"241.37","h":"245.00","l":"238.50","v":"182739.21","V":"44122021.7",'
    '"n":93828}}',
    '{"stream":"depth.SOL_USDC","data":{"e":"depth","E":1732233600200000,"s":"SOL_USDC"}}',
    'not json at all',
    '{"stream":"ticker.BTC_USDC","data":{"e":"ticker","E":1732233600300000,"s":"BTC_USDC",'
    '"o":"98000.1","c":"98312.40","h":"99100","l":"97500","v":"1204.3","V":"118000000",'
    '"n":5521}}',
    '{"stream":"ticker.SOL_USDC","data":{"e":"ticker","E":1732233601000000,"s":"SOL_USDC",'
    '"o":"240.12","c":"NaN","h":"245.00","l":"238.50","v":"1","V":"1","n":1}}',
    '{"stream":"ticker.SOL_USDC","data":{"e":"ticker","E":1732233602000000,"s":"SOL_USDC",'
    '"o":"240.12","c":"241.40","h":"245.00","l":"238.50","v":"1","V":"1","n":2}}',
]


def test_parse_ticker() -> None:
    assert parse_ticker(RECORDED[1]) == ("SOL_USDC", "241.37", 1732233600123)
    assert parse_ticker(RECORDED[4]) == ("BTC_USDC", "98312.4", 1732233600300)
    for skipped in (RECORDED[0], RECORDED[2], RECORDED[3], RECORDED[5]):
        assert parse_ticker(skipped) is None


class Replay:
    """A local Backpack stand-in: answers a SUBSCRIBE by replaying the recording."""

    def __init__(self) -> None:
        self.subscriptions: list[list[str]] = []

    async def handler(self, ws: websockets.ServerConnection) -> None:
        request = json.loads(await ws.recv())
        assert request["method"] == "SUBSCRIBE"
        self.subscriptions.append(request["params"])
        for frame in RECORDED:
            await ws.send(frame)
        await ws.wait_closed()


async def test_adapter_streams_index_prices() -> None:
    replay, port = Replay(), free_port()
    async with websockets.serve(replay.handler, "127.0.0.1", port):
        oracle = BackpackOracle(f"ws://127.0.0.1:{port}")
        prices = oracle.prices()
        got = [await asyncio.wait_for(anext(prices), WAIT) for _ in range(3)]
        await prices.aclose()
    assert got == [("SOL-PERP", "241.37", 1732233600123),
                   ("BTC-PERP", "98312.4", 1732233600300),
                   ("SOL-PERP", "241.4", 1732233602000)]
    assert replay.subscriptions == [["ticker.BTC_USDC", "ticker.ETH_USDC", "ticker.SOL_USDC"]]


async def test_feed_with_a_real_oracle(redis_url: str, tmp_path: Path) -> None:
    replay, port = Replay(), free_port()
    settings, signer = make_settings(tmp_path, redis_url)
    async with websockets.serve(replay.handler, "127.0.0.1", port):
        ws_port = free_port()
        node = await start_node(settings, ws_port, uuid.uuid4().hex, oracle="backpack",
                                backpack_url=f"ws://127.0.0.1:{port}")
        client = await WsClient.connect(ws_port)
        try:
            await client.call("SUBSCRIBE", ["index@SOL-PERP"])
            index = await client.until(lambda m: m.get("stream") == "index@SOL-PERP"
                                       and m["data"]["indexPrice"] == "241.4")
            assert index["data"]["market"] == "SOL-PERP"
            async with user_channel(f"127.0.0.1:{node.service.port}") as ch:
                admin = (("authorization", f"Bearer {signer.issue('root', admin=True)[0]}"),)
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await feed_pb2_grpc.FeedStub(ch).SetIndexPrice(
                        feed_pb2.SetIndexPriceRequest(market="SOL-PERP", price="1"),
                        metadata=admin, timeout=WAIT)
            assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        finally:
            await client.close()
            await node.stop()
