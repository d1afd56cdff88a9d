"""``Engine.PlaceOrders``: orders placed over a bidirectional stream, message by message.

Each message's orders are validated and queued to the sequencer the moment it arrives
(``Sequencer.enqueue_many``), so a caller's next message joins the next sequencer batch
instead of waiting for this one's journal write; the answers leave in message order, one
``PlaceOrdersResponse`` per message with one result per order (the order, or why it was
refused). At most ``MAX_MESSAGES_IN_FLIGHT`` messages wait for their answers; then the
stream's own flow control holds the caller. Orders may carry a stop-loss / take-profit,
as with ``PlaceOrder``.

``Engine.RelayOrders`` is the same flow for the gateway's REST orders, many traders' on one
stream: each order carries its trader's token, verified here (signature, expiry,
revocation) before the order is placed as that token's subject.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from trademesh.v1 import engine_pb2

from engine_svc import errors, order_wire, request_codec
from engine_svc.core.events import Event
from engine_svc.core.units import ValidationError
from engine_svc.order_views import OrderRecord
from engine_svc.sequencer import EngineUnavailable, Sequencer
from mesh_runtime.revocation import RevocationUnavailable, TokenCheck
from mesh_runtime.tokens import InvalidToken

MAX_ORDERS_PER_MESSAGE = 1000
MAX_MESSAGES_IN_FLIGHT = 64
Render = Callable[[list[Event], list[OrderRecord]], bytes]
"""An applied order's ``PlaceOrderResult``, as wire bytes."""


@dataclass(slots=True)
class _Placing:
    """A message's orders: each one's refusal before the sequencer (its ValidationError,
    or its caller's DomainError) or None (queued), the sequencer's future for the queued
    ones, or why none could be queued."""

    outcomes: list[Any]
    queued: asyncio.Future[list[Any]] | None
    refusal: errors.DomainError | None = None


_Answer = tuple[int, _Placing] | errors.DomainError
_Place = Callable[[Any], Awaitable[_Placing]]
_Response = TypeVar("_Response", engine_pb2.PlaceOrdersResponse, engine_pb2.RelayOrdersResponse)


class StreamPlacement:
    def __init__(self, sequencer: Sequencer, clock_ms: Callable[[], int], whole: Render,
                 execution: Render) -> None:
        """``whole`` renders an order as PlaceOrder answers it; ``execution`` only its
        identity and execution state (what a message without ``full_orders`` gets)."""
        self._seq, self._clock = sequencer, clock_ms
        self._whole, self._execution = whole, execution

    def answers(self, requests: AsyncIterator[engine_pb2.PlaceOrdersRequest], user: str,
                ) -> AsyncIterator[engine_pb2.PlaceOrdersResponse | errors.DomainError]:
        """``PlaceOrders``: one response per message, in order; a DomainError (then nothing
        more) when a message is refused whole."""
        async def place(message: engine_pb2.PlaceOrdersRequest) -> _Placing:
            render = self._whole if message.full_orders else self._execution
            return self._queue(message.orders, itertools.repeat(user), render)

        return self._answered(requests, place, engine_pb2.PlaceOrdersResponse)

    def relayed(self, requests: AsyncIterator[engine_pb2.RelayOrdersRequest], tokens: TokenCheck,
                ) -> AsyncIterator[engine_pb2.RelayOrdersResponse | errors.DomainError]:
        """``RelayOrders``: as :meth:`answers`, each order placed as its own token's verified
        subject (an order whose token fails is refused alone) and answered whole."""
        async def place(message: engine_pb2.RelayOrdersRequest) -> _Placing:
            relayed = message.orders
            users = [await _subject(tokens, item.token) for item in relayed]
            return self._queue([item.order for item in relayed], users, self._whole)

        return self._answered(requests, place, engine_pb2.RelayOrdersResponse)

    async def _answered(self, requests: AsyncIterator[Any], place: _Place,
                        response_class: type[_Response],
                        ) -> AsyncIterator[_Response | errors.DomainError]:
        answers: asyncio.Queue[_Answer | None] = asyncio.Queue(MAX_MESSAGES_IN_FLIGHT)
        reader = asyncio.create_task(_read(requests, place, answers))
        try:
            while (answer := await answers.get()) is not None:
                if isinstance(answer, errors.DomainError):
                    yield answer
                    return
                batch_id, placing = answer
                results = await _results(placing)
                yield response_class.FromString(order_wire.response(batch_id, results))
            await reader  # its error, if the stream broke
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    def _queue(self, requests: Sequence[engine_pb2.PlaceOrderRequest],
               users: Iterable[str | errors.DomainError], render: Render) -> _Placing:
        """Validates each order and queues the valid ones as one batch, now; an order whose
        caller could not be established gets that refusal."""
        commands, outcomes = request_codec.place_orders(requests, self._seq.config, users,
                                                        self._clock())
        try:
            return _Placing(outcomes, self._seq.enqueue_many(commands, render)
                            if commands else None)
        except EngineUnavailable as err:
            return _Placing(outcomes, None, errors.unavailable(str(err)))


async def _read(requests: AsyncIterator[Any], place: _Place,
                answers: asyncio.Queue[_Answer | None]) -> None:
    """Queues each message's orders as it arrives; None after the last (or a failure:
    ``answers`` then re-raises it); nothing more once cancelled."""
    try:
        async for message in requests:
            if len(message.orders) > MAX_ORDERS_PER_MESSAGE:
                await answers.put(errors.invalid(ValidationError(
                    "orders", "TOO_MANY", f"at most {MAX_ORDERS_PER_MESSAGE} per message")))
                return
            await answers.put((message.batch_id, await place(message)))
    except asyncio.CancelledError:
        raise
    except BaseException:
        await answers.put(None)
        raise
    await answers.put(None)


async def _subject(tokens: TokenCheck, token: str) -> str | errors.DomainError:
    """The verified subject of a relayed order's token, or why it is refused."""
    try:
        return (await tokens.verify(token)).user_id
    except InvalidToken as err:
        return errors.unauthenticated(str(err))
    except RevocationUnavailable as err:
        return errors.unavailable(str(err))


async def _results(placing: _Placing) -> list[bytes]:
    """One ``PlaceOrderResult`` (wire bytes) per order: its validation error, or what the
    sequencer answered (the renders write the bytes: :mod:`engine_svc.order_wire`)."""
    applied: list[bytes] = []
    if placing.queued is not None:
        try:
            applied = await placing.queued
        except EngineUnavailable as err:
            placing.refusal = errors.unavailable(str(err))
    refusal = None if placing.refusal is None else placing.refusal.placement_result()
    queued = iter(applied)
    out: list[bytes] = []
    for outcome in placing.outcomes:
        if outcome is not None:
            refused = errors.invalid(outcome) if isinstance(outcome, ValidationError) else \
                outcome
            out.append(refused.placement_result())
        else:
            out.append(refusal if refusal is not None else next(queued))
    return out
