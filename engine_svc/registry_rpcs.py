"""The admin rpcs that change the registry: AddAsset, AddMarket, ListRegistry, UpdateMarket.

A mixin of :class:`~engine_svc.servicer.EngineServicer` (it uses the servicer's sequencer,
clock and ``_apply``). Each change is a journaled engine command: answered only once it is
durable, refused (nothing changed) with the field the core named. Only admins get here:
the rpcs' call policy says ``admin``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from trademesh.v1 import engine_pb2, market_pb2

from engine_svc import codec, errors, registry_codec
from engine_svc.core.commands import Command
from engine_svc.core.events import AssetAdded, Event, MarketChanged, RegistryCommandRejected
from engine_svc.core.units import ValidationError
from engine_svc.order_views import OrderRecord
from engine_svc.sequencer import Sequencer

Context = grpc.aio.ServicerContext[Any, Any]
Apply = Callable[[Context, Command, Callable[[list[Event], list[OrderRecord]], Any]], Any]


def _answer(events: list[Event]) -> Any:
    """The refusal, or the asset / market as it now is."""
    for event in events:
        if isinstance(event, RegistryCommandRejected):
            return errors.registry_refusal(event.reason, event.field, event.message)
        if isinstance(event, AssetAdded):
            return market_pb2.Asset(symbol=event.symbol, decimals=event.decimals)
        if isinstance(event, MarketChanged):
            return event.symbol
    raise RegistryAnswerMissing(events)


class RegistryAnswerMissing(RuntimeError):
    """A registry command answered with no registry event (a core bug)."""


class RegistryRpcs:
    _seq: Sequencer
    _clock: Callable[[], int]
    _apply: Apply

    async def _registry_change(self, context: Context, build: Callable[[], Command]) -> Any:
        try:
            command = build()
        except ValidationError as err:
            await errors.abort(context, errors.invalid(err))

        def render(events: list[Event], _: list[OrderRecord]) -> Any:
            answer = _answer(events)
            if isinstance(answer, str):  # a market symbol: render it as it is now
                return codec.market(self._seq.config.markets[answer])
            return answer

        return await self._apply(context, command, render)

    async def AddAsset(self, request: engine_pb2.AddAssetRequest,
                       context: Context) -> engine_pb2.AddAssetResponse:
        asset = await self._registry_change(
            context, lambda: registry_codec.add_asset(request, self._clock()))
        return engine_pb2.AddAssetResponse(asset=asset)

    async def AddMarket(self, request: engine_pb2.AddMarketRequest,
                        context: Context) -> engine_pb2.AddMarketResponse:
        market = await self._registry_change(
            context, lambda: registry_codec.add_market(request, self._clock()))
        return engine_pb2.AddMarketResponse(market=market)

    async def UpdateMarket(self, request: engine_pb2.UpdateMarketRequest,
                           context: Context) -> engine_pb2.UpdateMarketResponse:
        market = await self._registry_change(
            context, lambda: registry_codec.update_market(request, self._clock()))
        return engine_pb2.UpdateMarketResponse(market=market)

    async def ListRegistry(self, request: engine_pb2.ListRegistryRequest,
                           context: Context) -> engine_pb2.ListRegistryResponse:
        if not self._seq.healthy:
            await errors.abort(context, errors.unavailable("the engine is recovering"))
        return registry_codec.registry(self._seq.config)
