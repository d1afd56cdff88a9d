"""Funding payments and liquidations through the real engine and link into PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

from persistence_harness import EngineSide, fetch

from engine_svc.core import Deposit, OrderType, PlaceOrder, Side
from engine_svc.core.commands import SetIndexPrice, SettleFunding
from engine_svc.core.events import FundingPaid, PositionLiquidated


async def test_funding_and_liquidation_are_recorded(engine: EngineSide) -> None:
    # SOL-PERP: tick 0.001, lot 0.01. A maker sells 10 at 100 to a 10x long taker.
    for user, amount in (("maker", 10**12), ("long", 110 * 10**6)):
        await engine.submit(Deposit(user_id=user, asset="USD", amount=amount, tx_id=user))
    await engine.submit(SetIndexPrice(market="SOL-PERP", price=100_000, ts=1))
    await engine.submit(PlaceOrder(user_id="maker", market="SOL-PERP", side=Side.SELL,
                                   type=OrderType.LIMIT, price=100_000, quantity=1000,
                                   leverage=2, ts=2))
    await engine.submit(PlaceOrder(user_id="long", market="SOL-PERP", side=Side.BUY,
                                   type=OrderType.LIMIT, price=100_000, quantity=1000,
                                   leverage=10, ts=3))
    await engine.submit(PlaceOrder(user_id="maker", market="SOL-PERP", side=Side.BUY,
                                   type=OrderType.LIMIT, price=80_000, quantity=2000,
                                   leverage=2, ts=4))
    await engine.submit(PlaceOrder(user_id="maker", market="SOL-PERP", side=Side.SELL,
                                   type=OrderType.LIMIT, price=100_200, quantity=1,
                                   leverage=2, ts=5))
    # index 100.5 above last (100) and mid (90.1): mark 100, shorts pay longs
    await engine.submit(SetIndexPrice(market="SOL-PERP", price=100_500, ts=5))
    paid = [e for e in await engine.submit(SettleFunding(market="SOL-PERP", ts=6))
            if isinstance(e, FundingPaid)]
    moved = await engine.submit(SetIndexPrice(market="SOL-PERP", price=85_000, ts=7))
    liquidated = [e for e in moved if isinstance(e, PositionLiquidated)]
    assert paid and liquidated
    await engine.drained(60)
    dsn = engine.settings.postgres_dsn
    funding = await fetch(dsn, "SELECT user_id, amount FROM funding_payments ORDER BY id")
    usd = Decimal("0.000001")
    assert [(r["user_id"], r["amount"]) for r in funding] == \
        [(e.user_id, e.amount * usd) for e in paid]
    liqs = await fetch(dsn, "SELECT user_id, market, side, size FROM liquidations")
    assert [(r["user_id"], r["market"], r["side"], r["size"]) for r in liqs] == \
        [("long", "SOL-PERP", "BUY", Decimal(10))]
    ledger = await fetch(dsn, "SELECT sum(amount) AS s FROM ledger_entries WHERE kind='FUNDING'")
    assert ledger[0]["s"] == 0  # double entry
