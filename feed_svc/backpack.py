"""An index-price source from Backpack's public ticker WebSocket.

Backpack streams ``{"stream": "ticker.SOL_USDC", "data": {"e": "ticker", "E": <µs>,
"s": "SOL_USDC", "o": ..., "c": <last>, "h": ..., "l": ..., "v": ..., "V": ..., "n": ...}}``
after ``{"method": "SUBSCRIBE", "params": ["ticker.SOL_USDC", ...]}``. The last price
``c`` becomes the index price of the mapped market, as exact decimal text. Anything else
(subscription answers, other streams, malformed frames) is skipped.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from decimal import Decimal, InvalidOperation

import websockets

from feed_svc.oracle import OracleIsReal
from feed_svc.stats import text

log = logging.getLogger("trademesh.feed.backpack")
DEFAULT_URL = "wss://ws.backpack.exchange"
DEFAULT_SYMBOLS = {"BTC-PERP": "BTC_USDC", "ETH-PERP": "ETH_USDC", "SOL-PERP": "SOL_USDC"}


def parse_ticker(raw: str | bytes) -> tuple[str, str, int] | None:
    """(Backpack symbol, last price text, event time ms) of a ticker frame, else None."""
    try:
        message = json.loads(raw)
        data = message["data"]
        if data.get("e") != "ticker":
            return None
        price = Decimal(str(data["c"]))
        if not price.is_finite() or price <= 0:
            return None
        return str(data["s"]), text(price), int(data["E"]) // 1000
    except (ValueError, KeyError, TypeError, AttributeError, InvalidOperation):
        return None


class BackpackOracle:
    real = True

    def __init__(self, url: str = DEFAULT_URL,
                 symbols: Mapping[str, str] | None = None, *, max_backoff: float = 10.0) -> None:
        self._url = url
        self._markets = {v: k for k, v in (symbols or DEFAULT_SYMBOLS).items()}
        self._max_backoff = max_backoff

    @property
    def markets(self) -> list[str]:
        return sorted(self._markets.values())

    def set_price(self, market: str, price: str) -> str:
        raise OracleIsReal("the index price comes from a real exchange feed")

    async def prices(self) -> AsyncIterator[tuple[str, str, int]]:
        """(market, index price, time ms) forever, reconnecting with backoff."""
        delay = 0.1
        while True:
            try:
                async with websockets.connect(self._url, open_timeout=10) as ws:
                    params = [f"ticker.{s}" for s in sorted(self._markets)]
                    await ws.send(json.dumps({"method": "SUBSCRIBE", "params": params}))
                    delay = 0.1
                    async for raw in ws:
                        parsed = parse_ticker(raw)
                        if parsed and parsed[0] in self._markets:
                            yield self._markets[parsed[0]], parsed[1], parsed[2]
            except (OSError, websockets.WebSocketException, TimeoutError) as err:
                log.warning("backpack feed: %s; reconnecting in %.1fs", err, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_backoff)
