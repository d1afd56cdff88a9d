"""Markets are data, over real gRPC with the real Redis journal and PostgreSQL snapshots:
an admin adds INR and TATA-INR (tick 0.05), it trades, is halted, and all of it survives a
restart; bad input and non-admin callers are refused with nothing changed."""

from __future__ import annotations

import grpc
import pytest
from trademesh.v1 import engine_pb2, market_pb2, order_pb2

from engine_svc.core.engine import Engine
from engine_svc.core.markets import default_markets
from tests.service.engine.conftest import EngineHarness
from tests.service.engine.test_engine_service import _error, _fund, _limit
from tests.service.engine.test_recovery import _journal_commands, _live

TATA = market_pb2.Market(symbol="TATA-INR", kind=market_pb2.SPOT, base_asset="TATA",
                         quote_asset="INR", tick_size="0.05", lot_size="1",
                         maker_fee_bps=2, taker_fee_bps=5)


async def _refused(call: object) -> tuple[grpc.StatusCode, str, list[str]]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return _error(caught.value)


async def _registry(h: EngineHarness) -> engine_pb2.ListRegistryResponse:
    return await h.stub.ListRegistry(engine_pb2.ListRegistryRequest(), metadata=h.admin())


async def test_list_trade_halt_restart(harness: EngineHarness) -> None:
    h = harness
    for symbol, decimals in (("INR", 2), ("TATA", 0)):
        added = await h.stub.AddAsset(engine_pb2.AddAssetRequest(symbol=symbol,
                                                                 decimals=decimals),
                                      metadata=h.admin())
        assert (added.asset.symbol, added.asset.decimals) == (symbol, decimals)
    reply = await h.stub.AddMarket(engine_pb2.AddMarketRequest(market=TATA), metadata=h.admin())
    assert (reply.market.tick_size, reply.market.status) == ("0.05", market_pb2.OPEN)
    public = await h.stub.ListMarkets(engine_pb2.ListMarketsRequest())
    assert "TATA-INR" in {m.symbol for m in public.markets}

    await _fund(h, "alice", "INR", "100000.00", "i1")
    await _fund(h, "bob", "TATA", "50", "t1")
    await h.stub.PlaceOrder(_limit("TATA-INR", order_pb2.SELL, "10", "1000.05"),
                            metadata=h.auth("bob"))
    bought = await h.stub.PlaceOrder(_limit("TATA-INR", order_pb2.BUY, "4", "1000.05"),
                                     metadata=h.auth("alice"))
    assert (bought.order.status, bought.order.filled_quantity) == (order_pb2.FILLED, "4")
    off_grid = await _refused(h.stub.PlaceOrder(
        _limit("TATA-INR", order_pb2.BUY, "1", "1000.07"), metadata=h.auth("alice")))
    assert off_grid[0] == grpc.StatusCode.INVALID_ARGUMENT and off_grid[2] == ["price"]

    halted = await h.stub.UpdateMarket(engine_pb2.UpdateMarketRequest(
        market="TATA-INR", status=market_pb2.HALTED, taker_fee_bps=7), metadata=h.admin())
    assert (halted.market.status, halted.market.taker_fee_bps) == (market_pb2.HALTED, 7)
    code, reason, _ = await _refused(h.stub.PlaceOrder(
        _limit("TATA-INR", order_pb2.BUY, "1", "1000.05"), metadata=h.auth("alice")))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "MARKET_HALTED")
    resting = await h.stub.ListOpenOrders(engine_pb2.ListOpenOrdersRequest(),
                                          metadata=h.auth("bob"))
    await h.stub.CancelOrder(engine_pb2.CancelOrderRequest(
        order_id=resting.orders[0].order_id), metadata=h.auth("bob"))

    await h.restart()
    registry = await _registry(h)
    market = next(m for m in registry.markets if m.symbol == "TATA-INR")
    assert (market.status, market.taker_fee_bps, market.tick_size) == \
        (market_pb2.HALTED, 7, "0.05")
    assert {(a.symbol, a.decimals) for a in registry.assets} >= {("INR", 2), ("TATA", 0)}
    balances = await h.stub.GetBalances(engine_pb2.GetBalancesRequest(),
                                        metadata=h.auth("alice"))
    assert {b.asset: b.available for b in balances.balances}["TATA"] == "4"
    await h.stub.UpdateMarket(engine_pb2.UpdateMarketRequest(
        market="TATA-INR", status=market_pb2.OPEN), metadata=h.admin())
    await h.stub.PlaceOrder(_limit("TATA-INR", order_pb2.SELL, "1", "1000.05"),
                            metadata=h.auth("bob"))


