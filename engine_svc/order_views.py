"""What clients see of their orders: a projection of the engine's events.

The core keeps only live orders; clients also ask about orders that just filled or were
canceled, with their fills. :class:`OrderViews` folds each applied command and its events
into :class:`OrderRecord` s: every live order, plus the last ``FINISHED_MEMORY`` finished
ones. It is deterministic (fed the same commands and events it holds the same records) and
is saved inside the engine snapshot, so replay rebuilds it exactly.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine_svc.core.commands import Command
from engine_svc.core.enums import (
    Liquidity,
    OrderStatus,
    OrderType,
    Side,
    StpMode,
    TimeInForce,
)
from engine_svc.core.events import (
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderReplaced,
)

FINISHED_MEMORY = 50_000
FINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED})
# by ``_value_`` (a str): hashing an Enum member is a call into Python, once per order here
_FINAL_VALUES = frozenset(status.value for status in FINAL)


@dataclass(slots=True, init=False)
class FillRecord:
    fill_id: int
    price: int
    quantity: int
    fee: int
    liquidity: Liquidity
    ts: int
    realized: int | None = None  # perp PnL realized (quote minor units; 0 on spot); None
    # in a record saved before it was kept

    def __init__(self, fill_id: int, price: int, quantity: int, fee: int,
                 liquidity: Liquidity, ts: int, realized: int | None = None) -> None:
        self.fill_id = fill_id
        self.price = price
        self.quantity = quantity
        self.fee = fee
        self.liquidity = liquidity
        self.ts = ts
        self.realized = realized


@dataclass(slots=True, init=False)
class OrderRecord:
    """An order as its owner reads it, folded from the events (``__init__`` written out,
    as the core's events do: one is built for every order)."""

    order_id: int
    user_id: str
    market: str
    side: Side
    type: OrderType
    tif: TimeInForce
    price: int
    quantity: int
    client_order_id: str | None
    post_only: bool = False
    reduce_only: bool = False
    leverage: int = 1
    stp: StpMode = StpMode.CANCEL_TAKER
    slippage_bps: int = 0
    status: OrderStatus = OrderStatus.NEW
    filled: int = 0
    filled_ticks_lots: int = 0
    reason: str = ""
    created: int = 0
    updated: int = 0
    _fills: list[FillRecord] | None = None
    """None until the first fill: most orders rest unfilled, and a list per order would be
    one more object per resting order for the garbage collector to walk (``fills``)."""
    stop_loss: int | None = None
    take_profit: int | None = None
    position_id: int = 0
    """The isolated position it opens (its own id) or reduces; 0: cross."""

    def __init__(
        self, order_id: int, user_id: str, market: str, side: Side, type: OrderType,
        tif: TimeInForce, price: int, quantity: int, client_order_id: str | None,
        post_only: bool = False, reduce_only: bool = False, leverage: int = 1,
        stp: StpMode = StpMode.CANCEL_TAKER, slippage_bps: int = 0,
        status: OrderStatus = OrderStatus.NEW, filled: int = 0, filled_ticks_lots: int = 0,
        reason: str = "", created: int = 0, updated: int = 0,
        fills: list[FillRecord] | None = None, stop_loss: int | None = None,
        take_profit: int | None = None, position_id: int = 0,
    ) -> None:
        self.order_id = order_id
        self.user_id = user_id
        self.market = market
        self.side = side
        self.type = type
        self.tif = tif
        self.price = price
        self.quantity = quantity
        self.client_order_id = client_order_id
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.leverage = leverage
        self.stp = stp
        self.slippage_bps = slippage_bps
        self.status = status
        self.filled = filled
        self.filled_ticks_lots = filled_ticks_lots
        self.reason = reason
        self.created = created
        self.updated = updated
        self._fills = fills or None
        self.stop_loss = stop_loss
        self.take_profit = take_profit
        self.position_id = position_id

    @property
    def fills(self) -> Sequence[FillRecord]:
        """The order's fills, oldest first."""
        return () if self._fills is None else self._fills

    def add_fill(self, fill: FillRecord) -> None:
        if self._fills is None:
            self._fills = [fill]
        else:
            self._fills.append(fill)

    def to_json(self) -> list[Any]:
        # _value_: a member's value without Enum's descriptor (a snapshot reads every order)
        return [self.order_id, self.user_id, self.market, self.side._value_, self.type._value_,
                self.tif._value_, self.price, self.quantity, self.client_order_id,
                self.post_only, self.reduce_only, self.leverage, self.stp._value_,
                self.slippage_bps, self.status._value_, self.filled, self.filled_ticks_lots,
                self.reason, self.created, self.updated,
                [[f.fill_id, f.price, f.quantity, f.fee, f.liquidity._value_, f.ts, f.realized]
                 for f in self.fills], self.stop_loss, self.take_profit, self.position_id]

    @classmethod
    def from_json(cls, row: list[Any]) -> OrderRecord:
        (oid, user, market, side, typ, tif, price, qty, coid, post, reduce, lev, stp, slip,
         status, filled, ftl, reason, created, updated, fills, *brackets) = row
        stop_loss, take_profit = brackets[:2] or (None, None)  # rows written before them
        position_id = brackets[2] if len(brackets) > 2 else 0
        return cls(oid, user, market, Side(side), OrderType(typ), TimeInForce(tif), price, qty,
                   coid, post, reduce, lev, StpMode(stp), slip, OrderStatus(status), filled,
                   ftl, reason, created, updated,
                   [FillRecord(f[0], f[1], f[2], f[3], Liquidity(f[4]), f[5],
                               f[6] if len(f) > 6 else None) for f in fills],
                   stop_loss, take_profit, position_id)


class OrderViews:
    def __init__(self) -> None:
        self._orders: dict[int, OrderRecord] = {}
        self._finished: OrderedDict[int, None] = OrderedDict()

    def get(self, user_id: str, order_id: int) -> OrderRecord | None:
        record = self._orders.get(order_id)
        return record if record is not None and record.user_id == user_id else None

    def apply(self, command: Command, events: list[Event]) -> list[OrderRecord]:
        """Folds one command's events in; returns the records they touched, in order."""
        touched: dict[int, OrderRecord] = {}
        for event in events:
            record = self._fold(command, event)
            if record is not None:
                touched[record.order_id] = record
        for record in touched.values():
            if record.status._value_ in _FINAL_VALUES:
                self._retire(record.order_id)
        return list(touched.values())

    def _fold(self, command: Command, event: Event) -> OrderRecord | None:
        if isinstance(event, OrderAccepted) and event.order_id not in self._orders:
            record = _new_record(event)
            self._orders[event.order_id] = record
            return record
        if isinstance(event, OrderFilled):
            return self._fill(event)
        if isinstance(event, OrderCanceled | OrderReplaced):
            existing = self._orders.get(event.order_id)
            if existing is not None:
                _amend(existing, event, command.ts)
            return existing
        return None

    def _fill(self, e: OrderFilled) -> OrderRecord | None:
        last = None
        for oid, remaining, fee, liq, realized in (
                (e.maker_order_id, e.maker_remaining, e.maker_fee, Liquidity.MAKER,
                 e.maker_realized),
                (e.taker_order_id, e.taker_remaining, e.taker_fee, Liquidity.TAKER,
                 e.taker_realized)):
            record = self._orders.get(oid)
            if record is None:
                continue
            record.filled += e.quantity
            record.filled_ticks_lots += e.price * e.quantity
            record.add_fill(FillRecord(e.fill_id, e.price, e.quantity, fee, liq, e.ts,
                                       realized))
            record.status = OrderStatus.FILLED if remaining == 0 else OrderStatus.PARTIALLY_FILLED
            record.updated = e.ts
            last = record
        return last

    def _retire(self, order_id: int) -> None:
        finished = self._finished
        finished[order_id] = None
        while len(finished) > FINISHED_MEMORY:
            old, _ = finished.popitem(last=False)
            self._orders.pop(old, None)

    def dump(self) -> dict[str, Any]:
        return {"orders": [r.to_json() for _, r in sorted(self._orders.items())],
                "finished": list(self._finished)}

    @classmethod
    def load(cls, image: dict[str, Any]) -> OrderViews:
        views = cls()
        for row in image["orders"]:
            record = OrderRecord.from_json(row)
            views._orders[record.order_id] = record
        views._finished = OrderedDict.fromkeys(image["finished"])
        return views


def _new_record(e: OrderAccepted) -> OrderRecord:
    """The order as the core accepted it (its terms from the event, so an order a trigger
    or a liquidation placed shows its own flags, not the command's that set it off)."""
    return OrderRecord(e.order_id, e.user_id, e.market, e.side, e.type, e.tif, e.price,
                       e.quantity, e.client_order_id, e.post_only, e.reduce_only, e.leverage,
                       e.stp, e.slippage_bps, created=e.ts, updated=e.ts,
                       stop_loss=e.stop_loss, take_profit=e.take_profit,
                       position_id=e.position_id)


def _amend(record: OrderRecord, event: OrderCanceled | OrderReplaced, ts: int) -> None:
    record.updated = ts
    if isinstance(event, OrderCanceled):
        if record.status is not OrderStatus.FILLED:
            record.status = OrderStatus.CANCELED
            record.reason = event.reason.value
        return
    record.price = event.price
    record.quantity = record.filled + event.quantity
