"""One ``SyncEvents`` stream, pipelined: batch N+1 is prepared while batch N commits.

Answers go out in order, each once its batch's transaction has committed and as soon as
it has (not when the next batch arrives: the engine's window may be waiting for it). At
most one transaction is in flight per stream; see :mod:`persistence_svc.event_writer`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from trademesh.v1 import persistence_pb2 as pb

from persistence_svc.event_writer import EventWriter, Session

Refuse = Callable[[], Awaitable[None]]  # aborts the call: a batch before the hello


class SyncStream:
    def __init__(self, writer: EventWriter, requests: AsyncIterator[pb.SyncEventsRequest],
                 refuse: Refuse) -> None:
        self._writer = writer
        self._requests = requests
        self._refuse = refuse
        self._session: Session | None = None
        self._pending: asyncio.Task[int] | None = None

    async def answers(self) -> AsyncIterator[pb.SyncEventsResponse]:
        incoming = asyncio.ensure_future(anext(self._requests, None))
        try:
            while True:
                if self._pending is not None:
                    await asyncio.wait({incoming, self._pending},
                                       return_when=asyncio.FIRST_COMPLETED)
                    if self._pending.done():
                        yield self._answer(self._pending.result())
                        continue
                request = await incoming
                if request is None:
                    return
                incoming = asyncio.ensure_future(anext(self._requests, None))
                async for answer in self._handle(request):
                    yield answer
        finally:
            incoming.cancel()
            if self._pending is not None:  # the stream broke: let the transaction end
                await asyncio.gather(self._pending, return_exceptions=True)

    def _answer(self, committed: int) -> pb.SyncEventsResponse:
        self._pending = None
        return pb.SyncEventsResponse(committed_sequence=committed)

    async def _handle(self, request: pb.SyncEventsRequest
                      ) -> AsyncIterator[pb.SyncEventsResponse]:
        if request.WhichOneof("message") == "engine_id":
            if self._pending is not None:
                yield self._answer(await self._pending)
            self._session = await self._writer.open(request.engine_id)
            yield pb.SyncEventsResponse(committed_sequence=self._session.expected)
            return
        if self._session is None:
            await self._refuse()
            return
        if self._pending is not None and self._pending.done():
            yield self._answer(self._pending.result())
        prepared = await self._writer.prepare(self._session, list(request.batch.events))
        if self._pending is not None:
            yield self._answer(await self._pending)
        self._pending = asyncio.create_task(self._writer.write(self._session, prepared))
