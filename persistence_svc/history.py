"""History queries: one user's orders, fills, closed positions, funding, ledger and
liquidations, and a market's public trades. Newest first, ``limit`` rows (default 100, at
most 1000) with ids below ``before`` when given; optionally only one ``side`` (rows that
have one), one order ``status``, and times ``from <= t < to`` (each table's time: an
order's creation, a fill's or trade's time, a position's closing, a payment's, a ledger
entry's, a liquidation's), and one isolated ``position_id`` (orders, closed positions,
funding payments and liquidations carry it; a fill is its order's, so fills are those of
the caller's orders that carry it). The ``user_id`` filter is always applied by the caller's
verified identity, never by a request field, so another user's rows are never read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Column, ColumnElement, Row, Select, Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh_runtime.ascii_digits import NotAsciiDigits, parse_ascii_uint
from mesh_runtime.builtin_markets import BUILTIN_MARKETS
from persistence_svc import schema
from persistence_svc.history_filters import Filters, filters

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class InvalidQuery(ValueError):
    """A request field that cannot be used: ``field`` names it by its JSON name."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Page:
    market: str
    limit: int
    before: int | None
    only: Filters = field(default_factory=Filters)

    @classmethod
    def of(cls, market: str, limit: int, before: str) -> Page:
        if limit > MAX_LIMIT:
            raise InvalidQuery("limit", f"at most {MAX_LIMIT}")
        cursor = None
        if before:
            try:
                cursor = parse_ascii_uint(before)
            except NotAsciiDigits:
                raise InvalidQuery("before", "must be an id from a previous page") from None
        return cls(market, limit or DEFAULT_LIMIT, cursor)

    @classmethod
    def of_request(cls, request: Any) -> Page:
        """A history request's page and filters (the fields its message has)."""
        page = cls.of(request.market, request.limit, request.before)
        return replace(page, only=filters(request, InvalidQuery))


def _paged(table: Table, key: Column[Any], owner: Column[Any], owner_value: str,
           page: Page, time: Column[Any] | None = None) -> Select[Any]:
    query = select(table).where(owner == owner_value)
    if page.market and owner is not table.c.market:
        query = query.where(table.c.market == page.market)
    if page.before is not None:
        query = query.where(key < page.before)
    only = page.only
    if only.side is not None:
        query = query.where(table.c.side == only.side)
    if only.status is not None:
        query = query.where(table.c.status == only.status)
    if time is not None and only.start_ms is not None:
        query = query.where(time >= only.start_ms)
    if time is not None and only.end_ms is not None:
        query = query.where(time < only.end_ms)
    if only.position_id is not None:
        query = query.where(_of_position(table, owner_value, only.position_id))
    return query.order_by(key.desc()).limit(page.limit)


def _of_position(table: Table, user_id: str, position_id: str) -> ColumnElement[bool]:
    """The rows of one isolated position: its own column where the table has one, else
    (fills) those of the user's orders that opened or reduced it."""
    if "position_id" in table.c:
        return table.c.position_id == position_id
    orders = schema.orders
    return table.c.order_id.in_(select(orders.c.order_id).where(
        orders.c.user_id == user_id, orders.c.position_id == position_id))


class HistoryRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def _rows(self, query: Select[Any]) -> Sequence[Row[Any]]:
        async with self._engine.connect() as conn:
            result = await conn.execute(query)
            rows: Sequence[Row[Any]] = result.all()
            return rows

    async def orders(self, user_id: str, page: Page) -> Sequence[Row[Any]]:
        t = schema.orders
        return await self._rows(_paged(t, t.c.order_id, t.c.user_id, user_id, page,
                                       t.c.created_ms))

    async def fills(self, user_id: str, page: Page) -> Sequence[Row[Any]]:
        t = schema.fills
        return await self._rows(_paged(t, t.c.fill_id, t.c.user_id, user_id, page, t.c.ts_ms))

    async def closed_positions(self, user_id: str, page: Page) -> Sequence[Row[Any]]:
        t = schema.closed_positions
        return await self._rows(_paged(t, t.c.id, t.c.user_id, user_id, page, t.c.closed_ms))

    async def funding(self, user_id: str, page: Page) -> Sequence[Row[Any]]:
        t = schema.funding_payments
        return await self._rows(_paged(t, t.c.id, t.c.user_id, user_id, page, t.c.ts_ms))

    async def ledger(self, user_id: str, page: Page) -> Sequence[Row[Any]]:
        t = schema.ledger
        return await self._rows(_paged(t, t.c.id, t.c.user_id, user_id, page, t.c.ts_ms))

    async def liquidations(self, user_id: str, page: Page) -> Sequence[Row[Any]]:
        """Paged by the liquidation id the client sees (the event's sequence)."""
        t = schema.liquidations
        return await self._rows(_paged(t, t.c.event_seq, t.c.user_id, user_id, page,
                                       t.c.ts_ms))

    async def trades(self, page: Page) -> Sequence[Row[Any]]:
        if not page.market:
            raise InvalidQuery("market", "is required")
        t = schema.trades
        return await self._rows(_paged(t, t.c.trade_id, t.c.market, page.market, page))

    async def market_exists(self, market: str) -> bool:
        """A built-in market, or one added at runtime (its registry row)."""
        if market in BUILTIN_MARKETS:
            return True
        m = schema.markets
        return bool(await self._rows(select(m.c.symbol).where(m.c.symbol == market)))
