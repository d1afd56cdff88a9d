"""The engine's mutable state and the bookkeeping every command stage shares.

Invariants:

* ``last_seq`` counts applied commands and ``event_seq`` emitted events; both are
  gap-free and start at 0 (the first command/event gets 1).
* ``live`` holds exactly the resting orders of every book; ``client_ids`` maps
  ``(user, client_order_id)`` of each live order that has one (unique per user).
* ``open_orders[user][market]`` is the number of the user's live orders in the market
  (markets, then users, with no live order are dropped). Keyed by strings, not by a
  ``(user, market)`` tuple: it is read and written for every order that may rest.
* ``final`` remembers the last ``FINAL_MEMORY`` finished orders (id -> owner, status
  value) so a late cancel answers ``ORDER_ALREADY_FINAL``; older ids answer
  ``ORDER_NOT_FOUND``.
"""

from __future__ import annotations

from typing import Final

from engine_svc.core.book import Order, OrderBook
from engine_svc.core.enums import OrderStatus, Side, TriggerKind
from engine_svc.core.events import BalanceChanged, Event, PositionChanged
from engine_svc.core.ledger import FEE_ACCOUNT, Balance, Ledger, iso_account
from engine_svc.core.markets import MarketConfig, MarketSpec

FINAL_MEMORY: Final = 10_000
DEFAULT_MAX_OPEN_ORDERS: Final = 200
"""Live orders one user may have in one market until a ``SetOpenOrderLimit`` says otherwise."""
RECENT_TRADES: Final = 100
DEFAULT_MAX_TRIGGERS: Final = 100
"""Armed triggers one user may have until a ``SetTriggerLimit`` says otherwise."""
MAX_ISOLATED_POSITIONS: Final = 100
"""Isolated positions one user may hold at once (all markets): every one is an account of
its own that each index price and funding sweep values, so their number is bounded like
open orders are. An order that would open one more is refused (TOO_MANY_POSITIONS);
reducing or closing never is."""

Trade = tuple[int, int, int, str, int]
"""(fill_id, price_ticks, qty_lots, taker side value, ts): as queries and snapshots show it."""


class RecentTrade:
    """A trade as :class:`MarketStats` keeps it (a native object: no tuple of boxed ints
    per fill)."""

    __slots__ = ("fill_id", "price", "qty", "side", "ts")

    def __init__(self, fill_id: int, price: int, qty: int, side: Side, ts: int) -> None:
        self.fill_id = fill_id
        self.price = price
        self.qty = qty
        self.side = side
        self.ts = ts

    def as_trade(self) -> Trade:
        return self.fill_id, self.price, self.qty, self.side.value, self.ts


class MarketStats:
    """Cheap per-market ticker inputs and the perp index/mark prices (ticks)."""

    __slots__ = ("index_price", "last_price", "mark_price", "next_trade", "trades", "volume")

    def __init__(self) -> None:
        self.last_price: int | None = None
        self.volume = 0
        self.index_price: int | None = None
        self.mark_price: int | None = None
        self.trades: list[RecentTrade] = []
        """The last RECENT_TRADES trades as a ring: once full, the oldest is at
        ``next_trade`` (the next one overwritten)."""
        self.next_trade = 0

    def recent_trades(self) -> list[Trade]:
        """Oldest first, the side as its value."""
        trades, start = self.trades, self.next_trade
        return [t.as_trade() for t in trades[start:]] + [t.as_trade() for t in trades[:start]]

    def record_trade(self, fill_id: int, price: int, qty: int, side: Side, ts: int) -> None:
        self.last_price = price
        self.volume += qty
        trade = RecentTrade(fill_id, price, qty, side, ts)
        trades = self.trades
        if len(trades) < RECENT_TRADES:
            trades.append(trade)
        else:
            i = self.next_trade
            trades[i] = trade
            self.next_trade = i + 1 if i + 1 < RECENT_TRADES else 0


