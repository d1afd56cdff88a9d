"""Stub factories for engine commands and small helpers shared by the core tests."""

from __future__ import annotations

from typing import Any

from engine_svc.core import (
    FEE_ACCOUNT,
    INSURANCE_FUND,
    CancelOrder,
    Deposit,
    Engine,
    Event,
    MarginMode,
    OrderFilled,
    OrderRejected,
    OrderType,
    PlaceOrder,
    RejectReason,
    Side,
    TransferRejected,
    default_markets,
)

_tx = iter(range(1, 10**9))


def engine() -> Engine:
    return Engine(default_markets())


def deposit(user: str, asset: str, amount: int, tx_id: str | None = None) -> Deposit:
    return Deposit(user_id=user, asset=asset, amount=amount, tx_id=tx_id or f"tx{next(_tx)}")


def funded(**balances: dict[str, int]) -> Engine:
    """An engine where each keyword user holds the given asset amounts."""
    e = engine()
    for user, assets in balances.items():
        for asset, amount in assets.items():
            e.apply(deposit(user, asset, amount))
    return e


def limit(user: str, side: Side, qty: int, price: int, market: str = "BTC-PERP",
          **kw: Any) -> PlaceOrder:
    if market.endswith("PERP"):
        kw.setdefault("leverage", 10)
    return PlaceOrder(user_id=user, market=market, side=side, quantity=qty, price=price, **kw)


def buy(user: str, qty: int, price: int, market: str = "BTC-PERP", **kw: Any) -> PlaceOrder:
    return limit(user, Side.BUY, qty, price, market, **kw)


def sell(user: str, qty: int, price: int, market: str = "BTC-PERP", **kw: Any) -> PlaceOrder:
    return limit(user, Side.SELL, qty, price, market, **kw)


def market(user: str, side: Side, qty: int, mkt: str = "BTC-PERP", **kw: Any) -> PlaceOrder:
    if mkt.endswith("PERP"):
        kw.setdefault("leverage", 10)
    return PlaceOrder(user_id=user, market=mkt, side=side, quantity=qty,
                      type=OrderType.MARKET, **kw)


def cancel(user: str, order_id: int) -> CancelOrder:
    return CancelOrder(user_id=user, order_id=order_id)


def fills(events: list[Event]) -> list[OrderFilled]:
    return [e for e in events if isinstance(e, OrderFilled)]


def reason(events: list[Event]) -> RejectReason | None:
    for e in events:
        if isinstance(e, OrderRejected | TransferRejected):
            return e.reason
    return None


def order_id(events: list[Event]) -> int:
    from engine_svc.core import OrderAccepted

    return next(e.order_id for e in events if isinstance(e, OrderAccepted))


def conservation_gaps(e: Engine, users: list[str]) -> dict[str, int]:
    """Per asset: holdings (incl. margin, minus perp cost) minus (deposits - withdrawals)."""
    gaps: dict[str, int] = {}
    for asset in e.config.assets:
        held = 0
        for user in [*users, FEE_ACCOUNT, INSURANCE_FUND]:
            avail, locked = e.balances(user).get(asset, (0, 0))
            held += avail + locked
            if asset == "USD":
                for pos in e.positions(user).values():
                    held += pos.margin - pos.cost
                for _, pos in e.isolated_positions(user).values():
                    held += pos.margin - pos.cost
        dep, wd = e.totals(asset)
        gaps[asset] = held - (dep - wd)
    return gaps


MIDS = {"BTC-PERP": 500_000, "SOL-USD": 150_000}


def random_commands(seed: int, n: int, users: int = 4) -> list[Any]:
    """A seeded mixed stream over BTC-PERP and SOL-USD (deposits first)."""
    import random

    rng = random.Random(seed)
    names = [f"u{i}" for i in range(users)]
    out: list[Any] = []
    for u in names:
        out.append(deposit(u, "USD", 10**10, f"seed-usd-{u}"))
        out.append(deposit(u, "SOL", 10**9, f"seed-sol-{u}"))
    for i in range(n):
        out.append(_random_command(rng, rng.choice(names), i))
    return out


def _random_command(rng: Any, u: str, i: int) -> Any:
    from engine_svc.core import CancelAll, ReplaceOrder, StpMode, TimeInForce, Withdraw

    mkt = rng.choice(list(MIDS))
    side = rng.choice([Side.BUY, Side.SELL])
    roll = rng.random()
    price = MIDS[mkt] + rng.randint(-20, 20)
    extra: dict[str, Any] = {"ts": i, "stp": rng.choice(list(StpMode))}
    recent = rng.randint(max(1, i // 2 - 40), i // 2 + 2)
    if mkt.endswith("PERP"):
        extra["leverage"] = rng.choice([1, 5, 20])
        extra["reduce_only"] = rng.random() < 0.1
        if rng.random() < 0.15:  # an isolated position of its own, or reduce one by id
            if extra["reduce_only"]:
                extra["position_id"] = recent
            else:
                extra["margin_mode"] = MarginMode.ISOLATED
    if roll < 0.45:
        extra["tif"] = rng.choice([TimeInForce.GTC] * 4 + [TimeInForce.IOC, TimeInForce.FOK])
        extra["post_only"] = extra["tif"] is TimeInForce.GTC and rng.random() < 0.1
        extra["client_order_id"] = rng.choice([None, None, "k1", "k2"])
        return PlaceOrder(user_id=u, market=mkt, side=side, price=price,
                          quantity=rng.randint(1, 25), **extra)
    if roll < 0.55:
        return PlaceOrder(user_id=u, market=mkt, side=side, type=OrderType.MARKET,
                          quantity=rng.randint(1, 40), slippage_bps=rng.choice([5, 50, 100]),
                          **extra)
    if roll < 0.8:
        return cancel(u, recent)
    if roll < 0.9:
        return ReplaceOrder(user_id=u, order_id=recent, price=rng.choice([None, price]),
                            quantity=rng.choice([None, rng.randint(1, 25)]), ts=i)
    if roll < 0.93:
        return CancelAll(user_id=u, market=rng.choice([None, mkt]))
    if roll < 0.97:
        return deposit(u, rng.choice(["USD", "SOL"]), rng.randint(1, 10**9))
    return Withdraw(user_id=u, asset=rng.choice(["USD", "SOL"]), amount=rng.randint(1, 10**9),
                    tx_id=rng.choice([None, f"w{i}"]))
