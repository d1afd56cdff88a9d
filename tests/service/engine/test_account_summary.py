"""GetAccountSummary on a real engine service: the caller's cross-margin account from the
engine's live state, in exact decimals, agreeing with the balances and positions."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from trademesh.v1 import engine_pb2, order_pb2

from engine_svc.core.commands import SetIndexPrice
from tests.service.engine.conftest import EngineHarness
from tests.service.engine.test_engine_service import _fund, _limit


async def summary(h: EngineHarness, user: str) -> engine_pb2.GetAccountSummaryResponse:
    return await h.stub.GetAccountSummary(engine_pb2.GetAccountSummaryRequest(),
                                          metadata=h.auth(user))


async def test_an_empty_account_is_all_zero(harness: EngineHarness) -> None:
    s = (await summary(harness, "nobody")).summary
    assert (s.asset, s.equity, s.collateral, s.unrealized_pnl, s.initial_margin,
            s.maintenance_margin, s.available_margin, s.margin_ratio) == \
        ("USD", "0", "0", "0", "0", "0", "0", "0")
    assert list(s.positions) == []


async def test_a_losing_10x_long_with_an_open_order(harness: EngineHarness) -> None:
    h = harness
    assert h.sequencer is not None
    await _fund(h, "mm", "USD", "100000", "m1")
    await _fund(h, "alice", "USD", "1000", "a1")
    await h.sequencer.submit(SetIndexPrice(market="SOL-PERP", price=100_000, ts=1),
                             lambda e, r: None)
    await h.stub.PlaceOrder(_limit("SOL-PERP", order_pb2.SELL, "10", "100", leverage=5),
                            metadata=h.auth("mm"))
    await h.stub.PlaceOrder(_limit("SOL-PERP", order_pb2.BUY, "10", "100", leverage=10),
                            metadata=h.auth("alice"))  # margin 100
    await h.stub.PlaceOrder(_limit("SOL-PERP", order_pb2.BUY, "1", "80", leverage=10),
                            metadata=h.auth("alice"))  # rests: locks USD
    await h.sequencer.submit(SetIndexPrice(market="SOL-PERP", price=95_000, ts=2),
                             lambda e, r: None)
    [pos] = (await h.stub.GetPositions(engine_pb2.GetPositionsRequest(),
                                       metadata=h.auth("alice"))).positions
    assert (pos.mark_price, pos.unrealized_pnl, pos.margin) == ("95", "-50", "100")
    [usd] = [b for b in (await h.stub.GetBalances(engine_pb2.GetBalancesRequest(),
                                                  metadata=h.auth("alice"))).balances
             if b.asset == "USD"]
    available, locked = Decimal(usd.available), Decimal(usd.locked)
    assert locked > 0
    [market] = [m for m in (await h.stub.ListMarkets(engine_pb2.ListMarketsRequest())).markets
                if m.symbol == "SOL-PERP"]
    mm = (10 * Decimal(95) * Decimal(market.maintenance_margin_rate)).quantize(
        Decimal("0.000001"), ROUND_CEILING)
    collateral = available + locked + 100
    equity = collateral - 50
    s = (await summary(h, "alice")).summary
    assert Decimal(s.collateral) == collateral and Decimal(s.equity) == equity
    assert (Decimal(s.unrealized_pnl), Decimal(s.initial_margin)) == (-50, 100 + locked)
    assert Decimal(s.maintenance_margin) == mm
    assert Decimal(s.available_margin) == available - 50  # losses reduce what can be committed
    assert Decimal(s.margin_ratio) == (mm / equity).quantize(Decimal("0.000001"),
                                                             ROUND_CEILING)
    assert 0 < Decimal(s.margin_ratio) < 1  # not liquidated
    [share] = s.positions
    assert (share.market, share.margin_mode, share.side, share.size, share.margin,
            share.unrealized_pnl, share.position_id, share.margin_ratio) == \
        ("SOL-PERP", order_pb2.CROSS, order_pb2.BUY, "10", "100", "-50", "", "")
    assert Decimal(share.maintenance_margin) == mm
    other = (await summary(h, "mm")).summary  # the counterparty sees only its own account
    assert [p.side for p in other.positions] == [order_pb2.SELL]


async def test_order_fills_carry_the_pnl_they_realized(harness: EngineHarness) -> None:
    h = harness
    await _fund(h, "mm", "USD", "100000", "m1")
    await _fund(h, "alice", "USD", "1000", "a1")
    await h.stub.PlaceOrder(_limit("SOL-PERP", order_pb2.SELL, "10", "100", leverage=5),
                            metadata=h.auth("mm"))
    opened = await h.stub.PlaceOrder(_limit("SOL-PERP", order_pb2.BUY, "10", "100",
                                            leverage=10), metadata=h.auth("alice"))
    assert [f.realized_pnl for f in opened.order.fills] == ["0"]
    await h.stub.PlaceOrder(_limit("SOL-PERP", order_pb2.BUY, "10", "110", leverage=5),
                            metadata=h.auth("mm"))
    closed = await h.stub.ClosePosition(engine_pb2.ClosePositionRequest(market="SOL-PERP"),
                                        metadata=h.auth("alice"))
    assert [f.realized_pnl for f in closed.order.fills] == ["100"]  # 10 * (110 - 100)
    await _fund(h, "alice", "SOL", "1", "a2")
    await h.stub.PlaceOrder(_limit("SOL-USD", order_pb2.BUY, "1", "100"), metadata=h.auth("mm"))
    spot = await h.stub.PlaceOrder(_limit("SOL-USD", order_pb2.SELL, "1", "100"),
                                   metadata=h.auth("alice"))
    assert [f.realized_pnl for f in spot.order.fills] == [""]  # spot: not applicable
