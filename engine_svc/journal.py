"""The command journal and the event outbox: two Redis Streams, written together.

Invariants:

* Command ``n`` is stored at stream id ``n-0`` and event ``m`` at ``m-0``: Redis refuses an
  id that is not above the stream's top, so a duplicate write or a second (stale) engine
  writing the same journal fails instead of forking history.
* A batch of commands and the events they produced are appended in one MULTI/EXEC
  pipeline: one round trip per batch (group commit). With ``appendfsync always`` Redis
  answers only after the write is on disk, so an answered append is durable.
* The journal is trimmed only below the newest snapshot (``XTRIM MINID``), never by length.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

JOURNAL_STREAM = "trademesh:journal"
OUTBOX_STREAM = "trademesh:outbox"
READ_CHUNK = 5000


class JournalConflict(RuntimeError):
    """Redis refused a sequence number: another writer or a replayed batch."""


class Journal:
    def __init__(self, client: aioredis.Redis, journal: str = JOURNAL_STREAM,
                 outbox: str = OUTBOX_STREAM) -> None:
        self._redis = client
        self.journal_key = journal
        self.outbox_key = outbox

    async def append(self, commands: Sequence[tuple[int, bytes]],
                     events: Sequence[tuple[int, bytes]]) -> None:
        """Appends commands (seq, body) and events (seq, body) durably, all or none."""
        pipe = self._redis.pipeline(transaction=True)
        for seq, body in commands:
            pipe.xadd(self.journal_key, {"c": body}, id=f"{seq}-0")
        for seq, body in events:
            pipe.xadd(self.outbox_key, {"e": body}, id=f"{seq}-0")
        try:
            await pipe.execute()
        except ResponseError as err:
            if "equal or smaller" in str(err):
                raise JournalConflict(str(err)) from err
            raise

    async def last_command_seq(self) -> int:
        return await self._last_seq(self.journal_key)

    async def last_event_seq(self) -> int:
        return await self._last_seq(self.outbox_key)

    async def _last_seq(self, key: str) -> int:
        info = await self._redis.xinfo_stream(key) if await self._redis.exists(key) else None
        if not info or not info.get("last-generated-id"):
            return 0
        last = info["last-generated-id"]
        return int((last.decode() if isinstance(last, bytes) else last).split("-")[0])

    async def commands_after(self, seq: int) -> AsyncIterator[tuple[int, bytes]]:
        """Journaled commands with sequence above ``seq``, in order."""
        async for item in self._range(self.journal_key, b"c", seq):
            yield item

    async def events_after(self, seq: int) -> AsyncIterator[tuple[int, bytes]]:
        async for item in self._range(self.outbox_key, b"e", seq):
            yield item

    async def _range(self, key: str, field: bytes, after: int) -> AsyncIterator[tuple[int, bytes]]:
        start = f"({after}-0"
        while True:
            chunk: list[Any] = await self._redis.xrange(key, min=start, max="+",
                                                        count=READ_CHUNK) or []
            seq = after
            for entry_id, fields in chunk:
                seq = int(bytes(entry_id).split(b"-")[0])
                yield seq, bytes(fields[field])
            if len(chunk) < READ_CHUNK:
                return
            start = f"({seq}-0"

    async def trim_below(self, snapshot_seq: int) -> None:
        """Drops journal entries at or below ``snapshot_seq`` (covered by a snapshot)."""
        await self._redis.xtrim(self.journal_key, minid=f"{snapshot_seq + 1}-0",
                                approximate=False)

    async def trim_outbox_below(self, committed_seq: int) -> None:
        """Drops outbox events every consumer has committed."""
        await self._redis.xtrim(self.outbox_key, minid=f"{committed_seq + 1}-0",
                                approximate=False)
