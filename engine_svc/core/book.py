"""The order book in three layers: book -> ladder per side -> FIFO price level.

Invariants:

* A level holds orders in arrival order (time priority); ``level.total`` is the sum of
  ``remaining`` of its live orders and ``level.count`` their number. A level with no
  live order is removed from its ladder at once, so every ladder price has liquidity.
* Cancels are O(1): the order is dropped from the id index and flagged ``resting =
  False``; its level's deque drops it lazily (when it reaches the head, or when dead
  entries outnumber live ones).
* ``Ladder.keys`` is a plain sorted list (``bisect``) with the *best* key last, so the
  best level is O(1) and emptying it (the common case under matching) is a ``pop()``;
  other level insertions/removals are O(levels) memmoves, a few dozen bytes in practice.
  Ask keys are negated prices so that, on both sides, the best level has the largest key.
* A book at rest is never crossed: best bid < best ask (the matcher guarantees it).
* A resting order points to its level (``Order.level``) and a level to its ladder, so
  taking an order out needs no lookup. Those references are cleared as orders leave, so
  the only reference cycles are the live book's own (ladder, levels, resting orders): what
  a command frees is freed by reference counting, never left to the cyclic GC.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from engine_svc.core.enums import OrderStatus, OrderType, Side, StpMode, TimeInForce
from engine_svc.core.lifecycle import check_transition

if TYPE_CHECKING:
    from engine_svc.core.ledger import Balance, PositionRef


class Order:
    """A live (or just finished) order; mutable, owned by the engine."""

    __slots__ = (
        "client_order_id", "filled", "id", "level", "leverage", "lock_per_lot", "locked",
        "market", "pair", "pos", "position_id", "post_only", "price", "quantity", "reduce_only",
        "remaining", "resting", "side", "status", "stp", "tif", "ts", "type", "user_id",
    )

    def __init__(
        self, id: int, user_id: str, market: str, side: Side, type: OrderType, price: int,
        quantity: int, tif: TimeInForce, ts: int, client_order_id: str | None = None,
        post_only: bool = False, reduce_only: bool = False,
        stp: StpMode = StpMode.CANCEL_TAKER, leverage: int = 1,
    ) -> None:
        self.id = id
        self.user_id = user_id
        self.market = market
        self.side = side
        self.type = type
        self.price = price
        self.quantity = quantity
        self.remaining = quantity
        self.filled = 0
        self.tif = tif
        self.ts = ts
        self.client_order_id = client_order_id
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.stp = stp
        self.leverage = leverage
        self.status = OrderStatus.NEW
        self.resting = False
        self.lock_per_lot = 0
        self.locked = 0
        self.pair: Balance | None = None
        """The ledger record of the locked asset (see :mod:`ledger`), once held."""
        self.pos: PositionRef | None = None
        """Handle on the perp position its fills move (the owner's cross position in this
        market, or its isolated one), once filled."""
        self.position_id = 0
        """The isolated position it opens (its own id) or reduces; 0: cross."""
        self.level: PriceLevel | None = None
        """The price level it rests in while resting (set by :meth:`Ladder.add`, cleared by
        :meth:`Ladder.remove`, so a dead entry in a level's deque makes no cycle)."""

    def clone(self) -> Order:
        """A new object with the same fields (a re-entering order leaves its old one behind)."""
        twin = Order(self.id, self.user_id, self.market, self.side, self.type, self.price,
                     self.quantity, self.tif, self.ts, self.client_order_id, self.post_only,
                     self.reduce_only, self.stp, self.leverage)
        twin.remaining, twin.filled, twin.status = self.remaining, self.filled, self.status
        twin.resting, twin.lock_per_lot, twin.locked = self.resting, self.lock_per_lot, self.locked
        twin.pair, twin.pos, twin.position_id = self.pair, self.pos, self.position_id
        twin.level = self.level
        return twin

    def set_status(self, status: OrderStatus) -> None:
        """Move along the lifecycle table; an illegal edge raises IllegalTransition."""
        self.status = check_transition(self.status, status)

    def __repr__(self) -> str:
        return (
            f"Order({self.id} {self.user_id} {self.side.value} {self.remaining}@{self.price}"
            f" {self.status.value})"
        )


class PriceLevel:
    """FIFO queue of orders at one price."""

    __slots__ = ("count", "ladder", "orders", "price", "total")

    def __init__(self, price: int, ladder: Ladder) -> None:
        self.price = price
        self.ladder = ladder
        """The ladder it is in, so a resting order is removed without any lookup."""
        self.orders: deque[Order] = deque()
        self.total = 0
        self.count = 0

    def live(self) -> Iterator[Order]:
        return (o for o in self.orders if o.resting)

    def head(self) -> Order:
        """First live order; the level must not be empty."""
        orders = self.orders
        while not orders[0].resting:
            orders.popleft()
        return orders[0]

    def compact(self) -> None:
        """Drop dead entries (called when they outnumber live ones)."""
        self.orders = deque(self.live())


class Ladder:
    """One side of a book: price levels, best key last in ``keys``."""

    __slots__ = ("is_bid", "keys", "levels", "top")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.levels: dict[int, PriceLevel] = {}
        self.keys: list[int] = []
        self.top: PriceLevel | None = None
        """The best level, cached so reading it is O(1) attribute access."""

    def key(self, price: int) -> int:
        """The sort key of a price, and back: bids as they are, asks negated."""
        return price if self.is_bid else -price

    def best(self) -> PriceLevel | None:
        return self.top

    def best_price(self) -> int | None:
        top = self.top
        return top.price if top is not None else None

    def add(self, order: Order) -> None:
        price = order.price
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = PriceLevel(price, self)
            key = self.key(price)
            keys = self.keys
            if not keys or key > keys[-1]:
                keys.append(key)
                self.top = level
            else:
                insort(keys, key)
        level.orders.append(order)
        level.total += order.remaining
        level.count += 1
        order.resting = True
        order.level = level

    def remove(self, order: Order) -> None:
        """Take a resting order out (cancel or full fill)."""
        level = order.level
        assert level is not None and level.ladder is self
        price = level.price
        order.resting = False
        order.level = None  # no order -> level -> deque -> order cycle for the cyclic GC
        level.total -= order.remaining
        level.count -= 1
        if level.count == 0:
            del self.levels[price]
            keys = self.keys
            if self.top is level:
                keys.pop()
                self.top = self.levels[self.key(keys[-1])] if keys else None
            else:
                del keys[bisect_left(keys, self.key(price))]
        elif len(level.orders) > 2 * level.count + 16:
            level.compact()

    def iter_levels(self) -> Iterator[PriceLevel]:
        levels = self.levels
        return (levels[self.key(k)] for k in reversed(self.keys))

    def depth(self, limit: int) -> list[tuple[int, int]]:
        """The best ``limit`` levels as (price, total lots), best first."""
        keys, levels = self.keys, self.levels
        sign = 1 if self.is_bid else -1
        out: list[tuple[int, int]] = []
        i = len(keys) - 1
        stop = max(-1, i - limit)
        while i > stop:
            level = levels[keys[i] * sign]
            out.append((level.price, level.total))
            i -= 1
        return out


class OrderBook:
    """Both ladders of one market (the order-id index is the engine-wide ``State.live``)."""

    __slots__ = ("asks", "bids", "market")

    def __init__(self, market: str) -> None:
        self.market = market
        self.bids = Ladder(is_bid=True)
        self.asks = Ladder(is_bid=False)

    def ladder(self, side: Side) -> Ladder:
        return self.bids if side is Side.BUY else self.asks

    def opposite(self, side: Side) -> Ladder:
        return self.asks if side is Side.BUY else self.bids

    def add(self, order: Order) -> None:
        (self.bids if order.side is Side.BUY else self.asks).add(order)

    def remove(self, order: Order) -> None:
        (self.bids if order.side is Side.BUY else self.asks).remove(order)

    def shrink(self, order: Order, new_remaining: int) -> None:
        """Reduce a resting order's open quantity in place, keeping its priority."""
        level = order.level
        assert level is not None
        level.total -= order.remaining - new_remaining
        order.remaining = new_remaining

    def best_bid(self) -> int | None:
        return self.bids.best_price()

    def best_ask(self) -> int | None:
        return self.asks.best_price()

    def resting_orders(self) -> Iterator[Order]:
        """Every resting order, bids then asks, best price first, time priority within."""
        for ladder in (self.bids, self.asks):
            for level in ladder.iter_levels():
                yield from level.live()
