"""Database rows → protobuf messages: the persistence service's only translation to the
wire (with :mod:`persistence_svc.errors`). Decimals become strings without exponent."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from google.protobuf import timestamp_pb2
from sqlalchemy import Row
from trademesh.v1 import account_pb2, market_pb2, order_pb2

from persistence_svc.candles import CandleRow
from persistence_svc.users import UserRecord

Rec = Row[Any]


def dec(value: Decimal | None) -> str:
    if value is None:
        return ""
    text = format(value.normalize(), "f")
    return "0" if text == "-0" else text


def ts(ms: int) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromMilliseconds(ms)
    return out


def ms(stamp: timestamp_pb2.Timestamp) -> int:
    return stamp.seconds * 1000 + stamp.nanos // 1_000_000


def user(record: UserRecord) -> account_pb2.User:
    return account_pb2.User(id=record.id, email=record.email, admin=record.admin,
                            create_time=ts(record.created_ms))


def order(r: Rec) -> order_pb2.Order:
    """A MARKET order has no price (its bound is ``slippage_bps``; rows of older releases
    hold that bound as the price, not shown). The terms (post-only, reduce-only, leverage,
    self-trade prevention, slippage, brackets) of rows written before they were recorded
    (NULL: before 0006, or from an older engine's events) are left unset: false, 0,
    SELF_TRADE_PREVENTION_UNSPECIFIED and empty, not guessed."""
    average = r.notional / r.filled if r.filled else None
    return order_pb2.Order(
        order_id=str(r.order_id), client_order_id=r.client_order_id or "", user_id=r.user_id,
        market=r.market, side=order_pb2.Side.Value(r.side),
        type=order_pb2.OrderType.Value(r.type),
        time_in_force=order_pb2.TimeInForce.Value(r.tif),
        status=order_pb2.OrderStatus.Value(r.status),
        price="" if r.type == "MARKET" else dec(r.price),
        quantity=dec(r.quantity), filled_quantity=dec(r.filled), average_price=dec(average),
        reason=r.reason or "", create_time=ts(r.created_ms), update_time=ts(r.updated_ms),
        margin_mode=order_pb2.MarginMode.Value(r.margin_mode or "MARGIN_MODE_UNSPECIFIED"),
        position_id=r.position_id or "", post_only=bool(r.post_only),
        reduce_only=bool(r.reduce_only), leverage=r.leverage or 0,
        self_trade_prevention=order_pb2.SelfTradePrevention.Value(
            r.self_trade_prevention or "SELF_TRADE_PREVENTION_UNSPECIFIED"),
        slippage_bps=r.slippage_bps or 0, stop_loss=dec(r.stop_loss),
        take_profit=dec(r.take_profit))


def fill(r: Rec) -> order_pb2.Fill:
    return order_pb2.Fill(
        fill_id=str(r.fill_id), trade_id=str(r.fill_id), order_id=str(r.order_id),
        user_id=r.user_id, market=r.market, side=order_pb2.Side.Value(r.side),
        price=dec(r.price), quantity=dec(r.quantity), fee=dec(r.fee), fee_asset=r.fee_asset,
        liquidity=order_pb2.Liquidity.Value(r.liquidity), time=ts(r.ts_ms),
        realized_pnl=dec(r.realized_pnl))


def closed_position(r: Rec) -> account_pb2.ClosedPosition:
    """``position_id`` is the isolated position's (empty for cross); the history cursor is
    ``closed_position_id``. Rows from before these columns: no exit price, leverage 0, CROSS
    (every position was), reason CLOSE_REASON_UNSPECIFIED."""
    reason = account_pb2.ClosedPosition.CloseReason.Value(r.close_reason or
                                                          "CLOSE_REASON_UNSPECIFIED")
    return account_pb2.ClosedPosition(
        closed_position_id=str(r.id), position_id=r.position_id or "", market=r.market,
        side=order_pb2.Side.Value(r.side),
        size=dec(r.size), entry_price=dec(r.entry_price), realized_pnl=dec(r.realized_pnl),
        open_time=ts(r.opened_ms), close_time=ts(r.closed_ms), exit_price=dec(r.exit_price),
        leverage=r.leverage or 0,
        margin_mode=order_pb2.MarginMode.Value(r.margin_mode or "CROSS"), close_reason=reason)


def liquidation(r: Rec) -> account_pb2.Liquidation:
    return account_pb2.Liquidation(
        liquidation_id=r.liquidation_id, user_id=r.user_id, market=r.market,
        side=order_pb2.Side.Value(r.side), size=dec(r.size), price=dec(r.price),
        fee=dec(r.fee), insurance_fund_delta=dec(r.insurance_fund_delta), time=ts(r.ts_ms),
        closed_on_book=dec(r.closed_on_book), taken_by_fund=dec(r.taken_by_fund),
        position_id=r.position_id or "")


def funding(r: Rec) -> account_pb2.FundingPayment:
    return account_pb2.FundingPayment(
        payment_id=str(r.id), market=r.market, rate=dec(r.rate),
        position_size=dec(r.position_size), amount=dec(r.amount), time=ts(r.ts_ms),
        user_id=r.user_id, position_id=r.position_id or "")


def ledger_entry(r: Rec) -> account_pb2.LedgerEntry:
    return account_pb2.LedgerEntry(
        entry_id=str(r.id), asset=r.asset, amount=dec(r.amount),
        kind=account_pb2.LedgerEntryKind.Value(r.kind), reference=r.reference,
        time=ts(r.ts_ms), market=r.market or "")


def trade(r: Rec) -> market_pb2.Trade:
    return market_pb2.Trade(trade_id=str(r.trade_id), market=r.market, price=dec(r.price),
                            quantity=dec(r.quantity), taker_side=r.taker_side,
                            time=ts(r.ts_ms))


def candle(market: str, interval: str, c: CandleRow) -> market_pb2.Candle:
    return market_pb2.Candle(market=market, interval=interval, open_time=ts(c.open_ms),
                             open=dec(c.open), high=dec(c.high), low=dec(c.low),
                             close=dec(c.close), volume=dec(c.volume), closed=c.closed)
