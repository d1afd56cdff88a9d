"""A feed replica in-process on real gRPC, WebSocket and Redis, fed by a fake engine."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from feed_clients import Feed, make_settings, start_node

from mesh_runtime.ports import free_port


@pytest.fixture
async def feed(redis_url: str, tmp_path: Path) -> AsyncIterator[Feed]:
    settings, signer = make_settings(tmp_path, redis_url)
    port, channel = free_port(), f"test-feed-{uuid.uuid4().hex}"
    node = await start_node(settings, port, channel, oracle="simulated",
                            oracle_interval_seconds=0.05)
    try:
        yield Feed(node, settings, signer, port, channel)
    finally:
        await node.stop()
