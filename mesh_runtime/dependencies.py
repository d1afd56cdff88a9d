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


class RedisProbe:
    """PING over one kept connection, reopened after a failure (a client per probe opened
    a connection every second, and read redis-py's version from its metadata each time)."""

    def __init__(self, url: str, timeout: float = 1.0) -> None:
        self._client = aioredis.Redis.from_url(url, socket_connect_timeout=timeout,
                                               socket_timeout=timeout, max_connections=2)

    async def __call__(self) -> bool:
        try:
            return bool(await self._client.ping())
        except (OSError, aioredis.RedisError):
            return False

    async def aclose(self) -> None:
        await self._client.aclose()


class PostgresProbe:
    """``SELECT 1`` over one kept connection, reopened after a failure (a connection per
    probe cost PostgreSQL a backend process every second)."""

    def __init__(self, url: str, timeout: float = 1.0) -> None:
        self._url, self._timeout = url, timeout
        self._conn: asyncpg.Connection | None = None

    async def __call__(self) -> bool:
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(self._url, timeout=self._timeout)
            return bool(await self._conn.fetchval("SELECT 1", timeout=self._timeout) == 1)
        except Exception as err:  # asyncpg's errors share no base: any failure is "down"
            log.debug("postgres probe failed: %r", err)
            await self.aclose()  # whatever state it is in, the next probe starts afresh
            return False

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()


def redis_probe(url: str, timeout: float = 1.0) -> RedisProbe:
    return RedisProbe(url, timeout)


def postgres_probe(url: str, timeout: float = 1.0) -> PostgresProbe:
    return PostgresProbe(url, timeout)


async def watch_health(service: GrpcService, probes: Sequence[tuple[str, Probe]],
                       interval: float = 1.0) -> None:
    """Sets ``service`` SERVING while every probe passes; runs until cancelled, then closes
    the probes that keep a connection."""
    last: bool | None = None
    try:
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
    finally:
        for _, probe in probes:
            close = getattr(probe, "aclose", None)
            if close is not None:
                await close()
