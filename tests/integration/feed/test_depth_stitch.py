"""One depth sequence for REST and WebSocket: a ``GetDepth`` snapshot taken mid-stream,
with the ``depth@M`` diffs of a higher sequence applied on top, is the WebSocket book (the
procedure the big venues document), on a real engine, feed and Redis."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from feed_clients import WAIT, WsClient, apply_depth
from mesh_harness import Mesh
from test_engine_to_clients import M, fund, random_burst
from trademesh.v1 import engine_pb2

Book = dict[str, dict[str, str]]


def rest_book(reply: engine_pb2.GetDepthResponse) -> Book:
    return {side: {lv.values[0].string_value: lv.values[1].string_value
                   for lv in getattr(reply, side)} for side in ("bids", "asks")}


def stitch(snapshot: engine_pb2.GetDepthResponse, messages: list[dict[str, Any]]) -> Book:
    """The REST snapshot, then every diff above its sequence, in order (consecutive)."""
    book, at = rest_book(snapshot), snapshot.sequence
    for data in messages:
        if data["type"] == "snapshot" or int(data["sequence"]) <= at:
            continue
        assert int(data["sequence"]) == at + 1, (at, data["sequence"])
        apply_depth(book, data)
        at += 1
    return book


async def test_rest_snapshot_plus_ws_diffs_is_the_ws_book(mesh: Mesh) -> None:
    await fund(mesh, "alice", "bob")
    rng = random.Random(5)
    await random_burst(mesh, rng, 40)
    client = await WsClient.connect(mesh.ws_port)
    try:
        await client.call("SUBSCRIBE", [f"depth@{M}"])
        burst = asyncio.create_task(random_burst(mesh, rng, 120))
        await asyncio.sleep(0.2)  # mid-burst: diffs before and after the snapshot
        snapshot = await mesh.stub.GetDepth(engine_pb2.GetDepthRequest(market=M, limit=100),
                                            timeout=WAIT)
        await burst
        await random_burst(mesh, rng, 40)  # surely after the snapshot
        messages: list[dict[str, Any]] = []
        ws_book: Book = {}
        for _ in range(100_000):
            if ws_book and ws_book == mesh.engine_book(M):
                break
            data = await client.stream(f"depth@{M}")
            messages.append(data)
            apply_depth(ws_book, data)
        assert ws_book == mesh.engine_book(M)
        first_snapshot = int(messages[0]["sequence"])
        assert first_snapshot <= snapshot.sequence, "the REST snapshot came after the WS one"
        assert int(messages[-1]["sequence"]) > snapshot.sequence
        assert stitch(snapshot, messages) == ws_book
        assert ws_book["bids"] and ws_book["asks"]
        later = await mesh.stub.GetDepth(engine_pb2.GetDepthRequest(market=M, limit=100),
                                         timeout=WAIT)
        assert later.sequence == int(messages[-1]["sequence"])  # one counter, in step
        assert rest_book(later) == ws_book
    finally:
        await client.close()
