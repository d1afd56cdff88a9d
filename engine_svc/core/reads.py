"""What the engine answers without changing anything: orders, triggers, balances,
positions and their risk, books, tickers and quotes, read from its state."""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import NamedTuple

from engine_svc.core import isolated, perp
from engine_svc.core.book import Order
from engine_svc.core.enums import OrderStatus, Side, TriggerKind
from engine_svc.core.ledger import Position
from engine_svc.core.markets import MarketConfig
from engine_svc.core.perp import AccountRisk, PositionRisk
from engine_svc.core.state import State, Trade, Trigger


class Quote(NamedTuple):
    """What a market order of ``requested`` lots would get now (no slippage bound)."""

    avg_price: Decimal | None
    worst_price: int | None
    fillable: int
    notional: int


class TriggerView(NamedTuple):
    """An armed trigger. ``quantity`` 0 means the whole position when it fires, unless
    ``order_id`` names the order it came with (it holds that order's filled lots, and
    ``pending`` says the order may still fill); ``limit_price`` 0: none."""

    trigger_id: int
    market: str
    side: Side
    kind: TriggerKind
    trigger_price: int
    quantity: int
    ts: int
    limit_price: int
    order_id: int
    pending: bool
    leverage: int
    reduce_only: bool
    position_id: int = 0


class OrderView(NamedTuple):
    order_id: int
    user_id: str
    market: str
    side: Side
    price: int
    quantity: int
    remaining: int
    filled: int
    status: OrderStatus
    client_order_id: str | None
    ts: int
    position_id: int = 0


def _view(o: Order) -> OrderView:
    return OrderView(o.id, o.user_id, o.market, o.side, o.price, o.quantity, o.remaining,
                     o.filled, o.status, o.client_order_id, o.ts, o.position_id)


def _trigger_view(t: Trigger) -> TriggerView:
    return TriggerView(t.id, t.market, t.side, t.kind, t.price, t.quantity, t.ts,
                       t.limit_price, t.order_id, t.parent is not None, t.leverage,
                       t.reduce_only, t.position_id)


