"""The ``trademesh.v1.Engine`` servicer: convert the request, call the sequencer, convert
the result. Writes go through the sequencer (journaled before they are answered); reads
are served from the in-memory state. Who may call each rpc is its declared call policy,
enforced before the servicer runs; the caller's identity is the verified token's subject
(:func:`~mesh_runtime.call_policy.current_caller`), so a user only ever sees and touches
their own orders and balances.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from trademesh.v1 import engine_pb2, engine_pb2_grpc

from engine_svc import account_summary, close_requests, codec, errors, order_wire, request_codec
from engine_svc.core import commands as cmd
from engine_svc.core.commands import Command
from engine_svc.core.enums import RejectReason
from engine_svc.core.events import Event, TransferRejected
from engine_svc.core.units import ValidationError
from engine_svc.core_build import core_build
from engine_svc.depth_views import DepthViews
from engine_svc.market_rpcs import MarketRpcs
from engine_svc.order_views import OrderRecord
from engine_svc.registry_rpcs import RegistryRpcs
from engine_svc.sequencer import EngineUnavailable, Sequencer
from engine_svc.stream_placement import StreamPlacement
from engine_svc.trigger_calls import TriggerCalls
from mesh_runtime.call_policy import current_caller
from mesh_runtime.revocation import TokenCheck

Context = grpc.aio.ServicerContext[Any, Any]


def _rejection(events: list[Event]) -> errors.DomainError | None:
    reason = codec.rejected(events)
    return None if reason is None else errors.rejection(reason)


def _refusal_wire(reason: RejectReason) -> bytes:
    """A streamed order's ``PlaceOrderResult`` wire bytes: the core's refusal."""
    return errors.rejection(reason).placement_result()


class EngineServicer(MarketRpcs, RegistryRpcs, engine_pb2_grpc.EngineServicer):
    def __init__(self, sequencer: Sequencer, clock_ms: Callable[[], int],
                 persisted: Callable[[], tuple[int, bool]] = lambda: (0, False),
                 core: str | None = None, *, depth: DepthViews | None = None,
                 tokens: TokenCheck | None = None) -> None:
        self._seq = sequencer
        if depth is None:  # no publisher shares its views: follow the batches alone
            depth = DepthViews(sequencer)
            sequencer.add_listener(depth)
        self._depth = depth  # REST depth and depth@M: one sequence per market
        self._core = core or core_build()  # "compiled" or "interpreted"
        self._clock = clock_ms
        self._persisted = persisted  # (committed event sequence, link connected)
        self._streamed = StreamPlacement(
            sequencer, clock_ms, self._whole_order_wire,
            order_wire.ExecutionAnswers(lambda: sequencer.config, _refusal_wire))
        self._triggers = TriggerCalls(sequencer, clock_ms)
        self._tokens = tokens  # relayed orders' tokens (None: RelayOrders refuses them all)

    async def _readable(self, context: Context) -> None:
        """Reads are refused while the state is being rebuilt after a journal failure."""
        if not self._seq.healthy:
            await errors.abort(context, errors.unavailable("the engine is recovering"))

    async def _user(self, context: Context) -> str:
        """The verified caller's user id (the user-only methods' policy guarantees one)."""
        user_id = current_caller().user_id
        if user_id is None:
            await errors.abort(context, errors.unauthenticated("a user token is required"))
        return user_id

    async def _apply(self, context: Context, command: Command,
                     render: Callable[[list[Event], list[OrderRecord]], Any]) -> Any:
        try:
            result = await self._seq.submit(command, render)
        except EngineUnavailable as err:
            await errors.abort(context, errors.unavailable(str(err)))
        if isinstance(result, errors.DomainError):
            await errors.abort(context, result)
        return result

    def _order_result(self, events: list[Event],
                      records: list[OrderRecord]) -> Any:
        rejected = _rejection(events)
        if rejected is not None:
            return rejected
        return codec.order(records[0], self._config) if records else \
            errors.rejection(RejectReason.ORDER_NOT_FOUND)

    def _whole_order_wire(self, events: list[Event], records: list[OrderRecord]) -> bytes:
        """A streamed order's ``PlaceOrderResult`` wire bytes: the whole order."""
        result = self._order_result(events, records)
        if isinstance(result, errors.DomainError):
            return result.placement_result()
        return order_wire.order_result(result.SerializeToString())

    async def Deposit(self, request: engine_pb2.DepositRequest,
                      context: Context) -> engine_pb2.DepositResponse:
        user = await self._user(context)
        try:
            spec, units = request_codec.amount(self._config, request.asset, request.amount)
            tx = request_codec.identifier(request.transaction_id, "transactionId",
                                  request_codec.MAX_TRANSACTION_ID, required=True)
        except ValidationError as err:
            await errors.abort(context, errors.invalid(err))
        assert tx is not None
        command = cmd.Deposit(user_id=user, asset=spec.symbol, amount=units, tx_id=tx,
                          ts=self._clock())

        def render(events: list[Event], _: list[OrderRecord]) -> Any:
            duplicate = any(isinstance(e, TransferRejected) for e in events)
            return _rejection(events) or engine_pb2.DepositResponse(
                balances=codec.balances(self._config, self._seq.engine.balances(user)),
                duplicate=duplicate)

        return await self._apply(context, command, render)  # type: ignore[no-any-return]

    async def Withdraw(self, request: engine_pb2.WithdrawRequest,
                       context: Context) -> engine_pb2.WithdrawResponse:
        user = await self._user(context)
        try:
            spec, units = request_codec.amount(self._config, request.asset, request.amount)
            tx = request_codec.identifier(request.transaction_id, "transactionId",
                                  request_codec.MAX_TRANSACTION_ID)
        except ValidationError as err:
            await errors.abort(context, errors.invalid(err))
        command = cmd.Withdraw(user_id=user, asset=spec.symbol, amount=units, tx_id=tx,
                           ts=self._clock())

        def render(events: list[Event], _: list[OrderRecord]) -> Any:
            return _rejection(events) or engine_pb2.WithdrawResponse(
                balances=codec.balances(self._config, self._seq.engine.balances(user)))

        return await self._apply(context, command, render)  # type: ignore[no-any-return]

    async def GetBalances(self, request: engine_pb2.GetBalancesRequest,
                          context: Context) -> engine_pb2.GetBalancesResponse:
        await self._readable(context)
        user = await self._user(context)
        return engine_pb2.GetBalancesResponse(
            balances=codec.balances(self._config, self._seq.engine.balances(user)))

    async def GetPositions(self, request: engine_pb2.GetPositionsRequest,
                           context: Context) -> engine_pb2.GetPositionsResponse:
        await self._readable(context)
        user = await self._user(context)
        if request.market:
            await self._market(context, request.market)
        out = []
        engine = self._seq.engine
        for market, risk in engine.position_risks(user).items():
            if risk.size == 0 or (request.market and market != request.market):
                continue
            out.append(codec.position(self._config.markets[market], user, risk))
        for pid, risk in engine.isolated_risks(user).items():
            if risk.size == 0 or (request.market and risk.market != request.market):
                continue
            out.append(codec.position(self._config.markets[risk.market], user, risk, pid))
        return engine_pb2.GetPositionsResponse(positions=out)

    async def GetAccountSummary(self, request: engine_pb2.GetAccountSummaryRequest,
                                context: Context) -> engine_pb2.GetAccountSummaryResponse:
        await self._readable(context)
        user = await self._user(context)
        return engine_pb2.GetAccountSummaryResponse(
            summary=account_summary.summary(self._seq.engine, self._config, user))

    async def PlaceOrder(self, request: engine_pb2.PlaceOrderRequest,
                         context: Context) -> engine_pb2.PlaceOrderResponse:
        """Places the order; its stopLoss/takeProfit arm with it and follow its fills."""
        user = await self._user(context)
        command = await self._place_command(context, request, user)
        order = await self._apply(context, command, self._order_result)
        return engine_pb2.PlaceOrderResponse(order=order)

    async def _place_command(self, context: Context, request: engine_pb2.PlaceOrderRequest,
                             user: str) -> cmd.PlaceOrder:
        try:
            return request_codec.place_order(request, self._config, user, self._clock())
        except ValidationError as err:
            await errors.abort(context, errors.invalid(err))

    async def GetOrder(self, request: engine_pb2.GetOrderRequest,
                       context: Context) -> engine_pb2.GetOrderResponse:
        await self._readable(context)
        user = await self._user(context)
        record = self._seq.views.get(user, await self._order_id(context, request.order_id))
        if record is None:
            await errors.abort(context, errors.rejection(RejectReason.ORDER_NOT_FOUND))
        return engine_pb2.GetOrderResponse(order=codec.order(record, self._config))

    async def _order_id(self, context: Context, raw: str) -> int:
        """A malformed id is INVALID_ARGUMENT naming ``orderId``; a well-formed one that no
        order can have is ORDER_NOT_FOUND, like any id the caller has no order under."""
        try:
            oid = request_codec.order_id(raw)
        except ValidationError as err:
            await errors.abort(context, errors.invalid(err))
        if oid == 0:
            await errors.abort(context, errors.rejection(RejectReason.ORDER_NOT_FOUND))
        return oid

    async def ListOpenOrders(self, request: engine_pb2.ListOpenOrdersRequest,
                             context: Context) -> engine_pb2.ListOpenOrdersResponse:
        await self._readable(context)
        user = await self._user(context)
        if request.market:
            await self._market(context, request.market)
        views = self._seq.views
        records = [views.get(user, o.order_id)
                   for o in self._seq.engine.open_orders(user, request.market or None)]
        return engine_pb2.ListOpenOrdersResponse(
            orders=[codec.order(r, self._config) for r in records if r is not None])

    async def ReplaceOrder(self, request: engine_pb2.ReplaceOrderRequest,
                           context: Context) -> engine_pb2.ReplaceOrderResponse:
        await self._readable(context)
        user = await self._user(context)
        oid = await self._order_id(context, request.order_id)
        record = self._seq.views.get(user, oid)
        if record is None:
            await errors.abort(context, errors.rejection(RejectReason.ORDER_NOT_FOUND))
        command = await self._replace_command(context, request, record)
        order = await self._apply(context, command, self._order_result)
        return engine_pb2.ReplaceOrderResponse(order=order)

    async def _replace_command(self, context: Context, request: engine_pb2.ReplaceOrderRequest,
                               record: OrderRecord) -> cmd.ReplaceOrder:
        spec = self._config.markets[record.market]
        try:
            if not request.price and not request.quantity:
                raise ValidationError("price", "REQUIRED", "give a new price or quantity")
            price = request_codec.ticks(spec, request.price) if request.price else None
            open_lots = None
            if request.quantity:
                total = request_codec.lots(spec, request.quantity)
                if total <= record.filled:
                    raise ValidationError("quantity", "TOO_SMALL",
                                          "must exceed the quantity already filled")
                open_lots = total - record.filled
        except ValidationError as err:
            await errors.abort(context, errors.invalid(err))
        return cmd.ReplaceOrder(user_id=record.user_id, order_id=record.order_id, price=price,
                            quantity=open_lots, ts=self._clock())

    async def CancelOrder(self, request: engine_pb2.CancelOrderRequest,
                          context: Context) -> engine_pb2.CancelOrderResponse:
        user = await self._user(context)
        oid = await self._order_id(context, request.order_id)
        command = cmd.CancelOrder(user_id=user, order_id=oid, ts=self._clock())
        order = await self._apply(context, command, self._order_result)
        return engine_pb2.CancelOrderResponse(order=order)

    async def CancelOrderByClientId(
        self, request: engine_pb2.CancelOrderByClientIdRequest, context: Context
    ) -> engine_pb2.CancelOrderByClientIdResponse:
        user = await self._user(context)
        try:
            coid = request_codec.identifier(request.client_order_id, "clientOrderId",
                                    request_codec.MAX_CLIENT_ORDER_ID, required=True)
        except ValidationError as err:
            await errors.abort(context, errors.invalid(err))
        assert coid is not None
        command = cmd.CancelByClientId(user_id=user, client_order_id=coid, ts=self._clock())
        order = await self._apply(context, command, self._order_result)
        return engine_pb2.CancelOrderByClientIdResponse(order=order)

    async def CancelAllOrders(self, request: engine_pb2.CancelAllOrdersRequest,
                              context: Context) -> engine_pb2.CancelAllOrdersResponse:
        user = await self._user(context)
        if request.market:
            await self._market(context, request.market)
        command = cmd.CancelAll(user_id=user, market=request.market or None, ts=self._clock())

        def render(events: list[Event], records: list[OrderRecord]) -> Any:
            return engine_pb2.CancelAllOrdersResponse(
                orders=[codec.order(r, self._config) for r in records])

        return await self._apply(context, command, render)  # type: ignore[no-any-return]

    async def QuoteOrder(self, request: engine_pb2.QuoteOrderRequest,
                         context: Context) -> engine_pb2.QuoteOrderResponse:
        await self._readable(context)
        await self._user(context)
        spec = await self._market(context, request.market)
        try:
            side = request_codec.side(request.side)
            if not request.quantity:
                raise ValidationError("quantity", "REQUIRED", "is required")
            lots = request_codec.lots(spec, request.quantity)
        except ValidationError as err:
            await errors.abort(context, errors.invalid(err))
        return codec.quote(spec, self._seq.engine.quote(spec.symbol, side, lots))

    async def ClosePosition(self, request: engine_pb2.ClosePositionRequest,
                            context: Context) -> engine_pb2.ClosePositionResponse:
        await self._readable(context)
        user = await self._user(context)
        spec = await self._market(context, request.market)
        try:
            command = close_requests.close_command(
                self._seq.engine, spec, user, request.position_id, request.quantity,
                request.percent, request.slippage_bps, self._clock())
        except ValidationError as err:
            await errors.abort(context, errors.invalid(err))
        except close_requests.NothingToClose as nothing:
            await errors.abort(context, errors.rejection(nothing.reason))
        order = await self._apply(context, command, self._order_result)
        return engine_pb2.ClosePositionResponse(order=order)

    async def GetEngineStatus(self, request: engine_pb2.GetEngineStatusRequest,
                              context: Context) -> engine_pb2.GetEngineStatusResponse:
        engine = self._seq.engine
        committed, connected = self._persisted()
        return engine_pb2.GetEngineStatusResponse(
            command_sequence=engine.last_seq, event_sequence=engine.event_seq,
            persisted_sequence=committed, persistence_lag=max(0, engine.event_seq - committed),
            persistence_connected=connected, healthy=self._seq.healthy,
            core_build=self._core, max_open_orders=engine.max_open_orders)

    async def PlaceOrders(self, request_iterator: AsyncIterator[engine_pb2.PlaceOrdersRequest],
                          context: Context) -> AsyncIterator[engine_pb2.PlaceOrdersResponse]:
        """Streamed placement (:mod:`engine_svc.stream_placement`): each message's orders
        go to the sequencer as it arrives; answers leave in order."""
        user = await self._user(context)
        async for answer in self._streamed.answers(request_iterator, user):
            if isinstance(answer, errors.DomainError):
                await errors.abort(context, answer)
            yield answer

    async def RelayOrders(self, request_iterator: AsyncIterator[engine_pb2.RelayOrdersRequest],
                          context: Context) -> AsyncIterator[engine_pb2.RelayOrdersResponse]:
        """The gateway's REST orders, each placed as its own token's verified subject
        (:meth:`StreamPlacement.relayed`)."""
        if self._tokens is None:
            await errors.abort(context, errors.unavailable("this engine accepts no tokens"))
        async for answer in self._streamed.relayed(request_iterator, self._tokens):
            if isinstance(answer, errors.DomainError):
                await errors.abort(context, answer)
            yield answer

    async def ListTriggers(self, request: engine_pb2.ListTriggersRequest,
                           context: Context) -> engine_pb2.ListTriggersResponse:
        await self._readable(context)
        user = await self._user(context)
        try:
            return self._triggers.list(request, user)
        except errors.DomainError as err:
            await errors.abort(context, err)

    async def PlaceTrigger(self, request: engine_pb2.PlaceTriggerRequest,
                           context: Context) -> engine_pb2.PlaceTriggerResponse:
        await self._readable(context)
        user = await self._user(context)
        try:
            return await self._triggers.place(request, user)
        except errors.DomainError as err:
            await errors.abort(context, err)

    async def MoveTrigger(self, request: engine_pb2.MoveTriggerRequest,
                          context: Context) -> engine_pb2.MoveTriggerResponse:
        await self._readable(context)
        user = await self._user(context)
        try:
            return await self._triggers.move(request, user)
        except errors.DomainError as err:
            await errors.abort(context, err)

    async def CancelTrigger(self, request: engine_pb2.CancelTriggerRequest,
                            context: Context) -> engine_pb2.CancelTriggerResponse:
        await self._readable(context)
        user = await self._user(context)
        try:
            return await self._triggers.cancel(request, user)
        except errors.DomainError as err:
            await errors.abort(context, err)
