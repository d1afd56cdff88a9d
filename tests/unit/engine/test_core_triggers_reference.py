"""Managed triggers against the reference model: long seeded streams heavy in triggers
(orders with a stop-loss / take-profit, stop orders, moves, cancels, the trigger limit)
with a market maker quoting around an index that keeps moving, so triggers arm, follow
fills and fire. After every command: the same rejections (fired orders' included), fills
and armed triggers; every 50 commands the same books, balances and positions, and
conservation. Index moves stay within 2%: nobody nears liquidation (the reference does
not model it)."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest
from core_stubs import conservation_gaps
from reference_model import RefModel

from engine_svc.core import (
    CancelAll,
    CancelOrder,
    CancelTrigger,
    Deposit,
    Engine,
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
    SetTriggerLimit,
    Side,
    TransferRejected,
    TriggerFired,
    TriggerKind,
    default_markets,
)

BTC, MID = "BTC-PERP", 500_000
USERS = ["u0", "u1", "u2", "u3"]


class Stream:
    """Commands drawn with a seeded generator, looking at the engine for live ids."""

    def __init__(self, seed: int, engine: Engine) -> None:
        self.rng, self.engine, self.index, self.i = random.Random(seed), engine, MID, 0

    def opening(self) -> list[Any]:
        return [*(Deposit(user_id=u, asset="USD", amount=10**10, tx_id=u) for u in USERS),
                Deposit(user_id="mm", asset="USD", amount=10**13, tx_id="mm"),
                SetIndexPrice(market=BTC, price=MID)]

    def next(self) -> Any:
        self.i += 1
        roll = self.rng.random()
        for weight, make in ((0.22, self.quote), (0.15, self.limit), (0.07, self.market),
                             (0.12, self.tick), (0.14, self.trigger), (0.06, self.move),
                             (0.04, self.untrigger), (0.06, self.cancel),
                             (0.03, self.pull), (0.01, self.trigger_limit)):
            if roll < weight:
                return make()
            roll -= weight
        return self.replace()

    def _brackets(self, side: Side, price: int) -> dict[str, int | None]:
        rng, sign = self.rng, -1 if side is Side.BUY else 1
        if rng.random() < 0.5:
            return {}
        return {"stop_loss": rng.choice([None, price + sign * rng.randint(-200, 3_000)]),
                "take_profit": rng.choice([None, price - sign * rng.randint(-200, 3_000)])}

    def quote(self) -> Any:
        side = self.rng.choice([Side.BUY, Side.SELL])
        off = self.rng.randint(1, 400)
        price = self.index - off if side is Side.BUY else self.index + off
        return PlaceOrder(user_id="mm", market=BTC, side=side, quantity=self.rng.randint(5, 40),
                          price=price, leverage=5, ts=self.i)

    def limit(self) -> Any:
        rng = self.rng
        side = rng.choice([Side.BUY, Side.SELL])
        price = self.index + rng.randint(-500, 500)
        return PlaceOrder(user_id=rng.choice(USERS), market=BTC, side=side, price=price,
                          quantity=rng.randint(1, 20), leverage=rng.choice([1, 5, 10]),
                          ts=self.i, **self._brackets(side, price))

    def market(self) -> Any:
        rng = self.rng
        side = rng.choice([Side.BUY, Side.SELL])
        return PlaceOrder(user_id=rng.choice(USERS), market=BTC, side=side,
                          type=OrderType.MARKET, quantity=rng.randint(1, 20), leverage=10,
                          ts=self.i, **self._brackets(side, self.index))

    def tick(self) -> Any:
        self.index = min(MID * 102 // 100, max(MID * 98 // 100,
                                                self.index + self.rng.randint(-1_500, 1_500)))
        return SetIndexPrice(market=BTC, price=self.index, ts=self.i)

    def trigger(self) -> Any:
        rng = self.rng
        user = rng.choice(USERS)
        kind = rng.choice(list(TriggerKind))
        size = self.engine.positions(user).get(BTC)
        closing = Side.SELL if size is not None and size.size > 0 else Side.BUY
        side = closing if rng.random() < 0.8 else rng.choice([Side.BUY, Side.SELL])
        price = self.index + rng.randint(-2_500, 2_500)
        stop = kind in (TriggerKind.STOP_MARKET, TriggerKind.STOP_LIMIT)
        return PlaceTrigger(
            user_id=user, market=BTC, side=side, kind=kind, trigger_price=price,
            quantity=rng.randint(1, 15) if stop or rng.random() < 0.5 else None,
            limit_price=price + rng.randint(-300, 300)
            if kind is TriggerKind.STOP_LIMIT else None,
            leverage=rng.choice([1, 10]) if stop else 1, reduce_only=stop and rng.random() < 0.3,
            slippage_bps=rng.choice([100, 300]), ts=self.i)

    def _armed(self) -> tuple[str, int] | None:
        armed = [(u, t.trigger_id) for u in USERS for t in self.engine.triggers(u)]
        return self.rng.choice(armed) if armed else None

    def move(self) -> Any:
        found, rng = self._armed(), self.rng
        if found is None:
            return self.trigger()
        user = found[0] if rng.random() < 0.9 else rng.choice(USERS)
        price = rng.choice([None, self.index + rng.randint(-2_500, 2_500)])
        return MoveTrigger(user_id=user, trigger_id=found[1], trigger_price=price,
                           limit_price=rng.choice([None, self.index + rng.randint(-500, 500)]),
                           ts=self.i)

    def untrigger(self) -> Any:
        found = self._armed()
        if found is None:
            return self.trigger()
        return CancelTrigger(user_id=found[0], trigger_id=found[1], ts=self.i)

    def cancel(self) -> Any:
        live = [(u, o.order_id) for u in USERS for o in self.engine.open_orders(u)]
        if not live:
            return self.limit()
        user, oid = self.rng.choice(live)
        return CancelOrder(user_id=user, order_id=oid, ts=self.i)

    def replace(self) -> Any:
        live = [(u, o.order_id) for u in USERS for o in self.engine.open_orders(u)]
        if not live:
            return self.limit()
        user, oid = self.rng.choice(live)
        return ReplaceOrder(user_id=user, order_id=oid,
                            price=self.index + self.rng.randint(-500, 500), ts=self.i)

    def pull(self) -> Any:
        return CancelAll(user_id="mm", ts=self.i)

    def trigger_limit(self) -> Any:
        return SetTriggerLimit(limit=self.rng.choice([2, 5, 100]), ts=self.i)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_triggers_match_the_reference(seed: int) -> None:
    config = default_markets()
    engine, ref = Engine(config), RefModel(config)
    stream = Stream(seed, engine)
    seen: Counter[str] = Counter()
    commands = stream.opening()
    for i in range(3_000):
        cmd = commands[i] if i < len(commands) else stream.next()
        events = engine.apply(cmd)
        ref.apply(cmd)
        assert not any(isinstance(e, PositionLiquidated) for e in events), (i, cmd)
        rejected = [e.reason for e in events
                    if isinstance(e, OrderRejected | TransferRejected | PerpCommandRejected)]
        expected = ([ref.reject] if ref.reject else []) + ref.triggers.fired_rejects
        assert rejected == expected, (i, cmd)
        got = [(f.fill_id, f.market, f.price, f.quantity, f.taker_order_id, f.maker_order_id,
                f.taker_fee, f.maker_fee) for f in events if isinstance(f, OrderFilled)]
        assert got == ref.fills, (i, cmd)
        for user in USERS:
            mine = [(t.trigger_id, t.market, t.side, t.kind, t.trigger_price, t.quantity,
                     t.limit_price, t.order_id, t.pending, t.position_id)
                    for t in engine.triggers(user)]
            assert mine == ref.triggers.view(user), (i, cmd, user)
        seen.update(e.kind.value for e in events if isinstance(e, TriggerFired))
        if i % 50 == 0:
            assert engine.depth(BTC, 10**6) == ref.depth(BTC)
            for user in [*USERS, "mm"]:
                assert {a: v for a, v in engine.balances(user).items() if v != (0, 0)} == {
                    a: tuple(v) for (u, a), v in ref.bal.items() if u == user and v != [0, 0]}
                assert {m: p.as_list() for m, p in engine.positions(user).items()} == {
                    m: p for (u, m), p in ref.pos.items() if u == user and any(p)}
            assert set(conservation_gaps(engine, [*USERS, "mm"]).values()) == {0}
    assert set(seen) == {k.value for k in TriggerKind}, seen  # every kind fired
