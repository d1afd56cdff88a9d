"""``Engine.PlaceOrders``: orders placed over a bidirectional stream, message by message.

Each message's orders are validated and queued to the sequencer the moment it arrives
(``Sequencer.enqueue_many``), so a caller's next message joins the next sequencer batch
instead of waiting for this one's journal write; the answers leave in message order, one
``PlaceOrdersResponse`` per message with one result per order (the order, or why it was
refused). At most ``MAX_MESSAGES_IN_FLIGHT`` messages wait for their answers; then the
stream's own flow control holds the caller. Orders may carry a stop-loss / take-profit,
as with ``PlaceOrder``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from trademesh.v1 import engine_pb2

from engine_svc import codec, errors
from engine_svc.core.commands import Command
from engine_svc.core.events import Event
from engine_svc.core.units import ValidationError
from engine_svc.order_views import OrderRecord
from engine_svc.sequencer import EngineUnavailable, Sequencer

MAX_ORDERS_PER_MESSAGE = 1000
MAX_MESSAGES_IN_FLIGHT = 64
Render = Callable[[list[Event], list[OrderRecord]], Any]


@dataclass(slots=True)
class _Placing:
    """A message's orders: each one's validation error (or None: queued), the sequencer's
    future for the queued ones, or why none could be queued."""

    outcomes: list[Any]
    queued: asyncio.Future[list[Any]] | None
    refusal: errors.DomainError | None = None


_Answer = tuple[int, _Placing] | errors.DomainError


class StreamPlacement:
    def __init__(self, sequencer: Sequencer, clock_ms: Callable[[], int], whole: Render,
                 execution: Render) -> None:
        """``whole`` renders an order as PlaceOrder answers it; ``execution`` only its
        identity and execution state (what a message without ``full_orders`` gets)."""
        self._seq, self._clock = sequencer, clock_ms
        self._whole, self._execution = whole, execution

    async def answers(self, requests: AsyncIterator[engine_pb2.PlaceOrdersRequest], user: str,
                      ) -> AsyncIterator[engine_pb2.PlaceOrdersResponse | errors.DomainError]:
        """One response per message, in order; a DomainError (then nothing more) when a
        message is refused whole."""
        answers: asyncio.Queue[_Answer | None] = asyncio.Queue(MAX_MESSAGES_IN_FLIGHT)
        reader = asyncio.create_task(self._read(requests, user, answers))
        try:
            while (answer := await answers.get()) is not None:
                if isinstance(answer, errors.DomainError):
                    yield answer
                    return
                batch_id, placing = answer
                response = engine_pb2.PlaceOrdersResponse(batch_id=batch_id)
                await _results(placing, response.results)
                yield response
            await reader  # its error, if the stream broke
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def _read(self, requests: AsyncIterator[engine_pb2.PlaceOrdersRequest], user: str,
                    answers: asyncio.Queue[_Answer | None]) -> None:
        """Queues each message's orders as it arrives; None after the last (or a failure:
        ``answers`` then re-raises it); nothing more once cancelled."""
        try:
            async for message in requests:
                if len(message.orders) > MAX_ORDERS_PER_MESSAGE:
                    await answers.put(errors.invalid(ValidationError(
                        "orders", "TOO_MANY", f"at most {MAX_ORDERS_PER_MESSAGE} per message")))
                    return
                render = self._whole if message.full_orders else self._execution
                await answers.put((message.batch_id, self._queue(message.orders, user, render)))
        except asyncio.CancelledError:
            raise
        except BaseException:
            await answers.put(None)
            raise
        await answers.put(None)

    def _queue(self, requests: Sequence[engine_pb2.PlaceOrderRequest], user: str,
               render: Render) -> _Placing:
        """Validates each order and queues the valid ones as one batch, now."""
        outcomes: list[Any] = []
        commands: list[Command] = []
        now = self._clock()
        for request in requests:
            try:
                commands.append(codec.place_order(request, self._seq.config, user, now))
                outcomes.append(None)
            except ValidationError as err:
                outcomes.append(errors.invalid(err))
        try:
            return _Placing(outcomes, self._seq.enqueue_many(commands, render)
                            if commands else None)
        except EngineUnavailable as err:
            return _Placing(outcomes, None, errors.unavailable(str(err)))


async def _results(placing: _Placing, into: Any) -> None:
    """One result per order, added to ``into`` (a response's repeated ``results``, each
    filled in place: one copy of each order, not two): its validation error, or what the
    sequencer answered."""
    applied: list[Any] = []
    if placing.queued is not None:
        try:
            applied = await placing.queued
        except EngineUnavailable as err:
            placing.refusal = errors.unavailable(str(err))
    queued = iter(applied)
    add = into.add
    for outcome in placing.outcomes:
        result = outcome if outcome is not None else \
            placing.refusal if placing.refusal is not None else next(queued)
        if isinstance(result, errors.DomainError):
            add().error.CopyFrom(result.status)
        else:
            add().order.CopyFrom(result)
