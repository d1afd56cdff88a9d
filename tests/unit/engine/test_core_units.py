"""Edge conversions, market configuration and the lifecycle table."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine_svc.core import MarketKind, MarketSpec, OrderStatus, ValidationError, default_markets
from engine_svc.core.lifecycle import FINAL, IllegalTransition, check_transition
from engine_svc.core.markets import AssetSpec

BTC = default_markets().markets["BTC-PERP"]


def test_default_markets_have_exact_notional_units() -> None:
    cfg = default_markets()
    assert {"BTC-PERP", "ETH-PERP", "SOL-PERP", "SOL-USD"} <= set(cfg.markets)
    for spec in cfg.markets.values():
        assert spec.notional_unit >= 1 and spec.base_per_lot >= 1
    spot = cfg.markets["SOL-USD"]
    assert spot.kind is MarketKind.SPOT and spot.base.symbol == "SOL"
    assert spot.maker_fee_bps == 0


def test_price_and_quantity_round_trip() -> None:
    assert BTC.price_to_ticks(Decimal("50000.1")) == 500001
    assert BTC.price_to_ticks("50000") == 500000
    assert BTC.ticks_to_price(500001) == Decimal("50000.1")
    assert BTC.qty_to_lots("0.0123") == 123
    assert BTC.lots_to_qty(123) == Decimal("0.0123")
    assert BTC.notional(500000, 1) == 5_000_000  # $5.000000


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("50000.05", "OFF_GRID"),
        ("-1", "NOT_POSITIVE"),
        ("0", "NOT_POSITIVE"),
        ("NaN", "NOT_A_NUMBER"),
        ("sNaN", "NOT_A_NUMBER"),
        ("Infinity", "NOT_FINITE"),
        ("-Infinity", "NOT_FINITE"),
        ("1e30", "TOO_LARGE"),
        ("1e100", "TOO_LARGE"),
        ("abc", "NOT_A_NUMBER"),
        ("\u0661", "NOT_A_NUMBER"),  # ARABIC-INDIC DIGIT ONE: Decimal() reads 1
        ("\uff15", "NOT_A_NUMBER"),  # FULLWIDTH DIGIT FIVE
        ("1_000", "NOT_A_NUMBER"),
        (" 1", "NOT_A_NUMBER"),
        ("1 ", "NOT_A_NUMBER"),
        ("1\n", "NOT_A_NUMBER"),
        (".5", "NOT_A_NUMBER"),
        ("1.", "NOT_A_NUMBER"),
        ("0x10", "NOT_A_NUMBER"),
        ("", "NOT_A_NUMBER"),
        (1.5, "INVALID_TYPE"),
        (True, "INVALID_TYPE"),
    ],
)
def test_price_conversion_refuses_bad_values(value: object, reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        BTC.price_to_ticks(value, field="limit_price")  # type: ignore[arg-type]
    assert info.value.field == "limit_price"
    assert info.value.reason == reason


def test_quantity_below_minimum_and_off_lot() -> None:
    with pytest.raises(ValidationError) as info:
        BTC.qty_to_lots("0.00005")
    assert info.value.reason == "OFF_GRID"
    usd = AssetSpec("USD", 6)
    assert usd.amount_to_units("12.345678") == 12_345_678
    assert usd.units_to_amount(12_345_678) == Decimal("12.345678")
    with pytest.raises(ValidationError):
        usd.amount_to_units("0.0000001")


def test_market_config_refuses_inexact_grid() -> None:
    usd = AssetSpec("USD", 2)
    btc = AssetSpec("BTC", 8)
    with pytest.raises(ValueError, match="notional unit"):
        MarketSpec("X", MarketKind.SPOT, btc, usd, Decimal("0.1"), Decimal("0.001"),
                   Decimal("0.001"))
    with pytest.raises(ValueError, match="min lots"):
        MarketSpec("X", MarketKind.SPOT, btc, usd, Decimal("1"), Decimal("0.01"),
                   Decimal("0.015"))


def test_lifecycle_table_refuses_illegal_transitions() -> None:
    assert check_transition(OrderStatus.NEW, OrderStatus.FILLED) is OrderStatus.FILLED
    assert {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED} == FINAL
    for final in FINAL:
        with pytest.raises(IllegalTransition):
            check_transition(final, OrderStatus.CANCELED)
    with pytest.raises(IllegalTransition):
        check_transition(OrderStatus.PARTIALLY_FILLED, OrderStatus.NEW)


@pytest.mark.parametrize("text", ["50000", "+50000", "50000.0", "5e4", "5E+4", "50000.10"])
def test_plain_decimal_texts_are_read(text: str) -> None:
    assert BTC.price_to_ticks(text, field="limit_price") * BTC.tick_size == Decimal(text)
