"""Placing REST orders over the engine's ``RelayOrders`` stream: every caller's orders on
one stream per gateway.

A unary gRPC call costs both processes far more than one order in a stream message, and
orders that arrive together travel together: while ``max_in_flight`` messages are at the
engine, the orders arriving meanwhile wait here and leave as the next message, whoever
sent them (one sequencer batch). Identity stays each caller's own: the stream is opened
with the gateway's certificate (the only principal ``RelayOrders`` admits), and each order
carries the token its request arrived with, which the gateway has just verified
(signature, expiry, revocation) and the engine verifies again before placing the order as
that token's subject.

Invariants:

* Each request gets exactly one answer: its ``PlaceOrderResult`` (order or refusal), or a
  :class:`GatewayError` when the stream failed (the error the engine ended it with, or 503).
  Answers are matched by ``batch_id``, in order within a batch.
* A request still queued here when its deadline passes is withdrawn (never sent: 504 and
  nothing placed). Once sent, a deadline gives :class:`OutcomePending` (a 504 that still
  receives the engine's answer: an ``Idempotency-Key`` then stores that answer, so a
  retry with the key learns what happened instead of placing the order twice).
* The stream closes after ``idle_seconds`` without requests, or when it fails (every
  request on it answered with the failure); the next request opens a new one.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from trademesh.v1 import engine_pb2

from gateway.errors import GatewayError
from gateway.upstream_errors import from_rpc_error
from mesh_runtime.tokens import InvalidToken, bearer_token

log = logging.getLogger("trademesh.gateway.orders")
METHOD = "/trademesh.v1.Engine/RelayOrders"
MAX_BATCH = 200  # orders per stream message (the engine accepts up to 1,000)
MAX_IN_FLIGHT = 2  # messages at the engine at once; later orders wait to go together
Result = engine_pb2.PlaceOrderResult
Waiting = tuple[str, engine_pb2.PlaceOrderRequest, "asyncio.Future[Result]"]  # token, order


class OutcomePending(GatewayError):
    """A 504 for an order the engine has but had not answered by the deadline: ``outcome``
    still resolves to its answer (or fails with the stream), for whoever still needs it
    (an ``Idempotency-Key`` waiting to store the real answer)."""

    def __init__(self, outcome: asyncio.Future[Result]) -> None:
        super().__init__(504, "DEADLINE_EXCEEDED", "the engine did not answer in time; the "
                         "order may have been placed: look it up by clientOrderId or retry "
                         "with the same Idempotency-Key")
        self.outcome = outcome
        # Set by the caller that knows how to render the answer (gateway.upstream).
        self.reply: Callable[[], Awaitable[Any]] | None = None


def _retrieved(future: asyncio.Future[Result]) -> None:
    """Marks a failure as seen (asyncio would log an unretrieved one)."""
    if not future.cancelled():
        future.exception()


async def _until(future: asyncio.Future[Result], seconds: float) -> Result:
    """``future``'s outcome, or TimeoutError after ``seconds``; ``future`` itself is never
    cancelled (its outcome may still be wanted): ``wait_for(shield(future))`` with one
    future and one timer rather than the tasks and callbacks those build."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[Result] = loop.create_future()

    def settle(done: asyncio.Future[Result]) -> None:
        if waiter.done():  # timed out or cancelled meanwhile
            _retrieved(done)
        elif done.cancelled():
            waiter.cancel()
        elif (error := done.exception()) is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(done.result())

    def expire() -> None:
        if not waiter.done():
            waiter.set_exception(TimeoutError())

    future.add_done_callback(settle)
    timer = loop.call_later(seconds, expire)
    try:
        return await waiter
    finally:  # settle stays: an outcome nobody waits for any more is marked seen
        timer.cancel()


def stream_failed(error: BaseException) -> GatewayError:
    if isinstance(error, grpc.aio.AioRpcError):
        return from_rpc_error(error)
    return GatewayError(503, "UNAVAILABLE", "the engine is unavailable; try again",
                        headers={"Retry-After": "1"})


