"""Channel names: ``depth@M``, ``trades@M``, ``ticker@M``, ``kline_<interval>@M``,
``mark@M``, ``index@M``, ``tickers`` (every market's ticker) and the private ``user``.
Pure: no I/O.

A channel is valid when its kind is one of the above and its market is one the feed
knows (``mark@M`` and ``index@M`` only for perpetual markets, whose symbols end in
``-PERP``). ``index@M`` is the oracle's index price, which the engine follows to set its
index and derive the mark that ``mark@M`` carries.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    DEPTH = "depth"
    TRADES = "trades"
    TICKER = "ticker"
    KLINE = "kline"
    MARK = "mark"
    INDEX = "index"
    TICKERS = "tickers"
    USER = "user"


INTERVALS_MS: dict[str, int] = {
    "1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000, "4h": 14_400_000,
    "1d": 86_400_000,
}
#: Channels whose subscribers only need the newest message (a slow client is conflated).
CONFLATED = frozenset({Kind.TICKER, Kind.KLINE, Kind.MARK, Kind.INDEX, Kind.TICKERS})
USER_CHANNEL = "user"
TICKERS_CHANNEL = "tickers"


class UnknownChannel(ValueError):
    """The name is not a channel the feed serves; the message says why."""


@dataclass(frozen=True, slots=True)
class Channel:
    kind: Kind
    market: str = ""
    interval: str = ""

    @property
    def name(self) -> str:
        if self.kind is Kind.USER:
            return USER_CHANNEL
        if self.kind is Kind.TICKERS:
            return TICKERS_CHANNEL
        prefix = f"kline_{self.interval}" if self.kind is Kind.KLINE else self.kind.value
        return f"{prefix}@{self.market}"


def parse(name: object, markets: frozenset[str]) -> Channel:
    """The channel called ``name``, or :class:`UnknownChannel`."""
    if not isinstance(name, str):
        raise UnknownChannel("a channel name is a string")
    if name == USER_CHANNEL:
        return Channel(Kind.USER)
    if name == TICKERS_CHANNEL:
        return Channel(Kind.TICKERS)
    prefix, at, market = name.partition("@")
    if not at or market not in markets:
        hint = f" (markets are upper case: {market.upper()})" if market.upper() in markets \
            else ""
        raise UnknownChannel(f"unknown channel {name!r}{hint}")
    if prefix.startswith("kline_"):
        interval = prefix.removeprefix("kline_")
        if interval not in INTERVALS_MS:
            raise UnknownChannel(f"unknown kline interval in {name!r}; "
                                 f"expected one of {', '.join(INTERVALS_MS)}")
        return Channel(Kind.KLINE, market, interval)
    try:
        kind = Kind(prefix)
    except ValueError:
        raise UnknownChannel(f"unknown channel {name!r}") from None
    if kind in (Kind.USER, Kind.TICKERS) or (kind in (Kind.MARK, Kind.INDEX)
                             and not market.endswith("-PERP")):
        raise UnknownChannel(f"unknown channel {name!r}")
    return Channel(kind, market)