@pytest.mark.parametrize(("market", "field", "code"), [
    ({"base_asset": "NOPE"}, "baseAsset", grpc.StatusCode.INVALID_ARGUMENT),
    ({"symbol": "SOL-USD", "base_asset": "SOL", "quote_asset": "USD"}, "symbol",
     grpc.StatusCode.ALREADY_EXISTS),
    ({"tick_size": "0"}, "tickSize", grpc.StatusCode.INVALID_ARGUMENT),
    ({"tick_size": "-0.05"}, "tickSize", grpc.StatusCode.INVALID_ARGUMENT),
    ({"tick_size": "0.001"}, "tickSize", grpc.StatusCode.INVALID_ARGUMENT),
    ({"tick_size": "5e-2"}, "tickSize", grpc.StatusCode.INVALID_ARGUMENT),  # API.md: no exponent
    ({"min_quantity": "1E0"}, "minQuantity", grpc.StatusCode.INVALID_ARGUMENT),
    ({"lot_size": "0"}, "lotSize", grpc.StatusCode.INVALID_ARGUMENT),
    ({"lot_size": "0.5"}, "lotSize", grpc.StatusCode.INVALID_ARGUMENT),
    ({"kind": market_pb2.MARKET_KIND_UNSPECIFIED}, "kind", grpc.StatusCode.INVALID_ARGUMENT),
])
async def test_bad_markets_name_the_field_and_change_nothing(
        harness: EngineHarness, market: dict[str, object], field: str,
        code: grpc.StatusCode) -> None:
    h = harness
    for symbol, decimals in (("INR", 2), ("TATA", 0)):
        await h.stub.AddAsset(engine_pb2.AddAssetRequest(symbol=symbol, decimals=decimals),
                              metadata=h.admin())
    before = await _registry(h)
    request = market_pb2.Market()
    request.CopyFrom(TATA)
    for name, value in market.items():
        setattr(request, name, value)
    got = await _refused(h.stub.AddMarket(engine_pb2.AddMarketRequest(market=request),
                                          metadata=h.admin()))
    assert (got[0], got[2]) == (code, [field])
    assert await _registry(h) == before


async def test_bad_assets_updates_and_callers(harness: EngineHarness) -> None:
    h = harness
    before = await _registry(h)
    dup = await _refused(h.stub.AddAsset(engine_pb2.AddAssetRequest(symbol="USD", decimals=2),
                                         metadata=h.admin()))
    assert dup[0] == grpc.StatusCode.ALREADY_EXISTS and dup[2] == ["symbol"]
    wide = await _refused(h.stub.AddAsset(engine_pb2.AddAssetRequest(symbol="INR",
                                                                     decimals=19),
                                          metadata=h.admin()))
    assert wide[0] == grpc.StatusCode.INVALID_ARGUMENT and wide[2] == ["decimals"]
    unknown = await _refused(h.stub.UpdateMarket(engine_pb2.UpdateMarketRequest(
        market="NOPE-USD", status=market_pb2.HALTED), metadata=h.admin()))
    assert unknown[0] == grpc.StatusCode.NOT_FOUND
    fee = await _refused(h.stub.UpdateMarket(engine_pb2.UpdateMarketRequest(
        market="SOL-USD", maker_fee_bps=-1), metadata=h.admin()))
    assert fee[0] == grpc.StatusCode.INVALID_ARGUMENT and fee[2] == ["makerFeeBps"]
    nothing = await _refused(h.stub.UpdateMarket(engine_pb2.UpdateMarketRequest(
        market="SOL-USD"), metadata=h.admin()))  # an update that changes nothing
    assert nothing[0] == grpc.StatusCode.INVALID_ARGUMENT and nothing[2] == ["status"]
    free = await h.stub.UpdateMarket(engine_pb2.UpdateMarketRequest(
        market="SOL-USD", maker_fee_bps=0), metadata=h.admin())  # an explicit 0 is a change
    assert free.market.maker_fee_bps == 0
    for call in (h.stub.AddAsset(engine_pb2.AddAssetRequest(symbol="INR", decimals=2),
                                 metadata=h.auth("mallory")),
                 h.stub.AddMarket(engine_pb2.AddMarketRequest(market=TATA),
                                  metadata=h.auth("mallory")),
                 h.stub.UpdateMarket(engine_pb2.UpdateMarketRequest(
                     market="SOL-USD", status=market_pb2.HALTED), metadata=h.auth("mallory")),
                 h.stub.ListRegistry(engine_pb2.ListRegistryRequest(),
                                     metadata=h.auth("mallory"))):
        assert (await _refused(call))[0] == grpc.StatusCode.PERMISSION_DENIED
    assert await _registry(h) == before


async def test_the_journal_alone_rebuilds_runtime_markets(
        harness: EngineHarness, redis_url: str) -> None:
    """Replay from the Redis journal (no snapshot at all): the same registry and state,
    and a crashed engine (no final snapshot) comes back with the market halted."""
    h = harness
    for symbol, decimals in (("INR", 2), ("TATA", 0)):
        await h.stub.AddAsset(engine_pb2.AddAssetRequest(symbol=symbol, decimals=decimals),
                              metadata=h.admin())
    await h.stub.AddMarket(engine_pb2.AddMarketRequest(market=TATA), metadata=h.admin())
    await _fund(h, "bob", "TATA", "50", "t1")
    await h.stub.PlaceOrder(_limit("TATA-INR", order_pb2.SELL, "10", "1000.05"),
                            metadata=h.auth("bob"))
    await h.stub.UpdateMarket(engine_pb2.UpdateMarketRequest(
        market="TATA-INR", status=market_pb2.CLOSE_ONLY), metadata=h.admin())
    live = _live(h).engine
    replayed = Engine(default_markets())
    for command in await _journal_commands(redis_url):
        replayed.apply(command)
    assert replayed.state_hash() == live.state_hash()
    assert replayed.config.markets["TATA-INR"].status.value == "CLOSE_ONLY"

    before = live.state_hash()
    await h.channel.close()  # type: ignore[union-attr]
    h.channel = None
    await h.service.stop()  # type: ignore[union-attr]
    h.service = None
    h.task.cancel()  # type: ignore[union-attr]  # no final snapshot: the journal only
    h.sequencer = h.task = None
    await h.start()
    assert _live(h).engine.state_hash() == before
    market = next(m for m in (await _registry(h)).markets if m.symbol == "TATA-INR")
    assert market.status == market_pb2.CLOSE_ONLY
