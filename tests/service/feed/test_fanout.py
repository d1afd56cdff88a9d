"""Slow consumers and fan-out across feed replicas through Redis."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time

import grpc
import pytest
from feed_clients import WAIT, Feed, WsClient, apply_depth, start_node
from trademesh.v1 import feed_pb2, feed_pb2_grpc

from mesh_runtime.ports import free_port
from tests.tls import user_channel

NOW = time.time_ns() // 1_000_000


class NeverReading:
    """A raw-socket WebSocket client that reads the handshake answer and then nothing."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int, path: str = "/ws") -> NeverReading:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=2**16)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
        assert head.startswith(b"HTTP/1.1 101")
        reader._transport.pause_reading()  # type: ignore[attr-defined]
        return cls(reader, writer)

    def send_text(self, text: str) -> None:
        payload, mask = text.encode(), os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert len(payload) < 126
        self.writer.write(bytes([0x81, 0x80 | len(payload)]) + mask + masked)

    async def read_close_reason(self) -> str:
        """Resumes reading and returns the close frame's reason (skipping data frames)."""
        self.reader._transport.resume_reading()  # type: ignore[attr-defined]
        while True:
            first, second = await asyncio.wait_for(self.reader.readexactly(2), WAIT)
            length = second & 0x7F
            if length == 126:
                length = int.from_bytes(await self.reader.readexactly(2), "big")
            elif length == 127:
                length = int.from_bytes(await self.reader.readexactly(8), "big")
            body = await asyncio.wait_for(self.reader.readexactly(length), WAIT)
            if first & 0x0F == 0x8:
                return body[2:].decode()

    def close(self) -> None:
        self.writer.close()


async def test_a_never_reading_client_delays_nobody_and_is_disconnected(feed: Feed) -> None:
    engine = feed.engine()
    fast = await WsClient.connect(feed.ws_port)
    slow = await NeverReading.connect(feed.ws_port)
    try:
        slow.send_text('{"method":"SUBSCRIBE","params":["trades@BTC-PERP"],"id":1}')
        await fast.call("SUBSCRIBE", ["trades@BTC-PERP"])
        bridge, trade_id, received = feed.node.bridge, 0, 0
        for _ in range(200):  # rounds of 500 trades until the slow client is cut off
            for _ in range(500):
                trade_id += 1
                engine.trade("BTC-PERP", trade_id, "100", "1", NOW)
            for _ in range(500):  # the fast client gets every trade, in order
                data = await fast.stream("trades@BTC-PERP")
                received += 1
                assert data.get("tradeId") == str(received), data
            if bridge.slow_disconnects:
                break
        assert bridge.slow_disconnects == 1 and received == trade_id
        assert "SLOW_CONSUMER" in await slow.read_close_reason()
    finally:
        await fast.close()
        slow.close()
        await engine.close()


async def test_a_never_reading_batched_client_delays_nobody_and_is_disconnected(
        feed: Feed) -> None:
    """The pacer skips a batched client whose socket is full; the others (sharing one
    rendered frame per tick) still get every trade in order, and the stuck one is cut off
    with SLOW_CONSUMER once its outbox overflows."""
    engine = feed.engine()
    fast = [await WsClient.connect(feed.ws_port, batch=True) for _ in range(3)]
    slow = await NeverReading.connect(feed.ws_port, "/ws?batch=1")
    try:
        slow.send_text('{"method":"SUBSCRIBE","params":["trades@BTC-PERP"],"id":1}')
        for client in fast:
            await client.call("SUBSCRIBE", ["trades@BTC-PERP"])
        bridge, trade_id, received = feed.node.bridge, 0, [0] * len(fast)
        assert bridge.paced == len(fast) + 1  # all written by the shared pacer
        for _ in range(200):  # rounds of 500 trades until the slow client is cut off
            for _ in range(500):
                trade_id += 1
                engine.trade("BTC-PERP", trade_id, "100", "1", NOW)
            for i, client in enumerate(fast):
                for _ in range(500):
                    data = await client.stream("trades@BTC-PERP")
                    received[i] += 1
                    assert data.get("tradeId") == str(received[i]), data
            if bridge.slow_disconnects:
                break
        assert bridge.slow_disconnects == 1 and received == [trade_id] * len(fast)
        assert "SLOW_CONSUMER" in await slow.read_close_reason()
    finally:
        for client in fast:
            await client.close()
        slow.close()
        await engine.close()


