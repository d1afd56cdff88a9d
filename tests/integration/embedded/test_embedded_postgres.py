"""Embedded PostgreSQL: a real server in a tmp data dir on a free loopback port."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from embedded_helpers import gone, listening, traversable_tmp

from mesh_runtime.embedded_postgres import EmbeddedPostgres, EmbeddedServerError
from mesh_runtime.ports import free_port


@pytest.fixture
def data_root() -> Iterator[Path]:
    with traversable_tmp() as path:
        yield path


@pytest.fixture
async def servers() -> AsyncIterator[list[EmbeddedPostgres]]:
    """Collects every server a test starts and stops them all afterwards."""
    started: list[EmbeddedPostgres] = []
    yield started
    for server in started:
        await server.stop()


async def _start(servers: list[EmbeddedPostgres], data_dir: Path, port: int) -> EmbeddedPostgres:
    server = EmbeddedPostgres(data_dir, port, start_timeout=60)
    servers.append(server)
    await server.start()
    return server


async def _select_one(url: str) -> int:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        value: int = await conn.fetchval("SELECT 1")
        return value
    finally:
        await conn.close()


async def test_start_query_stop_leaves_nothing(
    data_root: Path, servers: list[EmbeddedPostgres]
) -> None:
    port = free_port()
    server = await _start(servers, data_root / "data", port)
    assert server.public_url == f"postgresql://postgres@127.0.0.1:{port}/trademesh"
    assert await _select_one(server.url) == 1
    assert server.child is not None and server.child.pid is not None
    pid = server.child.pid
    await server.stop()
    assert server.child.returncode == 0
    assert gone(pid)
    assert not listening(port)
    assert not (data_root / "data" / "postgres" / "postmaster.pid").exists()


async def test_restart_on_same_dir_keeps_data(
    data_root: Path, servers: list[EmbeddedPostgres]
) -> None:
    port = free_port()
    first = await _start(servers, data_root / "data", port)
    conn = await asyncpg.connect(first.url, timeout=10)
    await conn.execute("CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)")
    await conn.close()
    await first.stop()
    second = await _start(servers, data_root / "data", port)
    conn = await asyncpg.connect(second.url, timeout=10)
    try:
        assert await conn.fetchval("SELECT v FROM kept") == 7
    finally:
        await conn.close()


async def test_starts_again_after_sigkill(
    data_root: Path, servers: list[EmbeddedPostgres]
) -> None:
    port = free_port()
    first = await _start(servers, data_root / "data", port)
    assert first.child is not None and first.child.pid is not None
    os.kill(first.child.pid, signal.SIGKILL)
    await asyncio.wait_for(first.child.wait(), 10)
    assert (data_root / "data" / "postgres" / "postmaster.pid").exists()  # stale
    second = await _start(servers, data_root / "data", free_port())
    assert await _select_one(second.url) == 1


async def test_second_server_on_a_live_dir_is_refused(
    data_root: Path, servers: list[EmbeddedPostgres]
) -> None:
    await _start(servers, data_root / "data", free_port())
    intruder = EmbeddedPostgres(data_root / "data", free_port(), stop_timeout=0.5)
    with pytest.raises(EmbeddedServerError, match="already running"):
        await intruder.start()


async def test_a_taken_port_fails_with_the_server_log(data_root: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = EmbeddedPostgres(data_root / "data", taken.getsockname()[1])
        try:
            with pytest.raises(EmbeddedServerError, match="exited during startup") as err:
                await server.start()
        finally:
            await server.stop()
    assert "could not bind" in str(err.value) or "in use" in str(err.value)
