"""History filtered by isolated position (``position_id``, JSON ``positionId``) over real
gRPC and PostgreSQL.

The stream of :mod:`tests.unit.persistence.isolated_stream`: user ``u`` holds, in SOL-PERP,
a cross long (order 2) and two isolated longs, position 3 (opened by order 3, reduced by
orders 6 and 8, closed) and position 4 (opened by order 4, liquidated); funding on all
three; ``mm`` is the counterparty of every fill. Each filter must tell the three apart,
combine with the other filters and paging, and read ``"003"`` as 3; an id nobody has is an
empty page; a malformed one is INVALID_ARGUMENT naming ``positionId``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from persistence_harness import Persistence
from test_history_filters import field_of
from test_queries import auth
from trademesh.v1 import order_pb2
from trademesh.v1 import persistence_pb2 as pb

from mesh_runtime.config import Settings
from mesh_runtime.tokens import TokenSigner
from persistence_svc.db import create_engine
from persistence_svc.event_writer import EventWriter
from tests.unit.persistence import isolated_stream as s

Metadata = tuple[tuple[str, str], ...]


@pytest.fixture
async def recorded(settings: Settings, persistence: Persistence) -> None:
    """The isolated stream committed (persistence has migrated the database)."""
    db = create_engine(settings.postgres_dsn)
    try:
        writer = EventWriter(db)
        assert await writer.committed("e1") == 0  # the engine's sync row
        parts = s.batches()
        for part in parts:
            await writer.commit("e1", part)
        assert await writer.committed("e1") == parts[-1][-1].sequence
    finally:
        await db.dispose()


class History:
    """One user's five position-filterable histories, as the ids that tell rows apart."""

    def __init__(self, stub: Any, user: Metadata) -> None:
        self.stub = stub
        self.user = user

    async def orders(self, **filters: Any) -> list[str]:
        answer = await self.stub.ListOrderHistory(pb.ListOrderHistoryRequest(**filters),
                                                  metadata=self.user)
        return [o.order_id for o in answer.orders]

    async def fills(self, **filters: Any) -> list[str]:
        answer = await self.stub.ListFills(pb.ListFillsRequest(**filters), metadata=self.user)
        return [f.order_id for f in answer.fills]

    async def closed(self, **filters: Any) -> list[str]:
        answer = await self.stub.ListClosedPositions(pb.ListClosedPositionsRequest(**filters),
                                                     metadata=self.user)
        return [p.position_id for p in answer.positions]

    async def funding(self, **filters: Any) -> list[str]:
        answer = await self.stub.ListFundingPayments(pb.ListFundingPaymentsRequest(**filters),
                                                     metadata=self.user)
        return [f.amount for f in answer.payments]

    async def liquidations(self, **filters: Any) -> list[str]:
        answer = await self.stub.ListLiquidations(pb.ListLiquidationsRequest(**filters),
                                                  metadata=self.user)
        return [q.liquidation_id for q in answer.liquidations]

    def all(self) -> list[Callable[..., Awaitable[list[str]]]]:
        return [self.orders, self.fills, self.closed, self.funding, self.liquidations]


async def test_each_history_tells_the_positions_apart(
        recorded: None, persistence: Persistence, signer: TokenSigner) -> None:
    u = History(persistence.stub, auth(signer, "u"))
    # unfiltered, the cross position's rows are there too
    assert await u.orders() == ["8", "6", "4", "3", "2"]
    assert await u.fills() == ["8", "6", "4", "3", "2"]
    assert await u.funding() == ["-0.06", "-0.04", "-0.1"]

    assert await u.orders(position_id="3") == ["8", "6", "3"]  # opened, reduced twice
    assert await u.orders(position_id="4") == ["4"]
    assert await u.fills(position_id="3") == ["8", "6", "3"]  # its orders' fills
    assert await u.fills(position_id="4") == ["4"]
    assert await u.closed(position_id="3") == ["3"]
    assert await u.closed(position_id="4") == ["4"]
    assert await u.funding(position_id="3") == ["-0.04"]
    assert await u.funding(position_id="4") == ["-0.06"]
    assert await u.liquidations(position_id="4") == ["99"]
    assert await u.liquidations(position_id="3") == []

    # leading zeros are read as the number (as an order id is): "003" is position 3
    assert await u.orders(position_id="003") == ["8", "6", "3"]
    assert await u.fills(position_id="0004") == ["4"]
    # a filter, not a lookup: an id nobody has (or "0", which no order has) is an empty page
    for unknown in ("41", "0", "9999999999999999999"):
        for history in u.all():
            assert await history(position_id=unknown) == [], (history, unknown)
    # another user's position is not the caller's: mm took the other side of every fill
    mm = History(persistence.stub, auth(signer, "mm"))
    for history in mm.all():
        assert await history(position_id="3") == [], history
    assert len(await mm.fills()) == 5


async def test_the_position_filter_combines_with_the_others_and_pages(
        recorded: None, persistence: Persistence, signer: TokenSigner) -> None:
    u = History(persistence.stub, auth(signer, "u"))
    sell, buy = order_pb2.SELL, order_pb2.BUY
    assert await u.orders(position_id="3", side=sell) == ["8", "6"]
    assert await u.orders(position_id="3", side=buy) == ["3"]
    assert await u.fills(position_id="3", side=sell) == ["8", "6"]
    assert await u.closed(position_id="4", side=sell) == []  # position 4 was a long
    assert await u.liquidations(position_id="4", side=buy) == ["99"]
    assert await u.orders(position_id="3", market="BTC-PERP") == []
    assert await u.orders(position_id="3", market=s.SOL) == ["8", "6", "3"]
    # paging: before an id from the previous page, limit rows a page
    assert await u.orders(position_id="3", limit=2) == ["8", "6"]
    assert await u.orders(position_id="3", limit=2, before="6") == ["3"]
    fills = await persistence.stub.ListFills(pb.ListFillsRequest(position_id="3", limit=1),
                                             metadata=u.user)
    [newest] = fills.fills
    assert await u.fills(position_id="3", before=newest.fill_id) == ["6", "3"]
    # times: to is exclusive, from inclusive
    assert await u.fills(position_id="3", to_time=newest.time) == ["6", "3"]
    assert await u.fills(position_id="3", from_time=newest.time) == ["8"]
    statuses = await persistence.stub.ListOrderHistory(
        pb.ListOrderHistoryRequest(position_id="3"), metadata=u.user)
    status = statuses.orders[0].status  # whatever the stream left: the filter keeps it
    assert await u.orders(position_id="3", status=status) == [
        o.order_id for o in statuses.orders if o.status == status]


async def test_a_malformed_position_id_is_invalid_argument_naming_it(
        recorded: None, persistence: Persistence, signer: TokenSigner) -> None:
    stub, user = persistence.stub, auth(signer, "u")
    calls: list[tuple[Callable[..., Any], Any]] = [
        (stub.ListOrderHistory, pb.ListOrderHistoryRequest),
        (stub.ListFills, pb.ListFillsRequest),
        (stub.ListClosedPositions, pb.ListClosedPositionsRequest),
        (stub.ListFundingPayments, pb.ListFundingPaymentsRequest),
        (stub.ListLiquidations, pb.ListLiquidationsRequest),
    ]
    for bad in ("x1", "-3", "+3", " 3", "3 ", "3.0", "1e3", "٣", "²", "1_0",
                "1" * 20):
        for method, request in calls:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await method(request(position_id=bad), metadata=user)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (request, bad)
            assert field_of(err.value) == ["positionId"], (request, bad)
            assert "positionId" in (err.value.details() or ""), (request, bad)