async def test_two_replicas_serve_the_same_streams(feed: Feed) -> None:
    port = free_port()
    other = await start_node(feed.settings, port, feed.channel)
    engine = feed.engine()  # attached to the first replica only
    a, b = await WsClient.connect(feed.ws_port, batch=True), await WsClient.connect(port)
    try:
        engine.snapshot("ETH-PERP", 1, [("3000", "1")], [("3001", "1")])
        for client in (a, b):
            await client.call("SUBSCRIBE", ["trades@ETH-PERP", "depth@ETH-PERP"])
        engine.diff("ETH-PERP", 2, [("2999", "4")], [])
        engine.snapshot("ETH-PERP", 2, [("3000", "1"), ("2999", "4")], [("3001", "1")])
        for i in range(1, 21):
            engine.trade("ETH-PERP", i, f"3000.{i}", "0.5", NOW)
            engine.diff("ETH-PERP", 2 + i, [("2999", str(4 + i))], [])
        streams = []
        for client in (a, b):
            trades, book = [], {"bids": {}, "asks": {}}
            while len(trades) < 20 or book["bids"].get("2999") != "24":
                message = await client.until(lambda m: "stream" in m)
                if message["stream"] == "trades@ETH-PERP":
                    trades.append(message["data"]["price"])
                else:
                    apply_depth(book, message["data"])
            streams.append((trades, book))
        assert streams[0] == streams[1]
        assert streams[0][0] == [f"3000.{i}" for i in range(1, 21)]
    finally:
        await a.close()
        await b.close()
        await engine.close()
        await other.stop()



async def test_a_never_reading_grpc_subscriber_delays_nobody_and_is_cut_off(
        feed: Feed) -> None:
    """gRPC ``Subscribe`` has the same bounded outbox: a subscriber that stops reading
    (HTTP/2 flow control then stops the server's writes) delays no one and, once its outbox
    overflows, its stream ends with RESOURCE_EXHAUSTED naming SLOW_CONSUMER."""
    engine = feed.engine()
    listeners = feed.node.hub._listeners  # who the hub pushes trades@BTC-PERP to
    async with user_channel(feed.address) as channel:
        stub = feed_pb2_grpc.FeedStub(channel)
        request = feed_pb2.SubscribeRequest(channels=["trades@BTC-PERP"])
        fast, slow = stub.Subscribe(request), stub.Subscribe(request)
        try:
            for _ in range(500):  # bounded: until both are subscribed
                if len(listeners.get("trades@BTC-PERP", ())) == 2:
                    break
                await asyncio.sleep(0.01)
            trade_id = received = 0
            for _ in range(400):  # rounds of 500 trades until the slow one is dropped
                for _ in range(500):
                    trade_id += 1
                    engine.trade("BTC-PERP", trade_id, "100", "1", NOW)
                for _ in range(500):  # the fast one gets every trade, in order
                    reply = await asyncio.wait_for(fast.read(), WAIT)
                    received += 1
                    assert reply.trade.trade_id == str(received)
                if len(listeners["trades@BTC-PERP"]) == 1:
                    break
            assert len(listeners["trades@BTC-PERP"]) == 1 and received == trade_id
            with pytest.raises(grpc.aio.AioRpcError) as cut:
                for _ in range(10 * trade_id):  # what was in flight, then the end
                    await asyncio.wait_for(slow.read(), WAIT)
            assert cut.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "SLOW_CONSUMER" in (cut.value.details() or "")
        finally:
            fast.cancel()
            slow.cancel()
            await engine.close()
