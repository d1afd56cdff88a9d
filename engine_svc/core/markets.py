"""Market and asset configuration, and the edge conversions they define.

Units inside the core (all ``int``):

* price: ticks of ``tick_size`` quote per base;
* quantity: lots of ``lot_size`` base;
* balances, fees, margin, PnL: minor units of an asset (``10**-scale``).

Invariants enforced by :meth:`MarketSpec.__post_init__`:

* ``tick_size * lot_size * 10**quote_scale`` is a positive integer (``notional_unit``),
  so ``price_ticks * qty_lots * notional_unit`` is the exact notional in quote minor units
  for every grid point;
* ``lot_size * 10**base_scale`` is a positive integer (``base_per_lot``) so spot base
  balances move in whole minor units;
* ``min_quantity`` is a positive multiple of ``lot_size``; fees are in ``[0, 10000)`` bps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from engine_svc.core.enums import MarketKind, MarketStatus
from engine_svc.core.units import ValidationError, decimal_to_units, units_to_decimal


@dataclass(frozen=True, slots=True)
class AssetSpec:
    """An asset and its decimal scale (minor unit = ``10**-scale``)."""

    symbol: str
    scale: int

    @property
    def minor(self) -> Decimal:
        return Decimal(1).scaleb(-self.scale)

    def amount_to_units(self, value: Decimal | str | int, field: str = "amount") -> int:
        return decimal_to_units(value, self.minor, field)

    def units_to_amount(self, units: int) -> Decimal:
        return units_to_decimal(units, self.minor)


def _exact_int(value: Decimal, what: str) -> int:
    if value <= 0 or value != value.to_integral_value():
        raise ValueError(f"{what} must be a positive integer, got {value}")
    return int(value)


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """One market's configuration, with derived integer constants.

    Grid and assets never change once a market exists; status, fees and the leverage cap
    change by replacing the spec with a new one (see :mod:`engine_svc.core.registry`).
    """

    symbol: str
    kind: MarketKind
    base: AssetSpec
    quote: AssetSpec
    tick_size: Decimal
    lot_size: Decimal
    min_quantity: Decimal
    max_leverage: int = 1
    maker_fee_bps: int = 0
    taker_fee_bps: int = 0
    maintenance_margin_rate: Decimal = Decimal(0)
    mark_band_bps: int = 100
    """Mark price is clamped to index * (1 +- mark_band_bps / 1e4)."""
    funding_cap_bps: int = 75
    """Funding rate per round is clamped to +- funding_cap_bps / 1e4."""
    liquidation_fee_bps: int = 50
    """Liquidation fee on closed notional at mark, paid to the insurance fund."""
    liquidation_slippage_bps: int = 200
    """Liquidation close orders fill no worse than mark -+ this many bps."""
    status: MarketStatus = MarketStatus.OPEN
    """Changed at runtime by ``UpdateMarket`` (see :mod:`engine_svc.core.registry`)."""
    notional_unit: int = field(init=False)
    base_per_lot: int = field(init=False)
    min_lots: int = field(init=False)
    is_perp: bool = field(init=False)
    mm_ratio: tuple[int, int] = field(init=False)
    """``maintenance_margin_rate`` as an exact (numerator, denominator)."""

    def __post_init__(self) -> None:
        unit = _exact_int(self.tick_size * self.lot_size * 10**self.quote.scale, "notional unit")
        per_lot = _exact_int(self.lot_size * 10**self.base.scale, "base per lot")
        min_lots = _exact_int(self.min_quantity / self.lot_size, f"{self.symbol} min lots")
        object.__setattr__(self, "notional_unit", unit)
        object.__setattr__(self, "base_per_lot", per_lot)
        object.__setattr__(self, "min_lots", min_lots)
        object.__setattr__(self, "is_perp", self.kind is MarketKind.PERP)
        object.__setattr__(self, "mm_ratio", self.maintenance_margin_rate.as_integer_ratio())
        if not 0 <= self.maintenance_margin_rate < 1:
            raise ValueError(f"{self.symbol}: maintenance margin rate out of range")
        for name in ("mark_band_bps", "funding_cap_bps", "liquidation_fee_bps",
                     "liquidation_slippage_bps"):
            if not 0 <= getattr(self, name) < 10_000:
                raise ValueError(f"{self.symbol}: {name} out of range")
        for bps in (self.maker_fee_bps, self.taker_fee_bps):
            if not 0 <= bps < 10_000:
                raise ValueError(f"{self.symbol}: fee bps out of range: {bps}")
        if self.maker_fee_bps > self.taker_fee_bps:
            raise ValueError(f"{self.symbol}: maker fee above taker fee")
        if self.max_leverage < 1 or (self.kind is MarketKind.SPOT and self.max_leverage != 1):
            raise ValueError(f"{self.symbol}: bad max_leverage {self.max_leverage}")

    def price_to_ticks(self, value: Decimal | str | int, field: str = "price") -> int:
        return decimal_to_units(value, self.tick_size, field)

    def ticks_to_price(self, ticks: int) -> Decimal:
        return units_to_decimal(ticks, self.tick_size)

    def qty_to_lots(self, value: Decimal | str | int, field: str = "quantity") -> int:
        lots = decimal_to_units(value, self.lot_size, field)
        if lots < self.min_lots:
            raise ValidationError(field, "BELOW_MINIMUM", f"below {self.min_quantity}")
        return lots

    def lots_to_qty(self, lots: int) -> Decimal:
        return units_to_decimal(lots, self.lot_size)

    def notional(self, ticks: int, lots: int) -> int:
        """Exact notional of ``lots`` at ``ticks`` in quote minor units."""
        return ticks * lots * self.notional_unit


@dataclass(frozen=True, slots=True)
class MarketConfig:
    """The asset table and the markets: the engine's registry.

    The engine copies the one it is built with (the defaults of an empty state) and adds to
    its copy at runtime; the dicts only grow, a symbol never changes meaning.
    """

    assets: dict[str, AssetSpec]
    markets: dict[str, MarketSpec]

    def __post_init__(self) -> None:
        for spec in self.markets.values():
            for asset in (spec.base, spec.quote):
                if self.assets.get(asset.symbol) != asset:
                    raise ValueError(f"{spec.symbol}: asset {asset.symbol} not in asset table")
            if spec.is_perp and spec.quote.symbol != "USD":
                raise ValueError(f"{spec.symbol}: perps settle in USD")


def default_assets() -> dict[str, AssetSpec]:
    return {
        "USD": AssetSpec("USD", 6),
        "BTC": AssetSpec("BTC", 8),
        "ETH": AssetSpec("ETH", 8),
        "SOL": AssetSpec("SOL", 8),
    }


def default_markets() -> MarketConfig:
    """BTC-PERP, ETH-PERP, SOL-PERP (USD-settled) and the SOL-USD spot market."""
    a = default_assets()
    usd = a["USD"]

    def perp(base: str, tick: str, lot: str, lev: int) -> MarketSpec:
        return MarketSpec(
            f"{base}-PERP", MarketKind.PERP, a[base], usd, Decimal(tick), Decimal(lot),
            Decimal(lot), lev, 2, 5, Decimal("0.005"),
        )

    markets = [
        perp("BTC", "0.1", "0.0001", 50),
        perp("ETH", "0.01", "0.001", 50),
        perp("SOL", "0.001", "0.01", 20),
        MarketSpec(
            "SOL-USD", MarketKind.SPOT, a["SOL"], usd, Decimal("0.001"), Decimal("0.01"),
            Decimal("0.01"), 1, 0, 10,
        ),
    ]
    return MarketConfig(a, {m.symbol: m for m in markets})
