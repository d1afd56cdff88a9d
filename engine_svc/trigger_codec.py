"""Protobuf ↔ engine domain for triggers (``/api/v1/triggers``): requests validated into
core commands, field errors naming the JSON field; armed triggers into ``Trigger``s.

What is checked here, before anything is journaled: the market is a perp, the kind is
given, prices and quantities are on the market's grid, fields that do not apply to the
kind are absent (``limitPrice`` is for STOP_LIMIT only, ``leverage`` for stop orders).
Whether a trigger price is already reached (against the mark), the position to close and
the trigger limit are the core's checks (:mod:`engine_svc.core.triggers`).
"""

from __future__ import annotations

from trademesh.v1 import engine_pb2, trigger_pb2

from engine_svc.codec import SIDE_OUT, timestamp
from engine_svc.core.commands import DEFAULT_SLIPPAGE_BPS, MoveTrigger, PlaceTrigger
from engine_svc.core.enums import Side, TriggerKind
from engine_svc.core.markets import MarketConfig, MarketSpec
from engine_svc.core.reads import TriggerView
from engine_svc.core.units import ValidationError
from engine_svc.decimal_edge import formatter
from engine_svc.request_codec import SIDE_IN, lots, market_spec, position_id, ticks
from mesh_runtime.ascii_digits import is_ascii_digits

KIND_IN: dict[int, TriggerKind] = {trigger_pb2.TriggerKind.Value(k.value): k for k in TriggerKind}
KIND_OUT = {k: trigger_pb2.TriggerKind.Value(k.value) for k in TriggerKind}
ON_POSITION = (TriggerKind.STOP_LOSS, TriggerKind.TAKE_PROFIT)


def trigger_id(value: str) -> int:
    """A trigger id in ASCII digits; a well-formed id no trigger has (0, or one too large)
    is the core's TRIGGER_NOT_FOUND, like any unknown one."""
    if not is_ascii_digits(value):
        raise ValidationError("triggerId", "INVALID_ID", f"{value!r} is not a trigger id")
    return int(value)


def perp_spec(config: MarketConfig, symbol: str) -> MarketSpec:
    spec = market_spec(config, symbol)
    if not spec.is_perp:
        raise ValidationError("market", "NOT_A_PERP", "triggers fire on perp markets' marks")
    return spec


def _kind(value: int) -> TriggerKind:
    if value == 0:
        raise ValidationError("kind", "REQUIRED", "is required")
    kind = KIND_IN.get(value)
    if kind is None:
        raise ValidationError("kind", "INVALID_ENUM", f"unknown value {value}")
    return kind


def _side(value: int, kind: TriggerKind, position: int) -> Side:
    """The request's side; for a stop-loss / take-profit by default the closing one."""
    if value:
        side = SIDE_IN.get(value)
        if side is None:
            raise ValidationError("side", "INVALID_ENUM", f"unknown value {value}")
        return side
    if kind not in ON_POSITION:
        raise ValidationError("side", "REQUIRED", "is required for stop orders")
    return Side.BUY if position < 0 else Side.SELL


def _slippage(value: int, kind: TriggerKind) -> int:
    if value == 0:
        return DEFAULT_SLIPPAGE_BPS
    if kind is TriggerKind.STOP_LIMIT:
        raise ValidationError("slippageBps", "NOT_ALLOWED", "a stop-limit places a limit order")
    if value >= 10_000:
        raise ValidationError("slippageBps", "TOO_LARGE", "must be below 10000")
    return value


