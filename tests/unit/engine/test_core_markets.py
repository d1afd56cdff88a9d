"""Markets are data: runtime assets and markets, their refusals, status, and restarts.

TATA-INR is the issue's example: INR with 2 decimals, TATA shares with 0, tick 0.05 INR
(no power of ten), lot 1 share, so one lot at one tick is 5 INR minor units.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from core_stubs import buy, cancel, conservation_gaps, deposit, funded, order_id, reason, sell

from engine_svc import command_codec
from engine_svc.core import (
    AddAsset,
    AddMarket,
    AssetAdded,
    Command,
    Engine,
    Event,
    MarketChanged,
    MarketKind,
    MarketStatus,
    OrderFilled,
    PlaceTrigger,
    RegistryCommandRejected,
    RejectReason,
    ReplaceOrder,
    SetIndexPrice,
    Side,
    TriggerFired,
    TriggerKind,
    UpdateMarket,
    default_markets,
)

TATA = "TATA-INR"
P = 20_001  # 1000.05 INR in 0.05 ticks


def tata_market(**kw: Any) -> AddMarket:
    fields: dict[str, Any] = {"symbol": TATA, "kind": MarketKind.SPOT, "base_asset": "TATA",
                              "quote_asset": "INR", "tick_size": "0.05", "lot_size": "1",
                              "maker_fee_bps": 2, "taker_fee_bps": 5}
    fields.update(kw)
    return AddMarket(**fields)


def with_tata() -> Engine:
    e = funded()
    assert isinstance(e.apply(AddAsset(symbol="INR", decimals=2, ts=1))[0], AssetAdded)
    e.apply(AddAsset(symbol="TATA", decimals=0))
    added = e.apply(tata_market(ts=3))
    assert isinstance(added[0], MarketChanged) and added[0].added
    assert (added[0].tick_size, added[0].status) == ("0.05", MarketStatus.OPEN)
    for user, asset, amount in (("a", "INR", 10**8), ("b", "TATA", 1_000)):
        e.apply(deposit(user, asset, amount))
    return e


def refusal(events: list[Event]) -> tuple[str, str]:
    assert len(events) == 1 and isinstance(events[0], RegistryCommandRejected), events
    return events[0].field, events[0].reason


def test_a_runtime_spot_market_trades_exactly_with_its_own_decimals() -> None:
    e = with_tata()
    e.apply(sell("b", 10, P, TATA))
    events = e.apply(buy("a", 4, P, TATA))
    fill = next(f for f in events if isinstance(f, OrderFilled))
    notional = 4 * P * 5  # 4 shares at 1000.05 INR = 400020 paise
    assert (fill.quantity, fill.price) == (4, P)
    assert fill.taker_fee == -(-notional * 5 // 10_000)
    assert e.balances("a")["TATA"] == (4, 0)
    assert e.balances("a")["INR"] == (10**8 - notional - fill.taker_fee, 0)
    assert e.balances("b")["INR"] == (notional - fill.maker_fee, 0)
    assert all(g == 0 for g in conservation_gaps(e, ["a", "b"]).values())
    assert reason(e.apply(buy("a", 0, P, TATA))) is RejectReason.INVALID_QUANTITY


@pytest.mark.parametrize(("command", "field", "why"), [
    (AddAsset(symbol="USD", decimals=2), "symbol", "DUPLICATE_SYMBOL"),
    (AddAsset(symbol="inr", decimals=2), "symbol", "INVALID_ARGUMENT"),
    (AddAsset(symbol="INR", decimals=19), "decimals", "INVALID_ARGUMENT"),
    (AddAsset(symbol="INR", decimals=-1), "decimals", "INVALID_ARGUMENT"),
    (tata_market(symbol="SOL-USD", base_asset="SOL", quote_asset="USD"), "symbol",
     "DUPLICATE_SYMBOL"),
    (tata_market(base_asset="NOPE"), "baseAsset", "UNKNOWN_ASSET"),
    (tata_market(quote_asset="EUR"), "quoteAsset", "UNKNOWN_ASSET"),
    (tata_market(symbol="TATA-USD"), "symbol", "INVALID_ARGUMENT"),
    (tata_market(tick_size="0"), "tickSize", "INVALID_ARGUMENT"),
    (tata_market(tick_size="-0.05"), "tickSize", "INVALID_ARGUMENT"),
    (tata_market(tick_size="NaN"), "tickSize", "INVALID_ARGUMENT"),
    (tata_market(tick_size="0.005"), "tickSize", "INVALID_ARGUMENT"),  # INR has 2 decimals
    (tata_market(lot_size="0"), "lotSize", "INVALID_ARGUMENT"),
    (tata_market(lot_size="-1"), "lotSize", "INVALID_ARGUMENT"),
    (tata_market(lot_size="0.5"), "lotSize", "INVALID_ARGUMENT"),  # TATA has 0 decimals
    (tata_market(min_quantity="1.5"), "minQuantity", "INVALID_ARGUMENT"),
    (tata_market(maker_fee_bps=6), "makerFeeBps", "INVALID_ARGUMENT"),
    (tata_market(taker_fee_bps=10_000), "takerFeeBps", "INVALID_ARGUMENT"),
    (tata_market(max_leverage=5), "maxLeverage", "INVALID_ARGUMENT"),
    (tata_market(maintenance_margin_rate="0.01"), "maintenanceMarginRate", "INVALID_ARGUMENT"),
    (tata_market(symbol="TATA-PERP", kind=MarketKind.PERP), "quoteAsset", "INVALID_ARGUMENT"),
    (UpdateMarket(market="NOPE-USD", status="HALTED"), "market", "UNKNOWN_MARKET"),
    (UpdateMarket(market="SOL-USD", status="PAUSED"), "status", "INVALID_ARGUMENT"),
    (UpdateMarket(market="BTC-PERP", max_leverage=201), "maxLeverage", "INVALID_ARGUMENT"),
    (UpdateMarket(market="BTC-PERP", max_leverage=0), "maxLeverage", "INVALID_ARGUMENT"),
    (UpdateMarket(market="SOL-USD", max_leverage=2), "maxLeverage", "INVALID_ARGUMENT"),
    (UpdateMarket(market="SOL-USD", maker_fee_bps=11), "makerFeeBps", "INVALID_ARGUMENT"),
    (UpdateMarket(market="SOL-USD", taker_fee_bps=-1), "takerFeeBps", "INVALID_ARGUMENT"),
])
def test_bad_registry_commands_name_the_field_and_change_nothing(
        command: Command, field: str, why: str) -> None:
    e = funded()
    e.apply(AddAsset(symbol="TATA", decimals=0))
    if not (isinstance(command, AddAsset) and command.symbol == "INR"):
        e.apply(AddAsset(symbol="INR", decimals=2))
    before = e.snapshot()
    assert refusal(e.apply(command)) == (field, why)
    after = e.snapshot()
    assert (after["registry"], after["orders"]) == (before["registry"], before["orders"])


def test_a_runtime_perp_and_an_odd_tick() -> None:
    e = funded(a={"USD": 10**10}, b={"USD": 10**10})
    e.apply(AddAsset(symbol="DOGE", decimals=8))
    added = e.apply(AddMarket(symbol="DOGE-PERP", kind=MarketKind.PERP, base_asset="DOGE",
                              quote_asset="USD", tick_size="0.00025", lot_size="10",
                              max_leverage=20, taker_fee_bps=5,
                              maintenance_margin_rate="0.01"))
    assert isinstance(added[0], MarketChanged)
    e.apply(sell("b", 3, 400, "DOGE-PERP"))  # 0.1 USD
    assert e.positions("a") == {}
    e.apply(buy("a", 3, 400, "DOGE-PERP"))
    assert e.positions("a")["DOGE-PERP"].size == 3
    assert e.positions("a")["DOGE-PERP"].cost == 3 * 400 * 2_500  # 0.00025 * 10 * 10^6
    assert all(g == 0 for g in conservation_gaps(e, ["a", "b"]).values())


def test_halted_matches_nothing_but_cancels_and_shrinks_work() -> None:
    e = with_tata()
    resting = order_id(e.apply(sell("b", 10, P, TATA)))
    e.apply(UpdateMarket(market=TATA, status="HALTED"))
    assert reason(e.apply(buy("a", 4, P, TATA))) is RejectReason.MARKET_HALTED
    moved = e.apply(ReplaceOrder(user_id="b", order_id=resting, price=P - 1))
    assert reason(moved) is RejectReason.MARKET_HALTED
    assert e.depth(TATA) == ([], [(P, 10)])
    e.apply(ReplaceOrder(user_id="b", order_id=resting, quantity=6))  # in place: allowed
    assert e.depth(TATA) == ([], [(P, 6)])
    assert reason(e.apply(cancel("b", resting))) is None
    assert e.depth(TATA) == ([], [])
    assert e.balances("b")["TATA"] == (1_000, 0)
    e.apply(UpdateMarket(market=TATA, status="OPEN"))
    assert reason(e.apply(sell("b", 1, P, TATA))) is None


def test_spot_close_only_is_cancel_only() -> None:
    e = with_tata()
    resting = order_id(e.apply(sell("b", 10, P, TATA)))
    e.apply(UpdateMarket(market=TATA, status="CLOSE_ONLY"))
    assert reason(e.apply(buy("a", 1, P, TATA))) is RejectReason.MARKET_CLOSE_ONLY
    assert reason(e.apply(cancel("b", resting))) is None


def perp_engine() -> Engine:
    """a long 10 BTC-PERP lots at 500_000, b short; mm quotes both sides."""
    e = funded(a={"USD": 10**9}, b={"USD": 10**9}, mm={"USD": 10**10})
    e.apply(sell("b", 10, 500_000))
    e.apply(buy("a", 10, 500_000))
    e.apply(buy("mm", 50, 499_000))
    e.apply(sell("mm", 50, 501_000))
    return e


def test_perp_close_only_takes_only_reducing_orders() -> None:
    e = perp_engine()
    e.apply(UpdateMarket(market="BTC-PERP", status="CLOSE_ONLY"))
    assert reason(e.apply(buy("a", 1, 501_000))) is RejectReason.MARKET_CLOSE_ONLY
    assert reason(e.apply(sell("a", 1, 499_000))) is RejectReason.MARKET_CLOSE_ONLY
    assert reason(e.apply(buy("a", 1, 501_000, reduce_only=True))) \
        is RejectReason.REDUCE_ONLY_WOULD_INCREASE
    closed = e.apply(sell("a", 4, 499_000, reduce_only=True))
    assert sum(f.quantity for f in closed if isinstance(f, OrderFilled)) == 4
    assert e.positions("a")["BTC-PERP"].size == 6


def test_halted_perp_triggers_do_not_fire_until_reopened() -> None:
    e = perp_engine()
    e.apply(PlaceTrigger(user_id="a", market="BTC-PERP", side=Side.SELL,
                         kind=TriggerKind.STOP_LOSS, trigger_price=500_000))
    e.apply(UpdateMarket(market="BTC-PERP", status="HALTED"))
    halted = e.apply(SetIndexPrice(market="BTC-PERP", price=499_000))
    assert not any(isinstance(x, TriggerFired) for x in halted)
    assert e.mark_price("BTC-PERP") is not None and len(e.triggers("a")) == 1
    e.apply(UpdateMarket(market="BTC-PERP", status="OPEN"))
    fired = e.apply(SetIndexPrice(market="BTC-PERP", price=499_000))
    assert any(isinstance(x, TriggerFired) for x in fired)


def test_fee_and_leverage_updates() -> None:
    e = with_tata()
    e.apply(buy("a", 10, P, TATA))  # rests holding the 5 bps taker fee
    assert refusal(e.apply(UpdateMarket(market=TATA, maker_fee_bps=50, taker_fee_bps=60))) \
        == ("makerFeeBps", "RESTING_ORDERS")
    done = e.apply(UpdateMarket(market=TATA, maker_fee_bps=5, taker_fee_bps=60))
    assert isinstance(done[0], MarketChanged) and not done[0].added
    assert (done[0].maker_fee_bps, done[0].taker_fee_bps) == (5, 60)
    e.apply(sell("b", 10, P, TATA))
    assert all(g == 0 for g in conservation_gaps(e, ["a", "b"]).values())
    assert e.balances("a")["INR"][1] == 0
    p = perp_engine()
    p.apply(UpdateMarket(market="BTC-PERP", max_leverage=5))
    assert reason(p.apply(buy("a", 1, 499_000, leverage=10))) is RejectReason.INVALID_LEVERAGE
    assert reason(p.apply(buy("a", 1, 499_000, leverage=5))) is None


def _history() -> list[Command]:
    return [AddAsset(symbol="INR", decimals=2), AddAsset(symbol="TATA", decimals=0),
            tata_market(), deposit("a", "INR", 10**8), deposit("b", "TATA", 100),
            sell("b", 10, P, TATA), UpdateMarket(market=TATA, status="CLOSE_ONLY",
                                                 taker_fee_bps=9)]


def test_snapshot_and_journal_replay_rebuild_the_registry() -> None:
    live = Engine(default_markets())
    history = _history()
    for cmd in history[:5]:
        live.apply(cmd)
    image = json.loads(json.dumps(live.snapshot()))
    restored = Engine.restore(default_markets(), image)
    replayed = Engine(default_markets())
    for cmd in history[:5]:
        replayed.apply(command_codec.decode(command_codec.encode(cmd)))
    for cmd in history[5:]:
        for engine in (live, restored, replayed):
            engine.apply(command_codec.decode(command_codec.encode(cmd)))
    assert live.state_hash() == restored.state_hash() == replayed.state_hash()
    spec = restored.config.markets[TATA]
    assert (spec.status, spec.taker_fee_bps, str(spec.tick_size)) == \
        (MarketStatus.CLOSE_ONLY, 9, "0.05")
    assert restored.depth(TATA) == ([], [(P, 10)])


def test_an_image_without_a_registry_loads_the_defaults() -> None:
    e = funded(a={"USD": 100})
    image = e.snapshot()
    del image["registry"]
    restored = Engine.restore(default_markets(), image)
    assert sorted(restored.config.markets) == sorted(default_markets().markets)
    assert restored.balances("a") == e.balances("a")


def test_engines_do_not_share_a_registry() -> None:
    config = default_markets()
    one, two = Engine(config), Engine(config)
    one.apply(AddAsset(symbol="INR", decimals=2))
    assert "INR" not in two.config.assets and "INR" not in config.assets
