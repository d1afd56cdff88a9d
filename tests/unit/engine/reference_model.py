"""A deliberately naive reference exchange, written from the rules, not from the engine.

Resting orders live in one flat list; the best order is found by sorting on every step.
Money is a dict of ``[available, locked]`` per (user, asset). Only the static market
configuration (``MarketSpec``) and the command/enum types are shared with the engine.

Perps: index and mark prices, funding and the cross-margin admission rule are modelled;
liquidation is not (the differential test keeps users far from maintenance margin and
asserts the engine liquidates nobody). Triggers are in :mod:`reference_triggers`.

Isolated positions: ``iso[pid] = [owner, market, size, cost, margin, realized]``, opened
by an ISOLATED order's first fill (pid = its id), reduced by orders naming the pid. What a
close frees and funding are the position's ``iso_cash`` during a command; at its end the
cash goes to the owner's USD (a shortfall from the position's margin, then the fund), and
a flat position whose opening order is no longer on the book (and has no trigger) is
forgotten.

Registry: runtime assets and markets are taken as given (the generated commands are valid;
refusals are unit-tested). A HALTED market refuses every order and every replace that does
not shrink in place, and fires no trigger; a CLOSE_ONLY one the same, except reduce-only
perp orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from reference_triggers import RefTriggers

from engine_svc.core import (
    AddAsset,
    AddMarket,
    AssetSpec,
    CancelAll,
    CancelByClientId,
    CancelOrder,
    CancelTrigger,
    Deposit,
    MarginMode,
    MarketConfig,
    MarketKind,
    MarketSpec,
    MarketStatus,
    MoveTrigger,
    OrderType,
    PlaceOrder,
    PlaceTrigger,
    RejectReason,
    ReplaceOrder,
    SetIndexPrice,
    SetOpenOrderLimit,
    SettleFunding,
    SetTriggerLimit,
    Side,
    StpMode,
    TimeInForce,
    UpdateMarket,
    Withdraw,
)
from engine_svc.core.state import MAX_ISOLATED_POSITIONS

FEES = "__fees__"
FUND = "__insurance__"
CAP = 10**18
R = RejectReason


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass
class RefOrder:
    id: int
    user: str
    market: str
    side: Side
    price: int
    rem: int
    per_lot: int
    lev: int
    prio: int
    coid: str | None
    post_only: bool
    reduce_only: bool
    stp: StpMode
    is_market: bool
    tif: TimeInForce
    filled: int = 0
    pid: int = 0


Fill = tuple[int, str, int, int, int, int, int, int]
"""(fill_id, market, price, qty, taker order id, maker order id, taker fee, maker fee)"""


class RefModel:
    def __init__(self, config: MarketConfig) -> None:
        self.cfg = MarketConfig(dict(config.assets), dict(config.markets))
        self.status: dict[str, MarketStatus] = {}
        self.bal: dict[tuple[str, str], list[int]] = {}
        self.pos: dict[tuple[str, str], list[int]] = {}  # size, cost, margin, realized
        self.book: list[RefOrder] = []
        self.final: dict[int, str] = {}
        self.next_id = 1
        self.next_fill = 1
        self.prio = 0
        self.dep_tx: set[str] = set()
        self.wd_tx: set[str] = set()
        self.net: dict[str, int] = {}
        self.fills: list[Fill] = []
        self.reject: RejectReason | None = None
        self.index: dict[str, int] = {}
        self.mark: dict[str, int] = {}
        self.last: dict[str, int] = {}
        self.max_open = 200
        self.triggers = RefTriggers(self)
        self.iso: dict[int, list[Any]] = {}
        self.iso_cash: dict[int, int] = {}

    # ------------------------------------------------------------ helpers
    def b(self, user: str, asset: str) -> list[int]:
        return self.bal.setdefault((user, asset), [0, 0])

    def fee(self, notional: int, bps: int) -> int:
        return ceil_div(notional * bps, 10_000)

    def per_lot(self, spec: MarketSpec, side: Side, price: int, lev: int, ro: bool) -> int:
        if not spec.is_perp and side is Side.SELL:
            return spec.base_per_lot
        n = price * spec.notional_unit
        f = self.fee(n, spec.taker_fee_bps)
        if not spec.is_perp:
            return n + f
        return f if ro else ceil_div(n, lev) + f

    def asset(self, spec: MarketSpec, side: Side) -> str:
        return spec.base.symbol if not spec.is_perp and side is Side.SELL else spec.quote.symbol

    def opposite(self, market: str, side: Side) -> list[RefOrder]:
        other = Side.SELL if side is Side.BUY else Side.BUY
        orders = [o for o in self.book if o.market == market and o.side is other]
        if other is Side.SELL:
            return sorted(orders, key=lambda o: (o.price, o.prio))
        return sorted(orders, key=lambda o: (-o.price, o.prio))

    def best(self, market: str, side: Side) -> int | None:
        opp = self.opposite(market, side)
        return opp[0].price if opp else None

    def iso_pos(self, user: str, market: str, pid: int) -> list[Any] | None:
        p = self.iso.get(pid)
        return p if p is not None and p[0] == user and p[1] == market else None

    def reducible(self, user: str, market: str, side: Side, pid: int = 0) -> int:
        if pid:
            ip = self.iso_pos(user, market, pid)
            size = ip[2] if ip is not None else 0
        else:
            size = self.pos.get((user, market), [0, 0, 0, 0])[0]
        if side is Side.SELL:
            return max(size, 0)
        return max(-size, 0)

    def release(self, spec: MarketSpec, o: RefOrder, lots: int) -> None:
        amt = lots * o.per_lot
        bal = self.b(o.user, self.asset(spec, o.side))
        bal[0] += amt
        bal[1] -= amt

    def size_reason(self, spec: MarketSpec, price: int | None, qty: int) -> R | None:
        if qty <= 0 or qty >= CAP or qty < spec.min_lots:
            return R.INVALID_QUANTITY
        if price is not None:
            if price <= 0 or price >= CAP:
                return R.INVALID_PRICE
            if price * qty * spec.notional_unit >= CAP:
                return R.INVALID_QUANTITY
        return None

    # ----------------------------------------------------------- commands
    def apply(self, cmd: Any) -> None:
        self.fills = []
        self.reject = None
        self.triggers.fired_rejects = []
        trig = self.triggers
        handler: Any = {
            PlaceOrder: self.place, CancelOrder: self.cancel_id, CancelByClientId: self.cancel_coid,
            CancelAll: self.cancel_all, ReplaceOrder: self.replace, Deposit: self.deposit,
            Withdraw: self.withdraw, SetIndexPrice: self.set_index, SettleFunding: self.funding,
            SetOpenOrderLimit: self.set_limit, AddAsset: self.add_asset,
            AddMarket: self.add_market, UpdateMarket: self.update_market,
            PlaceTrigger: trig.place, CancelTrigger: trig.cancel, MoveTrigger: trig.move,
            SetTriggerLimit: trig.set_limit,
        }[type(cmd)]
        handler(cmd)
        self.settle_iso_cash()
        trig.settle()
        self.forget_closed_iso()

    def settle_iso_cash(self) -> None:
        for pid, cash in sorted(self.iso_cash.items()):
            p = self.iso[pid]
            if cash > 0:
                self.b(p[0], "USD")[0] += cash
            elif cash < 0:
                take = min(p[4], -cash)
                p[4] -= take
                self.b(FUND, "USD")[0] += cash + take
        self.iso_cash = {}

    def forget_closed_iso(self) -> None:
        for pid in [pid for pid, p in self.iso.items() if p[2] == 0]:
            if any(o.id == pid for o in self.book) or any(
                    t.pid == pid for t in self.triggers.armed.values()):
                continue
            del self.iso[pid]

    # ----------------------------------------------------------- registry
    def add_asset(self, c: AddAsset) -> None:
        assert c.symbol not in self.cfg.assets
        self.cfg.assets[c.symbol] = AssetSpec(c.symbol, c.decimals)

    def add_market(self, c: AddMarket) -> None:
        assert c.symbol not in self.cfg.markets
        a = self.cfg.assets
        lot = Decimal(c.lot_size)
        self.cfg.markets[c.symbol] = MarketSpec(
            c.symbol, c.kind, a[c.base_asset], a[c.quote_asset], Decimal(c.tick_size), lot,
            Decimal(c.min_quantity) if c.min_quantity else lot, c.max_leverage,
            c.maker_fee_bps, c.taker_fee_bps, Decimal(c.maintenance_margin_rate))

    def update_market(self, c: UpdateMarket) -> None:
        s = self.cfg.markets[c.market]
        if c.status:
            self.status[c.market] = MarketStatus(c.status)
        self.cfg.markets[c.market] = MarketSpec(
            s.symbol, s.kind, s.base, s.quote, s.tick_size, s.lot_size, s.min_quantity,
            s.max_leverage if c.max_leverage is None else c.max_leverage,
            s.maker_fee_bps if c.maker_fee_bps is None else c.maker_fee_bps,
            s.taker_fee_bps if c.taker_fee_bps is None else c.taker_fee_bps,
            s.maintenance_margin_rate)

    def closed_to(self, spec: MarketSpec, reduce_only: bool) -> R | None:
        status = self.status.get(spec.symbol, MarketStatus.OPEN)
        if status is MarketStatus.HALTED:
            return R.MARKET_HALTED
        if status is MarketStatus.CLOSE_ONLY and not (spec.kind is MarketKind.PERP
                                                      and reduce_only):
            return R.MARKET_CLOSE_ONLY
        return None

    def set_limit(self, c: SetOpenOrderLimit) -> None:
        if c.limit >= 1:
            self.max_open = c.limit

    def deposit(self, c: Deposit) -> None:
        if c.asset not in self.cfg.assets:
            self.reject = R.UNKNOWN_ASSET
        elif c.amount <= 0 or c.amount >= CAP or not c.user_id or c.user_id == FEES:
            self.reject = R.INVALID_AMOUNT
        elif c.tx_id in self.dep_tx:
            self.reject = R.DUPLICATE_TRANSACTION
        else:
            self.dep_tx.add(c.tx_id)
            self.b(c.user_id, c.asset)[0] += c.amount
            self.net[c.asset] = self.net.get(c.asset, 0) + c.amount

    def withdraw(self, c: Withdraw) -> None:
        if c.asset not in self.cfg.assets:
            self.reject = R.UNKNOWN_ASSET
        elif c.amount <= 0 or c.amount >= CAP or not c.user_id or c.user_id == FEES:
            self.reject = R.INVALID_AMOUNT
        elif c.tx_id is not None and c.tx_id in self.wd_tx:
            self.reject = R.DUPLICATE_TRANSACTION
        elif self.b(c.user_id, c.asset)[0] < c.amount:
            self.reject = R.INSUFFICIENT_BALANCE
        elif c.asset == "USD" and self.b(c.user_id, "USD")[0] + self.loss(c.user_id) < c.amount:
            self.reject = R.INSUFFICIENT_MARGIN
        else:
            if c.tx_id is not None:
                self.wd_tx.add(c.tx_id)
            self.b(c.user_id, c.asset)[0] -= c.amount
            self.net[c.asset] -= c.amount

    def drop(self, o: RefOrder) -> None:
        spec = self.cfg.markets[o.market]
        self.release(spec, o, o.rem)
        if o in self.book:
            self.book.remove(o)
        self.final[o.id] = o.user

    def find(self, user: str, oid: int) -> RefOrder | None:
        for o in self.book:
            if o.id == oid and o.user == user:
                return o
        self.reject = R.ORDER_ALREADY_FINAL if self.final.get(oid) == user else R.ORDER_NOT_FOUND
        return None

    def cancel_id(self, c: CancelOrder) -> None:
        o = self.find(c.user_id, c.order_id)
        if o is not None:
            self.drop(o)

    def cancel_coid(self, c: CancelByClientId) -> None:
        for o in self.book:
            if o.user == c.user_id and o.coid == c.client_order_id:
                self.drop(o)
                return
        self.reject = R.ORDER_NOT_FOUND

    def cancel_all(self, c: CancelAll) -> None:
        if c.market is not None and c.market not in self.cfg.markets:
            self.reject = R.UNKNOWN_MARKET
            return
        for o in sorted(self.book, key=lambda o: o.id):
            if o.user == c.user_id and (c.market is None or o.market == c.market):
                self.drop(o)

    # -------------------------------------------------------------- orders
    def check_place(self, spec: MarketSpec, c: PlaceOrder) -> R | None:
        mkt = c.type is OrderType.MARKET
        if not c.user_id or c.user_id.startswith("__"):
            return R.INVALID_ORDER
        if c.client_order_id is not None and not 0 < len(c.client_order_id) <= 64:
            return R.INVALID_ORDER
        if mkt and c.post_only:
            return R.INVALID_ORDER
        if mkt and not 0 <= c.slippage_bps < 10_000:
            return R.INVALID_SLIPPAGE
        if not mkt and c.price is None:
            return R.INVALID_PRICE
        if c.post_only and c.tif is not TimeInForce.GTC:
            return R.INVALID_ORDER
        if spec.is_perp and not 1 <= c.leverage <= spec.max_leverage:
            return R.INVALID_LEVERAGE
        if not spec.is_perp and c.leverage != 1:
            return R.INVALID_LEVERAGE
        if not spec.is_perp and c.reduce_only:
            return R.INVALID_ORDER
        return self.size_reason(spec, None if mkt else c.price, c.quantity)

    def crosses(self, side: Side, best: int | None, price: int) -> bool:
        if best is None:
            return False
        return best <= price if side is Side.BUY else best >= price

    def place(self, c: PlaceOrder) -> None:
        spec = self.cfg.markets.get(c.market)
        if spec is None:
            self.reject = R.UNKNOWN_MARKET
            return
        ro = c.reduce_only or c.position_id != 0
        r = self.check_place(spec, c) or self.iso_reason(spec, c) or self.closed_to(spec, ro)
        if r is None and (c.stop_loss is not None or c.take_profit is not None):
            r = self.triggers.bracket_reason(spec, c)
        if r is None and c.client_order_id is not None and any(
            o.user == c.user_id and o.coid == c.client_order_id for o in self.book
        ):
            r = R.DUPLICATE_CLIENT_ORDER_ID
        qty = c.quantity
        if r is None and ro:
            qty = min(qty, self.reducible(c.user_id, c.market, c.side, c.position_id))
            if qty == 0:
                r = R.REDUCE_ONLY_WOULD_INCREASE
        if r is not None:
            self.reject = r
            return
        prices = self.entry_prices(spec, c)
        if isinstance(prices, RejectReason):
            self.reject = prices
            return
        limit, lock_price = prices
        if c.tif is TimeInForce.FOK and self.fillable(c, limit) < qty:
            self.reject = R.FOK_NOT_FILLABLE
            return
        r = self.count_reason(c, ro)
        if r is not None:
            self.reject = r
            return
        per_lot = self.per_lot(spec, c.side, lock_price, c.leverage, ro)
        bal = self.b(c.user_id, self.asset(spec, c.side))
        loss = self.loss(c.user_id) if spec.is_perp and not ro else 0
        if bal[0] + loss < qty * per_lot:
            self.reject = R.INSUFFICIENT_MARGIN if spec.is_perp else R.INSUFFICIENT_BALANCE
            return
        bal[0] -= qty * per_lot
        bal[1] += qty * per_lot
        o = RefOrder(self.next_id, c.user_id, c.market, c.side, limit, qty, per_lot,
                     c.leverage, 0, c.client_order_id, c.post_only, ro, c.stp,
                     c.type is OrderType.MARKET, c.tif)
        o.pid = c.position_id or (o.id if c.margin_mode is MarginMode.ISOLATED else 0)
        self.next_id += 1
        if c.stop_loss is not None or c.take_profit is not None:
            self.triggers.attach(c, o)
        self.run(spec, o)

    def count_reason(self, c: PlaceOrder, ro: bool) -> R | None:
        """The per-user counts: live orders in the market (a GTC limit that may rest), open
        isolated positions (an order that opens one)."""
        may_rest = c.type is OrderType.LIMIT and c.tif is TimeInForce.GTC and not ro
        if may_rest and sum(o.user == c.user_id and o.market == c.market
                            for o in self.book) >= self.max_open:
            return R.TOO_MANY_OPEN_ORDERS
        if not c.position_id and c.margin_mode is MarginMode.ISOLATED and sum(
                p[0] == c.user_id for p in self.iso.values()) >= MAX_ISOLATED_POSITIONS:
            return R.TOO_MANY_POSITIONS
        return None

    def iso_reason(self, spec: MarketSpec, c: PlaceOrder) -> R | None:
        """After the validation, before the market status: ISOLATED is for perps and
        opens; a position id must be >= 0 and, after the status, the caller's open
        isolated position in that market."""
        if not c.position_id and c.margin_mode is MarginMode.CROSS:
            return None
        if not spec.is_perp or (c.reduce_only and not c.position_id):
            return R.INVALID_MARGIN_MODE
        if c.position_id < 0:
            return R.POSITION_NOT_FOUND
        closed = self.closed_to(spec, bool(c.position_id))
        if closed is None and c.position_id and self.iso_pos(
                c.user_id, c.market, c.position_id) is None:
            return R.POSITION_NOT_FOUND
        return closed

    def entry_prices(self, spec: MarketSpec, c: PlaceOrder) -> tuple[int, int] | R:
        best = self.best(c.market, c.side)
        if c.type is OrderType.MARKET:
            if best is None:
                return R.NO_LIQUIDITY
            if c.side is Side.BUY:
                limit = (best * (10_000 + c.slippage_bps)) // 10_000
                lock_price = limit
            else:
                limit = max(1, ceil_div(best * (10_000 - c.slippage_bps), 10_000))
                lock_price = best
            r = self.size_reason(spec, limit, c.quantity)
            return r if r is not None else (limit, lock_price)
        assert c.price is not None
        cross = self.crosses(c.side, best, c.price)
        if c.post_only and cross:
            return R.POST_ONLY_WOULD_TAKE
        if c.side is Side.SELL and cross and best is not None:
            return c.price, best
        return c.price, c.price

    def fillable(self, c: PlaceOrder, limit: int) -> int:
        total = 0
        for m in self.opposite(c.market, c.side):
            if (m.price > limit) if c.side is Side.BUY else (m.price < limit):
                break
            if m.user == c.user_id:
                if c.stp is StpMode.CANCEL_MAKER:
                    continue
                break
            total += m.rem
        return total

    def run(self, spec: MarketSpec, o: RefOrder) -> None:
        stp_stop = False
        while o.rem:
            opp = self.opposite(o.market, o.side)
            if not opp:
                break
            m = opp[0]
            if (m.price > o.price) if o.side is Side.BUY else (m.price < o.price):
                break
            if m.user == o.user:
                if o.stp is not StpMode.CANCEL_TAKER:
                    self.drop(m)
                if o.stp is not StpMode.CANCEL_MAKER:
                    stp_stop = True
                    break
                continue
            self.trade(spec, o, m)
        if o.rem == 0:
            self.final[o.id] = o.user
        elif stp_stop or o.is_market or o.tif is not TimeInForce.GTC or o.reduce_only:
            self.drop(o)
        else:
            if spec.is_perp and o.side is Side.SELL:
                new = self.per_lot(spec, o.side, o.price, o.lev, False)
                self.b(o.user, "USD")[0] += o.rem * (o.per_lot - new)
                self.b(o.user, "USD")[1] -= o.rem * (o.per_lot - new)
                o.per_lot = new
            self.prio += 1
            o.prio = self.prio
            self.book.append(o)

    def trade(self, spec: MarketSpec, taker: RefOrder, maker: RefOrder) -> None:
        qty = min(taker.rem, maker.rem)
        price = maker.price
        mf = self.settle(spec, maker, price, qty, spec.maker_fee_bps)
        tf = self.settle(spec, taker, price, qty, spec.taker_fee_bps)
        self.last[spec.symbol] = price
        self.fills.append((self.next_fill, spec.symbol, price, qty, taker.id, maker.id, tf, mf))
        self.next_fill += 1
        taker.rem -= qty
        maker.rem -= qty
        taker.filled += qty
        maker.filled += qty
        if maker.rem == 0:
            self.book.remove(maker)
            self.final[maker.id] = maker.user

    def settle(self, spec: MarketSpec, o: RefOrder, price: int, qty: int, bps: int) -> int:
        notional = price * qty * spec.notional_unit
        f = self.fee(notional, bps)
        self.release(spec, o, qty)
        q = self.b(o.user, spec.quote.symbol)
        self.b(FEES, spec.quote.symbol)[0] += f
        if not spec.is_perp:
            if o.side is Side.BUY:
                q[0] -= notional + f
                self.b(o.user, spec.base.symbol)[0] += qty * spec.base_per_lot
            else:
                self.b(o.user, spec.base.symbol)[0] -= qty * spec.base_per_lot
                q[0] += notional - f
            return f
        q[0] -= f
        if o.pid:
            p = self.iso.setdefault(o.pid, [o.user, spec.symbol, 0, 0, 0, 0])[2:]
            held = self.iso[o.pid]
        else:
            p = self.pos.setdefault((o.user, spec.symbol), [0, 0, 0, 0])
        sign = 1 if o.side is Side.BUY else -1
        close = min(qty, max(-sign * p[0], 0))
        if close:
            whole = abs(p[0])
            cost_part = p[1] if close == whole else p[1] * close // whole
            margin_part = p[2] if close == whole else p[2] * close // whole
            proceeds = price * close * spec.notional_unit
            pnl = (proceeds if p[0] > 0 else -proceeds) - cost_part
            p[0] += sign * close
            p[1] -= cost_part
            p[2] -= margin_part
            p[3] += pnl
            if o.pid:
                self.iso_cash[o.pid] = self.iso_cash.get(o.pid, 0) + margin_part + pnl
            else:
                q[0] += margin_part + pnl
        opened = qty - close
        if opened:
            cash = price * opened * spec.notional_unit
            margin = ceil_div(cash, o.lev)
            q[0] -= margin
            p[2] += margin
            p[0] += sign * opened
            p[1] += sign * cash
        if o.pid:
            held[2:] = p
        return f

    def replace(self, c: ReplaceOrder) -> None:
        o = self.find(c.user_id, c.order_id)
        if o is None:
            return
        spec = self.cfg.markets[o.market]
        price = o.price if c.price is None else c.price
        qty = o.rem if c.quantity is None else c.quantity
        r = self.size_reason(spec, price, qty)
        if r is not None:
            self.reject = r
            return
        if price == o.price and qty <= o.rem:
            self.release(spec, o, o.rem - qty)
            o.rem = qty
            return
        closed = self.closed_to(spec, o.reduce_only)
        if closed is not None:
            self.reject = closed
            return
        best = self.best(o.market, o.side)
        cross = self.crosses(o.side, best, price)
        if o.post_only and cross:
            self.reject = R.POST_ONLY_WOULD_TAKE
            return
        lock_price = best if (o.side is Side.SELL and cross and best is not None) else price
        per_lot = self.per_lot(spec, o.side, lock_price, o.lev, o.reduce_only)
        bal = self.b(o.user, self.asset(spec, o.side))
        loss = self.loss(o.user) if spec.is_perp and not o.reduce_only else 0
        if bal[0] + o.rem * o.per_lot + loss < qty * per_lot:
            self.reject = R.INSUFFICIENT_MARGIN if spec.is_perp else R.INSUFFICIENT_BALANCE
            return
        self.release(spec, o, o.rem)
        self.book.remove(o)
        bal[0] -= qty * per_lot
        bal[1] += qty * per_lot
        o.price, o.rem, o.per_lot = price, qty, per_lot
        self.run(spec, o)

    # --------------------------------------------------------------- perps
    def loss(self, user: str) -> int:
        """min(0, unrealised PnL at mark over the user's perp positions)."""
        total = 0
        for (u, m), p in self.pos.items():
            if u == user and p[0] and m in self.mark:
                total += p[0] * self.mark[m] * self.cfg.markets[m].notional_unit - p[1]
        return min(total, 0)

    def set_index(self, c: SetIndexPrice) -> None:
        spec = self.cfg.markets.get(c.market)
        if spec is None or not spec.is_perp:
            self.reject = R.UNKNOWN_MARKET
            return
        if not 0 < c.price < CAP:
            self.reject = R.INVALID_PRICE
            return
        bid, ask = self.best(c.market, Side.SELL), self.best(c.market, Side.BUY)
        mid = (bid + ask) // 2 if bid is not None and ask is not None else c.price
        median = sorted([c.price, mid, self.last.get(c.market, c.price)])[1]
        band = c.price * spec.mark_band_bps // 10_000
        self.index[c.market] = c.price
        self.mark[c.market] = max(1, min(max(median, c.price - band), c.price + band))
        if self.status.get(c.market, MarketStatus.OPEN) is not MarketStatus.HALTED:
            self.triggers.fire(c.market, self.mark[c.market])

    def funding(self, c: SettleFunding) -> None:
        spec = self.cfg.markets.get(c.market)
        if spec is None or not spec.is_perp:
            self.reject = R.UNKNOWN_MARKET
            return
        if c.market not in self.mark:
            self.reject = R.INVALID_PRICE
            return
        mark, index = self.mark[c.market], self.index[c.market]
        premium = abs(mark - index) * 1_000_000 // index * (1 if mark >= index else -1)
        cap = spec.funding_cap_bps * 100
        rate = max(-cap, min(cap, premium))
        paid = 0
        payers = []
        held = [(u, p, 0) for (u, m), p in sorted(self.pos.items()) if m == c.market] + [
            (p[0], p[2:], pid) for pid, p in sorted(self.iso.items()) if p[1] == c.market]
        for u, p, pid in held:
            if not p[0] or not rate:
                continue
            exact = abs(p[0]) * mark * spec.notional_unit * abs(rate)
            if (p[0] > 0) == (rate > 0):
                amount = -ceil_div(exact, 1_000_000)
                if not pid:
                    payers.append(u)
            else:
                amount = exact // 1_000_000
            if pid:
                self.iso_cash[pid] = self.iso_cash.get(pid, 0) + amount
            else:
                self.b(u, "USD")[0] += amount
            paid += amount
        if rate:
            self.b(FUND, "USD")[0] -= paid
        for u in payers:
            bal = self.b(u, "USD")
            for (u2, _m), p in sorted(self.pos.items()):
                if u2 == u and bal[0] < 0:
                    take = min(p[2], -bal[0])
                    p[2] -= take
                    bal[0] += take

    # ------------------------------------------------------------- views
    def depth(self, market: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        out: list[list[tuple[int, int]]] = []
        for side in (Side.SELL, Side.BUY):  # opposite of SELL is bids
            levels: dict[int, int] = {}
            for o in self.opposite(market, side):
                levels[o.price] = levels.get(o.price, 0) + o.rem
            out.append(list(levels.items()))
        return out[0], out[1]

    def open_ids(self, user: str) -> list[tuple[int, int, int]]:
        return sorted((o.id, o.price, o.rem) for o in self.book if o.user == user)
