"""The market-data reads anyone may make: ListMarkets, GetDepth, GetTicker,
GetRecentTrades — served from the in-memory state, never journaled.

A mixin of :class:`~engine_svc.servicer.EngineServicer` (it uses the servicer's sequencer,
clock and depth views). ``GetDepth`` answers from the same views and sequence as the feed's
``depth@M`` (:mod:`engine_svc.depth_views`), so a REST snapshot and the WebSocket diffs
stitch; deeper than the views keep, it reads the book itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from trademesh.v1 import engine_pb2

from engine_svc import codec, errors, request_codec
from engine_svc.core.units import ValidationError
from engine_svc.depth_views import DepthViews
from engine_svc.sequencer import Sequencer

Context = grpc.aio.ServicerContext[Any, Any]
MAX_DEPTH = 1000


class MarketRpcs:
    _seq: Sequencer
    _depth: DepthViews
    _clock: Callable[[], int]
    _readable: Callable[[Context], Awaitable[None]]

    @property
    def _config(self) -> Any:
        return self._seq.config

    async def _market(self, context: Context, symbol: str) -> Any:
        try:
            return request_codec.market_spec(self._config, symbol)
        except ValidationError as err:
            await errors.abort(context, errors.invalid(err))

    async def ListMarkets(self, request: engine_pb2.ListMarketsRequest,
                          context: Context) -> engine_pb2.ListMarketsResponse:
        return engine_pb2.ListMarketsResponse(markets=codec.markets(self._config))

    async def GetDepth(self, request: engine_pb2.GetDepthRequest,
                       context: Context) -> engine_pb2.GetDepthResponse:
        await self._readable(context)
        spec = await self._market(context, request.market)
        limit = min(request.limit or 50, MAX_DEPTH)
        sequence, bids, asks = self._depth.view(spec.symbol)
        if limit > self._depth.levels:  # deeper than depth@M keeps: from the book itself
            bids, asks = self._seq.engine.depth(spec.symbol, limit)
        return engine_pb2.GetDepthResponse(
            market=spec.symbol, bids=codec.depth_side(spec, bids[:limit]),
            asks=codec.depth_side(spec, asks[:limit]), sequence=sequence,
            time=codec.timestamp(self._clock()))

    async def GetTicker(self, request: engine_pb2.GetTickerRequest,
                        context: Context) -> engine_pb2.GetTickerResponse:
        await self._readable(context)
        spec = await self._market(context, request.market)
        return engine_pb2.GetTickerResponse(
            ticker=codec.ticker(spec, self._seq.engine.ticker(spec.symbol)))

    async def GetRecentTrades(self, request: engine_pb2.GetRecentTradesRequest,
                              context: Context) -> engine_pb2.GetRecentTradesResponse:
        await self._readable(context)
        spec = await self._market(context, request.market)
        newest = self._seq.engine.recent_trades(spec.symbol)[::-1][: request.limit or 100]
        return engine_pb2.GetRecentTradesResponse(trades=codec.trades(spec, newest))
