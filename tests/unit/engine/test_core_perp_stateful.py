"""Property-based test of the perp risk core: trading, index moves, funding, liquidations.

No reference model here (the differential machine in ``test_core_stateful`` covers the
order path); instead, after every step: conservation of every asset including the fee
account and the insurance fund, zero-sum position sizes per market, no crossed book,
nothing filled and no trigger fired in a market that was halted (liquidations there pass to
the insurance fund), close-only taking reduce-only orders only,
locks equal to what open orders need, no liquidated user left with a negative USD
balance or a position, every trigger fired at most once, no stop-loss / take-profit armed
on a position its side cannot reduce (unless its order may still fill), an order's
attached triggers holding exactly its filled lots, and no user past the trigger limit.
Managed triggers (stop orders, moves, cancels, an order's stop-loss / take-profit) are
rules like any other. Snapshot/restore round-trips are a rule of their own.

Isolated positions are traded beside cross ones (opened by ISOLATED orders, reduced and
closed by orders and triggers naming them, funded, liquidated on their own): their sizes
count in the zero sum, their accounts hold no cash between commands, their margin never
goes negative, an isolated liquidation never lowers its owner's cross balance, and a
trigger naming one has that position to reduce.
"""

from __future__ import annotations

import json
from collections import defaultdict

import hypothesis.strategies as st
from core_stubs import conservation_gaps
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from engine_svc.core import (
    INSURANCE_FUND,
    CancelAll,
    CancelTrigger,
    Command,
    Deposit,
    Engine,
    MarginMode,
    MarketStatus,
    MoveTrigger,
    OrderAccepted,
    OrderFilled,
    OrderType,
    PlaceOrder,
    PlaceTrigger,
    PositionLiquidated,
    SetIndexPrice,
    SettleFunding,
    SetTriggerLimit,
    Side,
    TimeInForce,
    TriggerFired,
    TriggerKind,
    UpdateMarket,
    Withdraw,
    default_markets,
)

USERS = ["u1", "u2", "u3", "mm"]
MARKETS = ["BTC-PERP", "ETH-PERP"]
START = {"BTC-PERP": 500_000, "ETH-PERP": 300_000}
users = st.sampled_from(USERS[:3])
markets = st.sampled_from(MARKETS)
sides = st.sampled_from(list(Side))
ON_POSITION = [TriggerKind.STOP_LOSS, TriggerKind.TAKE_PROFIT]
ISO, CROSS = MarginMode.ISOLATED, MarginMode.CROSS
STOPS = [TriggerKind.STOP_MARKET, TriggerKind.STOP_LIMIT]