class Trigger:
    """An armed trigger (see :mod:`engine_svc.core.triggers`).

    ``quantity`` is lots (0: the whole position, for a stop-loss / take-profit without an
    order); ``limit_price`` a STOP_LIMIT's price (0 otherwise); ``order_id`` the order a
    stop-loss / take-profit came with (0 for none) and ``parent`` that order while it may
    still fill (None once it is final).
    """

    __slots__ = ("account", "id", "kind", "leverage", "limit_price", "market", "order_id",
                 "parent", "position_id", "price", "quantity", "reduce_only", "side",
                 "slippage", "ts", "user_id")

    def __init__(self, id: int, user_id: str, market: str, side: Side, kind: TriggerKind,
                 price: int, quantity: int, slippage: int, ts: int, limit_price: int = 0,
                 leverage: int = 1, reduce_only: bool = False, order_id: int = 0,
                 position_id: int = 0) -> None:
        self.id = id
        self.user_id = user_id
        self.market = market
        self.side = side
        self.kind = kind
        self.price = price
        self.quantity = quantity
        self.slippage = slippage
        self.ts = ts
        self.limit_price = limit_price
        self.leverage = leverage
        self.reduce_only = reduce_only
        self.order_id = order_id
        self.position_id = position_id
        """A stop-loss / take-profit's isolated position (0: the cross position)."""
        self.account = iso_account(position_id) if position_id else user_id
        """The ledger account of the position it closes."""
        self.parent: Order | None = None

    @property
    def on_position(self) -> bool:
        """A stop-loss / take-profit (closes a position), not a standalone stop order."""
        return self.kind is TriggerKind.STOP_LOSS or self.kind is TriggerKind.TAKE_PROFIT

    def as_list(self) -> list[object]:
        return [self.id, self.user_id, self.market, self.side.value, self.kind.value,
                self.price, self.quantity, self.slippage, self.ts, self.limit_price,
                self.leverage, self.reduce_only, self.order_id, self.position_id]


