"""One ``SyncEvents`` stream, pipelined: batch N+1 is prepared while batch N commits.

Answers go out in order, one per batch, each once its batch's transaction has committed
and as soon as it has (not when the next batch arrives: the engine's window may be waiting
for it). At most one transaction is in flight per stream; see
:mod:`persistence_svc.event_writer`.

Coalescing (a backlog): batches prepared while a transaction is in flight wait for it, and
consecutive waiting batches are merged into one transaction
(:func:`persistence_svc.event_writer.coalesce`), so a backlog commits in fewer, larger
transactions (up to about :data:`COALESCE_EVENTS` events). Each batch still gets its own
answer, all with the merged transaction's committed sequence (at least the end of every
batch it holds). The engine's window bounds how many batches can wait.

Traces: a batch carrying ``traceparents`` (the engine's traced orders) gets a
``persistence.commit`` span in each of those traces when its transaction commits.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

from trademesh.v1 import persistence_pb2 as pb

from mesh_runtime import tracing
from persistence_svc.event_writer import EventWriter, Prepared, Session, coalesce

Refuse = Callable[[], Awaitable[None]]  # aborts the call: a batch before the hello
COALESCE_EVENTS = 20_000  # no more batches are merged into a transaction this large


class SyncStream:
    def __init__(self, writer: EventWriter, requests: AsyncIterator[pb.SyncEventsRequest],
                 refuse: Refuse) -> None:
        self._writer = writer
        self._requests = requests
        self._refuse = refuse
        self._session: Session | None = None
        self._pending: asyncio.Task[int] | None = None  # the transaction in flight
        self._owed = 0  # answers due when it commits (the batches it holds)
        self._waiting: deque[tuple[Prepared, int]] = deque()  # next transactions, and their
        # batch counts (answers owed)
        self._traced: deque[tuple[int, list[str], int]] = deque()  # traced batches waiting
        # for their commit: (last sequence, traceparents, received at ns)

    async def answers(self) -> AsyncIterator[pb.SyncEventsResponse]:
        incoming = asyncio.ensure_future(anext(self._requests, None))
        try:
            while True:
                if self._pending is not None:
                    await asyncio.wait({incoming, self._pending},
                                       return_when=asyncio.FIRST_COMPLETED)
                    if self._pending.done():
                        for answer in self._committed():
                            yield answer
                        continue
                request = await incoming
                if request is None:  # the engine half-closed: commit and answer the rest
                    async for answer in self._drain():
                        yield answer
                    return
                incoming = asyncio.ensure_future(anext(self._requests, None))
                async for answer in self._handle(request):
                    yield answer
        finally:
            incoming.cancel()
            if self._pending is not None:  # the stream broke: let the transaction end
                await asyncio.gather(self._pending, return_exceptions=True)
            if self._session is not None:
                await self._writer.close(self._session)

    def _start(self, prepared: Prepared, owed: int) -> None:
        assert self._session is not None and self._pending is None
        self._pending = asyncio.create_task(self._writer.write(self._session, prepared))
        self._owed = owed

    def _committed(self) -> list[pb.SyncEventsResponse]:
        """The answers of the finished transaction; starts the waiting one."""
        assert self._pending is not None
        committed = self._pending.result()
        answer = pb.SyncEventsResponse(committed_sequence=committed)
        if self._traced:
            self._trace_commits(committed)
        answers = [answer] * self._owed
        self._pending = None
        if self._waiting:
            self._start(*self._waiting.popleft())
        return answers

    def _trace_commits(self, committed: int) -> None:
        """A ``persistence.commit`` span (receipt to commit) in the trace of each traced
        batch the transaction covered."""
        now = time.time_ns()
        while self._traced and self._traced[0][0] <= committed:
            last, traceparents, received_ns = self._traced.popleft()
            tracing.span_under(traceparents, "persistence.commit", received_ns, now,
                               {"trademesh.event.sequence": last,
                                "trademesh.persistence.committed_sequence": committed})

    async def _drain(self) -> AsyncIterator[pb.SyncEventsResponse]:
        """Commits everything prepared, answering as it goes."""
        while self._pending is not None:
            await asyncio.wait({self._pending})
            for answer in self._committed():
                yield answer

    async def _handle(self, request: pb.SyncEventsRequest
                      ) -> AsyncIterator[pb.SyncEventsResponse]:
        if request.WhichOneof("message") == "engine_id":
            async for answer in self._drain():
                yield answer
            if self._session is not None:
                await self._writer.close(self._session)
            self._session = await self._writer.open(request.engine_id)
            yield pb.SyncEventsResponse(committed_sequence=self._session.expected)
            return
        if self._session is None:
            await self._refuse()
            return
        if self._pending is not None and self._pending.done():
            for answer in self._committed():
                yield answer
        if request.batch.traceparents and request.batch.events:
            self._traced.append((request.batch.events[-1].sequence,
                                 list(request.batch.traceparents), time.time_ns()))
        prepared = await self._writer.prepare(self._session, list(request.batch.events))
        if self._pending is None:
            self._start(prepared, 1)
        elif self._waiting and len(self._waiting[-1][0].events) < COALESCE_EVENTS \
                and coalesce(self._waiting[-1][0], prepared):
            last, owed = self._waiting[-1]
            self._waiting[-1] = (last, owed + 1)
        else:  # the first to wait, or the last is large enough, or not mergeable
            self._waiting.append((prepared, 1))
