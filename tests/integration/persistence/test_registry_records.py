"""Runtime assets and markets reach PostgreSQL through the real engine and event link:
one row per symbol, the last change winning, and TATA-INR's trades in its own decimals."""

from __future__ import annotations

from decimal import Decimal

from persistence_harness import EngineSide, fetch

from engine_svc.core import (
    AddAsset,
    AddMarket,
    Deposit,
    MarketKind,
    PlaceOrder,
    Side,
    UpdateMarket,
)


async def test_assets_markets_and_their_trades_are_recorded(engine: EngineSide) -> None:
    for command in (
            AddAsset(symbol="INR", decimals=2, ts=1_000),
            AddAsset(symbol="TATA", decimals=0, ts=1_001),
            AddMarket(symbol="TATA-INR", kind=MarketKind.SPOT, base_asset="TATA",
                      quote_asset="INR", tick_size="0.05", lot_size="1", taker_fee_bps=5,
                      ts=1_002),
            Deposit(user_id="a", asset="INR", amount=10**7, tx_id="i", ts=1_003),
            Deposit(user_id="b", asset="TATA", amount=10, tx_id="t", ts=1_004),
            PlaceOrder(user_id="b", market="TATA-INR", side=Side.SELL, quantity=3,
                       price=20_001, ts=1_005),
            PlaceOrder(user_id="a", market="TATA-INR", side=Side.BUY, quantity=3,
                       price=20_001, ts=1_006),
            UpdateMarket(market="TATA-INR", status="HALTED", maker_fee_bps=1,
                         ts=1_007),
            UpdateMarket(market="BTC-PERP", max_leverage=20, ts=1_008),
            AddAsset(symbol="USD", decimals=2, ts=1_009)):  # refused: nothing recorded
        await engine.submit(command)
    await engine.drained(30)
    dsn = engine.settings.postgres_dsn
    assets = await fetch(dsn, "SELECT symbol, decimals FROM assets ORDER BY symbol")
    assert [(r["symbol"], r["decimals"]) for r in assets] == [("INR", 2), ("TATA", 0)]
    rows = {r["symbol"]: r for r in await fetch(dsn, "SELECT * FROM markets")}
    assert set(rows) == {"TATA-INR", "BTC-PERP"}
    tata = rows["TATA-INR"]
    assert (tata["kind"], tata["tick_size"], tata["lot_size"], tata["status"],
            tata["maker_fee_bps"], tata["taker_fee_bps"], tata["maintenance_margin_rate"]) == \
        ("SPOT", Decimal("0.05"), Decimal("1"), "HALTED", 1, 5, None)
    assert (rows["BTC-PERP"]["max_leverage"], rows["BTC-PERP"]["status"]) == (20, "OPEN")
    trades = await fetch(dsn, "SELECT price, quantity FROM trades WHERE market = 'TATA-INR'")
    assert [(r["price"], r["quantity"]) for r in trades] == [(Decimal("1000.05"), Decimal(3))]
    balances = await fetch(dsn, "SELECT available FROM balances WHERE user_id = 'a' AND "
                                "asset = 'INR'")
    notional = Decimal("3000.15")
    fee = Decimal("1.51")  # ceil(300015 paise * 5 / 10000) = 151 paise
    assert balances[0]["available"] == Decimal("100000.00") - notional - fee