class RelayStream:
    """An open ``RelayOrders`` stream with its writer and reader tasks."""

    def __init__(self, channel: grpc.aio.Channel, idle_seconds: float, max_in_flight: int,
                 on_close: Callable[[RelayStream], None]) -> None:
        self._idle_seconds, self._on_close = idle_seconds, on_close
        self._max_in_flight = max_in_flight
        method = channel.stream_stream(
            METHOD, request_serializer=engine_pb2.RelayOrdersRequest.SerializeToString,
            response_deserializer=engine_pb2.RelayOrdersResponse.FromString)
        self._call: Any = method()  # type: ignore[call-arg]
        self._queue: list[Waiting] = []
        self._sent: dict[int, list[asyncio.Future[Result]]] = {}
        self._ids = itertools.count(1)
        self._wakeup = asyncio.Event()
        self.closed = False
        self._tasks = [asyncio.create_task(self._write()), asyncio.create_task(self._read())]

    async def place(self, token: str, request: engine_pb2.PlaceOrderRequest,
                    deadline_seconds: float) -> Result:
        """The engine's answer to ``request``, placed as ``token``'s subject; GatewayError
        if the stream fails first."""
        if self.closed:
            raise stream_failed(ConnectionError("stream closed"))
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        waiting = (token, request, future)
        self._queue.append(waiting)
        if len(self._sent) < self._max_in_flight:
            self._wakeup.set()
        try:
            return await _until(future, deadline_seconds)
        except TimeoutError:
            for i, queued in enumerate(self._queue):
                if queued is waiting:  # never sent: nothing was placed
                    del self._queue[i]
                    message = "the engine did not take the order in time; it was not placed"
                    raise GatewayError(504, "DEADLINE_EXCEEDED", message) from None
            future.add_done_callback(_retrieved)  # nobody may wait for it any more
            raise OutcomePending(future) from None

    async def _write(self) -> None:
        try:
            while True:
                while not self._queue or len(self._sent) >= self._max_in_flight:
                    self._wakeup.clear()
                    try:
                        await asyncio.wait_for(self._wakeup.wait(), self._idle_seconds)
                    except TimeoutError:
                        if not self._queue and not self._sent:
                            self._retire()  # new requests open a new stream from now on
                            await self._call.done_writing()
                            return
                taken, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                batch_id = next(self._ids)
                self._sent[batch_id] = [future for _, _, future in taken]
                message = engine_pb2.RelayOrdersRequest(batch_id=batch_id)
                add = message.orders.add
                for token, order, _ in taken:  # built in place: each order copied once
                    add(token=token, order=order)
                await self._call.write(message)
        except asyncio.CancelledError as err:
            self._fail(err)
            raise
        except Exception as err:  # the call ended: the reader reports how, if it can
            await asyncio.wait([self._tasks[1]], timeout=5.0)
            self._fail(err)

    async def _read(self) -> None:
        error: BaseException = ConnectionError("the engine ended the stream")
        try:
            async for response in self._call:
                futures = self._sent.pop(response.batch_id, [])
                if self._queue:
                    self._wakeup.set()  # the orders that waited for this answer leave now
                for future, result in zip(futures, response.results, strict=False):
                    if not future.done():
                        future.set_result(result)
                for future in futures[len(response.results):]:
                    if not future.done():
                        future.set_exception(stream_failed(error))
        except grpc.aio.AioRpcError as err:
            error = err
        except asyncio.CancelledError as err:
            error = err
            raise
        finally:
            self._fail(error)

    def _retire(self) -> None:
        if not self.closed:
            self.closed = True
            self._on_close(self)

    def _fail(self, error: BaseException) -> None:
        """Closes the stream: every request not yet answered gets ``error``'s answer."""
        self._retire()
        self._call.cancel()
        waiting = [f for _, _, f in self._queue] + [f for fs in self._sent.values() for f in fs]
        self._queue.clear()
        self._sent.clear()
        for future in waiting:
            if not future.done():
                future.set_exception(stream_failed(error))

    async def wait_closed(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.wait_closed()


class OrderStreams:
    """The gateway's relay stream to the engine, opened on first use and again after it
    closes."""

    def __init__(self, channel: Callable[[], grpc.aio.Channel], *, idle_seconds: float = 30.0,
                 max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self._channel, self._idle, self._max_in_flight = channel, idle_seconds, max_in_flight
        self._stream: RelayStream | None = None
        self._closing: dict[RelayStream, asyncio.Task[None]] = {}

    async def place(self, authorization: str, request: engine_pb2.PlaceOrderRequest,
                    deadline_seconds: float) -> Result | None:
        """The answer to ``request`` over the relay stream, placed as the subject of
        ``authorization``'s bearer token; None when it carries none (the caller then makes
        the unary call, which refuses it as the engine's policy says)."""
        try:
            token = bearer_token(authorization)
        except InvalidToken:
            return None
        stream = self._stream
        if stream is None or stream.closed:
            stream = RelayStream(self._channel(), self._idle, self._max_in_flight, self._closed)
            self._stream = stream
        return await stream.place(token, request, deadline_seconds)

    def _closed(self, stream: RelayStream) -> None:
        if self._stream is stream:
            self._stream = None
        self._closing[stream] = asyncio.get_running_loop().create_task(self._reap(stream))

    async def _reap(self, stream: RelayStream) -> None:
        await stream.wait_closed()
        self._closing.pop(stream, None)

    async def close(self) -> None:
        streams = [*([self._stream] if self._stream is not None else []), *self._closing]
        self._stream = None
        for stream in streams:
            await stream.close()
