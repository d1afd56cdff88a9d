"""The gRPC ``trademesh.v1.Feed`` servicer: thin conversions around the hub, the relay and
the oracle. Who may call each rpc is its declared call policy, enforced before the servicer
runs: ``Subscribe`` and the tickers are public, but the ``user`` channel needs the
verified caller's token (:func:`~mesh_runtime.call_policy.current_caller`) and lasts
only as long as that token;
``PublishMarketData`` is the engine's alone, ``SetIndexPrice`` an admin's. A subscriber
that falls too far behind gets RESOURCE_EXHAUSTED with the reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import grpc
from trademesh.v1 import feed_pb2, feed_pb2_grpc

from feed_svc import codec, metrics
from feed_svc.channels import Channel, Kind, UnknownChannel, parse
from feed_svc.codec import Frame, PublishRequest
from feed_svc.hub import Hub
from feed_svc.oracle import InvalidPrice, OracleIsReal
from feed_svc.outbox import Outbox
from feed_svc.token_watch import until_invalid
from mesh_runtime import rich_errors
from mesh_runtime.call_policy import current_caller
from mesh_runtime.revocation import TokenCheck

Context = grpc.aio.ServicerContext[Any, Any]


class Oracle(Protocol):
    real: bool

    @property
    def markets(self) -> list[str]: ...

    def set_price(self, market: str, price: str) -> str: ...


class FeedServicer(feed_pb2_grpc.FeedServicer):
    def __init__(self, hub: Hub, publish: Callable[[PublishRequest], None],
                 oracle: Oracle | None, tokens: TokenCheck, clock_ms: Callable[[], int], *,
                 queue: int = 2_000, token_recheck_seconds: float = 5.0) -> None:
        self._hub, self._publish, self._oracle = hub, publish, oracle
        self._tokens, self._clock, self._queue = tokens, clock_ms, queue
        self.token_recheck_seconds = token_recheck_seconds

    async def Subscribe(self, request: feed_pb2.SubscribeRequest,  # type: ignore[override]
                        context: Context) -> None:
        try:
            channels = [parse(name, self._hub.markets) for name in request.channels]
        except UnknownChannel as err:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"channels: {err}")
        user_id, claims = "", None
        if any(c.kind is Kind.USER for c in channels):
            claims = current_caller().claims  # verified and unrevoked, if presented
            if claims is None:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                                    "channels: the user channel needs a bearer token")
            user_id = claims.user_id
        outbox: Outbox[Frame] = Outbox(self._queue, self._hub.resnapshot)
        writer = asyncio.create_task(_drain(outbox, context))
        closed = asyncio.create_task(outbox.closed.wait())
        tasks: list[asyncio.Task[Any]] = [writer, closed]
        if claims is not None:  # the user channel lasts as long as the token
            tasks.append(asyncio.create_task(
                until_invalid(self._tokens, claims, self.token_recheck_seconds)))
        metrics.GRPC_CONNECTIONS.inc()
        try:
            for channel in {c.name: c for c in channels}.values():
                self._hub.subscribe(outbox, channel, user_id)
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            metrics.GRPC_CONNECTIONS.dec()
            self._hub.drop(outbox)
            for task in tasks:
                task.cancel()  # a write blocked on a client that does not read included
            await asyncio.gather(*tasks, return_exceptions=True)
        if writer.done() and not writer.cancelled() and writer.exception() is not None:
            raise writer.exception()  # type: ignore[misc]
        if len(tasks) == 3 and tasks[2].done() and not tasks[2].cancelled():
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, tasks[2].result())
        metrics.closed("grpc", outbox.closed_reason or "")
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, outbox.closed_reason or "")

    async def PublishMarketData(
            self, request_iterator: AsyncIterator[PublishRequest],
            context: Context) -> feed_pb2.PublishMarketDataResponse:
        received = 0
        async for item in request_iterator:
            if item.WhichOneof("data") == "batch" and item.batch.traceparents:
                # traced: relayed whole, so every replica's fan-out joins the traces
                item.batch.received_unix_nanos = time.time_ns()
                self._publish(item)
                received += len(item.batch.items)
                continue
            if item.WhichOneof("data") == "batch":
                for inner in item.batch.items:
                    self._publish(inner)
                    received += 1
                continue
            self._publish(item)
            received += 1
        return feed_pb2.PublishMarketDataResponse(received=received)

    async def SetIndexPrice(self, request: feed_pb2.SetIndexPriceRequest,
                            context: Context) -> feed_pb2.SetIndexPriceResponse:
        if self._oracle is None or self._oracle.real:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                "the index price comes from a real exchange feed")
        try:
            price = self._oracle.set_price(request.market, request.price)
        except KeyError:
            await context.abort(grpc.StatusCode.NOT_FOUND,
                                f"market: no index price for {request.market!r}")
        except (InvalidPrice, OracleIsReal) as err:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
        item = codec.index_request(request.market, price, self._clock())
        self._publish(item)
        return feed_pb2.SetIndexPriceResponse(mark=item.index)

    async def GetMarketTicker(self, request: feed_pb2.GetMarketTickerRequest,
                              context: Context) -> feed_pb2.GetMarketTickerResponse:
        if request.market not in self._hub.markets:  # a well-formed unknown one: 404
            code, reason, text = (grpc.StatusCode.INVALID_ARGUMENT, "REQUIRED", "is required") \
                if not request.market else \
                (grpc.StatusCode.NOT_FOUND, "UNKNOWN_MARKET", f"unknown market {request.market!r}")
            await rich_errors.abort(context, rich_errors.rich_status(
                code, reason, f"market: {text}", "market"))
        return feed_pb2.GetMarketTickerResponse(ticker=self._hub.ticker(request.market))

    async def ListTickers(self, request: feed_pb2.ListTickersRequest,
                          context: Context) -> feed_pb2.ListTickersResponse:
        return feed_pb2.ListTickersResponse(
            tickers=[self._hub.ticker(m) for m in sorted(self._hub.markets)])


async def _drain(outbox: Outbox[Frame], context: Context) -> None:
    while True:
        messages = await outbox.take()
        if not messages:
            return
        metrics.GRPC_MESSAGES.inc(len(messages))
        for message in messages:
            if message.payload.response is not None:
                await context.write(message.payload.response)


__all__ = ["Channel", "FeedServicer"]
