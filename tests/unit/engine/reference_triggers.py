"""The reference model's triggers, written from the rules in the engine's docstrings
(``triggers``, ``trigger_rules``), not from its code: a flat dict of armed triggers,
scanned in full whenever something may concern them.

A fired trigger's order goes through the model's own ``place``; its rejection (if any) is
collected in ``fired_rejects`` (the command's own rejection stays ``RefModel.reject``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine_svc.core import (
    CancelTrigger,
    MarketSpec,
    MoveTrigger,
    OrderType,
    PlaceOrder,
    PlaceTrigger,
    RejectReason,
    SetTriggerLimit,
    Side,
    TimeInForce,
    TriggerKind,
)

if TYPE_CHECKING:
    from reference_model import RefModel, RefOrder

R = RejectReason
CAP = 10**18
ON_POSITION = (TriggerKind.STOP_LOSS, TriggerKind.TAKE_PROFIT)


@dataclass
class RefTrigger:
    id: int
    user: str
    market: str
    side: Side
    kind: TriggerKind
    price: int
    qty: int
    slip: int
    limit: int = 0
    lev: int = 1
    ro: bool = False
    order_id: int = 0
    parent: RefOrder | None = None
    pid: int = 0


def below(side: Side, kind: TriggerKind) -> bool:
    """Fires as the mark falls to its price: sell stops and stop-losses, buy take-profits."""
    if kind is TriggerKind.TAKE_PROFIT:
        return side is Side.BUY
    return side is Side.SELL


def not_reached(side: Side, kind: TriggerKind, price: int, ref: int) -> bool:
    return price < ref if below(side, kind) else price > ref


class RefTriggers:
    def __init__(self, model: RefModel) -> None:
        self.m = model
        self.armed: dict[int, RefTrigger] = {}
        self.next_id = 1
        self.limit = 100
        self.fired_rejects: list[RejectReason] = []

    def view(self, user: str) -> list[tuple[Any, ...]]:
        return [(t.id, t.market, t.side, t.kind, t.price, t.qty, t.limit, t.order_id,
                 t.parent is not None, t.pid) for _, t in sorted(self.armed.items())
                if t.user == user]

    def count(self, user: str) -> int:
        return sum(t.user == user for t in self.armed.values())

    def price_ok(self, market: str, side: Side, kind: TriggerKind, price: int) -> bool:
        if not 0 < price < CAP:
            return False
        mark = self.m.mark.get(market)
        return mark is None or not_reached(side, kind, price, mark)

    # ------------------------------------------------------- an order's own
    def bracket_reason(self, spec: MarketSpec, c: PlaceOrder) -> RejectReason | None:
        if not spec.is_perp:
            return R.INVALID_STOP_LOSS if c.stop_loss is not None else R.INVALID_TAKE_PROFIT
        if c.reduce_only or c.position_id:
            return R.INVALID_ORDER
        side = Side.SELL if c.side is Side.BUY else Side.BUY
        for kind, price, reason in ((TriggerKind.STOP_LOSS, c.stop_loss, R.INVALID_STOP_LOSS),
                                    (TriggerKind.TAKE_PROFIT, c.take_profit,
                                     R.INVALID_TAKE_PROFIT)):
            if price is None:
                continue
            if not self.price_ok(c.market, side, kind, price):
                return reason
            if c.type is OrderType.LIMIT and c.price is not None and not not_reached(
                    side, kind, price, c.price):
                return reason
        wanted = (c.stop_loss is not None) + (c.take_profit is not None)
        if self.limit - self.count(c.user_id) < wanted:
            return R.TOO_MANY_TRIGGERS
        return None

    def attach(self, c: PlaceOrder, order: RefOrder) -> None:
        side = Side.SELL if c.side is Side.BUY else Side.BUY
        for kind, price in ((TriggerKind.STOP_LOSS, c.stop_loss),
                            (TriggerKind.TAKE_PROFIT, c.take_profit)):
            if price is not None:
                self.armed[self.next_id] = RefTrigger(
                    self.next_id, c.user_id, c.market, side, kind, price, 0, c.slippage_bps,
                    order_id=order.id, parent=order, pid=order.pid)
                self.next_id += 1

    # ------------------------------------------------------------ commands
    def reason(self, c: PlaceTrigger) -> RejectReason | None:
        m, spec = self.m, self.m.cfg.markets.get(c.market)
        if spec is None or not spec.is_perp:
            return R.UNKNOWN_MARKET
        if not c.user_id or c.user_id.startswith("__"):
            return R.INVALID_ORDER
        if c.position_id < 0:
            return R.POSITION_NOT_FOUND
        if not self.price_ok(c.market, c.side, c.kind, c.trigger_price):
            return R.INVALID_TRIGGER_PRICE
        if c.quantity is not None and m.size_reason(spec, None, c.quantity) is not None:
            return R.INVALID_QUANTITY
        if not 0 <= c.slippage_bps < 10_000:
            return R.INVALID_SLIPPAGE
        r = self.kind_reason(spec, c)
        if r is None and self.count(c.user_id) >= self.limit:
            return R.TOO_MANY_TRIGGERS
        return r

    def kind_reason(self, spec: MarketSpec, c: PlaceTrigger) -> RejectReason | None:
        if c.kind in ON_POSITION:
            if c.limit_price is not None:
                return R.INVALID_LIMIT_PRICE
            if c.position_id and self.m.iso_pos(c.user_id, c.market, c.position_id) is None:
                return R.POSITION_NOT_FOUND
            if self.m.reducible(c.user_id, c.market, c.side, c.position_id) == 0:
                return R.REDUCE_ONLY_WOULD_INCREASE
            return None
        if c.position_id:
            return R.INVALID_ORDER
        if c.quantity is None:
            return R.INVALID_QUANTITY
        if not 1 <= c.leverage <= spec.max_leverage:
            return R.INVALID_LEVERAGE
        if (c.kind is TriggerKind.STOP_MARKET) != (c.limit_price is None) or (
                c.limit_price is not None
                and self.m.size_reason(spec, c.limit_price, c.quantity) is not None):
            return R.INVALID_LIMIT_PRICE
        return None

    def place(self, c: PlaceTrigger) -> None:
        r = self.reason(c)
        if r is not None:
            self.m.reject = r
            return
        self.armed[self.next_id] = RefTrigger(
            self.next_id, c.user_id, c.market, c.side, c.kind, c.trigger_price,
            c.quantity or 0, c.slippage_bps, c.limit_price or 0, c.leverage,
            c.reduce_only, pid=c.position_id)
        self.next_id += 1

    def mine(self, user: str, tid: int) -> RefTrigger | None:
        t = self.armed.get(tid)
        if t is None or t.user != user:
            self.m.reject = R.TRIGGER_NOT_FOUND
            return None
        return t

    def cancel(self, c: CancelTrigger) -> None:
        if self.mine(c.user_id, c.trigger_id) is not None:
            del self.armed[c.trigger_id]

    def move(self, c: MoveTrigger) -> None:
        t = self.mine(c.user_id, c.trigger_id)
        if t is None:
            return
        r = None
        if (c.trigger_price is None and c.limit_price is None) or (c.trigger_price is not None and (
                not self.price_ok(t.market, t.side, t.kind, c.trigger_price)
                or (t.parent is not None and not t.parent.is_market
                    and not not_reached(t.side, t.kind, c.trigger_price, t.parent.price)))):
            r = R.INVALID_TRIGGER_PRICE
        elif c.limit_price is not None and (
                t.kind is not TriggerKind.STOP_LIMIT or self.m.size_reason(
                    self.m.cfg.markets[t.market], c.limit_price, t.qty) is not None):
            r = R.INVALID_LIMIT_PRICE
        if r is not None:
            self.m.reject = r
            return
        t.price = t.price if c.trigger_price is None else c.trigger_price
        t.limit = t.limit if c.limit_price is None else c.limit_price

    def set_limit(self, c: SetTriggerLimit) -> None:
        if c.limit >= 1:
            self.limit = c.limit

    # -------------------------------------------------------------- firing
    def fire(self, market: str, mark: int) -> None:
        due = [t for _, t in sorted(self.armed.items()) if t.market == market and (
            mark <= t.price if below(t.side, t.kind) else mark >= t.price)]
        for t in due:
            if t.id not in self.armed:
                continue
            if t.kind in ON_POSITION:
                lots = self.m.reducible(t.user, market, t.side, t.pid)
                if t.qty or t.order_id:
                    lots = min(lots, t.qty)
                if lots == 0:
                    if t.parent is None:
                        del self.armed[t.id]
                    continue
                del self.armed[t.id]
                if t.parent is not None and any(o is t.parent for o in self.m.book):
                    self.m.drop(t.parent)  # the order's rest: canceled by its own stop
                self._order(PlaceOrder(user_id=t.user, market=market, side=t.side,
                                       quantity=lots, type=OrderType.MARKET,
                                       tif=TimeInForce.IOC, reduce_only=True, leverage=1,
                                       slippage_bps=t.slip, position_id=t.pid))
            else:
                del self.armed[t.id]
                limit = t.kind is TriggerKind.STOP_LIMIT
                self._order(PlaceOrder(
                    user_id=t.user, market=market, side=t.side, quantity=t.qty,
                    type=OrderType.LIMIT if limit else OrderType.MARKET,
                    price=t.limit if limit else None,
                    tif=TimeInForce.GTC if limit else TimeInForce.IOC, reduce_only=t.ro,
                    leverage=t.lev, slippage_bps=t.slip))

    def _order(self, c: PlaceOrder) -> None:
        saved, self.m.reject = self.m.reject, None
        self.m.place(c)
        if self.m.reject is not None:
            self.fired_rejects.append(self.m.reject)
        self.m.reject = saved

    # --------------------------------------------------- end of a command
    def settle(self) -> None:
        book = self.m.book
        for tid in sorted(self.armed):
            t = self.armed[tid]
            if t.parent is None:
                continue
            t.qty = t.parent.filled
            if any(o is t.parent for o in book):
                continue
            t.parent = None
            if t.qty == 0 or self.m.reducible(t.user, t.market, t.side, t.pid) == 0:
                del self.armed[tid]
        for tid in sorted(self.armed):
            t = self.armed[tid]
            if t.kind in ON_POSITION and t.parent is None and \
                    self.m.reducible(t.user, t.market, t.side, t.pid) == 0:
                del self.armed[tid]
