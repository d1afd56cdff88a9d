"""Fan-out across feed replicas through Redis pub/sub.

The replica the engine is connected to publishes what it receives (and each replica's
oracle its prices) to one Redis channel; every replica, the publisher included, applies
what it reads from that channel to its hub. So all replicas hold the same books and
serve the same streams. Items are batched: one Redis message carries every item queued
since the last publish, in order.

Redis pub/sub is at-most-once: a replica that loses its subscription may miss items. A
missed depth diff shows up as a gap (the hub then waits for the engine's next periodic
snapshot); the replica logs each resubscription.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import redis.asyncio as aioredis

from feed_svc.codec import Batch, PublishRequest

log = logging.getLogger("trademesh.feed.relay")
CHANNEL = "trademesh:feed:market-data"


class Relay:
    def __init__(self, redis_dsn: str, apply: Callable[[PublishRequest], None], *,
                 channel: str = CHANNEL, max_pending: int = 100_000) -> None:
        self._dsn, self._apply, self._channel = redis_dsn, apply, channel
        self._pending: list[PublishRequest] = []
        self._max_pending = max_pending
        self._wakeup = asyncio.Event()
        self.subscribed = asyncio.Event()
        self.dropped = 0

    def publish(self, item: PublishRequest) -> None:
        """Queues ``item`` for every replica; never waits."""
        if len(self._pending) >= self._max_pending:
            self._pending.clear()
            self.dropped += self._max_pending
            log.error("relay queue overflow: Redis is not keeping up; items dropped")
        self._pending.append(item)
        self._wakeup.set()

    async def run(self) -> None:
        """Publishes and subscribes until cancelled, reconnecting with backoff."""
        await asyncio.gather(self._retrying(self._publish_loop),
                             self._retrying(self._subscribe_loop))

    async def _retrying(self, loop: Callable[[aioredis.Redis], Coroutine[Any, Any, None]]) -> None:
        delay = 0.05
        while True:
            client = aioredis.Redis.from_url(self._dsn)
            try:
                await loop(client)
            except (OSError, aioredis.RedisError) as err:
                log.warning("relay: redis failed (%s); retrying in %.2fs", err, delay)
            finally:
                await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _publish_loop(self, client: aioredis.Redis) -> None:
        while True:
            while not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            items, self._pending = self._pending, []
            try:
                await client.publish(self._channel, Batch(items=items).SerializeToString())
            except BaseException:
                self._pending[:0] = items  # keep the order for the next attempt
                raise

    async def _subscribe_loop(self, client: aioredis.Redis) -> None:
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(self._channel)
            self.subscribed.set()
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                   timeout=1.0)
                if message is None or message["type"] != "message":
                    continue
                for item in Batch.FromString(message["data"]).items:
                    self._apply(item)
        finally:
            self.subscribed.clear()
            await pubsub.aclose()  # type: ignore[no-untyped-call]
