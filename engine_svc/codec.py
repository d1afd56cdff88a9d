"""Engine domain → protobuf: the answers (orders with their fills, balances, positions,
markets, books, tickers, quotes) rendered from the core's integers as decimal strings.
Requests go the other way in :mod:`engine_svc.request_codec`.
"""

from __future__ import annotations

from decimal import Decimal

from google.protobuf import struct_pb2, timestamp_pb2
from trademesh.v1 import account_pb2, engine_pb2, market_pb2, order_pb2

from engine_svc.core.enums import (
    Liquidity,
    OrderStatus,
    OrderType,
    RejectReason,
    Side,
    StpMode,
    TimeInForce,
)
from engine_svc.core.events import Event, OrderRejected, TransferRejected
from engine_svc.core.markets import MarketConfig, MarketSpec
from engine_svc.core.perp import PositionRisk
from engine_svc.core.reads import Quote
from engine_svc.core.state import Trade
from engine_svc.decimal_edge import (
    formatter,
    minor_formatter,
    ppm_formatter,
    round_half_even,
)
from engine_svc.order_views import OrderRecord

LIQUIDITY = {Liquidity.MAKER: order_pb2.MAKER, Liquidity.TAKER: order_pb2.TAKER}
# domain enum -> proto enum number, built once (Enum lookups are slow on the hot path)
SIDE_OUT = {m: order_pb2.Side.Value(m.value) for m in Side}
TYPE_OUT = {m: order_pb2.OrderType.Value(m.value) for m in OrderType}
TIF_OUT = {m: order_pb2.TimeInForce.Value(m.value) for m in TimeInForce}
STP_OUT = {m: order_pb2.SelfTradePrevention.Value(m.value) for m in StpMode}
STATUS_OUT = {m: order_pb2.OrderStatus.Value(m.value) for m in OrderStatus}
# The order renders (several lookups per order) key by the member's ``_value_``, a str with
# a cached hash: hashing an Enum member itself is a call into Python (``Enum.__hash__``).
SIDE_BY_VALUE = {m.value: n for m, n in SIDE_OUT.items()}
_TYPE_OUT = {m.value: n for m, n in TYPE_OUT.items()}
_TIF_OUT = {m.value: n for m, n in TIF_OUT.items()}
_STP_OUT = {m.value: n for m, n in STP_OUT.items()}
STATUS_BY_VALUE = {m.value: n for m, n in STATUS_OUT.items()}
LIQUIDITY_BY_VALUE = {m.value: n for m, n in LIQUIDITY.items()}
_MARKET = OrderType.MARKET.value


def decimal_text(value: Decimal) -> str:
    """A decimal without exponent or needless trailing zeros ("141.39", "2", "0.0001")."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def timestamp(ms: int) -> timestamp_pb2.Timestamp:
    seconds, millis = divmod(ms, 1000)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=millis * 1_000_000)


def set_time(field: timestamp_pb2.Timestamp, ms: int) -> None:
    """Sets a message's timestamp field in place (no Timestamp built, then copied in)."""
    seconds, millis = divmod(ms, 1000)
    field.seconds = seconds
    field.nanos = millis * 1_000_000


def rejected(events: list[Event]) -> RejectReason | None:
    """Why a command was refused (its events' order or transfer rejection), or None; a
    repeated transaction id is no refusal (the deposit or withdrawal already happened)."""
    for event in events:
        if isinstance(event, (OrderRejected, TransferRejected)) and \
                event.reason is not RejectReason.DUPLICATE_TRANSACTION:
            return event.reason
    return None


def _add_fills(msg: order_pb2.Order, record: OrderRecord, spec: MarketSpec) -> None:
    """The record's fills, each built in place in ``msg.fills`` (no copy)."""
    price_of, qty_of = formatter(spec.tick_size), formatter(spec.lot_size)
    fee_of, fee_asset = minor_formatter(spec.quote.scale), spec.quote.symbol
    side = SIDE_BY_VALUE[record.side._value_]
    perp = spec.is_perp
    order_id, market, user_id, add = msg.order_id, record.market, record.user_id, msg.fills.add
    for f in record.fills:
        fill_id = str(f.fill_id)
        fill = add(
            fill_id=fill_id, order_id=order_id, market=market, side=side,
            price=price_of(f.price), quantity=qty_of(f.quantity), fee=fee_of(f.fee),
            fee_asset=fee_asset, liquidity=LIQUIDITY_BY_VALUE[f.liquidity._value_],
            user_id=user_id, trade_id=fill_id,
            realized_pnl=fee_of(f.realized) if perp and f.realized is not None else "")
        set_time(fill.time, f.ts)


def order(record: OrderRecord, config: MarketConfig) -> order_pb2.Order:
    spec = config.markets[record.market]
    price_of, qty_of = formatter(spec.tick_size), formatter(spec.lot_size)
    otype = record.type._value_
    msg = order_pb2.Order(
        order_id=str(record.order_id), client_order_id=record.client_order_id or "",
        user_id=record.user_id, market=record.market, side=SIDE_BY_VALUE[record.side._value_],
        type=_TYPE_OUT[otype], time_in_force=_TIF_OUT[record.tif._value_],
        status=STATUS_BY_VALUE[record.status._value_],
        price="" if otype == _MARKET else price_of(record.price),
        quantity=qty_of(record.quantity), filled_quantity=qty_of(record.filled),
        average_price=average_price(record, spec), post_only=record.post_only,
        reduce_only=record.reduce_only, leverage=record.leverage,
        self_trade_prevention=_STP_OUT[record.stp._value_], slippage_bps=record.slippage_bps,
        reason=record.reason,
    )
    set_time(msg.create_time, record.created)
    set_time(msg.update_time, record.updated)
    if record.position_id:
        msg.position_id, msg.margin_mode = str(record.position_id), order_pb2.ISOLATED
    elif spec.is_perp:
        msg.margin_mode = order_pb2.CROSS
    if record.stop_loss is not None:
        msg.stop_loss = price_of(record.stop_loss)
    if record.take_profit is not None:
        msg.take_profit = price_of(record.take_profit)
    if record.fills:
        _add_fills(msg, record, spec)
    return msg


