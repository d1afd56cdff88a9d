"""Requests validated into the core's commands and units, before anything is journaled.

A field that is missing, malformed, negative, zero, NaN, huge or off the market's grid
raises :class:`~engine_svc.core.units.ValidationError` naming the field by its JSON name.
Decimal strings at the edge, the core's integers inside; the answers are rendered by
:mod:`engine_svc.codec`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from trademesh.v1 import engine_pb2, order_pb2

from engine_svc.core.commands import DEFAULT_SLIPPAGE_BPS, Command, PlaceOrder
from engine_svc.core.enums import MarginMode, OrderType, Side, StpMode, TimeInForce
from engine_svc.core.markets import AssetSpec, MarketConfig, MarketSpec
from engine_svc.core.units import ValidationError
from engine_svc.decimal_edge import plain_units
from engine_svc.wire_decimal import checked
from mesh_runtime.ascii_digits import NotAsciiDigits, is_ascii_digits, parse_ascii_uint

MAX_ORDER_ID = 2**63 - 1
# proto enum number -> domain enum, built once (Enum lookups are slow on the hot path)
SIDE_IN: dict[int, Side] = {order_pb2.Side.Value(m.value): m for m in Side}
TYPE_IN: dict[int, OrderType] = {order_pb2.OrderType.Value(m.value): m for m in OrderType}
TIF_IN: dict[int, TimeInForce] = {order_pb2.TimeInForce.Value(m.value): m for m in TimeInForce}
STP_IN: dict[int, StpMode] = {
    order_pb2.SelfTradePrevention.Value(m.value): m for m in StpMode}
T = TypeVar("T")
MAX_CLIENT_ORDER_ID = 64
MAX_TRANSACTION_ID = 128
MARGIN_IN: dict[int, MarginMode] = {order_pb2.CROSS: MarginMode.CROSS,
                                    order_pb2.ISOLATED: MarginMode.ISOLATED}


def _known(specs: dict[str, T], symbol: str, field: str, kind: str) -> T:
    """The spec ``symbol`` names; ``kind`` ("market", "asset") names the refusal."""
    if not symbol:
        raise ValidationError(field, "REQUIRED", "is required")
    spec = specs.get(symbol)
    if spec is None:
        raise ValidationError(field, f"UNKNOWN_{kind.upper()}", f"unknown {kind} {symbol!r}")
    return spec


def market_spec(config: MarketConfig, symbol: str, field: str = "market") -> MarketSpec:
    return _known(config.markets, symbol, field, "market")


def asset_spec(config: MarketConfig, symbol: str, field: str = "asset") -> AssetSpec:
    return _known(config.assets, symbol, field, "asset")


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


def amount(config: MarketConfig, asset: str, value: str) -> tuple[AssetSpec, int]:
    spec = asset_spec(config, asset)
    if not value:
        raise ValidationError("amount", "REQUIRED", "is required")
    return spec, spec.amount_to_units(checked(value, "amount"), "amount")


def side(value: int, field: str = "side") -> Side:
    return _enum(value, SIDE_IN, field)
