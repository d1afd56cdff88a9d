"""The command journal and the event outbox: two Redis Streams, written together.

Invariants:

* One stream entry holds one batch of consecutive records: its id is ``<last seq>-0`` and
  its fields are ``f`` (the first sequence number) and ``r`` (the records, newline-joined;
  JSON records contain no raw newline). Redis refuses an id that is not above the
  stream's top, so a duplicate write or a second (stale) engine writing the same journal
  fails instead of forking history.
* An outbox record may span several sequence numbers (a command's account changes, see
  :mod:`engine_svc.outbox_span`); an entry holding one has the field ``n``: how many
  sequence numbers each record covers, space-separated. Without ``n`` (every journal
  entry, and outbox entries written before spans) each record is one sequence number.
* A batch of commands and the events they produced are appended by one Lua script (atomic
  in Redis, written to the AOF as one MULTI/EXEC block): one round trip per batch (group
  commit), on a connection of its own (:mod:`mesh_runtime.direct_script`). With
  ``appendfsync always`` Redis answers only after the write is on disk, so an answered
  append is durable.
* The journal is trimmed only below the newest snapshot (``XTRIM MINID``), never by length;
  readers skip records at or below the sequence they ask for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from engine_svc.outbox_span import Record, expand_raw, joined, joined_commands
from mesh_runtime.direct_script import Arg, DirectScript

JOURNAL_STREAM = "trademesh:journal"
OUTBOX_STREAM = "trademesh:outbox"
READ_CHUNK = 200
SEPARATOR = b"\n"


# Both entries of a batch, journal first: a refused id (a stale engine, a replayed batch)
# stops the script before the outbox is touched. ARGV: the journal entry's id, first
# sequence, records; the outbox entry's id, first sequence, records, spans; an empty id
# skips that entry, empty spans are left out (every record one sequence number).
_APPEND = """
if ARGV[1] ~= '' then
  redis.call('XADD', KEYS[1], ARGV[1], 'f', ARGV[2], 'r', ARGV[3])
end
if ARGV[4] ~= '' then
  if ARGV[7] ~= '' then
    redis.call('XADD', KEYS[2], ARGV[4], 'f', ARGV[5], 'r', ARGV[6], 'n', ARGV[7])
  else
    redis.call('XADD', KEYS[2], ARGV[4], 'f', ARGV[5], 'r', ARGV[6])
  end
end
return 1
"""


class JournalConflict(RuntimeError):
    """Redis refused a sequence number: another writer or a replayed batch."""


class Journal:
    def __init__(self, client: aioredis.Redis, journal: str = JOURNAL_STREAM,
                 outbox: str = OUTBOX_STREAM) -> None:
        self._redis = client
        self._append = DirectScript(client, _APPEND)
        self.journal_key = journal
        self.outbox_key = outbox

    async def append(self, commands: Sequence[tuple[int, bytes]],
                     events: Sequence[Record]) -> None:
        """Appends consecutive commands (seq, body) and event records (first seq, last seq,
        body) in one script. A refused journal id (:class:`JournalConflict`, fatal) writes
        neither entry."""
        args: list[Arg] = ["", "", "", "", "", "", ""]
        if commands:
            args[0:3] = f"{commands[-1][0]}-0", commands[0][0], joined_commands(commands)
        if events:
            bodies, counts = joined(events)
            args[3:7] = f"{events[-1][1]}-0", events[0][0], bodies, counts or ""
        try:
            await self._append((self.journal_key, self.outbox_key), args)
        except ResponseError as err:
            if "equal or smaller" in str(err):
                raise JournalConflict(str(err)) from err
            raise

    async def last_command_seq(self) -> int:
        return await self._last_seq(self.journal_key)

    async def last_event_seq(self) -> int:
        return await self._last_seq(self.outbox_key)

    async def _last_seq(self, key: str) -> int:
        last: list[Any] = await self._redis.xrevrange(key, count=1) or []
        return int(bytes(last[0][0]).split(b"-")[0]) if last else 0

    async def commands_after(self, seq: int) -> AsyncIterator[tuple[int, bytes]]:
        """Journaled commands with sequence above ``seq``, in order."""
        async for first, _, raw in self.records_after(self.journal_key, seq):
            yield first, raw

    async def events_after(self, seq: int) -> AsyncIterator[tuple[int, bytes]]:
        """Outbox events with sequence above ``seq``, in order, one record per event (spans
        expanded)."""
        async for first, _, raw in self.records_after(self.outbox_key, seq):
            for item in expand_raw(first, raw):
                if item[0] > seq:
                    yield item

    async def records_after(self, key: str, after: int) -> AsyncIterator[Record]:
        """Records (first seq, last seq, body) ending above ``after``, in order."""
        start = f"({after}-0"
        while True:
            chunk: list[Any] = await self._redis.xrange(key, min=start, max="+",
                                                        count=READ_CHUNK) or []
            for entry_id, fields in chunk:
                for record in split_entry(fields):
                    if record[1] > after:
                        yield record
                start = f"({bytes(entry_id).decode()}"
            if len(chunk) < READ_CHUNK:
                return

    async def trim_below(self, snapshot_seq: int) -> None:
        """Drops journal entries wholly at or below ``snapshot_seq`` (covered by a snapshot)."""
        await self._redis.xtrim(self.journal_key, minid=f"{snapshot_seq + 1}-0",
                                approximate=False)

    async def trim_outbox_below(self, committed_seq: int) -> None:
        """Drops outbox entries wholly at or below ``committed_seq``."""
        await self._redis.xtrim(self.outbox_key, minid=f"{committed_seq + 1}-0",
                                approximate=False)


def split_entry(fields: dict[Any, Any]) -> list[Record]:
    """The records (first seq, last seq, body) of one stream entry."""
    first = int(fields[b"f"])
    raws = bytes(fields[b"r"]).split(SEPARATOR)
    spans = fields.get(b"n")
    if spans is None:
        return [(first + i, first + i, raw) for i, raw in enumerate(raws)]
    counts = bytes(spans).split()
    if len(counts) != len(raws):
        raise ValueError(f"outbox entry at {first}: {len(raws)} records, {len(counts)} spans")
    out: list[Record] = []
    for raw, count in zip(raws, counts, strict=True):
        last = first + int(count) - 1
        out.append((first, last, raw))
        first = last + 1
    return out
