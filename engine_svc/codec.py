"""Protobuf ↔ engine domain: the engine service's only importer of generated messages
besides the servicer. Decimal strings at the edge, the core's integers inside.

Requests are validated here, before anything is journaled: a field that is missing,
malformed, negative, zero, NaN, huge or off the market's grid raises
:class:`~engine_svc.core.units.ValidationError` naming the field by its JSON name.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TypeVar

from google.protobuf import struct_pb2, timestamp_pb2
from trademesh.v1 import account_pb2, engine_pb2, market_pb2, order_pb2

from engine_svc.core.commands import DEFAULT_SLIPPAGE_BPS, Command, PlaceOrder
from engine_svc.core.enums import (
    Liquidity,
    MarginMode,
    OrderStatus,
    OrderType,
    RejectReason,
    Side,
    StpMode,
    TimeInForce,
)
from engine_svc.core.events import Event, OrderRejected, TransferRejected
from engine_svc.core.markets import AssetSpec, MarketConfig, MarketSpec
from engine_svc.core.perp import PositionRisk
from engine_svc.core.reads import Quote
from engine_svc.core.state import Trade
from engine_svc.core.units import ValidationError
from engine_svc.decimal_edge import (
    formatter,
    minor_formatter,
    plain_units,
    ppm_formatter,
    round_half_even,
)
from engine_svc.order_views import OrderRecord
from engine_svc.wire_decimal import checked
from mesh_runtime.ascii_digits import NotAsciiDigits, is_ascii_digits, parse_ascii_uint

MAX_ORDER_ID = 2**63 - 1
LIQUIDITY = {Liquidity.MAKER: order_pb2.MAKER, Liquidity.TAKER: order_pb2.TAKER}
# proto enum number <-> domain enum, built once (Enum lookups are slow on the hot path)
SIDE_IN: dict[int, Side] = {order_pb2.Side.Value(m.value): m for m in Side}
TYPE_IN: dict[int, OrderType] = {order_pb2.OrderType.Value(m.value): m for m in OrderType}
TIF_IN: dict[int, TimeInForce] = {order_pb2.TimeInForce.Value(m.value): m for m in TimeInForce}
STP_IN: dict[int, StpMode] = {
    order_pb2.SelfTradePrevention.Value(m.value): m for m in StpMode}
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
T = TypeVar("T")
MAX_CLIENT_ORDER_ID = 64
MAX_TRANSACTION_ID = 128


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


def market_spec(config: MarketConfig, symbol: str, field: str = "market") -> MarketSpec:
    if not symbol:
        raise ValidationError(field, "REQUIRED", "is required")
    spec = config.markets.get(symbol)
    if spec is None:
        raise ValidationError(field, "UNKNOWN_MARKET", f"unknown market {symbol!r}")
    return spec


def asset_spec(config: MarketConfig, symbol: str, field: str = "asset") -> AssetSpec:
    if not symbol:
        raise ValidationError(field, "REQUIRED", "is required")
    spec = config.assets.get(symbol)
    if spec is None:
        raise ValidationError(field, "UNKNOWN_ASSET", f"unknown asset {symbol!r}")
    return spec


def identifier(value: str, field: str, limit: int, required: bool = False) -> str | None:
    if not value:
        if required:
            raise ValidationError(field, "REQUIRED", "is required")
        return None
    if len(value) > limit or not value.isprintable() or value.strip() != value:
        raise ValidationError(field, "INVALID_ID", f"at most {limit} printable characters")
    return value


def order_id(value: str, field: str = "orderId") -> int:
    """An order id as the client wrote it: 1 to 19 ASCII digits (``"²"`` and ``"٣"`` are
    malformed, not order 3); a well-formed id no order can have (0, beyond int64) is 0."""
    try:
        number = parse_ascii_uint(value)
    except NotAsciiDigits as exc:
        raise ValidationError(field, "INVALID_ID", f"{value!r}: {exc}") from None
    return number if number <= MAX_ORDER_ID else 0


def _enum(value: int, members: dict[int, T], field: str, default: T | None = None) -> T:
    if value == 0:
        if default is None:
            raise ValidationError(field, "REQUIRED", "is required")
        return default
    member = members.get(value)
    if member is None:
        raise ValidationError(field, "INVALID_ENUM", f"unknown value {value}")
    return member


def lots(spec: MarketSpec, text: str, field: str = "quantity") -> int:
    """A client's quantity text in lots (the plain case fast; the rest as the core reads
    it, after the wire's own check of the text)."""
    units = plain_units(text, spec.lot_size)
    return units if units >= spec.min_lots else spec.qty_to_lots(checked(text, field), field)


def ticks(spec: MarketSpec, text: str, field: str = "price") -> int:
    return plain_units(text, spec.tick_size) or \
        spec.price_to_ticks(checked(text, field), field)


def place_order(req: engine_pb2.PlaceOrderRequest, config: MarketConfig, user_id: str,
                ts: int) -> PlaceOrder:
    spec = market_spec(config, req.market)
    side = _enum(req.side, SIDE_IN, "side")
    otype = _enum(req.type, TYPE_IN, "type")
    tif = _enum(req.time_in_force, TIF_IN, "timeInForce", TimeInForce.GTC)
    stp = _enum(req.self_trade_prevention, STP_IN, "selfTradePrevention", StpMode.CANCEL_TAKER)
    if not req.quantity:
        raise ValidationError("quantity", "REQUIRED", "is required")
    quantity = lots(spec, req.quantity)
    price = _price(req, spec, otype)
    leverage = _leverage(req.leverage, spec)
    slippage = _slippage(req.slippage_bps, otype)
    stop_loss = take_profit = None
    if req.stop_loss or req.take_profit:
        stop_loss, take_profit = _brackets(req, spec)
    mode, position_id = margin(req.margin_mode, req.position_id, spec, req.reduce_only)
    return PlaceOrder(
        user_id=user_id, market=spec.symbol, side=side, quantity=quantity, type=otype,
        price=price, tif=tif, post_only=req.post_only, reduce_only=req.reduce_only,
        client_order_id=identifier(req.client_order_id, "clientOrderId", MAX_CLIENT_ORDER_ID),
        stp=stp, leverage=leverage, slippage_bps=slippage, ts=ts, stop_loss=stop_loss,
        take_profit=take_profit, margin_mode=mode, position_id=position_id,
    )


