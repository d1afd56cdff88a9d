"""The market maker against the real Engine service: ladders, re-quotes, bounded inventory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import grpc
from trademesh.v1 import engine_pb2, market_pb2, order_pb2

from tests.service.engine.conftest import EngineHarness
from trademesh_cli.mm.bot import MarketMaker
from trademesh_cli.mm.prices import IndexPrices


async def _maker(h: EngineHarness) -> tuple[MarketMaker, IndexPrices]:
    prices = IndexPrices({"SOL": Decimal(150), "BTC": Decimal(60_000), "ETH": Decimal(3_000)})
    bot = MarketMaker(h.stub, h.auth("market-maker"), prices)  # type: ignore[arg-type]
    await bot.start()
    return bot, prices


async def _book(h: EngineHarness, market: str) -> tuple[list[str], list[str]]:
    depth = await h.stub.GetDepth(engine_pb2.GetDepthRequest(market=market, limit=20))
    return ([lvl.values[0].string_value for lvl in depth.bids],
            [lvl.values[0].string_value for lvl in depth.asks])


async def test_quotes_a_ladder_on_every_market_and_requotes_when_the_index_moves(
        harness: EngineHarness) -> None:
    h = harness
    bot, prices = await _maker(h)
    for state in bot.markets.values():
        await bot.tick(state)
    bids, asks = await _book(h, "SOL-PERP")
    assert len(bids) == len(asks) == 5
    assert Decimal(bids[0]) < Decimal(150) < Decimal(asks[0])
    prices.set("SOL", Decimal(160))
    await bot.tick(bot.markets["SOL-PERP"])
    bids, asks = await _book(h, "SOL-PERP")
    assert Decimal(bids[0]) < Decimal(160) < Decimal(asks[0]) and Decimal(bids[0]) > 150
    spot_bids, spot_asks = await _book(h, "SOL-USD")
    assert len(spot_bids) == len(spot_asks) == 5


async def test_inventory_stays_bounded_when_a_trader_keeps_selling(harness: EngineHarness) -> None:
    h = harness
    bot, _ = await _maker(h)
    state = bot.markets["SOL-USD"]
    await h.stub.Deposit(engine_pb2.DepositRequest(asset="SOL", amount="10000",
                                                   transaction_id="seller"),
                         metadata=h.auth("seller"))
    refused = 0
    for _ in range(40):
        await bot.tick(state)
        try:
            await h.stub.PlaceOrder(engine_pb2.PlaceOrderRequest(
                market="SOL-USD", side=order_pb2.SELL, type=order_pb2.MARKET, quantity="20",
                slippage_bps=500), metadata=h.auth("seller"))
        except grpc.aio.AioRpcError as err:  # the maker stopped bidding: nothing to sell into
            assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
            refused += 1
    assert refused > 0
    await bot.tick(state)
    bought = await bot._inventory(state)
    assert bought <= state.rule.max_inventory + state.rule.size * state.rule.levels
    bids, asks = await _book(h, "SOL-USD")
    assert not bids and asks  # at the bound it only offers


async def test_quotes_a_market_added_at_runtime_and_leaves_a_halted_one_alone(
        harness: EngineHarness) -> None:
    h = harness
    bot, _ = await _maker(h)
    await h.stub.AddMarket(engine_pb2.AddMarketRequest(market=market_pb2.Market(
        symbol="ETH-USD", kind=market_pb2.SPOT, base_asset="ETH", quote_asset="USD",
        tick_size="0.05", lot_size="0.001", taker_fee_bps=5)), metadata=h.admin())
    await h.stub.AddAsset(engine_pb2.AddAssetRequest(symbol="DOGE", decimals=8),
                          metadata=h.admin())
    await h.stub.AddMarket(engine_pb2.AddMarketRequest(market=market_pb2.Market(
        symbol="DOGE-PERP", kind=market_pb2.PERP, base_asset="DOGE", quote_asset="USD",
        tick_size="0.00001", lot_size="1", max_leverage=10,
        maintenance_margin_rate="0.01")), metadata=h.admin())
    await h.stub.UpdateMarket(engine_pb2.UpdateMarketRequest(
        market="SOL-PERP", status=market_pb2.HALTED), metadata=h.admin())
    await bot.refresh()
    assert {"ETH-USD", "DOGE-PERP"} <= set(bot.markets)
    for state in bot.markets.values():
        await bot.tick(state)
    bids, asks = await _book(h, "ETH-USD")
    assert len(bids) == len(asks) == 5
    assert all(Decimal(p) % Decimal("0.05") == 0 for p in bids + asks)  # on the 0.05 grid
    assert await _book(h, "DOGE-PERP") == ([], [])  # no index for DOGE: not quoted
    assert await _book(h, "SOL-PERP") == ([], [])  # halted: not quoted
    await h.stub.UpdateMarket(engine_pb2.UpdateMarketRequest(
        market="SOL-PERP", status=market_pb2.OPEN), metadata=h.admin())
    await bot.refresh()
    await bot.tick(bot.markets["SOL-PERP"])
    bids, asks = await _book(h, "SOL-PERP")
    assert len(bids) == len(asks) == 5


class _Watched:
    """The engine stub, checking the book after each of the bot's writes: a requote must
    never leave a side empty that both ladders quote (a market order in between would find
    no liquidity)."""

    WRITES = ("CancelOrder", "CancelAllOrders", "PlaceOrder", "PlaceOrders")

    def __init__(self, h: EngineHarness, market: str) -> None:
        self._h, self._market = h, market
        self.books: list[tuple[int, int]] = []

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._h.stub, name)
        if name not in self.WRITES:
            return call
        if name == "PlaceOrders":
            async def stream(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
                async for reply in call(*args, **kwargs):
                    yield reply
                await self._look()
            return stream

        async def unary(*args: Any, **kwargs: Any) -> Any:
            reply = await call(*args, **kwargs)
            await self._look()
            return reply
        return unary

    async def _look(self) -> None:
        bids, asks = await _book(self._h, self._market)
        self.books.append((len(bids), len(asks)))


async def test_a_requote_never_leaves_a_side_of_the_book_empty(harness: EngineHarness) -> None:
    h = harness
    prices = IndexPrices({"SOL": Decimal(150), "BTC": Decimal(60_000), "ETH": Decimal(3_000)})
    watched = _Watched(h, "SOL-PERP")
    bot = MarketMaker(watched, h.auth("market-maker"), prices)  # type: ignore[arg-type]
    await bot.start()
    state = bot.markets["SOL-PERP"]
    await bot.tick(state)
    watched.books.clear()
    # a small move, a jump up past the whole ladder, a jump down past it, and back
    for index in ("150.1", "170", "130", "150"):
        prices.set("SOL", Decimal(index))
        await bot.tick(state)
        bids, asks = await _book(h, "SOL-PERP")
        assert len(bids) == len(asks) == 5, index  # the new ladder, whole
        assert Decimal(bids[0]) < Decimal(index) < Decimal(asks[0])
    assert all(bids and asks for bids, asks in watched.books), watched.books
    assert len(watched.books) >= 4 * 3  # placed, and the old quotes cancelled one by one
