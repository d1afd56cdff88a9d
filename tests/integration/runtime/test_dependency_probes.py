"""The health probes keep one connection to the server they watch (not one per probe),
tell a dead server from a live one, and reconnect after the server drops them."""

from __future__ import annotations

import asyncpg
import redis.asyncio as aioredis

from mesh_runtime.dependencies import PostgresProbe, RedisProbe
from mesh_runtime.ports import free_port

PROBES = 5


async def _probe_clients(admin: aioredis.Redis) -> list[dict[str, str]]:
    return [c for c in await admin.client_list() if c.get("cmd") == "ping"]


async def test_redis_probe_keeps_one_connection_and_reconnects(redis_url: str) -> None:
    probe = RedisProbe(redis_url)
    admin = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        for _ in range(PROBES):
            assert await probe()
        clients = await _probe_clients(admin)
        assert len(clients) == 1, clients  # one connection for all five
        await admin.client_kill_filter(_id=clients[0]["id"])
        results = [await probe() for _ in range(2)]
        assert results[-1], results  # the next probe (at the latest) reconnects
        assert [c["id"] for c in await _probe_clients(admin)] != [clients[0]["id"]]
    finally:
        await probe.aclose()
        await admin.aclose()


async def test_redis_probe_of_a_dead_server_fails() -> None:
    probe = RedisProbe(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    try:
        assert not await probe()
    finally:
        await probe.aclose()


async def test_postgres_probe_keeps_one_connection_and_reconnects(postgres_url: str) -> None:
    probe = PostgresProbe(postgres_url)
    admin = await asyncpg.connect(postgres_url)
    mine = "SELECT pid FROM pg_stat_activity WHERE query = 'SELECT 1' AND pid <> pg_backend_pid()"
    try:
        for _ in range(PROBES):
            assert await probe()
        pids = [row["pid"] for row in await admin.fetch(mine)]
        assert len(pids) == 1, pids
        await admin.execute("SELECT pg_terminate_backend($1)", pids[0])
        results = [await probe() for _ in range(2)]
        assert results[-1], results
        assert [row["pid"] for row in await admin.fetch(mine)] not in ([], pids)
    finally:
        await probe.aclose()
        await admin.close()


async def test_postgres_probe_of_a_dead_server_fails() -> None:
    probe = PostgresProbe(f"postgresql://trademesh@127.0.0.1:{free_port()}/x", timeout=0.5)
    try:
        assert not await probe()
        assert not await probe()
    finally:
        await probe.aclose()
