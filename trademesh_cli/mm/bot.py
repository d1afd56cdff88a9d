"""The market-maker bot: for every market, keep a ladder of post-only quotes around the
index price, re-quoting when the index moves or quotes were filled; inventory skews and
bounds the ladder (see :mod:`trademesh_cli.mm.quotes`). It is an ordinary Engine client:
its own account, its own token, nothing a trader could not do.

Markets are data: the list is read again every ``refresh_seconds``, so a market an admin
adds is quoted once there is an index price for its base asset (perps the oracle has no
index for, and spot markets of unknown bases, are not quoted), and a market that is not
OPEN (halted, close-only) is left alone until it reopens."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal

import grpc
from trademesh.v1 import engine_pb2, engine_pb2_grpc, market_pb2, order_pb2

from trademesh_cli.mm import metrics
from trademesh_cli.mm.prices import IndexPrices
from trademesh_cli.mm.quotes import Grid, LadderRule, Quote, ladder, moved, requote_plan

log = logging.getLogger("trademesh.mm")

SEED = {"USD": "100000000", "BTC": "100", "ETH": "1000", "SOL": "100000"}
SIZES = {"BTC": Decimal("0.05"), "ETH": Decimal("0.5"), "SOL": Decimal(5)}
Metadata = tuple[tuple[str, str], ...]


@dataclass
class MarketState:
    market: market_pb2.Market
    grid: Grid
    rule: LadderRule
    quoted_index: Decimal | None = None
    quoted: list[Quote] = field(default_factory=list)


def market_state(market: market_pb2.Market) -> MarketState:
    size = SIZES.get(market.base_asset, Decimal(market.min_quantity) * 10)
    grid = Grid(Decimal(market.tick_size), Decimal(market.lot_size), Decimal(market.min_quantity))
    return MarketState(market, grid, LadderRule(size=size, max_inventory=size * 20))


class MarketMaker:
    def __init__(self, stub: engine_pb2_grpc.EngineAsyncStub,
                 metadata: Metadata | Callable[[], Metadata], prices: IndexPrices, *,
                 requote_bps: Decimal = Decimal(3), leverage: int = 5) -> None:
        """``metadata`` is each call's (a callable: asked on every call, so the token in it
        can be renewed before it expires)."""
        self._stub = stub
        self._metadata = metadata if callable(metadata) else (lambda: metadata)
        self._prices = prices
        self._requote_bps = requote_bps
        self._leverage = leverage
        self.markets: dict[str, MarketState] = {}

    @property
    def _meta(self) -> Metadata:
        return self._metadata()

    async def start(self) -> None:
        await self.refresh()
        for asset, amount in SEED.items():
            await self._stub.Deposit(engine_pb2.DepositRequest(
                asset=asset, amount=amount, transaction_id=f"mm-seed-{asset}"),
                metadata=self._meta, timeout=10)

    async def refresh(self) -> None:
        """Reads the market list: new markets are added, known ones take the new status,
        fees and leverage cap (their grid never changes)."""
        reply = await self._stub.ListMarkets(engine_pb2.ListMarketsRequest(), timeout=10)
        for market in reply.markets:
            state = self.markets.get(market.symbol)
            if state is None:
                self.markets[market.symbol] = market_state(market)
            else:
                state.market = market

    async def run(self, interval: float = 0.5, refresh_seconds: float = 10.0) -> None:
        await self.start()
        loop = asyncio.get_running_loop()
        refresh_at = loop.time() + refresh_seconds
        while True:
            if loop.time() >= refresh_at:
                refresh_at = loop.time() + refresh_seconds
                try:
                    await self.refresh()
                except grpc.aio.AioRpcError as err:
                    log.warning("market list: %s %s", err.code(), err.details())
            for state in list(self.markets.values()):
                try:
                    await self.tick(state)
                except grpc.aio.AioRpcError as err:
                    metrics.ERRORS.labels(err.code().name).inc()
                    log.warning("%s: %s %s", state.market.symbol, err.code(), err.details())
            await asyncio.sleep(interval)

    async def tick(self, state: MarketState) -> None:
        """Re-quotes ``state``'s market if the index moved or quotes were taken (only an
        OPEN market with an index price for its base)."""
        if state.market.status not in (market_pb2.OPEN, market_pb2.MARKET_STATUS_UNSPECIFIED):
            state.quoted_index = None  # quote afresh once it reopens
            return
        index = self._prices.get(state.market.base_asset)
        if index is None:
            return
        open_orders = await self._stub.ListOpenOrders(engine_pb2.ListOpenOrdersRequest(
            market=state.market.symbol), metadata=self._meta, timeout=5)
        taken = len(open_orders.orders) < len(state.quoted)
        if not taken and not moved(state.quoted_index, index, self._requote_bps):
            return
        quotes = ladder(index, await self._inventory(state), state.grid, state.rule)
        await self._requote(state, list(open_orders.orders), quotes)
        state.quoted_index, state.quoted = index, quotes

    async def _requote(self, state: MarketState, old: list[order_pb2.Order],
                       quotes: list[Quote]) -> None:
        """Replaces the ``old`` quotes with ``quotes`` without ever leaving a side of the
        book empty that both ladders quote (cancelling everything first would: a market
        order arriving in between found no liquidity). The new quotes that trade against
        no old one go first; then the old quotes the others would trade against (post-only
        would refuse them) are cancelled and the others placed; then the rest of the old."""
        plan = requote_plan(old, quotes)
        refused = await self._place(state, plan.first)
        await self._cancel(plan.crossed)
        refused += await self._place(state, plan.then)
        await self._cancel(plan.stale)
        metrics.placed(state.market.symbol, len(quotes) - len(refused), refused)

    async def _cancel(self, orders: list[order_pb2.Order]) -> None:
        """Cancels ``orders`` by id, together; one filled or cancelled meanwhile is fine."""
        async def one(order_id: str) -> None:
            try:
                await self._stub.CancelOrder(engine_pb2.CancelOrderRequest(
                    order_id=order_id), metadata=self._meta, timeout=5)
            except grpc.aio.AioRpcError as err:
                if err.code() not in (grpc.StatusCode.NOT_FOUND,
                                      grpc.StatusCode.FAILED_PRECONDITION):
                    raise

        await asyncio.gather(*(one(order.order_id) for order in orders))

    async def _inventory(self, state: MarketState) -> Decimal:
        market = state.market
        if market.kind == market_pb2.PERP:
            reply = await self._stub.GetPositions(engine_pb2.GetPositionsRequest(
                market=market.symbol), metadata=self._meta, timeout=5)
            return sum((Decimal(p.size) * (1 if p.side == order_pb2.BUY else -1)
                        for p in reply.positions), Decimal(0))
        balances = await self._stub.GetBalances(engine_pb2.GetBalancesRequest(),
                                                metadata=self._meta, timeout=5)
        held = next((Decimal(b.available) + Decimal(b.locked) for b in balances.balances
                     if b.asset == market.base_asset), Decimal(0))
        return held - Decimal(SEED.get(market.base_asset, "0"))

    async def _place(self, state: MarketState, quotes: list[Quote]) -> list[str]:
        """Places ``quotes`` as one message; the reasons of those refused."""
        if not quotes:
            return []
        market = state.market
        leverage = self._leverage if market.kind == market_pb2.PERP else 0
        orders = [engine_pb2.PlaceOrderRequest(
            market=market.symbol, side=order_pb2.Side.Value(q.side), type=order_pb2.LIMIT,
            quantity=str(q.quantity), price=str(q.price), post_only=True,
            leverage=leverage) for q in quotes]

        async def one_message() -> AsyncIterator[engine_pb2.PlaceOrdersRequest]:
            yield engine_pb2.PlaceOrdersRequest(orders=orders)

        refused: list[str] = []
        async for reply in self._stub.PlaceOrders(one_message(), metadata=self._meta,
                                                  timeout=10):
            errors = [r.error for r in reply.results if r.error.code]
            if errors:
                log.debug("%s: %d quotes refused (%s)", market.symbol, len(errors),
                          errors[0].message)
            refused += [metrics.reason(error) for error in errors]
        return refused
