"""A seeded stream of every kind of command, for long differential runs.

Spot and perp orders (GTC/IOC/FOK limits, post-only, reduce-only, client ids, market
orders), cancels by id and by client id, cancel-all, replaces, deposits and withdrawals,
index-price ticks with occasional jumps (so positions are liquidated), funding rounds,
triggers (stop-loss / take-profit, an order's own following its fills, stop orders) with
their moves and cancels, isolated positions (ISOLATED orders, orders and stop-loss /
take-profit triggers naming a position, so isolated positions are also funded and
liquidated), changes of the open-order and trigger limits, and the registry:
TATA-INR (INR 2 decimals, tick 0.05) added at the opening, then markets halted, made
close-only and reopened, and their fees moved.
The generator watches the engine's events to know live order and trigger ids, so it is
driven by :func:`generate`, which applies each command to an engine as it goes.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from engine_svc.core import (
    AddAsset,
    AddMarket,
    CancelAll,
    CancelByClientId,
    CancelOrder,
    CancelTrigger,
    Command,
    Deposit,
    Engine,
    Event,
    MarginMode,
    MarketKind,
    MarketStatus,
    MoveTrigger,
    OrderAccepted,
    OrderType,
    PlaceOrder,
    PlaceTrigger,
    PositionChanged,
    ReplaceOrder,
    SetIndexPrice,
    SetOpenOrderLimit,
    SettleFunding,
    SetTriggerLimit,
    Side,
    StpMode,
    TimeInForce,
    TriggerKind,
    TriggerPlaced,
    UpdateMarket,
    Withdraw,
)

MIDS = {"BTC-PERP": 500_000, "ETH-PERP": 300_000, "SOL-PERP": 150_000, "SOL-USD": 150_000,
        "TATA-INR": 20_000}
PERPS = ["BTC-PERP", "ETH-PERP", "SOL-PERP"]


class MixedCommands:
    def __init__(self, seed: int, users: int = 40) -> None:
        self.rng = random.Random(seed)
        self.users = [f"u{i}" for i in range(users)]
        self.gamblers = [f"g{i}" for i in range(4)]
        """Thin accounts that buy BTC-PERP at 20x: index jumps liquidate them."""
        self.index = {m: MIDS[m] for m in PERPS}
        self.live: list[tuple[str, int]] = []
        self.trigger_ids: list[tuple[str, int]] = []
        self.coids: list[tuple[str, str]] = []
        self.isolated: dict[int, tuple[str, str, int]] = {}
        """position id -> (owner, market, size) of the open isolated positions seen."""
        self.ts = 0
        self.tx = 0
        choices: list[tuple[float, Callable[[], Command]]] = [
            (0.38, self.limit), (0.18, self.cancel), (0.06, self.market),
            (0.08, self.replace), (0.015, self.cancel_all), (0.02, self.cancel_coid),
            (0.07, self.tick), (0.01, self.funding), (0.05, self.trigger),
            (0.01, self.untrigger), (0.03, self.deposit), (0.02, self.withdraw),
            (0.0005, self.open_limit), (0.01, self.gamble), (0.002, self.refill),
            (0.002, self.market_status), (0.0005, self.market_fees),
            (0.01, self.move_trigger), (0.0005, self.trigger_limit),
            (0.03, self.reduce_isolated),
        ]
        self.table = choices

    def opening(self) -> list[Command]:
        out: list[Command] = [SetIndexPrice(market=m, price=p) for m, p in self.index.items()]
        out += [AddAsset(symbol="INR", decimals=2), AddAsset(symbol="TATA", decimals=0),
                AddMarket(symbol="TATA-INR", kind=MarketKind.SPOT, base_asset="TATA",
                          quote_asset="INR", tick_size="0.05", lot_size="1", taker_fee_bps=7)]
        for u in self.users:
            out.append(Deposit(user_id=u, asset="INR", amount=10**11, tx_id=f"open-inr-{u}"))
            out.append(Deposit(user_id=u, asset="TATA", amount=10**5, tx_id=f"open-tata-{u}"))
            usd = self.rng.choice([2 * 10**7, 10**8, 10**9, 10**11])  # the poor get liquidated
            out.append(Deposit(user_id=u, asset="USD", amount=usd, tx_id=f"open-usd-{u}"))
            out.append(Deposit(user_id=u, asset="SOL", amount=10**11, tx_id=f"open-sol-{u}"))
        return out

    def next(self) -> Command:
        self.ts += 1
        roll = self.rng.random()
        for weight, make in self.table:
            if roll < weight:
                return make()
            roll -= weight
        return self.limit()

    def observe(self, events: Sequence[Event]) -> None:
        for e in events:
            if isinstance(e, OrderAccepted) and e.type is OrderType.LIMIT:
                self.live.append((e.user_id, e.order_id))
            elif isinstance(e, TriggerPlaced):
                self.trigger_ids.append((e.user_id, e.trigger_id))
            elif isinstance(e, PositionChanged) and e.position_id:
                if e.size:
                    self.isolated[e.position_id] = (e.user_id, e.market, e.size)
                else:
                    self.isolated.pop(e.position_id, None)

    # ------------------------------------------------------------------ kinds
    def _pop(self, pool: list[tuple[str, int]]) -> tuple[str, int] | None:
        if not pool:
            return None
        i = self.rng.randrange(len(pool))
        pool[i], pool[-1] = pool[-1], pool[i]
        return pool.pop()

    def _price(self, market: str, side: Side, spread: int) -> int:
        mid = self.index.get(market, MIDS[market])
        off = self.rng.randint(-spread // 5, spread)
        return max(1, mid - off if side is Side.BUY else mid + off)

    def limit(self) -> Command:
        rng = self.rng
        user, market = rng.choice(self.users), rng.choice(list(MIDS))
        side = rng.choice([Side.BUY, Side.SELL])
        perp = market in self.index
        tif = rng.choice([TimeInForce.GTC] * 6 + [TimeInForce.IOC, TimeInForce.FOK])
        coid = None
        if rng.random() < 0.1:
            coid = f"c{rng.randrange(30)}"
            self.coids.append((user, coid))
        price = self._price(market, side, 40)
        stop_loss = take_profit = None
        if perp and rng.random() < 0.05:  # a stop-loss / take-profit that follows the fills
            sign = -1 if side is Side.BUY else 1
            stop_loss = max(1, price + sign * rng.randint(1, 2_000))
            take_profit = rng.choice([None, max(1, price - sign * rng.randint(1, 2_000))])
        return PlaceOrder(
            user_id=user, market=market, side=side, quantity=rng.randint(1, 30),
            price=price, tif=tif, client_order_id=coid,
            post_only=tif is TimeInForce.GTC and rng.random() < 0.1,
            reduce_only=perp and stop_loss is None and rng.random() < 0.05,
            stp=rng.choice(list(StpMode)), leverage=rng.choice([1, 5, 10, 20]) if perp else 1,
            ts=self.ts, stop_loss=stop_loss, take_profit=take_profit,
            margin_mode=self._mode(perp))

    def _mode(self, perp: bool) -> MarginMode:
        """ISOLATED for about one perp order in six (and, refused, one spot order in 200)."""
        odds = 0.16 if perp else 0.005
        return MarginMode.ISOLATED if self.rng.random() < odds else MarginMode.CROSS

    def reduce_isolated(self) -> Command:
        """An order naming an isolated position: mostly its owner's closing order (all,
        part, or more than it holds), sometimes a stranger's or a stale id."""
        rng = self.rng
        if not self.isolated:
            return self.market()
        pid = rng.choice(sorted(self.isolated))
        user, market, size = self.isolated[pid]
        side = Side.SELL if size > 0 else Side.BUY
        if rng.random() < 0.05:
            user = rng.choice(self.users)
        if rng.random() < 0.05:
            pid += rng.choice([-1, 1, 10**6])
        qty = rng.choice([abs(size), max(1, abs(size) // 2), abs(size) + 5])
        if rng.random() < 0.5:
            return PlaceOrder(user_id=user, market=market, side=side, quantity=qty,
                              type=OrderType.MARKET, slippage_bps=500, position_id=pid,
                              ts=self.ts)
        return PlaceOrder(user_id=user, market=market, side=side, quantity=qty,
                          price=self._price(market, Side.BUY if side is Side.SELL
                                            else Side.SELL, 40),
                          tif=rng.choice([TimeInForce.IOC, TimeInForce.GTC]),
                          position_id=pid, ts=self.ts)

    def market(self) -> Command:
        rng = self.rng
        market = rng.choice(list(MIDS))
        perp = market in self.index
        return PlaceOrder(
            user_id=rng.choice(self.users), market=market,
            side=rng.choice([Side.BUY, Side.SELL]), quantity=rng.randint(1, 40),
            type=OrderType.MARKET, slippage_bps=rng.choice([10, 100, 500]),
            reduce_only=perp and rng.random() < 0.2, leverage=10 if perp else 1, ts=self.ts,
            margin_mode=self._mode(perp))

    def cancel(self) -> Command:
        found = self._pop(self.live)
        if found is None:
            return self.limit()
        return CancelOrder(user_id=found[0], order_id=found[1], ts=self.ts)

    def replace(self) -> Command:
        rng = self.rng
        if not self.live:
            return self.limit()
        user, oid = self.live[rng.randrange(len(self.live))]
        price = rng.choice([None, MIDS["SOL-PERP"] + rng.randint(-30, 30)])
        return ReplaceOrder(user_id=user, order_id=oid, price=price,
                            quantity=rng.choice([None, rng.randint(1, 30)]), ts=self.ts)

    def cancel_all(self) -> Command:
        return CancelAll(user_id=self.rng.choice(self.users),
                         market=self.rng.choice([None, *MIDS]), ts=self.ts)

    def cancel_coid(self) -> Command:
        if not self.coids:
            return self.limit()
        user, coid = self.coids[self.rng.randrange(len(self.coids))]
        return CancelByClientId(user_id=user, client_order_id=coid, ts=self.ts)

    def tick(self) -> Command:
        rng = self.rng
        market = rng.choice(PERPS)
        if rng.random() < 0.03:  # a rare jump of 10-15% liquidates the thin accounts
            bps = rng.choice([-1, 1]) * rng.randint(1_000, 1_500)
        else:
            bps = rng.randint(-20, 20)
        move = self.index[market] * bps // 10_000
        self.index[market] = max(1000, self.index[market] + move)
        return SetIndexPrice(market=market, price=self.index[market], ts=self.ts)

    def funding(self) -> Command:
        return SettleFunding(market=self.rng.choice([*PERPS, "SOL-USD"]), ts=self.ts)

    def trigger(self) -> Command:
        rng = self.rng
        market = rng.choice(PERPS)
        side = rng.choice([Side.BUY, Side.SELL])
        kind = rng.choice(list(TriggerKind))
        price = self.index[market] + rng.randint(-300, 300)
        stop = kind in (TriggerKind.STOP_MARKET, TriggerKind.STOP_LIMIT)
        limit = max(1, price + rng.randint(-200, 200)) if kind is TriggerKind.STOP_LIMIT \
            else None
        user, pid = rng.choice(self.users), 0
        if not stop and self.isolated and rng.random() < 0.3:
            pid = rng.choice(sorted(self.isolated))
            user, market, size = self.isolated[pid]
            side = Side.SELL if size > 0 else Side.BUY
            price = self.index[market] + (1 if (side is Side.BUY) == (
                kind is TriggerKind.STOP_LOSS) else -1) * rng.randint(1, 300)
        return PlaceTrigger(user_id=user, market=market, side=side, position_id=pid,
                            kind=kind, trigger_price=max(1, price),
                            quantity=rng.randint(1, 20) if stop else
                            rng.choice([None, rng.randint(1, 20)]), ts=self.ts,
                            limit_price=limit, leverage=rng.choice([1, 10]) if stop else 1,
                            reduce_only=stop and rng.random() < 0.3)

    def move_trigger(self) -> Command:
        rng = self.rng
        if not self.trigger_ids:
            return self.trigger()
        user, tid = self.trigger_ids[rng.randrange(len(self.trigger_ids))]
        price = rng.choice([None, self.index[rng.choice(PERPS)] + rng.randint(-300, 300)])
        limit = rng.choice([None, max(1, (price or 150_000) + rng.randint(-200, 200))])
        return MoveTrigger(user_id=user, trigger_id=tid, trigger_price=price,
                           limit_price=limit, ts=self.ts)

    def trigger_limit(self) -> Command:
        return SetTriggerLimit(limit=self.rng.choice([0, 3, 10, 100]), ts=self.ts)

    def untrigger(self) -> Command:
        found = self._pop(self.trigger_ids)
        if found is None:
            return self.trigger()
        return CancelTrigger(user_id=found[0], trigger_id=found[1], ts=self.ts)

    def deposit(self) -> Command:
        self.tx += 1
        tx = f"d{self.tx}" if self.rng.random() < 0.9 else f"d{max(1, self.tx - 5)}"
        return Deposit(user_id=self.rng.choice(self.users), asset=self.rng.choice(["USD", "SOL"]),
                       amount=self.rng.randint(1, 10**9), tx_id=tx, ts=self.ts)

    def withdraw(self) -> Command:
        self.tx += 1
        return Withdraw(user_id=self.rng.choice(self.users), asset=self.rng.choice(["USD", "SOL"]),
                        amount=self.rng.randint(1, 10**10), tx_id=f"w{self.tx}", ts=self.ts)

    def gamble(self) -> Command:
        return PlaceOrder(user_id=self.rng.choice(self.gamblers), market="BTC-PERP",
                          side=Side.BUY, quantity=self.rng.randint(5, 20),
                          type=OrderType.MARKET, leverage=20, ts=self.ts)

    def refill(self) -> Command:
        self.tx += 1
        return Deposit(user_id=self.rng.choice(self.gamblers), asset="USD", amount=30 * 10**6,
                       tx_id=f"g{self.tx}", ts=self.ts)

    def market_status(self) -> Command:
        status = self.rng.choice([MarketStatus.OPEN] * 4 + [MarketStatus.HALTED,
                                                            MarketStatus.CLOSE_ONLY])
        return UpdateMarket(market=self.rng.choice(list(MIDS)), status=status.value,
                            ts=self.ts)

    def market_fees(self) -> Command:
        maker = self.rng.randint(0, 12)  # sometimes above resting holds: refused
        return UpdateMarket(market=self.rng.choice(list(MIDS)), maker_fee_bps=maker,
                            taker_fee_bps=maker + self.rng.randint(0, 8), ts=self.ts)

    def open_limit(self) -> Command:
        return SetOpenOrderLimit(limit=self.rng.choice([0, 20, 60, 200]), ts=self.ts)


def generate(engine: Engine, seed: int, n: int) -> list[Command]:
    """``n`` commands after the opening ones, each applied to ``engine`` as generated."""
    work = MixedCommands(seed)
    commands = work.opening()
    for cmd in commands:
        engine.apply(cmd)
    for _ in range(n):
        cmd = work.next()
        commands.append(cmd)
        work.observe(engine.apply(cmd))
    return commands
