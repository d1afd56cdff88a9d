"""The ``trademesh.v1.Persistence`` servicer: convert the request, call a repository,
convert the result. Who may call each rpc is its declared call policy, enforced before the
servicer runs (``SyncEvents`` the engine only, ``CreateUser``/``GetUser`` the gateway only,
history a user with a valid, unrevoked token); history is scoped to that verified user
(:func:`~mesh_runtime.call_policy.current_caller`). ``CreateUser`` refuses the deprecated
``admin`` flag: admin accounts are made by ``trademesh user create --admin`` only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc
from sqlalchemy import Row
from trademesh.v1 import persistence_pb2 as pb
from trademesh.v1 import persistence_pb2_grpc

from mesh_runtime.call_policy import current_caller
from persistence_svc import codec, errors
from persistence_svc.activity import ActivityRepository
from persistence_svc.candles import CandleRepository
from persistence_svc.event_writer import EventWriter
from persistence_svc.history import HistoryRepository, InvalidQuery, Page
from persistence_svc.sync_stream import SyncStream
from persistence_svc.users import EmailTaken, UserRecord, UserRepository

Context = grpc.aio.ServicerContext[Any, Any]
M = TypeVar("M")
Fetch = Callable[[str, Page], Awaitable[Sequence[Row[Any]]]]


class PersistenceServicer(persistence_pb2_grpc.PersistenceServicer):
    def __init__(self, writer: EventWriter, history: HistoryRepository,
                 candles: CandleRepository, users: UserRepository,
                 clock_ms: Callable[[], int], *, activity: ActivityRepository) -> None:
        self._writer = writer
        self._activity = activity
        self._history = history
        self._candles = candles
        self._users = users
        self._clock = clock_ms

    async def SyncEvents(self, request_iterator: AsyncIterator[pb.SyncEventsRequest],
                         context: Context) -> AsyncIterator[pb.SyncEventsResponse]:
        async def refuse() -> None:
            await errors.abort(context, errors.status(
                grpc.StatusCode.FAILED_PRECONDITION, "HELLO_REQUIRED",
                "send engine_id before the first batch"))

        async for answer in SyncStream(self._writer, request_iterator, refuse).answers():
            yield answer

    async def CreateUser(self, request: pb.CreateUserRequest,
                         context: Context) -> pb.CreateUserResponse:
        if request.admin:  # deprecated: never honored from the wire
            await errors.abort(context, errors.status(
                grpc.StatusCode.INVALID_ARGUMENT, "ADMIN_NOT_ALLOWED",
                "admin: accounts cannot be made admin over the API "
                "(use `trademesh user create --admin`)", "admin"))
        try:
            record = await self._users.create(request.email, request.password_hash)
        except InvalidQuery as err:
            await errors.abort(context, errors.invalid(err))
        except EmailTaken:
            await errors.abort(context, errors.status(
                grpc.StatusCode.ALREADY_EXISTS, "EMAIL_TAKEN", "email: already registered",
                "email"))
        return pb.CreateUserResponse(user=codec.user(record))

    async def GetUser(self, request: pb.GetUserRequest, context: Context) -> pb.GetUserResponse:
        key = request.WhichOneof("key")
        record: UserRecord | None = None
        if key == "id":
            record = await self._users.by_id(request.id)
        elif key == "email":
            record = await self._users.by_email(request.email)
        if record is None:
            await errors.abort(context, errors.status(
                grpc.StatusCode.NOT_FOUND, "USER_NOT_FOUND", "no such user"))
        return pb.GetUserResponse(user=codec.user(record), password_hash=record.password_hash)

    async def _page(self, request: Any, context: Context, fetch: Fetch,
                    convert: Callable[[Row[Any]], M]) -> list[M]:
        user_id = current_caller().user_id
        if user_id is None:  # the history methods' policy admits users only
            await errors.abort(context, errors.status(
                grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED", "a user token is required"))
        try:
            rows = await fetch(user_id, Page.of_request(request))
        except InvalidQuery as err:
            await errors.abort(context, errors.invalid(err))
        return [convert(r) for r in rows]

    async def ListOrderHistory(self, request: pb.ListOrderHistoryRequest,
                               context: Context) -> pb.ListOrderHistoryResponse:
        found = await self._page(request, context, self._history.orders, codec.order)
        return pb.ListOrderHistoryResponse(orders=found)

    async def ListFills(self, request: pb.ListFillsRequest,
                        context: Context) -> pb.ListFillsResponse:
        return pb.ListFillsResponse(
            fills=await self._page(request, context, self._history.fills, codec.fill))

    async def ListClosedPositions(self, request: pb.ListClosedPositionsRequest,
                                  context: Context) -> pb.ListClosedPositionsResponse:
        found = await self._page(request, context, self._history.closed_positions,
                                 codec.closed_position)
        return pb.ListClosedPositionsResponse(positions=found)

    async def ListFundingPayments(self, request: pb.ListFundingPaymentsRequest,
                                  context: Context) -> pb.ListFundingPaymentsResponse:
        found = await self._page(request, context, self._history.funding, codec.funding)
        return pb.ListFundingPaymentsResponse(payments=found)

    async def ListLedger(self, request: pb.ListLedgerRequest,
                         context: Context) -> pb.ListLedgerResponse:
        found = await self._page(request, context, self._history.ledger, codec.ledger_entry)
        return pb.ListLedgerResponse(entries=found)

    async def ListLiquidations(self, request: pb.ListLiquidationsRequest,
                               context: Context) -> pb.ListLiquidationsResponse:
        found = await self._page(request, context, self._history.liquidations,
                                 codec.liquidation)
        return pb.ListLiquidationsResponse(liquidations=found)

    async def ListTrades(self, request: pb.ListTradesRequest,
                         context: Context) -> pb.ListTradesResponse:
        try:
            rows = await self._history.trades(
                Page.of(request.market, request.limit, request.before))
        except InvalidQuery as err:
            await errors.abort(context, errors.invalid(err))
        if not rows:
            await self._known_market(context, request.market)
        return pb.ListTradesResponse(trades=[codec.trade(r) for r in rows])

    async def _known_market(self, context: Context, market: str) -> None:
        """A well-formed market that is not listed is NOT_FOUND (asked only when it has
        no rows: one with rows exists)."""
        if not await self._history.market_exists(market):
            await errors.abort(context, errors.status(
                grpc.StatusCode.NOT_FOUND, "UNKNOWN_MARKET", f"market: unknown market "
                f"{market!r}", "market"))

    async def GetCandles(self, request: pb.GetCandlesRequest,
                         context: Context) -> pb.GetCandlesResponse:
        start = codec.ms(request.start) if request.HasField("start") else None
        end = codec.ms(request.end) if request.HasField("end") else None
        try:
            rows = await self._candles.candles(request.market, request.interval, start, end,
                                               self._clock())
        except InvalidQuery as err:
            await errors.abort(context, errors.invalid(err))
        if not rows:
            await self._known_market(context, request.market)
        return pb.GetCandlesResponse(
            candles=[codec.candle(request.market, request.interval, c) for c in rows])

    async def GetMarketActivity(self, request: pb.GetMarketActivityRequest,
                                context: Context) -> pb.GetMarketActivityResponse:
        try:
            found = await self._activity.activity(request.market, codec.ms(request.since),
                                                  self._clock())
        except InvalidQuery as err:
            await errors.abort(context, errors.invalid(err))
        return pb.GetMarketActivityResponse(
            candles=[codec.candle(request.market, "1m", c) for c in found.candles],
            last_price=codec.dec(found.last_price),
            last_trade_id=found.last_trade_id)
