"""The order book in three layers: book -> ladder per side -> FIFO price level.

Invariants:

* A level holds orders in arrival order (time priority); ``level.total`` is the sum of
  ``remaining`` of its live orders and ``level.count`` their number. A level with no
  live order is removed from its ladder at once, so every ladder price has liquidity.
* Cancels are O(1): the order is dropped from the id index and flagged ``resting =
  False``; its level's deque drops it lazily (when it reaches the head, or when dead
  entries outnumber live ones).
* Best price is O(1) (first element of a sorted key list); a new level is O(log levels).
  Bid keys are negated prices so that, on both sides, the best level has the smallest key.
* A book at rest is never crossed: best bid < best ask (the matcher guarantees it).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from sortedcontainers import SortedList

from engine_svc.core.enums import OrderStatus, OrderType, Side, StpMode, TimeInForce
from engine_svc.core.lifecycle import TRANSITIONS, check_transition


class Order:
    """A live (or just finished) order; mutable, owned by the engine."""

    __slots__ = (
        "client_order_id", "filled", "id", "leverage", "lock_per_lot", "locked", "market",
        "post_only", "price", "quantity", "reduce_only", "remaining", "resting", "side",
        "status", "stp", "tif", "ts", "type", "user_id",
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

    def set_status(self, status: OrderStatus) -> None:
        """Move along the lifecycle table; an illegal edge raises IllegalTransition."""
        if status not in TRANSITIONS[self.status]:
            check_transition(self.status, status)
        self.status = status

    def __repr__(self) -> str:
        return (
            f"Order({self.id} {self.user_id} {self.side.value} {self.remaining}@{self.price}"
            f" {self.status.value})"
        )


class PriceLevel:
    """FIFO queue of orders at one price."""

    __slots__ = ("count", "orders", "price", "total")

    def __init__(self, price: int) -> None:
        self.price = price
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
    """One side of a book: price levels sorted best first."""

    __slots__ = ("keys", "levels", "sign", "top")

    def __init__(self, is_bid: bool) -> None:
        self.sign = -1 if is_bid else 1
        self.levels: dict[int, PriceLevel] = {}
        self.keys = SortedList()
        self.top: PriceLevel | None = None
        """The best level, cached so reading it is O(1) attribute access."""

    def best(self) -> PriceLevel | None:
        return self.top

    def best_price(self) -> int | None:
        top = self.top
        return top.price if top is not None else None

    def add(self, order: Order) -> None:
        level = self.levels.get(order.price)
        if level is None:
            level = self.levels[order.price] = PriceLevel(order.price)
            self.keys.add(order.price * self.sign)
            top = self.top
            if top is None or order.price * self.sign < top.price * self.sign:
                self.top = level
        level.orders.append(order)
        level.total += order.remaining
        level.count += 1
        order.resting = True

    def remove(self, order: Order) -> None:
        """Take a resting order out (cancel or full fill)."""
        level = self.levels[order.price]
        order.resting = False
        level.total -= order.remaining
        level.count -= 1
        if level.count == 0:
            del self.levels[order.price]
            keys = self.keys
            keys.remove(order.price * self.sign)
            if self.top is level:
                self.top = self.levels[keys[0] * self.sign] if keys else None
        elif len(level.orders) > 2 * level.count + 16:
            level.compact()

    def iter_levels(self) -> Iterator[PriceLevel]:
        levels, sign = self.levels, self.sign
        return (levels[k * sign] for k in self.keys)

    def depth(self, limit: int) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for level in self.iter_levels():
            if len(out) >= limit:
                break
            out.append((level.price, level.total))
        return out


class OrderBook:
    """Both ladders of one market plus the order-id index of its resting orders."""

    __slots__ = ("asks", "bids", "market", "orders")

    def __init__(self, market: str) -> None:
        self.market = market
        self.bids = Ladder(is_bid=True)
        self.asks = Ladder(is_bid=False)
        self.orders: dict[int, Order] = {}

    def ladder(self, side: Side) -> Ladder:
        return self.bids if side is Side.BUY else self.asks

    def opposite(self, side: Side) -> Ladder:
        return self.asks if side is Side.BUY else self.bids

    def add(self, order: Order) -> None:
        self.ladder(order.side).add(order)
        self.orders[order.id] = order

    def remove(self, order: Order) -> None:
        self.ladder(order.side).remove(order)
        del self.orders[order.id]

    def shrink(self, order: Order, new_remaining: int) -> None:
        """Reduce a resting order's open quantity in place, keeping its priority."""
        self.ladder(order.side).levels[order.price].total -= order.remaining - new_remaining
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
