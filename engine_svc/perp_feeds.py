"""What drives the perpetuals from outside the core: the index and the funding clock.

* :class:`IndexFollower` follows the feed's ``index@M`` channels (the oracle) and turns
  every changed index price into a journaled ``SetIndexPrice`` command, which re-marks the
  market, fires triggers and liquidates (see ``engine_svc.core.perp``).
* :func:`funding_loop` submits ``SettleFunding`` for every perp at each funding boundary
  (multiples of the interval since the epoch, so every engine agrees on the times).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import grpc
from trademesh.v1 import feed_pb2, feed_pb2_grpc

from engine_svc import request_codec
from engine_svc.core.commands import SetIndexPrice, SettleFunding
from engine_svc.core.units import ValidationError
from engine_svc.sequencer import EngineUnavailable, Sequencer

log = logging.getLogger("trademesh.engine.perps")


def _ignore(*_: object) -> None:
    return None


def perp_markets(sequencer: Sequencer) -> list[str]:
    return sorted(s for s, spec in sequencer.config.markets.items() if spec.is_perp)


class IndexFollower:
    def __init__(self, sequencer: Sequencer, connect: Callable[[], grpc.aio.Channel],
                 clock_ms: Callable[[], int]) -> None:
        self._seq = sequencer
        self._connect = connect  # a new channel to the feed (kept for one stream)
        self._clock = clock_ms
        self._last: dict[str, int] = {}
        self.applied = 0

    async def run(self) -> None:
        """Follows the feed until cancelled, reconnecting with backoff (each connection
        asks for the perps of the registry as it is then)."""
        delay = 0.2
        while True:
            channels = [f"index@{m}" for m in perp_markets(self._seq)]
            try:
                async with self._connect() as channel:
                    stub = feed_pb2_grpc.FeedStub(channel)
                    async for message in stub.Subscribe(
                            feed_pb2.SubscribeRequest(channels=channels)):
                        await self.take(message)
                        delay = 0.2
            except grpc.aio.AioRpcError as err:
                log.debug("index stream: %s; retrying in %.1fs", err.code(), delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def take(self, message: feed_pb2.SubscribeResponse) -> None:
        if not message.HasField("index"):
            return
        market, text = message.index.market, message.index.index_price
        spec = self._seq.config.markets.get(market)
        if spec is None or not spec.is_perp:
            return
        try:
            ticks = request_codec.ticks(spec, text, "indexPrice")
        except ValidationError as err:
            log.warning("ignored index price %r for %s: %s", text, market, err.message)
            return
        if self._last.get(market) == ticks:
            return
        try:
            await self._seq.submit(SetIndexPrice(market=market, price=ticks, ts=self._clock()),
                                   _ignore)
        except EngineUnavailable as err:
            log.info("index price for %s not applied: %s", market, err)
            return
        self._last[market] = ticks
        self.applied += 1


def next_boundary_ms(now_ms: int, interval_ms: int) -> int:
    return (now_ms // interval_ms + 1) * interval_ms


async def funding_loop(sequencer: Sequencer, interval_seconds: float,
                       clock_ms: Callable[[], int]) -> None:
    """Settles funding on every perp at each boundary, until cancelled."""
    interval_ms = max(1, int(interval_seconds * 1000))
    while True:
        due = next_boundary_ms(clock_ms(), interval_ms)
        await asyncio.sleep(max(0, due - clock_ms()) / 1000)
        for market in perp_markets(sequencer):
            try:
                await sequencer.submit(SettleFunding(market=market, ts=due), _ignore)
            except EngineUnavailable as err:
                log.warning("funding for %s at %d not settled: %s", market, due, err)
