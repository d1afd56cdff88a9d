"""Protobuf ↔ registry commands: the admin rpcs' requests as core commands.

The core validates the content (symbols, grids, fees, leverage) and names the field; this
module only turns wire types into command fields: enums, the optional fields of an update,
and the few things the wire itself can get wrong (a missing kind, a negative number).
"""

from __future__ import annotations

from trademesh.v1 import engine_pb2, market_pb2

from engine_svc.codec import market
from engine_svc.core.commands import AddAsset, AddMarket, UpdateMarket
from engine_svc.core.enums import MarketKind, MarketStatus
from engine_svc.core.markets import MarketConfig
from engine_svc.core.units import ValidationError
from engine_svc.wire_decimal import checked

KIND_IN = {market_pb2.MarketKind.Value(k.value): k for k in MarketKind}
STATUS_IN = {market_pb2.MarketStatus.Value(s.value): s for s in MarketStatus}


def add_asset(req: engine_pb2.AddAssetRequest, ts: int) -> AddAsset:
    if not req.symbol:
        raise ValidationError("symbol", "REQUIRED", "is required")
    return AddAsset(symbol=req.symbol, decimals=req.decimals, ts=ts)


def add_market(req: engine_pb2.AddMarketRequest, ts: int) -> AddMarket:
    m = req.market
    kind = KIND_IN.get(m.kind)
    if kind is None:
        raise ValidationError("kind", "REQUIRED", "SPOT or PERP is required")
    for name, value in (("symbol", m.symbol), ("baseAsset", m.base_asset),
                        ("quoteAsset", m.quote_asset), ("tickSize", m.tick_size),
                        ("lotSize", m.lot_size)):
        if not value:
            raise ValidationError(name, "REQUIRED", "is required")
    for name, value in (("tickSize", m.tick_size), ("lotSize", m.lot_size),
                        ("minQuantity", m.min_quantity),
                        ("maintenanceMarginRate", m.maintenance_margin_rate)):
        if value:
            checked(value, name)  # the wire's decimal text (the core also reads 1e-3)
    return AddMarket(
        symbol=m.symbol, kind=kind, base_asset=m.base_asset, quote_asset=m.quote_asset,
        tick_size=m.tick_size, lot_size=m.lot_size, min_quantity=m.min_quantity,
        max_leverage=m.max_leverage or 1, maker_fee_bps=m.maker_fee_bps,
        taker_fee_bps=m.taker_fee_bps, maintenance_margin_rate=m.maintenance_margin_rate or "0",
        ts=ts)


def update_market(req: engine_pb2.UpdateMarketRequest, ts: int) -> UpdateMarket:
    if not req.market:
        raise ValidationError("market", "REQUIRED", "is required")
    status = ""
    if req.status:
        member = STATUS_IN.get(req.status)
        if member is None:
            raise ValidationError("status", "INVALID_ENUM", "OPEN, HALTED or CLOSE_ONLY")
        status = member.value
    if not status and not any(req.HasField(name) for name in (
            "maker_fee_bps", "taker_fee_bps", "max_leverage")):
        raise ValidationError("status", "REQUIRED", "give at least one of status, makerFeeBps, "
                                                    "takerFeeBps, maxLeverage")
    return UpdateMarket(
        market=req.market, status=status,
        maker_fee_bps=req.maker_fee_bps if req.HasField("maker_fee_bps") else None,
        taker_fee_bps=req.taker_fee_bps if req.HasField("taker_fee_bps") else None,
        max_leverage=req.max_leverage if req.HasField("max_leverage") else None, ts=ts)


def registry(config: MarketConfig) -> engine_pb2.ListRegistryResponse:
    return engine_pb2.ListRegistryResponse(
        markets=[market(s) for _, s in sorted(config.markets.items())],
        assets=[market_pb2.Asset(symbol=a.symbol, decimals=a.scale)
                for _, a in sorted(config.assets.items())])
