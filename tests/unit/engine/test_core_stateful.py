"""Differential, property-based test: the engine against the naive reference model.

After every command (orders, transfers, index moves, funding ticks, managed triggers: an
order's stop-loss / take-profit, stop orders, moves, cancels, the trigger limit): same
rejections (a fired trigger's order's included), same fills, same armed triggers, same
books, same balances and positions (insurance fund included), no crossed book,
every resting order on the grid, locks equal to what open orders need, and per-asset
conservation of funds. Index moves stay small, so nobody nears maintenance margin: the
engine must liquidate nobody here (``test_core_perp_stateful`` covers liquidations).

Markets are data: the run adds INR (2 decimals), TATA (0 decimals) and the spot market
TATA-INR (tick 0.05, lot 1) at runtime, trades it beside the built-in ones, and halts,
closes (close-only), reopens and re-prices markets as it goes.
"""

from __future__ import annotations

from collections import defaultdict

import hypothesis.strategies as st
from core_stubs import conservation_gaps
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from reference_model import RefModel

from engine_svc.core import (
    FEE_ACCOUNT,
    INSURANCE_FUND,
    AddAsset,
    AddMarket,
    CancelAll,
    CancelByClientId,
    CancelOrder,
    CancelTrigger,
    Command,
    Deposit,
    Engine,
    MarginMode,
    MarketKind,
    MarketStatus,
    MoveTrigger,
    OrderFilled,
    OrderRejected,
    OrderType,
    PerpCommandRejected,
    PlaceOrder,
    PlaceTrigger,
    PositionLiquidated,
    ReplaceOrder,
    SetIndexPrice,
    SetOpenOrderLimit,
    SettleFunding,
    SetTriggerLimit,
    Side,
    StpMode,
    TimeInForce,
    TransferRejected,
    TriggerKind,
    UpdateMarket,
    Withdraw,
    default_markets,
)
from engine_svc.core.risk import lock_asset

USERS = ["u1", "u2", "u3"]
MID = {"BTC-PERP": 500_000, "SOL-USD": 150_000, "TATA-INR": 20_000}
"""Mid prices in ticks; TATA-INR's tick is 0.05 INR (20,000 ticks: 1,000 INR)."""
users = st.sampled_from(USERS)
markets = st.sampled_from(sorted(MID))
sides = st.sampled_from(list(Side))
TIFS = st.sampled_from([TimeInForce.GTC] * 3 + [TimeInForce.IOC, TimeInForce.FOK])
coids = st.one_of(st.none(), st.sampled_from(["a", "b", "c"]))


