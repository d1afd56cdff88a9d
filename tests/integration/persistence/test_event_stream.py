"""Many orders through the real engine and the event link: PostgreSQL equals the engine."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from persistence_harness import EngineSide, engine_fills, fetch, scenario
from prometheus_client import REGISTRY

from engine_svc.core import FEE_ACCOUNT
from engine_svc.core.markets import MarketConfig

USERS = [f"user-{i}" for i in range(6)]


async def submit_all(engine: EngineSide, commands: list[object], chunk: int = 50) -> None:
    for i in range(0, len(commands), chunk):
        await asyncio.gather(*(engine.submit(c) for c in commands[i:i + chunk]))


async def assert_balances_equal(engine: EngineSide, dsn: str) -> None:
    assert engine.sequencer is not None
    core, config = engine.sequencer.engine, engine.sequencer.config
    rows = await fetch(dsn, "SELECT user_id, asset, available, locked FROM balances")
    db = {(r["user_id"], r["asset"]): (r["available"], r["locked"]) for r in rows}
    expected = {}
    for user in [*USERS, FEE_ACCOUNT]:
        for asset, (available, locked) in core.balances(user).items():
            spec = config.assets[asset]
            expected[user, asset] = (spec.units_to_amount(available),
                                     spec.units_to_amount(locked))
    assert len(expected) > len(USERS) and db == expected


async def assert_positions_equal(engine: EngineSide, dsn: str) -> None:
    assert engine.sequencer is not None
    core, config = engine.sequencer.engine, engine.sequencer.config
    rows = await fetch(dsn, "SELECT * FROM positions WHERE size <> 0 OR realized_pnl <> 0")
    db = {(r["user_id"], r["market"]): (r["size"], r["cost"], r["margin"], r["realized_pnl"])
          for r in rows}
    expected = {}
    for user in USERS:
        for market, p in core.positions(user).items():
            spec, usd = config.markets[market], config.assets["USD"]
            expected[user, market] = (spec.lots_to_qty(p.size), usd.units_to_amount(p.cost),
                                      usd.units_to_amount(p.margin),
                                      usd.units_to_amount(p.realized))
    assert expected and db == expected


async def assert_ledger_balances(engine: EngineSide, dsn: str, config: MarketConfig) -> None:
    assert engine.sequencer is not None
    core = engine.sequencer.engine
    rows = await fetch(dsn, "SELECT asset, account = 'external' AS ext, sum(amount) AS total "
                            "FROM ledger_entries GROUP BY asset, ext")
    sums = {(r["asset"], r["ext"]): r["total"] for r in rows}
    for asset in ("USD", "SOL"):
        deposited, withdrawn = core.totals(asset)
        net = config.assets[asset].units_to_amount(deposited - withdrawn)
        assert sums[asset, False] == net  # every account but the outside world
        assert sums[asset, True] == -net  # double entry: everything sums to zero
    fees = await fetch(dsn, "SELECT sum(amount) AS s FROM ledger_entries WHERE account='fees'")
    assert fees[0]["s"] == config.assets["USD"].units_to_amount(core.balances(FEE_ACCOUNT)
                                                                ["USD"][0])
    sol = await fetch(dsn, "SELECT user_id, sum(amount) AS s FROM ledger_entries "
                           "WHERE asset = 'SOL' AND user_id IS NOT NULL GROUP BY user_id")
    assert len(sol) == len(USERS)
    for r in sol:  # SOL only trades spot: a user's SOL ledger is their SOL balance
        available, locked = core.balances(r["user_id"])["SOL"]
        assert r["s"] == config.assets["SOL"].units_to_amount(available + locked)


async def test_many_orders_drain_to_an_equal_database(engine: EngineSide) -> None:
    await submit_all(engine, scenario(7, 2500))
    await engine.drained(60)
    assert engine.sequencer is not None and engine.link is not None
    dsn, config = engine.settings.postgres_dsn, engine.sequencer.config
    fills = engine_fills(engine.events)
    assert len(fills) > 300
    rows = await fetch(dsn, "SELECT count(*) AS n, count(DISTINCT fill_id) AS ids, "
                            "sum(quantity) AS q FROM fills WHERE liquidity = 'TAKER'")
    assert rows[0]["n"] == rows[0]["ids"] == len(fills)
    total = sum(config.markets[f.market].lots_to_qty(f.quantity) for f in fills)
    assert rows[0]["q"] == total
    await assert_balances_equal(engine, dsn)
    await assert_positions_equal(engine, dsn)
    await assert_ledger_balances(engine, dsn, config)
    orders = await fetch(dsn, "SELECT order_id, user_id, status, filled FROM orders")
    for r in orders:
        status = engine.sequencer.engine.order_status(r["user_id"], r["order_id"])
        assert status is not None and status.value == r["status"]
    assert engine.link.lag == 0


async def test_closed_positions_are_recorded(engine: EngineSide) -> None:
    before = REGISTRY.get_sample_value("trademesh_persistence_position_mismatches_total")
    await submit_all(engine, scenario(11, 1500))
    await engine.drained(60)
    # every position's new size is explained by its command's fills (the link sends whole
    # commands); each close has its exit price, leverage and reason; the fills' realized PnL
    # adds up to what the positions realized (the pnl account's counterpart postings)
    assert REGISTRY.get_sample_value(
        "trademesh_persistence_position_mismatches_total") == before
    closes = await fetch(engine.settings.postgres_dsn,
                         "SELECT count(*) AS n FROM closed_positions WHERE exit_price IS NULL "
                         "OR leverage IS NULL OR close_reason <> 'CLOSED' "
                         "OR margin_mode <> 'CROSS'")
    assert closes[0]["n"] == 0
    pnl = await fetch(engine.settings.postgres_dsn,
                      "SELECT (SELECT sum(realized_pnl) FROM fills) AS fills, (SELECT "
                      "sum(amount) FROM ledger_entries WHERE account = 'pnl') AS ledger")
    assert pnl[0]["fills"] == -pnl[0]["ledger"] != 0
    rows = await fetch(engine.settings.postgres_dsn,
                       "SELECT count(*) AS n, min(closed_ms - opened_ms) AS age "
                       "FROM closed_positions")
    assert rows[0]["n"] > 0 and rows[0]["age"] >= 0
    realized = await fetch(engine.settings.postgres_dsn,
                           "SELECT sum(amount) AS s FROM ledger_entries WHERE account = 'pnl'")
    assert realized[0]["s"] is not None and realized[0]["s"] != Decimal(0)