class State:
    __slots__ = (
        "attached",
        "books",
        "client_ids",
        "config",
        "deposit_ids",
        "deposited",
        "event_seq",
        "fees",
        "final",
        "final_oldest",
        "final_ring",
        "last_seq",
        "ledger",
        "live",
        "marked",
        "markets",
        "max_open_orders",
        "max_triggers",
        "next_fill_id",
        "next_order_id",
        "next_trigger_id",
        "open_orders",
        "out",
        "stats",
        "trigger_counts",
        "trigger_keys",
        "triggers",
        "withdraw_ids",
        "withdrawn",
    )

    def __init__(self, config: MarketConfig) -> None:
        config = MarketConfig(dict(config.assets), dict(config.markets))
        self.config = config
        """The engine's own registry: a copy of the defaults, grown by registry commands."""
        self.markets: dict[str, MarketSpec] = config.markets
        self.fees: dict[str, Balance] = {}
        """Fee-account record per quote asset, cached once it exists."""
        self.books = {m: OrderBook(m) for m in config.markets}
        self.stats = {m: MarketStats() for m in config.markets}
        self.ledger = Ledger()
        self.live: dict[int, Order] = {}
        self.client_ids: dict[tuple[str, str], Order] = {}
        self.open_orders: dict[str, dict[str, int]] = {}
        self.max_open_orders = DEFAULT_MAX_OPEN_ORDERS
        self.final: dict[int, tuple[str, OrderStatus]] = {}
        """order id -> (owner, final status), oldest first."""
        self.final_ring: list[int] = []
        """The ids of ``final`` (at most FINAL_MEMORY) as a ring whose oldest entry is at
        ``final_oldest`` once full: the next one forgotten."""
        self.final_oldest = 0
        self.last_seq = 0
        self.event_seq = 0
        self.next_order_id = 1
        self.next_fill_id = 1
        self.deposit_ids: set[str] = set()
        self.withdraw_ids: set[str] = set()
        self.deposited: dict[str, int] = {}
        self.withdrawn: dict[str, int] = {}
        self.out: list[Event] = []
        self.marked = False
        """True once any market has a mark price (cross-margin checks start then)."""
        self.triggers: dict[int, Trigger] = {}
        self.trigger_keys: dict[tuple[str, str], set[int]] = {}
        """(account, market) -> ids of the armed triggers on that position (the account is
        the user for a cross position, an isolated position's own account otherwise)."""
        self.trigger_counts: dict[str, int] = {}
        """user -> number of armed triggers (users with none are dropped)."""
        self.attached: dict[int, Trigger] = {}
        """trigger id -> a stop-loss / take-profit whose order may still fill."""
        self.max_triggers = DEFAULT_MAX_TRIGGERS
        self.next_trigger_id = 1

    def seq(self) -> int:
        """Next event sequence number."""
        self.event_seq += 1
        return self.event_seq

    def new_order_id(self) -> int:
        oid = self.next_order_id
        self.next_order_id = oid + 1
        return oid

    def fee_balance(self, asset: str) -> Balance:
        """The fee account's record of ``asset`` (created at zero, not marked touched)."""
        bal = self.fees.get(asset)
        if bal is None:
            bal = self.fees[asset] = self.ledger.record(FEE_ACCOUNT, asset)
        return bal

    def add_trigger(self, trig: Trigger) -> None:
        self.triggers[trig.id] = trig
        self.trigger_keys.setdefault((trig.account, trig.market), set()).add(trig.id)
        self.trigger_counts[trig.user_id] = self.trigger_counts.get(trig.user_id, 0) + 1
        if trig.parent is not None:
            self.attached[trig.id] = trig

    def drop_trigger(self, trig: Trigger) -> None:
        del self.triggers[trig.id]
        key = (trig.account, trig.market)
        ids = self.trigger_keys[key]
        ids.discard(trig.id)
        if not ids:
            del self.trigger_keys[key]
        left = self.trigger_counts[trig.user_id] - 1
        if left:
            self.trigger_counts[trig.user_id] = left
        else:
            del self.trigger_counts[trig.user_id]
        if trig.parent is not None:
            trig.parent = None
            del self.attached[trig.id]

    def follow_clone(self, old: Order, new: Order) -> None:
        """An order re-entered as a fresh object: its attached triggers follow it."""
        for trig in self.attached.values():
            if trig.parent is old:
                trig.parent = new

    def triggers_left(self, user: str) -> int:
        """How many more triggers ``user`` may arm."""
        return self.max_triggers - self.trigger_counts.get(user, 0)

    def rest(self, order: Order) -> None:
        self.books[order.market].add(order)
        self.live[order.id] = order
        if order.client_order_id is not None:
            self.client_ids[order.user_id, order.client_order_id] = order
        counts = self.open_orders.get(order.user_id)
        if counts is None:
            counts = self.open_orders[order.user_id] = {}
        counts[order.market] = counts.get(order.market, 0) + 1

    def unrest(self, order: Order) -> None:
        """Take a resting order out of its book and the live index (not the client ids)."""
        level = order.level
        assert level is not None
        level.ladder.remove(order)
        del self.live[order.id]
        counts = self.open_orders[order.user_id]
        left = counts[order.market] - 1
        if left:
            counts[order.market] = left
        elif len(counts) > 1:
            del counts[order.market]
        else:
            del self.open_orders[order.user_id]

    def at_isolated_limit(self, user: str) -> bool:
        mine = self.ledger.isolated.get(user)
        return mine is not None and len(mine) >= MAX_ISOLATED_POSITIONS

    def at_open_order_limit(self, user: str, market: str) -> bool:
        counts = self.open_orders.get(user)
        return counts is not None and counts.get(market, 0) >= self.max_open_orders

    def finish(self, order: Order, status: OrderStatus) -> None:
        """Move an order to a final status, out of the book and indexes."""
        if order.resting:
            self.unrest(order)
        if order.client_order_id is not None:
            key = (order.user_id, order.client_order_id)
            if self.client_ids.get(key) is order:
                del self.client_ids[key]
        current = order.status
        if current is OrderStatus.NEW or current is OrderStatus.PARTIALLY_FILLED:
            order.status = status  # FILLED / CANCELED: edges of the lifecycle table
        else:
            order.set_status(status)
        ref = order.pos
        if ref is not None and ref.pid and not ref.pos.size:
            self.ledger.iso_closed.append(ref)  # an isolated trade over: forget it
        self.remember_final(order.id, order.user_id, status)

    def remember_final(self, order_id: int, user: str, status: OrderStatus) -> None:
        """Record a finished order in ``final``, forgetting the oldest beyond FINAL_MEMORY
        (a dict in first-finished order and a ring of its ids: no OrderedDict links, no
        deque method calls)."""
        final = self.final
        known = len(final)
        final[order_id] = (user, status)
        if len(final) != known:
            ring = self.final_ring
            if known < FINAL_MEMORY:
                ring.append(order_id)
            else:
                oldest = self.final_oldest
                del final[ring[oldest]]
                ring[oldest] = order_id
                oldest += 1
                self.final_oldest = oldest if oldest < FINAL_MEMORY else 0

    def flush_accounts(self) -> None:
        """Emit one BalanceChanged / PositionChanged per touched key, then clear."""
        ledger, out, cmd, seq = self.ledger, self.out, self.last_seq, self.event_seq
        balances = ledger.touched_balances
        if balances:
            for bal in balances:
                bal.touched = False
                if bal.iso:
                    continue  # an isolated position's cash: zero now, never published
                seq += 1
                out.append(BalanceChanged(seq, cmd, bal.user, bal.asset, bal.available,
                                          bal.locked))
            balances.clear()
        refs = ledger.touched_positions
        if refs:
            for ref in refs:
                ref.touched = False
                p = ref.pos
                pid = ref.pid
                if pid and not p.size:
                    ledger.iso_closed.append(ref)
                seq += 1
                out.append(PositionChanged(seq, cmd, ref.owner, ref.key[1], p.size, p.cost,
                                           p.margin, p.realized, pid))
            refs.clear()
        self.event_seq = seq