def average_price(record: OrderRecord, spec: MarketSpec) -> str:
    """The fills' quantity-weighted price, to a millionth of a tick (half to even), in
    integers: what ``Decimal`` division and ``quantize`` give at any realistic size."""
    if not record.filled:
        return ""
    millionths = round_half_even(record.filled_ticks_lots * 10**6, record.filled)
    return ppm_formatter(spec.tick_size)(millionths)


def market(s: MarketSpec) -> market_pb2.Market:
    return market_pb2.Market(
        symbol=s.symbol, kind=market_pb2.MarketKind.Value(s.kind.value),
        base_asset=s.base.symbol,
        quote_asset=s.quote.symbol, tick_size=decimal_text(s.tick_size),
        lot_size=decimal_text(s.lot_size),
        min_quantity=decimal_text(s.min_quantity), max_leverage=s.max_leverage,
        maker_fee_bps=s.maker_fee_bps, taker_fee_bps=s.taker_fee_bps,
        maintenance_margin_rate=decimal_text(s.maintenance_margin_rate) if s.is_perp else "",
        status=market_pb2.MarketStatus.Value(s.status.value),
    )


def markets(config: MarketConfig) -> list[market_pb2.Market]:
    """Every market, by symbol."""
    return [market(s) for _, s in sorted(config.markets.items())]


def balances(config: MarketConfig, raw: dict[str, tuple[int, int]]) -> list[account_pb2.Balance]:
    return [account_pb2.Balance(
        asset=asset, available=decimal_text(config.assets[asset].units_to_amount(avail)),
        locked=decimal_text(config.assets[asset].units_to_amount(locked)),
    ) for asset, (avail, locked) in sorted(raw.items())]


def position(spec: MarketSpec, user_id: str, risk: PositionRisk,
             position_id: int = 0) -> account_pb2.Position:
    """A perp position with its entry, mark, unrealised PnL, margin, leverage and the mark
    at which it would be liquidated (the core's figures: cross margin, or an isolated
    position's own when ``position_id`` names one)."""
    money, price = minor_formatter(spec.quote.scale), formatter(spec.tick_size)
    msg = account_pb2.Position(
        market=spec.symbol, user_id=user_id, size=formatter(spec.lot_size)(abs(risk.size)),
        margin=money(risk.margin), realized_pnl=money(risk.realized_pnl),
        unrealized_pnl=money(risk.unrealized_pnl), cost=money(risk.cost),
        position_id=str(position_id) if position_id else "",
        margin_mode=order_pb2.ISOLATED if position_id else order_pb2.CROSS)
    if risk.size == 0:
        return msg
    msg.side = order_pb2.BUY if risk.size > 0 else order_pb2.SELL
    entry = (risk.entry_price * spec.tick_size).quantize(spec.tick_size / 10**6)
    msg.entry_price = decimal_text(entry)
    if risk.mark_price is not None:
        msg.mark_price = price(risk.mark_price)
    if risk.liquidation_price is not None:
        msg.liquidation_price = price(risk.liquidation_price)
    if risk.leverage is not None:
        msg.leverage = max(1, int(risk.leverage))
    return msg


def depth_side(spec: MarketSpec, levels: list[tuple[int, int]]) -> list[struct_pb2.ListValue]:
    out = []
    for ticks, lots in levels:
        pair = struct_pb2.ListValue()
        pair.extend([price_text(spec, ticks), qty_text(spec, lots)])
        out.append(pair)
    return out


def price_text(spec: MarketSpec, ticks: int | None) -> str:
    return "" if ticks is None else decimal_text(spec.ticks_to_price(ticks))


def qty_text(spec: MarketSpec, lots: int) -> str:
    return decimal_text(spec.lots_to_qty(lots))


def quote(spec: MarketSpec, q: Quote) -> engine_pb2.QuoteOrderResponse:
    average = "" if q.avg_price is None else decimal_text(
        q.avg_price.quantize(spec.tick_size / 10**6))
    return engine_pb2.QuoteOrderResponse(
        average_price=average, worst_price=price_text(spec, q.worst_price),
        fillable_quantity=qty_text(spec, q.fillable),
        notional=decimal_text(spec.quote.units_to_amount(q.notional)))


def ticker(spec: MarketSpec, raw: dict[str, int | None]) -> market_pb2.Ticker:
    """Top of book and last price; the 24h rolling figures come from the feed service."""
    return market_pb2.Ticker(
        market=spec.symbol, last=price_text(spec, raw["last_price"]),
        best_bid=price_text(spec, raw["best_bid"]), best_ask=price_text(spec, raw["best_ask"]),
        index_price=price_text(spec, raw["index_price"]))


def trades(spec: MarketSpec, raw: list[Trade]) -> list[market_pb2.Trade]:
    return [market_pb2.Trade(
        trade_id=str(fid), market=spec.symbol, price=price_text(spec, price),
        quantity=qty_text(spec, qty), taker_side=taker, time=timestamp(ts),
    ) for fid, price, qty, taker, ts in raw]