def _stop_fields(req: engine_pb2.PlaceTriggerRequest, spec: MarketSpec, kind: TriggerKind
                 ) -> tuple[int | None, int]:
    """(limit price, leverage) of a stop order; checks a stop-loss / take-profit has none."""
    if kind in ON_POSITION:
        for name, given in (("limitPrice", req.limit_price), ("leverage", req.leverage)):
            if given:
                raise ValidationError(name, "NOT_ALLOWED", "only stop orders take it")
        return None, 1
    if req.leverage > spec.max_leverage:
        raise ValidationError("leverage", "TOO_LARGE", f"at most {spec.max_leverage}")
    if kind is TriggerKind.STOP_MARKET:
        if req.limit_price:
            raise ValidationError("limitPrice", "NOT_ALLOWED", "only STOP_LIMIT takes it")
        return None, req.leverage or 1
    if not req.limit_price:
        raise ValidationError("limitPrice", "REQUIRED", "a STOP_LIMIT needs a limit price")
    return ticks(spec, req.limit_price, "limitPrice"), req.leverage or 1


def place_trigger(req: engine_pb2.PlaceTriggerRequest, config: MarketConfig, user_id: str,
                  position: int, ts: int) -> PlaceTrigger:
    """``position`` is the caller's signed size now of the position it names (the cross one
    of the market, or the isolated ``position_id``), for the default side."""
    spec = perp_spec(config, req.market)
    kind = _kind(req.kind)
    pid = position_id(req.position_id)
    if pid and kind not in ON_POSITION:
        raise ValidationError("positionId", "NOT_ALLOWED",
                              "only a stop-loss or take-profit closes a position")
    if not req.trigger_price:
        raise ValidationError("triggerPrice", "REQUIRED", "is required")
    price = ticks(spec, req.trigger_price, "triggerPrice")
    side = _side(req.side, kind, position)
    if not req.quantity and kind not in ON_POSITION:
        raise ValidationError("quantity", "REQUIRED", "is required for stop orders")
    quantity = lots(spec, req.quantity) if req.quantity else None
    limit, leverage = _stop_fields(req, spec, kind)
    return PlaceTrigger(user_id=user_id, market=spec.symbol, side=side, kind=kind,
                        trigger_price=price, quantity=quantity,
                        slippage_bps=_slippage(req.slippage_bps, kind), ts=ts,
                        limit_price=limit, leverage=leverage,
                        reduce_only=req.reduce_only and kind not in ON_POSITION,
                        position_id=pid)


def move_trigger(req: engine_pb2.MoveTriggerRequest, spec: MarketSpec, user_id: str,
                 armed: TriggerView, ts: int) -> MoveTrigger:
    if not req.trigger_price and not req.limit_price:
        raise ValidationError("triggerPrice", "REQUIRED", "give a new triggerPrice or limitPrice")
    price = ticks(spec, req.trigger_price, "triggerPrice") if req.trigger_price else None
    limit = None
    if req.limit_price:
        if armed.kind is not TriggerKind.STOP_LIMIT:
            raise ValidationError("limitPrice", "NOT_ALLOWED", "only a STOP_LIMIT has one")
        limit = ticks(spec, req.limit_price, "limitPrice")
    return MoveTrigger(user_id=user_id, trigger_id=armed.trigger_id, trigger_price=price,
                       limit_price=limit, ts=ts)


def trigger(view: TriggerView, spec: MarketSpec, user_id: str) -> trigger_pb2.Trigger:
    price_of, qty_of = formatter(spec.tick_size), formatter(spec.lot_size)
    whole = view.quantity == 0 and view.order_id == 0
    msg = trigger_pb2.Trigger(
        trigger_id=str(view.trigger_id), market=spec.symbol, kind=KIND_OUT[view.kind],
        trigger_price=price_of(view.trigger_price), side=SIDE_OUT[view.side],
        quantity="" if whole else qty_of(view.quantity),
        limit_price=price_of(view.limit_price) if view.limit_price else "",
        order_id=str(view.order_id) if view.order_id else "", pending=view.pending,
        user_id=user_id, create_time=timestamp(view.ts),
        position_id=str(view.position_id) if view.position_id else "")
    if view.kind not in ON_POSITION:
        msg.leverage, msg.reduce_only = view.leverage, view.reduce_only
    return msg

