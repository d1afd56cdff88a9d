"""Fan-out across feed replicas through one Redis Stream: every replica gets every item, in
one order, and a replica whose connection drops resumes where it stopped.

The replica the engine is connected to publishes what it receives (and each replica's
oracle its prices): one stream entry per publish, carrying every item queued since the
last one, in order. Every replica, the publisher included, reads the stream and applies
each entry's items to its hub, so all replicas hold the same books and serve the same
streams.

Invariants:

* A replica applies the entries in stream order, each once. It remembers the id of the
  last entry it applied and, after any connection failure, reads on from that id: nothing
  published meanwhile is missed, as long as it is back within the replay window (the
  stream keeps about ``window`` newest entries; ``XADD ... MAXLEN ~``).
* A replica that comes back later than that finds entries it never read trimmed away: it
  logs and counts the gap (``trademesh_feed_relay_gaps_total``) and goes on from the
  oldest entry kept; depth channels recover at the engine's next snapshot, the trades and
  user events of the gap are lost to that replica's clients.
* A publish that failed is retried with the same items, in order, before anything newer.
  If the failed attempt had in fact been written, the entry exists twice: entries carry
  their publisher's id and batch number, and a replica skips a batch number it has
  already applied from that publisher.
* A replica starts reading at the stream's end (what it finds there is history its hub
  never had a snapshot for).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import redis.asyncio as aioredis

from feed_svc import metrics
from feed_svc.codec import Batch, PublishRequest

log = logging.getLogger("trademesh.feed.relay")
CHANNEL = "trademesh:feed:market-data"
WINDOW = 50_000  # entries kept for replicas that reconnect (one entry per publish)
READ_COUNT = 500  # entries per XREAD
BLOCK_MS = 1_000
PUBLISHERS_REMEMBERED = 1_000


class Relay:
    def __init__(self, redis_dsn: str, apply: Callable[[PublishRequest], None], *,
                 channel: str = CHANNEL, max_pending: int = 100_000,
                 window: int = WINDOW) -> None:
        self._dsn, self._apply, self._stream = redis_dsn, apply, channel
        self._pending: list[PublishRequest] = []
        self._max_pending = max_pending
        self._window = window
        self._wakeup = asyncio.Event()
        self.subscribed = asyncio.Event()
        self.dropped = 0
        self.id = uuid.uuid4().hex[:12]
        self._published = 0  # batch number of the last entry written
        self._unsent: list[PublishRequest] | None = None  # a batch whose write failed
        self._last_id = b""  # the last entry applied; empty until the first read
        self._applied: dict[bytes, int] = {}  # publisher id -> last batch number applied
        self.connections = 0  # subscriber connections opened (1 + reconnections)

    @property
    def subscriber_name(self) -> str:
        """The Redis client name of this replica's reading connection."""
        return f"trademesh-feed-{self.id}-read"

    def publish(self, item: PublishRequest) -> None:
        """Queues ``item`` for every replica; never waits."""
        if len(self._pending) >= self._max_pending:
            self._pending.clear()
            self.dropped += self._max_pending
            metrics.RELAY_DROPPED.inc(self._max_pending)
            log.error("relay queue overflow: Redis is not keeping up; items dropped")
        self._pending.append(item)
        self._wakeup.set()

    async def run(self) -> None:
        """Publishes and reads until cancelled, reconnecting with backoff."""
        await asyncio.gather(self._retrying(self._publish_loop, "write"),
                             self._retrying(self._read_loop, "read"))

    async def _retrying(self, loop: Callable[[aioredis.Redis], Coroutine[Any, Any, None]],
                        role: str) -> None:
        delay = 0.05
        while True:
            client = aioredis.Redis.from_url(
                self._dsn, client_name=f"trademesh-feed-{self.id}-{role}")
            try:
                await loop(client)
            except (OSError, aioredis.RedisError) as err:
                log.warning("relay: redis %s failed (%s); retrying in %.2fs", role, err, delay)
            finally:
                await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _publish_loop(self, client: aioredis.Redis) -> None:
        while True:
            if self._unsent is None:
                while not self._pending:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                self._unsent, self._pending = self._pending, []
            # a failed write leaves _unsent: the same batch, same number, is written next
            fields = {"p": self.id, "n": self._published + 1,
                      "b": Batch(items=self._unsent).SerializeToString()}
            await client.xadd(self._stream, fields,  # type: ignore[arg-type]
                              maxlen=self._window, approximate=True)
            self._published += 1
            self._unsent = None

    async def _read_loop(self, client: aioredis.Redis) -> None:
        self.connections += 1
        if self.connections > 1:
            metrics.RELAY_RECONNECTS.inc()
        if not self._last_id:
            newest: list[Any] = await client.xrevrange(self._stream, count=1) or []
            self._last_id = bytes(newest[0][0]) if newest else b"0-0"
        else:
            await self._check_gap(client)
        self.subscribed.set()
        try:
            while True:
                reply: Any = await client.xread(
                    {self._stream: self._last_id}, count=READ_COUNT, block=BLOCK_MS) or []
                for _, entries in reply:
                    for entry_id, fields in entries:
                        self._entry(fields)
                        self._last_id = bytes(entry_id)
        finally:
            self.subscribed.clear()

    async def _check_gap(self, client: aioredis.Redis) -> None:
        """After a reconnection: were entries after the last one applied trimmed away?"""
        try:
            info: dict[Any, Any] = await client.xinfo_stream(self._stream)
        except aioredis.ResponseError:  # no stream (yet, or any more): nothing to miss
            return
        deleted = info.get("max-deleted-entry-id")
        if deleted is not None and _id(deleted) > _id(self._last_id):
            metrics.RELAY_GAPS.inc()
            log.error("relay: entries after %s were trimmed before this replica read them "
                      "(gone up to %s); its clients miss them", self._last_id.decode(),
                      bytes(deleted).decode() if isinstance(deleted, bytes) else deleted)

    def _entry(self, fields: dict[bytes, bytes]) -> None:
        publisher, number = fields[b"p"], int(fields[b"n"])
        if self._applied.get(publisher, 0) >= number:
            metrics.RELAY_DUPLICATES.inc()
            return  # a retried publish that had been written the first time too
        self._applied.pop(publisher, None)
        self._applied[publisher] = number  # newest last: the oldest are forgotten first
        if len(self._applied) > PUBLISHERS_REMEMBERED:
            del self._applied[next(iter(self._applied))]
        items = Batch.FromString(fields[b"b"]).items
        metrics.RELAY_ITEMS.inc(len(items))
        for item in items:
            self._apply(item)


def _id(entry_id: bytes | str) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)