def place_orders(requests: Iterable[engine_pb2.PlaceOrderRequest], config: MarketConfig,
                 users: Iterable[object], ts: int) -> tuple[list[Command], list[object]]:
    """A streamed message's orders, each placed as its user (paired in order): the valid
    ones' commands, and one outcome per order: None (a command), its ValidationError, or
    the user's own entry when that is not a user id (why its caller is refused)."""
    commands: list[Command] = []
    outcomes: list[object] = []
    for request, user in zip(requests, users, strict=False):
        if not isinstance(user, str):
            outcomes.append(user)
            continue
        try:
            commands.append(place_order(request, config, user, ts))
            outcomes.append(None)
        except ValidationError as err:
            outcomes.append(err)
    return commands, outcomes


MARGIN_IN: dict[int, MarginMode] = {order_pb2.CROSS: MarginMode.CROSS,
                                    order_pb2.ISOLATED: MarginMode.ISOLATED}


def position_id(text: str, field: str = "positionId") -> int:
    """An isolated position's id in ASCII digits (empty: none, 0). A well-formed id no
    position can have (0, or beyond 64 bits) is -1: the core's POSITION_NOT_FOUND."""
    if not text:
        return 0
    if not is_ascii_digits(text):
        raise ValidationError(field, "INVALID", "must be a position id in ASCII digits")
    value = int(text)
    return value if 0 < value < 2**63 else -1


def margin(mode_value: int, pid_text: str, spec: MarketSpec, reduce_only: bool
           ) -> tuple[MarginMode, int]:
    """The order's margin mode and the isolated position it names (0: none)."""
    mode = _enum(mode_value, MARGIN_IN, "marginMode", MarginMode.CROSS)
    pid = position_id(pid_text)
    if (mode is MarginMode.ISOLATED or pid) and not spec.is_perp:
        raise ValidationError("marginMode" if not pid else "positionId", "NOT_ALLOWED",
                              "spot markets have no margin")
    if pid and mode_value == order_pb2.CROSS:
        raise ValidationError("marginMode", "CONFLICT",
                              "an order naming an isolated position is ISOLATED")
    if mode is MarginMode.ISOLATED and reduce_only and not pid:
        raise ValidationError("marginMode", "CONFLICT",
                              "a reduce-only ISOLATED order needs the positionId it reduces")
    return mode, pid


def _brackets(req: engine_pb2.PlaceOrderRequest, spec: MarketSpec
              ) -> tuple[int | None, int | None]:
    """An order's stop-loss / take-profit trigger prices (perps, not reduce-only); which
    side of the mark and of the limit price they must be on is the core's check."""
    name = "stopLoss" if req.stop_loss else "takeProfit"
    if not spec.is_perp:
        raise ValidationError(name, "NOT_ALLOWED",
                              "stop-loss and take-profit apply to perp positions")
    if req.reduce_only or req.position_id:
        raise ValidationError(name, "NOT_ALLOWED", "a reduce-only order opens nothing to cover")
    return (ticks(spec, req.stop_loss, "stopLoss") if req.stop_loss else None,
            ticks(spec, req.take_profit, "takeProfit") if req.take_profit else None)


def _price(req: engine_pb2.PlaceOrderRequest, spec: MarketSpec, otype: OrderType) -> int | None:
    if otype is OrderType.MARKET:
        if req.price:
            raise ValidationError("price", "NOT_ALLOWED", "market orders take no price")
        if req.post_only:
            raise ValidationError("postOnly", "NOT_ALLOWED", "market orders always take")
        return None
    if not req.price:
        raise ValidationError("price", "REQUIRED", "limit orders need a price")
    return ticks(spec, req.price)


def _leverage(value: int, spec: MarketSpec) -> int:
    if value == 0:
        return 1
    if not spec.is_perp and value != 1:
        raise ValidationError("leverage", "NOT_ALLOWED", "spot markets trade without leverage")
    if value > spec.max_leverage:
        raise ValidationError("leverage", "TOO_LARGE", f"at most {spec.max_leverage}")
    return value


def _slippage(value: int, otype: OrderType) -> int:
    if otype is not OrderType.MARKET:
        if value:
            raise ValidationError("slippageBps", "NOT_ALLOWED", "only market orders take it")
        return DEFAULT_SLIPPAGE_BPS
    if value == 0:
        return DEFAULT_SLIPPAGE_BPS
    if value >= 10_000:
        raise ValidationError("slippageBps", "TOO_LARGE", "must be below 10000")
    return value


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


def amount(config: MarketConfig, asset: str, value: str) -> tuple[AssetSpec, int]:
    spec = asset_spec(config, asset)
    if not value:
        raise ValidationError("amount", "REQUIRED", "is required")
    return spec, spec.amount_to_units(checked(value, "amount"), "amount")


def price_text(spec: MarketSpec, ticks: int | None) -> str:
    return "" if ticks is None else decimal_text(spec.ticks_to_price(ticks))


def qty_text(spec: MarketSpec, lots: int) -> str:
    return decimal_text(spec.lots_to_qty(lots))




def side(value: int, field: str = "side") -> Side:
    return _enum(value, SIDE_IN, field)


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
