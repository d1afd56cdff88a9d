"""The pure fold: engine events → rows, with a balanced double-entry ledger."""

from __future__ import annotations

import csv
from collections import defaultdict
from decimal import Decimal
from typing import Any

from trademesh.v1 import event_pb2

from engine_svc import command_codec
from engine_svc.core import Deposit, Engine, OrderType, PlaceOrder, Side
from engine_svc.core.markets import default_markets
from engine_svc.event_codec import EventEncoder
from persistence_svc import event_fold as ef


def run(commands: list[Any]) -> list[event_pb2.EngineEvent]:
    engine = Engine(default_markets())
    encoder = EventEncoder(default_markets(), lambda: 1)
    out: list[event_pb2.EngineEvent] = []
    for command in commands:
        out.extend(encoder.encode(command_codec.encode(e)) for e in engine.apply(command))
    return out


def funded(*users: str) -> list[Any]:
    return [Deposit(user_id=u, asset=a, amount=10**12, tx_id=f"{a}{u}", ts=1)
            for u in users for a in ("USD", "SOL")]


def place(user: str, side: Side, lots: int, price: int | None = None,
          market: str = "SOL-USD", ts: int = 60_000) -> PlaceOrder:
    kind = OrderType.LIMIT if price else OrderType.MARKET
    return PlaceOrder(user_id=user, market=market, side=side, type=kind, price=price,
                      quantity=lots, ts=ts, leverage=1)


def test_every_ledger_transaction_sums_to_zero() -> None:
    events = run([*funded("a", "b"), place("a", Side.SELL, 5, 100_000),
                  place("b", Side.BUY, 3), place("a", Side.SELL, 5, 500_000, "BTC-PERP"),
                  place("b", Side.BUY, 5, market="BTC-PERP")])
    rows = ef.fold(events, {}, {})
    ledger = list(csv.reader(rows.ledger))  # COPY lines
    assert all(len(r) == 9 for r in ledger)
    totals: dict[tuple[object, ...], Decimal] = defaultdict(Decimal)
    for seq, _acct, _user, asset, amount, _kind, ref, _m, _t in ledger:
        totals[seq, ref, asset] += Decimal(amount)
    assert totals and all(v == 0 for v in totals.values())
    kinds = {r[5] for r in ledger}
    assert kinds == {"DEPOSIT", "TRADE", "FEE"}


def test_orders_reflect_fills_and_cancels() -> None:
    events = run([*funded("a", "b"), place("a", Side.SELL, 5, 100_000),
                  place("b", Side.BUY, 3)])
    rows = ef.fold(events, {}, {})
    maker, taker = rows.orders[1], rows.orders[2]
    assert (maker.status, maker.filled, maker.remaining) == (
        "PARTIALLY_FILLED", Decimal("0.03"), Decimal("0.02"))
    assert (taker.status, taker.notional) == ("FILLED", Decimal("3.00000"))
    assert len(rows.fills) == 2 and len(rows.trades) == 1
    candle = rows.candles["SOL-USD", 60_000]
    assert (candle.open, candle.volume, candle.trades) == (Decimal("100"), Decimal("0.03"), 1)


def test_a_redelivered_prefix_is_what_the_writer_skips() -> None:
    events = run([*funded("a", "b"), place("a", Side.SELL, 5, 100_000),
                  place("b", Side.BUY, 3)])
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert ef.touched_orders(events) == set()  # created in the batch: nothing to load
    assert ef.touched_orders(events[-3:]) <= {1, 2}


def test_a_closed_perp_position_leaves_a_row() -> None:
    events = run([*funded("a", "b"), place("a", Side.SELL, 5, 500_000, "BTC-PERP"),
                  place("b", Side.BUY, 5, market="BTC-PERP"),
                  place("a", Side.BUY, 5, 500_100, "BTC-PERP", ts=120_000),
                  place("b", Side.SELL, 5, market="BTC-PERP", ts=120_000)])
    rows = ef.fold(events, {}, {})
    assert len(rows.closed) == 2
    by_user = {r[0]: r for r in rows.closed}
    assert by_user["b"][2] == "BUY" and by_user["b"][3] == Decimal("0.0005")
    assert by_user["b"][5] == Decimal("0.005")  # 0.0005 BTC up 10 USD
    assert rows.positions["b", "BTC-PERP", ""].size == 0