class EngineVsReference(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.config = default_markets()
        self.engine = Engine(self.config)
        self.ref = RefModel(self.config)
        self.tx = 0
        self.run(AddAsset(symbol="INR", decimals=2))
        self.run(AddAsset(symbol="TATA", decimals=0))
        self.run(AddMarket(symbol="TATA-INR", kind=MarketKind.SPOT, base_asset="TATA",
                           quote_asset="INR", tick_size="0.05", lot_size="1",
                           maker_fee_bps=1, taker_fee_bps=4))
        for i, user in enumerate(USERS):
            self.run(Deposit(user_id=user, asset="USD", amount=10**10, tx_id=f"init{i}"))
            self.run(Deposit(user_id=user, asset="SOL", amount=10**9, tx_id=f"init-sol{i}"))
            self.run(Deposit(user_id=user, asset="INR", amount=10**9, tx_id=f"init-inr{i}"))
            self.run(Deposit(user_id=user, asset="TATA", amount=10**4, tx_id=f"init-tata{i}"))

    def run(self, cmd: Command) -> None:
        events = self.engine.apply(cmd)
        self.ref.apply(cmd)
        rejected = [e.reason for e in events
                    if isinstance(e, OrderRejected | TransferRejected | PerpCommandRejected)]
        assert not any(isinstance(e, PositionLiquidated) for e in events), cmd
        expected = ([self.ref.reject] if self.ref.reject else []) + \
            self.ref.triggers.fired_rejects
        assert rejected == expected, cmd
        got = [(f.fill_id, f.market, f.price, f.quantity, f.taker_order_id, f.maker_order_id,
                f.taker_fee, f.maker_fee) for f in events if isinstance(f, OrderFilled)]
        assert got == self.ref.fills, cmd

    @rule(user=users, asset=st.sampled_from(["USD", "USD", "SOL", "BTC"]),
          amount=st.integers(1, 2 * 10**9), retry=st.booleans())
    def deposit(self, user: str, asset: str, amount: int, retry: bool) -> None:
        self.tx += 0 if retry and self.tx else 1
        self.run(Deposit(user_id=user, asset=asset, amount=amount, tx_id=f"d{self.tx}"))

    @rule(user=users, asset=st.sampled_from(["USD", "SOL"]), amount=st.integers(1, 10**9),
          tx=st.one_of(st.none(), st.sampled_from(["w1", "w2", "w3"])))
    def withdraw(self, user: str, asset: str, amount: int, tx: str | None) -> None:
        self.run(Withdraw(user_id=user, asset=asset, amount=amount, tx_id=tx))

    @rule(user=users, market=markets, side=sides, qty=st.integers(0, 30),
          offset=st.integers(-15, 15), tif=TIFS,
          post_only=st.booleans(), coid=coids, stp=st.sampled_from(list(StpMode)),
          lev=st.sampled_from([1, 5, 20, 60]), iso=st.sampled_from([False, False, True]))
    def place_limit(self, user: str, market: str, side: Side, qty: int, offset: int,
                    tif: TimeInForce, post_only: bool, coid: str | None, stp: StpMode,
                    lev: int, iso: bool) -> None:
        """ISOLATED orders (at most 3x: their own margin must outlast the index moves and
        funding of a run) beside cross ones; on spot they are refused."""
        self.run(PlaceOrder(
            user_id=user, market=market, side=side, quantity=qty, price=MID[market] + offset,
            tif=tif, post_only=post_only and tif is TimeInForce.GTC, client_order_id=coid,
            stp=stp, leverage=(min(lev, 3) if iso else lev) if market.endswith("PERP") else 1,
            margin_mode=MarginMode.ISOLATED if iso else MarginMode.CROSS,
        ))

    @rule(user=users, market=markets, side=sides, qty=st.integers(1, 40),
          slip=st.sampled_from([0, 1, 10, 100]), stp=st.sampled_from(list(StpMode)),
          fok=st.booleans(), reduce_only=st.booleans())
    def place_market(self, user: str, market: str, side: Side, qty: int, slip: int,
                     stp: StpMode, fok: bool, reduce_only: bool) -> None:
        perp = market.endswith("PERP")
        self.run(PlaceOrder(
            user_id=user, market=market, side=side, quantity=qty, type=OrderType.MARKET,
            slippage_bps=slip, stp=stp, tif=TimeInForce.FOK if fok else TimeInForce.IOC,
            reduce_only=reduce_only and perp, leverage=10 if perp else 1,
        ))

    @rule(user=users, side=sides, qty=st.integers(1, 30),
          offset=st.one_of(st.none(), st.integers(-15, 15)), lev=st.integers(1, 3),
          tif=TIFS, stp=st.sampled_from(list(StpMode)))
    def open_isolated(self, user: str, side: Side, qty: int, offset: int | None, lev: int,
                      tif: TimeInForce, stp: StpMode) -> None:
        """An ISOLATED BTC-PERP order, limit at MID + offset or market, most often after
        another user's resting order it can take."""
        price = None if offset is None else MID["BTC-PERP"] + offset
        self.counterparty(user, side, qty, price, lev)
        self.run(PlaceOrder(user_id=user, market="BTC-PERP", side=side, quantity=qty,
                            price=price, type=OrderType.MARKET if price is None
                            else OrderType.LIMIT, tif=tif, leverage=lev, stp=stp,
                            margin_mode=MarginMode.ISOLATED))

    @rule(user=users, pick=st.integers(0, 10**6), side=sides, qty=st.integers(1, 30),
          offset=st.one_of(st.none(), st.integers(-15, 15)), tif=TIFS)
    def reduce_isolated(self, user: str, pick: int, side: Side, qty: int, offset: int | None,
                        tif: TimeInForce) -> None:
        """An order naming one of the user's isolated positions (or someone else's, a
        closed or an unknown one): limit at MID + offset, or market."""
        owned = [(u, pid) for u in USERS for pid in self.engine.isolated_positions(u)]
        if not owned and pick % 5:  # open one first (it may not fill)
            self.counterparty(user, side, qty + 1, None, 2)
            self.run(PlaceOrder(user_id=user, market="BTC-PERP", side=side, quantity=qty + 1,
                                type=OrderType.MARKET, leverage=2,
                                margin_mode=MarginMode.ISOLATED))
            owned = [(u, pid) for u in USERS for pid in self.engine.isolated_positions(u)]
        if owned and pick % 5:
            user, pid = owned[pick % len(owned)]
        else:  # someone else's, a closed or an unknown one
            pid = owned[pick % len(owned)][1] if owned and pick % 2 else pick % 60 - 2
        side = self.closing_side(user, pid) if pick % 7 else side
        price = None if offset is None else MID["BTC-PERP"] + offset
        self.counterparty(user, side, qty, price, pick % 3 + 1)
        self.run(PlaceOrder(user_id=user, market="BTC-PERP", side=side, quantity=qty,
                            price=price, type=OrderType.MARKET if price is None
                            else OrderType.LIMIT, tif=tif, position_id=pid, leverage=1))

    def counterparty(self, user: str, side: Side, qty: int, price: int | None,
                     lev: int) -> None:
        """Another user rests what ``user``'s order on ``side`` may take (2 times in 3)."""
        if qty % 3 == 0:
            return
        other = USERS[(USERS.index(user) + qty) % 3]
        if other == user:
            other = USERS[(USERS.index(user) + 1) % 3]
        mid = MID["BTC-PERP"]
        at = price if price is not None else mid
        self.run(PlaceOrder(user_id=other, market="BTC-PERP",
                            side=Side.SELL if side is Side.BUY else Side.BUY, quantity=qty,
                            price=at, leverage=lev))

    def closing_side(self, user: str, pid: int) -> Side:
        held = self.engine.isolated_positions(user).get(pid)
        return Side.SELL if held is not None and held[1].size > 0 else Side.BUY

    @rule(user=users, side=sides, qty=st.integers(1, 30), offset=st.integers(-15, 15))
    def place_reduce_only(self, user: str, side: Side, qty: int, offset: int) -> None:
        self.run(PlaceOrder(user_id=user, market="BTC-PERP", side=side, quantity=qty,
                            price=MID["BTC-PERP"] + offset, reduce_only=True, leverage=2))

    def pick(self, pick: int, owner: bool) -> tuple[str, int]:
        """A live order id (and its owner, or a stranger), or a stale/unknown id."""
        live = [(v.user_id, v.order_id) for u in USERS for v in self.engine.open_orders(u)]
        if not live or pick % 7 == 0:
            return USERS[pick % 3], pick % 80
        user, oid = live[pick % len(live)]
        return (user if owner else USERS[(USERS.index(user) + 1) % 3]), oid

    @rule(pick=st.integers(0, 10**6), owner=st.booleans())
    def cancel(self, pick: int, owner: bool) -> None:
        user, oid = self.pick(pick, owner or pick % 2 == 0)
        self.run(CancelOrder(user_id=user, order_id=oid))

    @rule(user=users, coid=st.sampled_from(["a", "b", "c"]))
    def cancel_by_client_id(self, user: str, coid: str) -> None:
        self.run(CancelByClientId(user_id=user, client_order_id=coid))

    @rule(user=users, market=st.one_of(st.none(), markets))
    def cancel_all(self, user: str, market: str | None) -> None:
        self.run(CancelAll(user_id=user, market=market))

    @rule(pick=st.integers(0, 10**6), owner=st.booleans(),
          offset=st.one_of(st.none(), st.integers(-15, 15)),
          qty=st.one_of(st.none(), st.integers(0, 30)))
    def replace(self, pick: int, owner: bool, offset: int | None, qty: int | None) -> None:
        user, oid = self.pick(pick, owner or pick % 2 == 0)
        order = self.engine.get_order(user, oid)
        price = None if offset is None or order is None else MID[order.market] + offset
        self.run(ReplaceOrder(user_id=user, order_id=oid, price=price, quantity=qty))

    @rule(market=st.sampled_from(["BTC-PERP", "BTC-PERP", "SOL-USD", "NOPE"]),
          offset=st.integers(-2_000, 2_000))
    def set_index(self, market: str, offset: int) -> None:
        """Index moves within 0.4% of MID: users stay far above maintenance margin."""
        self.run(SetIndexPrice(market=market, price=MID.get(market, 1) + offset))

    @rule(market=st.sampled_from(["BTC-PERP", "BTC-PERP", "SOL-USD"]))
    def funding_tick(self, market: str) -> None:
        self.run(SettleFunding(market=market))

    @rule(market=markets, status=st.sampled_from(
        [MarketStatus.OPEN, MarketStatus.OPEN, MarketStatus.HALTED, MarketStatus.CLOSE_ONLY]))
    def set_status(self, market: str, status: MarketStatus) -> None:
        self.run(UpdateMarket(market=market, status=status.value))

    @rule(market=markets, cut=st.integers(0, 5), spread=st.integers(0, 20),
          lev=st.one_of(st.none(), st.sampled_from([10, 50])))
    def set_fees(self, market: str, cut: int, spread: int, lev: int | None) -> None:
        """Maker fees only fall (a rise above resting holds is refused: unit-tested)."""
        maker = max(0, self.engine.config.markets[market].maker_fee_bps - cut)
        perp = market.endswith("PERP")
        self.run(UpdateMarket(market=market, maker_fee_bps=maker, taker_fee_bps=maker + spread,
                              max_leverage=lev if perp else None))

    @rule(user=users, side=sides, qty=st.integers(1, 30), offset=st.integers(-15, 15),
          sl=st.one_of(st.none(), st.integers(-2_500, 2_500)),
          tp=st.one_of(st.none(), st.integers(-2_500, 2_500)), lev=st.sampled_from([1, 10]),
          market_order=st.booleans())
    def place_with_brackets(self, user: str, side: Side, qty: int, offset: int,
                            sl: int | None, tp: int | None, lev: int,
                            market_order: bool) -> None:
        """An order with a stop-loss / take-profit around MID (sometimes on the wrong side)."""
        mid = MID["BTC-PERP"]
        if sl is None and tp is None:
            sl = -500
        self.run(PlaceOrder(
            user_id=user, market="BTC-PERP", side=side, quantity=qty, leverage=lev,
            type=OrderType.MARKET if market_order else OrderType.LIMIT,
            price=None if market_order else mid + offset,
            stop_loss=None if sl is None else mid + sl,
            take_profit=None if tp is None else mid + tp))

    @rule(user=users, side=sides, kind=st.sampled_from(list(TriggerKind)),
          offset=st.integers(-1_500, 1_500), limit_offset=st.integers(-30, 30),
          qty=st.one_of(st.integers(1, 20), st.just(None), st.just(0)),
          lev=st.sampled_from([1, 10, 10, 0]), reduce_only=st.booleans(),
          wrong=st.integers(0, 9), market=st.sampled_from(["BTC-PERP"] * 5 + ["SOL-USD"]))
    def place_trigger(self, user: str, side: Side, kind: TriggerKind, offset: int,
                      limit_offset: int, qty: int | None, lev: int, reduce_only: bool,
                      wrong: int, market: str) -> None:
        """Mostly well-formed (a limit price for STOP_LIMIT only), sometimes not; some on
        one of the user's isolated positions (or a position id that is not theirs)."""
        mid = MID[market]
        with_limit = (kind is TriggerKind.STOP_LIMIT) != (wrong == 0)
        mine = sorted(self.engine.isolated_positions(user))
        pid = 0
        if wrong % 3 == 1:
            pid = mine[wrong % len(mine)] if mine else 0
        elif wrong == 5:
            pid = 7 + wrong
        self.run(PlaceTrigger(
            user_id=user, market=market, side=side, kind=kind, trigger_price=mid + offset,
            quantity=qty, limit_price=mid + limit_offset if with_limit else None,
            leverage=lev, reduce_only=reduce_only, position_id=pid))

    @rule(pick=st.integers(0, 10**6), owner=st.booleans(),
          offset=st.one_of(st.none(), st.integers(-2_500, 2_500)),
          limit_offset=st.one_of(st.none(), st.integers(-30, 30)))
    def move_trigger(self, pick: int, owner: bool, offset: int | None,
                     limit_offset: int | None) -> None:
        user, tid = self.pick_trigger(pick, owner)
        mid = MID["BTC-PERP"]
        self.run(MoveTrigger(user_id=user, trigger_id=tid,
                             trigger_price=None if offset is None else mid + offset,
                             limit_price=None if limit_offset is None else mid + limit_offset))

    @rule(pick=st.integers(0, 10**6), owner=st.booleans())
    def cancel_trigger(self, pick: int, owner: bool) -> None:
        user, tid = self.pick_trigger(pick, owner)
        self.run(CancelTrigger(user_id=user, trigger_id=tid))

    def pick_trigger(self, pick: int, owner: bool) -> tuple[str, int]:
        """An armed trigger's id (and its owner, or a stranger), or an unknown id."""
        armed = [(u, t.trigger_id) for u in USERS for t in self.engine.triggers(u)]
        if not armed or pick % 7 == 0:
            return USERS[pick % 3], pick % 40
        user, tid = armed[pick % len(armed)]
        return (user if owner else USERS[(USERS.index(user) + 1) % 3]), tid

    @rule(limit=st.sampled_from([0, 1, 2, 4, 100]))
    def trigger_limit(self, limit: int) -> None:
        self.run(SetTriggerLimit(limit=limit))

    @rule(limit=st.sampled_from([0, 1, 2, 3, 5, 200]))
    def open_order_limit(self, limit: int) -> None:
        """Small limits so the cap on live orders per user and market is reached."""
        self.run(SetOpenOrderLimit(limit=limit))

    @invariant()
    def same_books_and_no_cross(self) -> None:
        for market in MID:
            bids, asks = self.engine.depth(market, 1000)
            assert (bids, asks) == self.ref.depth(market)
            if bids and asks:
                assert bids[0][0] < asks[0][0]
            assert all(p > 0 and q > 0 for p, q in bids + asks)

    @invariant()
    def same_money(self) -> None:
        for user in [*USERS, FEE_ACCOUNT, INSURANCE_FUND]:
            mine = {a: v for a, v in self.engine.balances(user).items() if v != (0, 0)}
            ref = {a: tuple(v) for (u, a), v in self.ref.bal.items() if u == user and v != [0, 0]}
            assert mine == ref, user
            pos = {m: p.as_list() for m, p in self.engine.positions(user).items()}
            ref_pos = {m: p for (u, m), p in self.ref.pos.items() if u == user and any(p)}
            assert pos == ref_pos, user
            iso = {pid: [m, *p.as_list()] for pid, (m, p) in
                   self.engine.isolated_positions(user).items()}
            ref_iso = {pid: p[1:] for pid, p in self.ref.iso.items() if p[0] == user}
            assert iso == ref_iso, user
        assert all(gap == 0 for gap in conservation_gaps(self.engine, USERS).values())

    @invariant()
    def same_triggers(self) -> None:
        for user in USERS:
            mine = [(t.trigger_id, t.market, t.side, t.kind, t.trigger_price, t.quantity,
                     t.limit_price, t.order_id, t.pending, t.position_id)
                    for t in self.engine.triggers(user)]
            assert mine == self.ref.triggers.view(user), user

    @invariant()
    def locks_match_open_orders(self) -> None:
        need: dict[tuple[str, str], int] = defaultdict(int)
        for order in self.engine._st.live.values():
            assert order.locked == order.remaining * order.lock_per_lot
            spec = self.engine.config.markets[order.market]
            need[order.user_id, lock_asset(spec, order.side)] += order.locked
        for user in USERS:
            for asset, (_, locked) in self.engine.balances(user).items():
                assert locked == need[user, asset], (user, asset)


EngineVsReference.TestCase.settings = settings(
    max_examples=150, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow], database=None,
)
TestEngineVsReference = EngineVsReference.TestCase
