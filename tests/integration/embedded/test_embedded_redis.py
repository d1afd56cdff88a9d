"""Embedded Redis: a real server in a tmp data dir on a free loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from embedded_helpers import gone, listening, traversable_tmp

from mesh_runtime.embedded_postgres import EmbeddedServerError
from mesh_runtime.embedded_redis import EmbeddedRedis
from mesh_runtime.ports import free_port


@pytest.fixture
def data_root() -> Iterator[Path]:
    with traversable_tmp() as path:
        yield path


@pytest.fixture
async def servers() -> AsyncIterator[list[EmbeddedRedis]]:
    started: list[EmbeddedRedis] = []
    yield started
    for server in started:
        await server.stop()


async def _start(servers: list[EmbeddedRedis], data_dir: Path, port: int) -> EmbeddedRedis:
    server = EmbeddedRedis(data_dir, port)
    servers.append(server)
    await server.start()
    return server


async def test_ping_and_durable_config(data_root: Path, servers: list[EmbeddedRedis]) -> None:
    port = free_port()
    server = await _start(servers, data_root / "data", port)
    client = aioredis.Redis.from_url(server.url, decode_responses=True)
    try:
        assert await client.ping()
        assert await client.config_get("appendfsync") == {"appendfsync": "always"}
        assert await client.config_get("appendonly") == {"appendonly": "yes"}
        assert await client.config_get("protected-mode") == {"protected-mode": "yes"}
        assert await client.config_get("bind") == {"bind": "127.0.0.1"}
        assert await client.config_get("dir") == {"dir": str(data_root / "data" / "redis")}
    finally:
        await client.aclose()
    assert server.child is not None and server.child.pid is not None
    pid = server.child.pid
    await server.stop()
    assert gone(pid)
    assert not listening(port)


async def test_restart_keeps_data(data_root: Path, servers: list[EmbeddedRedis]) -> None:
    port = free_port()
    first = await _start(servers, data_root / "data", port)
    client = aioredis.Redis.from_url(first.url, decode_responses=True)
    await client.set("journal:last", "42")
    await client.aclose()
    await first.stop()
    second = await _start(servers, data_root / "data", port)
    client = aioredis.Redis.from_url(second.url, decode_responses=True)
    try:
        assert await client.get("journal:last") == "42"
    finally:
        await client.aclose()


async def test_everysec_override(data_root: Path, servers: list[EmbeddedRedis]) -> None:
    server = EmbeddedRedis(data_root / "data", free_port(), appendfsync="everysec")
    servers.append(server)
    await server.start()
    client = aioredis.Redis.from_url(server.url, decode_responses=True)
    try:
        assert await client.config_get("appendfsync") == {"appendfsync": "everysec"}
    finally:
        await client.aclose()


def test_unknown_fsync_policy_is_refused(data_root: Path) -> None:
    with pytest.raises(EmbeddedServerError, match="appendfsync"):
        EmbeddedRedis(data_root, 1, appendfsync="sometimes")
