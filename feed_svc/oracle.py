"""The index-price oracle: a simulated random walk (the default) or a real exchange feed.

The simulated source keeps each price as an integer number of ticks and moves it by a
seeded ``random.Random``: the same seed and the same calls give the same prices, and no
binary float ever holds a price. Each step moves a price by at most ``step_ticks``, with a
pull back toward the configured centre once it strays more than ``band_bps`` from it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from feed_svc.stats import text
from mesh_runtime.ascii_digits import NotAsciiDigits, parse_ascii_decimal

DEFAULT_CENTRES: dict[str, tuple[str, str]] = {
    "BTC-PERP": ("60000", "0.1"), "ETH-PERP": ("3000", "0.01"), "SOL-PERP": ("150", "0.001"),
}


class OracleIsReal(RuntimeError):
    """Prices come from a real exchange: they cannot be set by hand."""


class InvalidPrice(ValueError):
    """The requested price is not a positive decimal on the market's tick grid."""


@dataclass(slots=True)
class _Walk:
    tick: Decimal
    centre: int
    ticks: int


class SimulatedOracle:
    real = False

    def __init__(self, centres: Mapping[str, tuple[str, str]] | None = None, *, seed: int = 1,
                 step_ticks: int = 5, band_bps: int = 200) -> None:
        self._rng = random.Random(seed)
        self._step, self._band_bps = step_ticks, band_bps
        self._walks: dict[str, _Walk] = {}
        for market, (centre, tick) in sorted((centres or DEFAULT_CENTRES).items()):
            units = _units(centre, Decimal(tick))
            self._walks[market] = _Walk(Decimal(tick), units, units)

    @property
    def markets(self) -> list[str]:
        return list(self._walks)

    def price(self, market: str) -> str:
        walk = self._walks[market]
        return text(walk.ticks * walk.tick)

    def step(self) -> list[tuple[str, str]]:
        """Moves every market one step; (market, index price) in market order."""
        out = []
        for market, walk in self._walks.items():
            band = walk.centre * self._band_bps // 10_000
            low, high = -self._step, self._step
            if walk.ticks > walk.centre + band:
                high = 0
            elif walk.ticks < walk.centre - band:
                low = 0
            walk.ticks = max(1, walk.ticks + self._rng.randint(low, high))
            out.append((market, self.price(market)))
        return out

    def set_price(self, market: str, price: str) -> str:
        """Moves the walk (and its centre) to ``price``; returns it as stored."""
        walk = self._walks.get(market)
        if walk is None:
            raise KeyError(market)
        walk.ticks = walk.centre = _units(price, walk.tick)
        return self.price(market)


MAX_TICKS = 2**62  # far beyond any price, well inside the engine's integers


def _units(price: str, tick: Decimal) -> int:
    try:
        value = parse_ascii_decimal(price)
    except NotAsciiDigits as exc:
        raise InvalidPrice(f"price: {price!r} {exc}") from None
    if value <= 0:
        raise InvalidPrice(f"price: {price!r} must be positive")
    if value / tick >= MAX_TICKS:  # divmod would raise InvalidOperation past the precision
        raise InvalidPrice(f"price: {price!r} is too large")
    units, rest = divmod(value, tick)
    if rest:
        raise InvalidPrice(f"price: {price!r} is not a multiple of the tick size {tick}")
    return int(units)
