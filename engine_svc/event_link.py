"""The engine side of the event link: the outbox streamed to persistence's ``SyncEvents``.

Protocol (one bidirectional stream): the engine sends its id; persistence answers with its
last committed event sequence; the engine sends batches of consecutive ``EngineEvent``s
read from the outbox after it; persistence answers every batch, in order, with its
committed sequence once the batch's transaction has committed.

Invariants:

* The outbox is trimmed only below a sequence persistence said is committed, so an event
  is deleted from Redis only once it is in PostgreSQL (lazily: at most every 0.25 s).
* At most one batch leaves per ``interval`` (30 ms): at a low rate each sequencer batch
  would otherwise be its own PostgreSQL transaction, and each stream write costs both
  processes far more than an event in it (10 → 30 ms took persistence from ~90 to ~50 µs
  of CPU per REST order under ``bench rest-wrk``, PostgreSQL from ~45 to ~27). At most
  ``window`` batches are unacknowledged. An answer below the end of the batch it answers
  (persistence refused a gap, or another link moved it) ends the session; the next
  session resumes from persistence's committed sequence.
* Any failure (persistence or Redis down, a stream reset) ends the session and the link
  reconnects with exponential backoff; the engine never waits for the link.
* ``lag`` = newest outbox sequence - committed sequence (events not yet durable in
  PostgreSQL); it grows while persistence is away.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import grpc
import redis.asyncio as aioredis
from trademesh.v1 import persistence_pb2, persistence_pb2_grpc

from engine_svc import metrics
from engine_svc.core.markets import MarketConfig
from engine_svc.durable_traces import DurableTraces
from engine_svc.event_codec import EventEncoder
from engine_svc.journal import Journal, split_entry
from engine_svc.outbox_span import Record
from mesh_runtime import tracing
from mesh_runtime.config import Settings
from mesh_runtime.tls import mesh_channel

log = logging.getLogger("trademesh.engine.event_link")
ENCODE_SLICE = 500  # events encoded between yields to the event loop (the sequencer's)
READ_ENTRIES = 64  # outbox entries (each one sequencer batch) per read
TRIM_SECONDS = 0.25  # the outbox is trimmed below the committed sequence this often at most
Call = grpc.aio.StreamStreamCall[persistence_pb2.SyncEventsRequest,
                                 persistence_pb2.SyncEventsResponse]


class Resync(RuntimeError):
    """Persistence answered below what was sent: start a new session from its sequence."""


async def _read(call: Call) -> persistence_pb2.SyncEventsResponse:
    answer: object = await call.read()
    if not isinstance(answer, persistence_pb2.SyncEventsResponse):  # grpc.aio.EOF
        raise ConnectionError("persistence closed the stream")
    return answer


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class EventLink:
    def __init__(self, journal: Journal, settings: Settings, config: MarketConfig, *,
                 engine_id: str = "engine", max_batch: int = 2000, window: int = 3,
                 block_ms: int = 1000, interval: float = 0.03,
                 clock_ms: Callable[[], int] = wall_clock_ms) -> None:
        self._journal = journal
        self._settings = settings
        self._encoder = EventEncoder(config, clock_ms)
        self.engine_id = engine_id
        self._max_batch = max_batch
        self._window = window
        self._block_ms = block_ms
        self._interval = interval  # at most one batch sent per interval
        self.committed = 0
        self.head = 0
        self.connected = False
        self.sessions = 0
        self._redis: aioredis.Redis | None = None
        self._progress = False  # the last session had a batch acknowledged
        self._trimmed, self._trimmed_at = 0, 0.0  # the outbox is trimmed below _trimmed
        metrics.bind_link(lambda: self.lag, lambda: self.connected)
        self.durable = DurableTraces()  # the sequencer's, when traces are followed

    @property
    def lag(self) -> int:
        """Events in the outbox not yet committed by persistence."""
        return max(0, self.head - self.committed)

    async def run(self) -> None:
        """Runs until cancelled: a session, and after any failure a backoff and a new one."""
        self._redis = aioredis.Redis.from_url(self._settings.redis_dsn)
        delay = 0.05
        try:
            while True:
                try:
                    await self._session()
                except asyncio.CancelledError:
                    raise
                except Exception as err:  # every failure means: reconnect later
                    log.warning("event link down (%r); retrying in %.2fs", err, delay)
                self.connected = False
                await self._refresh_head()
                await asyncio.sleep(delay)
                delay = 0.05 if self._progress else min(delay * 2, 2.0)
        finally:
            await self._redis.aclose()

    async def _refresh_head(self) -> None:
        try:
            self.head = max(self.head, await self._journal.last_event_seq())
        except Exception:  # Redis away too: keep the last known head
            log.debug("cannot read the outbox head")

    async def _session(self) -> None:
        self._progress = False
        settings = self._settings
        async with mesh_channel(settings.mesh_address("persistence"),
                                settings.tls_files("engine"),
                                server_name="persistence") as channel:
            stub = persistence_pb2_grpc.PersistenceStub(channel)
            call: Call = stub.SyncEvents()  # type: ignore[call-arg]  # written with .write()
            await call.write(persistence_pb2.SyncEventsRequest(engine_id=self.engine_id))
            hello = await _read(call)
            self.sessions += 1
            self.connected = True
            await self._acknowledged(hello.committed_sequence)
            await self._stream(call, hello.committed_sequence)

    async def _stream(self, call: Call, start: int) -> None:
        inflight: deque[int] = deque()
        slots = asyncio.Semaphore(self._window)
        sender = asyncio.create_task(self._send(call, start, inflight, slots))
        receiver = asyncio.create_task(self._receive(call, inflight, slots))
        try:
            done, _ = await asyncio.wait({sender, receiver},
                                         return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
            raise ConnectionError("the event stream ended")
        finally:
            for task in (sender, receiver):
                task.cancel()
            await asyncio.gather(sender, receiver, return_exceptions=True)
            call.cancel()

    async def _send(self, call: Call, cursor: int, inflight: deque[int],
                    slots: asyncio.Semaphore) -> None:
        loop = asyncio.get_running_loop()
        sent_at = 0.0
        while True:
            await slots.acquire()
            pause = sent_at + self._interval - loop.time()
            if pause > 0:  # let events gather: a transaction per order costs far more
                await asyncio.sleep(pause)
            sent_at = loop.time()
            request = await self._next_batch(cursor)
            last = request.batch.events[-1].sequence
            if tracing.active():  # the traced orders' commit joins their traces
                request.batch.traceparents.extend(self.durable.traceparents(cursor, last))
            cursor = last
            inflight.append(cursor)
            await call.write(request)

    async def _receive(self, call: Call, inflight: deque[int],
                       slots: asyncio.Semaphore) -> None:
        while True:
            answer = await _read(call)
            expected = inflight.popleft()
            await self._acknowledged(answer.committed_sequence)
            self._progress = True
            slots.release()
            if answer.committed_sequence < expected:
                raise Resync(f"sent up to {expected}, committed {answer.committed_sequence}")

    async def _acknowledged(self, committed: int) -> None:
        """Records ``committed``; trims the outbox below it at most every ``TRIM_SECONDS``
        (a Redis round trip per acknowledged batch would cost more than the batch)."""
        now = time.monotonic()
        if committed > self._trimmed and now - self._trimmed_at >= TRIM_SECONDS:
            await self._journal.trim_outbox_below(committed)
            self._trimmed, self._trimmed_at = committed, now
        self.committed = committed
        self.head = max(self.head, committed)
        self.durable.committed(committed)

    async def _next_batch(self, after: int) -> persistence_pb2.SyncEventsRequest:
        """Up to about ``max_batch`` outbox events after ``after``; waits for the first.
        The request is built in place (protobuf copies nested messages on assignment)."""
        records, count = await self._read(after)
        if count < self._max_batch:  # read to the end: the newest is the head
            self.head = max(self.head, records[-1][1])
        else:
            self.head = max(self.head, await self._journal.last_event_seq())
        request = persistence_pb2.SyncEventsRequest()
        events = request.batch.events
        for start in range(0, len(records), ENCODE_SLICE):
            if start:
                await asyncio.sleep(0)
            self._encoder.encode_batch(
                [raw for _, _, raw in records[start:start + ENCODE_SLICE]], events, after)
        if events[0].sequence != after + 1:
            raise Resync(f"the outbox continues at {events[0].sequence}, not {after + 1}")
        return request

    async def _read(self, after: int) -> tuple[list[Record], int]:
        """Outbox records ending above ``after`` and how many events they hold: whole
        stream entries (one sequencer batch each), about ``max_batch`` events. Waits (XREAD
        BLOCK) only for the first entry; then reads 1, 2, 4 … entries at a time so a large
        backlog is not fetched in one go."""
        assert self._redis is not None
        records: list[Record] = []
        count, cursor = 1, f"{after}-0"
        block: int | None = self._block_ms
        while not records or records[-1][1] - after < self._max_batch:
            found: Any = await self._redis.xread({self._journal.outbox_key: cursor},
                                                 count=count, block=block)
            if not found:
                if records:
                    break
                continue
            for entry_id, fields in found[0][1]:
                records.extend(r for r in split_entry(fields) if r[1] > after)
                cursor = bytes(entry_id).decode()
            count, block = min(count * 2, READ_ENTRIES), None
        return records, records[-1][1] - after
