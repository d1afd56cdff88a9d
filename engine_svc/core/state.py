"""The engine's mutable state and the bookkeeping every command stage shares.

Invariants:

* ``last_seq`` counts applied commands and ``event_seq`` emitted events; both are
  gap-free and start at 0 (the first command/event gets 1).
* ``live`` holds exactly the resting orders of every book; ``client_ids`` maps
  ``(user, client_order_id)`` of each live order that has one (unique per user).
* ``final`` remembers the last ``FINAL_MEMORY`` finished orders (id -> owner, status) so a
  late cancel answers ``ORDER_ALREADY_FINAL``; older ids answer ``ORDER_NOT_FOUND``.
"""

from __future__ import annotations

from collections import OrderedDict, deque

from engine_svc.core.book import Order, OrderBook
from engine_svc.core.enums import OrderStatus
from engine_svc.core.events import BalanceChanged, Event, PositionChanged
from engine_svc.core.ledger import Ledger
from engine_svc.core.markets import MarketConfig

FINAL_MEMORY = 10_000
RECENT_TRADES = 100

Trade = tuple[int, int, int, str, int]
"""(fill_id, price_ticks, qty_lots, taker side value, ts)"""


class MarketStats:
    """Cheap per-market ticker inputs and an extension point for mark/index prices."""

    __slots__ = ("index_price", "last_price", "trades", "volume")

    def __init__(self) -> None:
        self.last_price: int | None = None
        self.volume = 0
        self.index_price: int | None = None
        self.trades: deque[Trade] = deque(maxlen=RECENT_TRADES)


class State:
    __slots__ = (
        "books", "client_ids", "config", "deposit_ids", "deposited", "event_seq", "final",
        "last_seq", "ledger", "live", "next_fill_id", "next_order_id", "out", "stats",
        "withdraw_ids", "withdrawn",
    )

    def __init__(self, config: MarketConfig) -> None:
        self.config = config
        self.books = {m: OrderBook(m) for m in config.markets}
        self.stats = {m: MarketStats() for m in config.markets}
        self.ledger = Ledger()
        self.live: dict[int, Order] = {}
        self.client_ids: dict[tuple[str, str], Order] = {}
        self.final: OrderedDict[int, tuple[str, OrderStatus]] = OrderedDict()
        self.last_seq = 0
        self.event_seq = 0
        self.next_order_id = 1
        self.next_fill_id = 1
        self.deposit_ids: set[str] = set()
        self.withdraw_ids: set[str] = set()
        self.deposited: dict[str, int] = {}
        self.withdrawn: dict[str, int] = {}
        self.out: list[Event] = []

    def seq(self) -> int:
        """Next event sequence number."""
        self.event_seq += 1
        return self.event_seq

    def rest(self, order: Order) -> None:
        self.books[order.market].add(order)
        self.live[order.id] = order
        if order.client_order_id is not None:
            self.client_ids[order.user_id, order.client_order_id] = order

    def finish(self, order: Order, status: OrderStatus) -> None:
        """Move an order to a final status, out of the book and indexes."""
        if order.resting:
            self.books[order.market].remove(order)
            del self.live[order.id]
        if order.client_order_id is not None:
            key = (order.user_id, order.client_order_id)
            if self.client_ids.get(key) is order:
                del self.client_ids[key]
        order.set_status(status)
        final = self.final
        final[order.id] = (order.user_id, status)
        if len(final) > FINAL_MEMORY:
            final.popitem(last=False)

    def flush_accounts(self) -> None:
        """Emit one BalanceChanged / PositionChanged per touched key, then clear."""
        ledger, out, cmd, seq = self.ledger, self.out, self.last_seq, self.event_seq
        touched = ledger.touched_balances
        if touched:
            balances = ledger.balances
            for user, asset in touched:
                pair = balances[user][asset]
                seq += 1
                out.append(BalanceChanged(seq, cmd, user, asset, pair[0], pair[1]))
            touched.clear()
        touched = ledger.touched_positions
        if touched:
            positions = ledger.positions
            for key in touched:
                p = positions[key]
                seq += 1
                out.append(
                    PositionChanged(seq, cmd, key[0], key[1], p.size, p.cost, p.margin, p.realized)
                )
            touched.clear()
        self.event_seq = seq