class PerpRisk(RuleBasedStateMachine):
    @initialize(fund=st.sampled_from([0, 10**6, 10**9]))
    def setup(self, fund: int) -> None:
        self.engine = Engine(default_markets())
        self.index = dict(START)
        self.tx = 0
        self.liquidated: set[str] = set()
        self.fired: set[int] = set()
        for user in USERS[:3]:
            self.deposit(user, 10_000_000)
        self.deposit("mm", 10**12)
        for market in MARKETS:
            self.run(SetIndexPrice(market=market, price=self.index[market]))
            self.quote(market, 20, 20)
        if fund:
            self.run(Deposit(user_id=INSURANCE_FUND, asset="USD", amount=fund, tx_id="fund"))
        self.run(SetTriggerLimit(limit=6))

    def run(self, cmd: Command) -> None:
        status = {m: self.engine.config.markets[m].status for m in MARKETS}
        before = {u: self.engine.balances(u).get("USD", (0, 0))[0] for u in USERS}
        events = self.engine.apply(cmd)
        for e in events:
            if isinstance(e, OrderFilled | TriggerFired):
                assert status[e.market] is not MarketStatus.HALTED, (cmd, e)
            if isinstance(e, OrderAccepted) and isinstance(cmd, PlaceOrder) \
                    and status[e.market] is MarketStatus.CLOSE_ONLY:
                assert cmd.reduce_only or cmd.position_id, cmd
        self.liquidated = {e.user_id for e in events
                           if isinstance(e, PositionLiquidated) and not e.position_id}
        if isinstance(cmd, SetIndexPrice) and not self.liquidated and not any(
                isinstance(e, TriggerFired | OrderAccepted) for e in events):
            # only isolated liquidations moved money: owners' cross balances never fall
            for user in {e.user_id for e in events if isinstance(e, PositionLiquidated)}:
                assert self.engine.balances(user)["USD"][0] >= before[user], (cmd, user)
        for e in events:
            if isinstance(e, TriggerFired):
                assert e.trigger_id not in self.fired, "a trigger fired twice"
                self.fired.add(e.trigger_id)

    def deposit(self, user: str, amount: int) -> None:
        self.tx += 1
        self.run(Deposit(user_id=user, asset="USD", amount=amount, tx_id=f"d{self.tx}"))

    @rule(user=users, amount=st.integers(1, 10**7))
    def top_up(self, user: str, amount: int) -> None:
        self.deposit(user, amount)

    @rule(user=users, amount=st.integers(1, 10**7))
    def withdraw(self, user: str, amount: int) -> None:
        self.run(Withdraw(user_id=user, asset="USD", amount=amount))

    @rule(user=users, market=markets, side=sides, qty=st.integers(1, 40),
          offset_bps=st.integers(-150, 150), lev=st.sampled_from([3, 10, 25, 50, 50]),
          tif=st.sampled_from([TimeInForce.GTC, TimeInForce.GTC, TimeInForce.IOC]),
          reduce_only=st.booleans(), iso=st.sampled_from([False, False, True]))
    def place_limit(self, user: str, market: str, side: Side, qty: int, offset_bps: int,
                    lev: int, tif: TimeInForce, reduce_only: bool, iso: bool) -> None:
        price = max(1, self.index[market] * (10_000 + offset_bps) // 10_000)
        self.run(PlaceOrder(user_id=user, market=market, side=side, quantity=qty, price=price,
                            leverage=lev, tif=tif, reduce_only=reduce_only and tif is not
                            TimeInForce.GTC, margin_mode=ISO if iso else CROSS))

    @rule(user=users, market=markets, side=sides, qty=st.integers(1, 40),
          lev=st.sampled_from([10, 50]), reduce_only=st.booleans(),
          iso=st.sampled_from([False, False, True]))
    def place_market(self, user: str, market: str, side: Side, qty: int, lev: int,
                     reduce_only: bool, iso: bool) -> None:
        self.run(PlaceOrder(user_id=user, market=market, side=side, quantity=qty,
                            type=OrderType.MARKET, leverage=lev, reduce_only=reduce_only,
                            slippage_bps=300, margin_mode=ISO if iso else CROSS))

    def isolated(self, pick: int) -> tuple[str, int, str, int] | None:
        """(owner, position id, market, size) of one open isolated position."""
        held = [(u, pid, m, p.size) for u in USERS
                for pid, (m, p) in self.engine.isolated_positions(u).items()]
        return held[pick % len(held)] if held else None

    @rule(pick=st.integers(0, 10**6), qty=st.one_of(st.none(), st.integers(1, 40)),
          offset_bps=st.one_of(st.none(), st.integers(-150, 150)))
    def close_isolated(self, pick: int, qty: int | None, offset_bps: int | None) -> None:
        """Reduce one isolated position (all of it when ``qty`` is None) by its id, with a
        market order or an IOC limit."""
        held = self.isolated(pick)
        if held is None:
            return
        user, pid, market, size = held
        price = None if offset_bps is None else \
            max(1, self.index[market] * (10_000 + offset_bps) // 10_000)
        self.run(PlaceOrder(user_id=user, market=market,
                            side=Side.SELL if size > 0 else Side.BUY,
                            quantity=qty or abs(size) or 1, price=price,
                            type=OrderType.MARKET if price is None else OrderType.LIMIT,
                            tif=TimeInForce.IOC, slippage_bps=300, position_id=pid))

    @rule(market=markets, spread_bps=st.integers(1, 100), qty=st.integers(1, 60))
    def quote(self, market: str, spread_bps: int, qty: int) -> None:
        """The market maker quotes both sides around the index."""
        mid = self.index[market]
        for side, sign in ((Side.BUY, -1), (Side.SELL, 1)):
            price = max(1, mid * (10_000 + sign * spread_bps) // 10_000)
            self.run(PlaceOrder(user_id="mm", market=market, side=side, quantity=qty,
                                price=price, leverage=5))

    @rule(user=st.sampled_from(USERS))
    def cancel_all(self, user: str) -> None:
        self.run(CancelAll(user_id=user))

    @rule(market=markets, move_bps=st.integers(-1_500, 1_500))
    def move_index(self, market: str, move_bps: int) -> None:
        self.index[market] = max(1_000, self.index[market] * (10_000 + move_bps) // 10_000)
        self.run(SetIndexPrice(market=market, price=self.index[market]))

    @rule(market=markets, move_bps=st.integers(-3_000, 3_000))
    def gap(self, market: str, move_bps: int) -> None:
        """Liquidity vanishes, then the index gaps: the insurance fund's case."""
        self.run(CancelAll(user_id="mm", market=market))
        self.move_index(market, move_bps)

    @rule(user=users, market=markets, wrong_side=st.integers(0, 9),
          kind=st.sampled_from(ON_POSITION), offset_bps=st.integers(-300, 300),
          qty=st.one_of(st.none(), st.integers(1, 20)))
    def place_trigger(self, user: str, market: str, wrong_side: int, kind: TriggerKind,
                      offset_bps: int, qty: int | None) -> None:
        """Mostly on the closing side of the user's position (sometimes the wrong one), a
        third of the time on one of the user's isolated positions."""
        pos = self.engine.positions(user).get(market)
        pid = 0
        held = self.engine.isolated_positions(user)
        if held and wrong_side % 3 == 0:
            pid, (market, pos) = sorted(held.items())[wrong_side % len(held)]
        closing = Side.SELL if pos is not None and pos.size > 0 else Side.BUY
        side = closing if wrong_side else (Side.BUY if closing is Side.SELL else Side.SELL)
        price = max(1, self.index[market] * (10_000 + offset_bps) // 10_000)
        self.run(PlaceTrigger(user_id=user, market=market, side=side, kind=kind,
                              trigger_price=price, quantity=qty, position_id=pid))

    @rule(user=users, market=markets, side=sides, kind=st.sampled_from(STOPS),
          offset_bps=st.integers(-300, 300), limit_bps=st.integers(-200, 200),
          qty=st.integers(1, 20), lev=st.sampled_from([1, 10, 50]), reduce_only=st.booleans())
    def place_stop(self, user: str, market: str, side: Side, kind: TriggerKind,
                   offset_bps: int, limit_bps: int, qty: int, lev: int,
                   reduce_only: bool) -> None:
        """A standalone stop order around the index."""
        price = max(1, self.index[market] * (10_000 + offset_bps) // 10_000)
        limit = max(1, price * (10_000 + limit_bps) // 10_000) \
            if kind is TriggerKind.STOP_LIMIT else None
        self.run(PlaceTrigger(user_id=user, market=market, side=side, kind=kind,
                              trigger_price=price, quantity=qty, limit_price=limit,
                              leverage=lev, reduce_only=reduce_only))

    @rule(user=users, market=markets, side=sides, qty=st.integers(1, 40),
          offset_bps=st.integers(-150, 150), lev=st.sampled_from([3, 10, 50]),
          sl_bps=st.one_of(st.none(), st.integers(1, 800)),
          tp_bps=st.one_of(st.none(), st.integers(1, 800)))
    def place_with_brackets(self, user: str, market: str, side: Side, qty: int,
                            offset_bps: int, lev: int, sl_bps: int | None,
                            tp_bps: int | None) -> None:
        """A GTC limit order with a stop-loss and/or take-profit that follow its fills."""
        price = max(1, self.index[market] * (10_000 + offset_bps) // 10_000)
        sign = -1 if side is Side.BUY else 1  # a long's stop-loss is below
        sl = max(1, price * (10_000 + sign * sl_bps) // 10_000) if sl_bps else None
        tp = max(1, price * (10_000 - sign * tp_bps) // 10_000) if tp_bps else None
        self.run(PlaceOrder(user_id=user, market=market, side=side, quantity=qty, price=price,
                            leverage=lev, stop_loss=sl, take_profit=tp))

    @rule(user=users, pick=st.integers(0, 5), move_bps=st.integers(-400, 400),
          limit_bps=st.one_of(st.none(), st.integers(-200, 200)))
    def move_trigger(self, user: str, pick: int, move_bps: int, limit_bps: int | None) -> None:
        armed = self.engine.triggers(user)
        if not armed:
            return
        t = armed[pick % len(armed)]
        price = max(1, t.trigger_price * (10_000 + move_bps) // 10_000)
        limit = max(1, price * (10_000 + limit_bps) // 10_000) if limit_bps is not None \
            else None
        self.run(MoveTrigger(user_id=user, trigger_id=t.trigger_id, trigger_price=price,
                             limit_price=limit))

    @rule(user=users, pick=st.integers(0, 5), other=st.booleans())
    def cancel_trigger(self, user: str, pick: int, other: bool) -> None:
        """Cancels one of the user's triggers (or tries another user's: refused)."""
        armed = self.engine.triggers(user)
        if not armed:
            return
        t = armed[pick % len(armed)]
        caller = "mm" if other else user
        self.run(CancelTrigger(user_id=caller, trigger_id=t.trigger_id))
        assert (self.engine.trigger(user, t.trigger_id) is None) is not other

    @rule(market=markets)
    def funding_tick(self, market: str) -> None:
        self.run(SettleFunding(market=market))

    @rule(market=markets, status=st.sampled_from(
        [MarketStatus.OPEN, MarketStatus.OPEN, MarketStatus.HALTED, MarketStatus.CLOSE_ONLY]))
    def set_status(self, market: str, status: MarketStatus) -> None:
        self.run(UpdateMarket(market=market, status=status.value))

    @rule()
    def snapshot_roundtrip(self) -> None:
        image = json.loads(json.dumps(self.engine.snapshot()))
        restored = Engine.restore(default_markets(), image)
        assert restored.state_hash() == self.engine.state_hash()
        self.engine = restored

    @invariant()
    def conserved(self) -> None:
        if hasattr(self, "engine"):
            assert set(conservation_gaps(self.engine, USERS).values()) == {0}

    @invariant()
    def sizes_zero_sum_and_books_uncrossed(self) -> None:
        if not hasattr(self, "engine"):
            return
        total: dict[str, int] = defaultdict(int)
        for user in [*USERS, INSURANCE_FUND]:
            for market, pos in self.engine.positions(user).items():
                total[market] += pos.size
            for pid, (market, pos) in self.engine.isolated_positions(user).items():
                total[market] += pos.size
                assert pos.margin >= 0, (user, pid)
                assert self.engine.balances(f"__iso:{pid}").get("USD", (0, 0)) == (0, 0)
        assert all(v == 0 for v in total.values()), total
        for market in MARKETS:
            bid, ask = self.engine.best_bid_ask(market)
            assert bid is None or ask is None or bid < ask

    @invariant()
    def locks_match_open_orders(self) -> None:
        if not hasattr(self, "engine"):
            return
        need: dict[str, int] = defaultdict(int)
        for user in USERS:
            for view in self.engine.open_orders(user):
                need[user] += self.engine._st.live[view.order_id].locked
            assert self.engine.balances(user).get("USD", (0, 0))[1] == need[user]

    @invariant()
    def armed_triggers_have_a_position_to_reduce(self) -> None:
        if not hasattr(self, "engine"):
            return
        for user in USERS:
            positions = self.engine.positions(user)
            armed = self.engine.triggers(user)
            assert len(armed) <= self.engine.max_triggers
            for t in armed:
                assert t.trigger_id not in self.fired
                if t.pending:
                    order = self.engine.get_order(user, t.order_id)
                    assert order is not None and order.filled == t.quantity, (user, t)
                    continue
                if t.kind in STOPS:
                    continue
                if t.position_id:
                    held = self.engine.isolated_positions(user).get(t.position_id)
                    assert held is not None and held[0] == t.market, (user, t)
                    size = held[1].size
                else:
                    size = positions[t.market].size if t.market in positions else 0
                assert (size > 0) if t.side is Side.SELL else (size < 0), (user, t)
                assert t.quantity > 0 or not t.order_id, (user, t)

    @invariant()
    def liquidated_users_end_flat_and_non_negative(self) -> None:
        for user in getattr(self, "liquidated", ()):
            assert self.engine.balances(user)["USD"][0] >= 0
            assert all(p.size == 0 for p in self.engine.positions(user).values())
            assert self.engine.open_orders(user) == []


PerpRisk.TestCase.settings = settings(
    max_examples=120, stateful_step_count=60, deadline=None,
    suppress_health_check=[HealthCheck.too_slow], database=None,
)
TestPerpRisk = PerpRisk.TestCase


def test_the_machine_does_liquidate() -> None:
    """Guard against a vacuous property: a crash liquidates a 50x long."""
    e = Engine(default_markets())
    for user in ("a", "b"):
        e.apply(Deposit(user_id=user, asset="USD", amount=10**8, tx_id=user))
    e.apply(PlaceOrder(user_id="b", market="BTC-PERP", side=Side.SELL, quantity=10,
                       price=500_000, leverage=50))
    e.apply(PlaceOrder(user_id="a", market="BTC-PERP", side=Side.BUY, quantity=10,
                       price=500_000, leverage=50))
    e.apply(Withdraw(user_id="a", asset="USD", amount=10**8 - 1_100_000))
    ev = e.apply(SetIndexPrice(market="BTC-PERP", price=480_000))
    assert [x.user_id for x in ev if isinstance(x, PositionLiquidated)] == ["a"]
