"""Probes of the servers a service depends on, and a loop that turns them into health.

A service reports SERVING only while every dependency answers; the gateway's ``/readyz``
and ``trademesh up`` read that through the standard health service.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
import redis.asyncio as aioredis

from mesh_runtime.serving import GrpcService

log = logging.getLogger("trademesh.dependencies")

Probe = Callable[[], Awaitable[bool]]


def redis_probe(url: str, timeout: float = 1.0) -> Probe:
    async def probe() -> bool:
        client = aioredis.Redis.from_url(url, socket_connect_timeout=timeout,
                                         socket_timeout=timeout)
        try:
            return bool(await client.ping())
        except (OSError, aioredis.RedisError):
            return False
        finally:
            await client.aclose()

    return probe


def postgres_probe(url: str, timeout: float = 1.0) -> Probe:
    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(url, timeout=timeout)
        except (TimeoutError, OSError, asyncpg.PostgresError):
            return False
        try:
            return bool(await conn.fetchval("SELECT 1", timeout=timeout) == 1)
        finally:
            await conn.close(timeout=timeout)

    return probe


async def watch_health(service: GrpcService, probes: Sequence[tuple[str, Probe]],
                       interval: float = 1.0) -> None:
    """Sets ``service`` SERVING while every probe passes; runs until cancelled."""
    last: bool | None = None
    while True:
        results = await asyncio.gather(*(probe() for _, probe in probes))
        healthy = all(results)
        if healthy != last:
            down = [name for (name, _), ok in zip(probes, results, strict=True) if not ok]
            log.info("%s %s", service.name,
                     "serving" if healthy else f"not serving: waiting for {', '.join(down)}")
            await service.set_serving(healthy)
            last = healthy
        await asyncio.sleep(interval)