class EngineReads:
    """The engine's queries over its state (:class:`~engine_svc.core.engine.Engine` adds
    the commands)."""

    def __init__(self, config: MarketConfig) -> None:
        self._st = State(config)

    @property
    def config(self) -> MarketConfig:
        """The live registry (the defaults given, plus runtime assets and markets)."""
        return self._st.config

    @property
    def max_triggers(self) -> int:
        """Armed triggers one user may have (see ``SetTriggerLimit``)."""
        return self._st.max_triggers

    @property
    def max_open_orders(self) -> int:
        """Live orders one user may have in one market (see ``SetOpenOrderLimit``)."""
        return self._st.max_open_orders

    def mark_price(self, market: str) -> int | None:
        """The market's mark price in ticks (None before its first index tick)."""
        stats = self._st.stats.get(market)
        return stats.mark_price if stats is not None else None

    def index_price(self, market: str) -> int | None:
        stats = self._st.stats.get(market)
        return stats.index_price if stats is not None else None

    def account_risk(self, user_id: str) -> AccountRisk:
        """Cross-margin collateral, unrealised PnL, equity, IM and MM (USD minor units)."""
        return perp.account(self._st, user_id)

    def triggers(self, user_id: str) -> list[TriggerView]:
        """The user's armed triggers, oldest id first."""
        if user_id not in self._st.trigger_counts:
            return []
        return [_trigger_view(t) for _, t in sorted(self._st.triggers.items())
                if t.user_id == user_id]

    def trigger(self, user_id: str, trigger_id: int) -> TriggerView | None:
        """One of the user's armed triggers (None for missing or foreign ids)."""
        t = self._st.triggers.get(trigger_id)
        if t is None or t.user_id != user_id:
            return None
        return _trigger_view(t)

    def position_risks(self, user_id: str) -> dict[str, PositionRisk]:
        """market -> entry/mark price, unrealised PnL, margin, leverage, liquidation price."""
        return perp.position_risks(self._st, user_id)

    def isolated_risks(self, user_id: str) -> dict[int, PositionRisk]:
        """position id -> the user's open isolated positions' figures, as
        :meth:`position_risks` (its liquidation price is its own)."""
        return perp.isolated_risks(self._st, user_id)

    def position_size(self, user_id: str, market: str, position_id: int = 0) -> int:
        """Signed lots of the user's cross position in ``market`` (``position_id`` 0) or of
        their open isolated position ``position_id`` there; 0 when there is none."""
        st = self._st
        if position_id:
            ref = isolated.find(st, user_id, market, position_id)
            return ref.pos.size if ref is not None else 0
        pos = st.ledger.positions.get((user_id, market))
        return pos.size if pos is not None else 0

    def isolated_positions(self, user_id: str) -> dict[int, tuple[str, Position]]:
        """position id -> (market, a copy of the isolated position)."""
        refs = self._st.ledger.isolated.get(user_id, {})
        return {pid: (ref.key[1], Position(*ref.pos.as_list()))
                for pid, ref in sorted(refs.items())}

    def get_order(self, user_id: str, order_id: int) -> OrderView | None:
        """A live order of ``user_id`` (None for missing, finished or foreign ids)."""
        order = self._st.live.get(order_id)
        return _view(order) if order is not None and order.user_id == user_id else None

    def order_status(self, user_id: str, order_id: int) -> OrderStatus | None:
        """Status of a live or recently finished order owned by ``user_id``."""
        view = self.get_order(user_id, order_id)
        if view is not None:
            return view.status
        final = self._st.final.get(order_id)
        return final[1] if final is not None and final[0] == user_id else None

    def open_orders(self, user_id: str, market: str | None = None) -> list[OrderView]:
        """The user's resting orders, oldest id first."""
        return sorted((_view(o) for o in self._st.live.values()
                       if o.user_id == user_id and (market is None or o.market == market)),
                      key=lambda v: v.order_id)

    def balances(self, user_id: str) -> dict[str, tuple[int, int]]:
        """asset -> (available, locked) in minor units."""
        return {a: (b.available, b.locked) for a, b in sorted(self._st.ledger.balances.get(
            user_id, {}).items())}

    def positions(self, user_id: str) -> dict[str, Position]:
        """market -> a copy of the position (size lots, cost/margin/realized minor units)."""
        return {m: Position(*p.as_list()) for (u, m), p in sorted(
            self._st.ledger.positions.items()) if u == user_id and (p.size or p.realized)}

    def depth(self, market: str, limit: int = 20) -> tuple[list[tuple[int, int]],
                                                          list[tuple[int, int]]]:
        """(bids, asks), each best first as (price_ticks, qty_lots)."""
        book = self._st.books[market]
        return book.bids.depth(limit), book.asks.depth(limit)

    def best_bid_ask(self, market: str) -> tuple[int | None, int | None]:
        book = self._st.books[market]
        return book.best_bid(), book.best_ask()

    def recent_trades(self, market: str) -> list[Trade]:
        """Newest last: (fill_id, price_ticks, qty_lots, taker side, ts)."""
        return self._st.stats[market].recent_trades()

    def ticker(self, market: str) -> dict[str, int | None]:
        stats, book = self._st.stats[market], self._st.books[market]
        return {"last_price": stats.last_price, "volume": stats.volume,
                "best_bid": book.best_bid(), "best_ask": book.best_ask(),
                "index_price": stats.index_price}

    def quote(self, market: str, side: Side, quantity: int) -> Quote:
        """Average/worst price and notional of taking ``quantity`` lots now."""
        spec = self.config.markets[market]
        ladder = self._st.books[market].opposite(side)
        filled = notional = 0
        worst: int | None = None
        for level in ladder.iter_levels():
            if filled >= quantity:
                break
            take = min(quantity - filled, level.total)
            filled += take
            notional += take * level.price * spec.notional_unit
            worst = level.price
        avg = None
        if filled:
            with localcontext() as ctx:
                ctx.prec = 34
                avg = Decimal(notional) / (filled * spec.notional_unit) * spec.tick_size
        return Quote(avg, worst, filled, notional)

    def totals(self, asset: str) -> tuple[int, int]:
        """(deposited, withdrawn) of ``asset`` since genesis."""
        st = self._st
        return st.deposited.get(asset, 0), st.withdrawn.get(asset, 0)
