"""Where the market maker reads index prices: the feed's ``mark@M`` stream, with configured
reference prices until (and whenever) the feed has none."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation

import grpc
from trademesh.v1 import feed_pb2, feed_pb2_grpc

log = logging.getLogger("trademesh.mm.prices")

REFERENCE = {"BTC": Decimal(60_000), "ETH": Decimal(3_000), "SOL": Decimal(150)}


class IndexPrices:
    """The latest index price per base asset."""

    def __init__(self, reference: dict[str, Decimal] | None = None) -> None:
        self._prices = dict(REFERENCE if reference is None else reference)

    def get(self, base: str) -> Decimal | None:
        return self._prices.get(base)

    def set(self, base: str, price: Decimal) -> None:
        if price > 0:
            self._prices[base] = price

    async def follow_feed(self, connect: Callable[[], grpc.aio.Channel],
                          perps: Iterable[str]) -> None:
        """Follows ``mark@<perp>`` on the feed until cancelled, reconnecting on failure
        (``connect`` opens a new channel to the feed)."""
        channels = [f"mark@{symbol}" for symbol in perps]
        delay = 0.2
        while True:
            try:
                async with connect() as channel:
                    stub = feed_pb2_grpc.FeedStub(channel)
                    call = stub.Subscribe(feed_pb2.SubscribeRequest(channels=channels))
                    async for message in call:
                        self._take(message)
                        delay = 0.2
            except grpc.aio.AioRpcError as err:
                log.debug("mark stream: %s; retrying in %.1fs", err.code(), delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _take(self, message: feed_pb2.SubscribeResponse) -> None:
        if not message.HasField("mark") or not message.mark.index_price:
            return
        base = message.mark.market.split("-")[0]
        try:
            self.set(base, Decimal(message.mark.index_price))
        except InvalidOperation:
            log.warning("ignored a malformed index price %r", message.mark.index_price)
