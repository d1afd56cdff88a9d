"""The per-address cap on WebSocket connections, with real ``websockets`` clients: past it
a connection is refused before the upgrade (HTTP 429, TOO_MANY_CONNECTIONS); a closed one
gives its place back; X-Forwarded-For names the address only from a trusted proxy."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import websockets
from feed_clients import WAIT, make_settings, start_node
from websockets.exceptions import InvalidStatus

from feed_svc.app import FeedNode
from mesh_runtime.ports import free_port

pytestmark = pytest.mark.timeout(60)
Open = Callable[..., Awaitable[websockets.ClientConnection]]


@pytest.fixture
async def cap_feed(redis_url: str, tmp_path: Path
                   ) -> AsyncIterator[Callable[..., Awaitable[tuple[FeedNode, Open]]]]:
    """Starts a feed with the given config; ``open(forwarded_for=None)`` connects a client
    (closed at teardown)."""
    nodes: list[FeedNode] = []
    async with AsyncExitStack() as clients:
        async def start(**config: Any) -> tuple[FeedNode, Open]:
            settings, _ = make_settings(tmp_path, redis_url)
            port = free_port()
            node = await start_node(settings, port, f"test-cap-{uuid.uuid4().hex}", **config)
            nodes.append(node)

            async def open_client(forwarded_for: str | None = None
                                  ) -> websockets.ClientConnection:
                headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else None
                ws = await asyncio.wait_for(websockets.connect(
                    f"ws://127.0.0.1:{port}/ws", additional_headers=headers), WAIT)
                return await clients.enter_async_context(ws)

            return node, open_client

        try:
            yield start
        finally:
            await clients.aclose()
            for node in nodes:
                await node.stop()


async def refused(open_client: Open, forwarded_for: str | None = None) -> dict[str, Any]:
    with pytest.raises(InvalidStatus) as caught:
        await open_client(forwarded_for)
    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "1"
    body: dict[str, Any] = json.loads(caught.value.response.body or b"{}")
    return body


async def pings(ws: websockets.ClientConnection) -> bool:
    await ws.send(json.dumps({"method": "PING", "id": 1}))
    reply = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
    return bool(reply == {"result": "PONG", "id": 1})


async def test_past_the_cap_a_connection_is_refused_until_one_closes(cap_feed: Any) -> None:
    node, open_client = await cap_feed(max_connections_per_address=3)
    clients = [await open_client() for _ in range(3)]
    assert all([await pings(ws) for ws in clients])
    body = await refused(open_client)
    assert body["error"]["code"] == "TOO_MANY_CONNECTIONS"
    assert "at most 3" in body["error"]["message"]
    assert await refused(open_client, "198.51.100.1")  # a header picks no other address
    await clients[0].close()
    for _ in range(500):  # bounded: the server lets go when it sees the close
        if node.bridge.cap.open["127.0.0.1"] < 3:
            break
        await asyncio.sleep(0.01)
    assert await pings(await open_client())
    assert all([await pings(ws) for ws in clients[1:]])  # the others never noticed


async def test_behind_a_trusted_proxy_each_client_has_its_own_cap(cap_feed: Any) -> None:
    node, open_client = await cap_feed(max_connections_per_address=2,
                                       trusted_proxies="127.0.0.1")
    for _ in range(2):
        await open_client("6.6.6.6, 198.51.100.1")  # what the client wrote is not believed
    assert await refused(open_client, "198.51.100.1")
    assert await pings(await open_client("198.51.100.2"))
    assert dict(node.bridge.cap.open) == {"198.51.100.1": 2, "198.51.100.2": 1}
