"""History queries: one user's orders, fills, closed positions, funding and ledger, and a
market's public trades. Newest first, ``limit`` rows (default 100, at most 1000) with
ids below ``before`` when given. The ``user_id`` filter is always applied by the caller's
verified identity, never by a request field, so another user's rows are never read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Row, Select, Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh_runtime.ascii_digits import NotAsciiDigits, parse_ascii_uint
from persistence_svc import schema

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


def _paged(table: Table, key: Column[Any], owner: Column[Any], owner_value: str,
           page: Page) -> Select[Any]:
    query = select(table).where(owner == owner_value)
    if page.market and owner is not table.c.market:
        query = query.where(table.c.market == page.market)
    if page.before is not None:
        query = query.where(key < page.before)
    return query.order_by(key.desc()).limit(page.limit)


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
        return await self._rows(_paged(t, t.c.order_id, t.c.user_id, user_id, page))

    async def fills(self, user_id: str, page: Page) -> Sequence[Row[Any]]:
        t = schema.fills
        return await self._rows(_paged(t, t.c.fill_id, t.c.user_id, user_id, page))

    async def closed_positions(self, user_id: str, page: Page) -> Sequence[Row[Any]]:
        t = schema.closed_positions
        return await self._rows(_paged(t, t.c.id, t.c.user_id, user_id, page))

    async def funding(self, user_id: str, page: Page) -> Sequence[Row[Any]]:
        t = schema.funding_payments
        return await self._rows(_paged(t, t.c.id, t.c.user_id, user_id, page))

    async def ledger(self, user_id: str, page: Page) -> Sequence[Row[Any]]:
        t = schema.ledger
        return await self._rows(_paged(t, t.c.id, t.c.user_id, user_id, page))

    async def trades(self, page: Page) -> Sequence[Row[Any]]:
        if not page.market:
            raise InvalidQuery("market", "is required")
        t = schema.trades
        return await self._rows(_paged(t, t.c.trade_id, t.c.market, page.market, page))
