"""OHLCV candles (1m, 5m, 15m, 1h, 4h, 1d) from the 1-minute candles the event writer keeps.

Buckets are aligned to the Unix epoch in UTC (``open = t - t % interval``), so a day starts
at 00:00 UTC. The range is ``[start, end)``: every bucket whose open time is in it.

Empty intervals: a bucket without trades after the market's first trade **is returned**,
flat at the previous close with volume 0 (a continuous series for charts); buckets before
the market's first trade are omitted. ``closed`` is true once the bucket's end has passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence_svc.history import InvalidQuery

INTERVALS_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000,
                "4h": 14_400_000, "1d": 86_400_000}
MAX_CANDLES = 1500
DEFAULT_CANDLES = 100

_BUCKETS = text("""
SELECT open_ms - open_ms % :iv AS bucket,
       (array_agg(open ORDER BY open_ms))[1] AS open, max(high) AS high, min(low) AS low,
       (array_agg(close ORDER BY open_ms DESC))[1] AS close, sum(volume) AS volume
FROM candles_1m WHERE market = :market AND open_ms >= :start AND open_ms < :end
GROUP BY bucket ORDER BY bucket""")
_PREVIOUS_CLOSE = text("""
SELECT close FROM candles_1m WHERE market = :market AND open_ms < :start
ORDER BY open_ms DESC LIMIT 1""")


@dataclass(frozen=True, slots=True)
class CandleRow:
    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    closed: bool


def bucket_range(interval: str, start_ms: int | None, end_ms: int | None, now_ms: int
                 ) -> tuple[int, int, int]:
    """(interval ms, first bucket open, end of the last bucket) for a request; validates it.

    The last bucket is the one holding ``end - 1``: its whole interval is aggregated.
    """
    iv = INTERVALS_MS.get(interval)
    if iv is None:
        raise InvalidQuery("interval", f"must be one of {', '.join(INTERVALS_MS)}")
    end = now_ms + 1 if end_ms is None else end_ms
    start = end - DEFAULT_CANDLES * iv if start_ms is None else start_ms
    first = start - start % iv
    if end <= start:
        raise InvalidQuery("end", "must be after start")
    count = (end - first + iv - 1) // iv
    if count > MAX_CANDLES:
        raise InvalidQuery("start", f"at most {MAX_CANDLES} candles per request")
    return iv, first, first + count * iv


def fill_gaps(buckets: Mapping[int, tuple[Decimal, ...]], previous: Decimal | None, iv: int,
              first: int, end: int, now_ms: int) -> list[CandleRow]:
    out: list[CandleRow] = []
    for open_ms in range(first, end, iv):
        found = buckets.get(open_ms)
        closed = open_ms + iv <= now_ms
        if found is not None:
            o, h, low, c, v = found
            out.append(CandleRow(open_ms, o, h, low, c, v, closed))
            previous = c
        elif previous is not None:
            out.append(CandleRow(open_ms, previous, previous, previous, previous, Decimal(0),
                                 closed))
    return out


class CandleRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def candles(self, market: str, interval: str, start_ms: int | None,
                      end_ms: int | None, now_ms: int) -> list[CandleRow]:
        if not market:
            raise InvalidQuery("market", "is required")
        iv, first, end = bucket_range(interval, start_ms, end_ms, now_ms)
        params = {"market": market, "iv": iv, "start": first, "end": end}
        async with self._engine.connect() as conn:
            rows = (await conn.execute(_BUCKETS, params)).all()
            previous = (await conn.execute(_PREVIOUS_CLOSE, params)).scalar_one_or_none()
        buckets = {int(r.bucket): (r.open, r.high, r.low, r.close, r.volume) for r in rows}
        return fill_gaps(buckets, previous, iv, first, end, now_ms)
