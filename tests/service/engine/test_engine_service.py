"""The Engine gRPC service end to end on loopback: real journal (Redis), real snapshots
(PostgreSQL), real tokens."""

from __future__ import annotations

import dataclasses

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from trademesh.v1 import engine_pb2, order_pb2

from engine_svc import errors
from engine_svc.core.enums import RejectReason
from tests.service.engine.conftest import EngineHarness


def _limit(market: str, side: int, qty: str, price: str,
           **kw: object) -> engine_pb2.PlaceOrderRequest:
    return engine_pb2.PlaceOrderRequest(market=market, side=side, type=order_pb2.LIMIT,
                                        quantity=qty, price=price, **kw)  # type: ignore[arg-type]


def _error(err: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, str, list[str]]:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    reason, fields = "", []
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                fields = [v.field for v in bad.field_violations]
    return err.code(), reason, fields


async def _fund(h: EngineHarness, user: str, asset: str, amount: str, tx: str) -> None:
    await h.stub.Deposit(engine_pb2.DepositRequest(asset=asset, amount=amount,
                                                   transaction_id=tx), metadata=h.auth(user))


async def test_markets_are_public_and_exact(harness: EngineHarness) -> None:
    reply = await harness.stub.ListMarkets(engine_pb2.ListMarketsRequest())
    symbols = {m.symbol for m in reply.markets}
    assert {"BTC-PERP", "ETH-PERP", "SOL-PERP", "SOL-USD"} <= symbols
    btc = next(m for m in reply.markets if m.symbol == "BTC-PERP")
    assert (btc.tick_size, btc.lot_size, btc.max_leverage) == ("0.1", "0.0001", 50)


async def test_deposit_is_idempotent_by_transaction_id(harness: EngineHarness) -> None:
    h = harness
    req = engine_pb2.DepositRequest(asset="USD", amount="1000.5", transaction_id="tx-1")
    first = await h.stub.Deposit(req, metadata=h.auth("alice"))
    again = await h.stub.Deposit(req, metadata=h.auth("alice"))
    assert not first.duplicate and again.duplicate
    balances = await h.stub.GetBalances(engine_pb2.GetBalancesRequest(), metadata=h.auth("alice"))
    assert [(b.asset, b.available, b.locked) for b in balances.balances] == [("USD", "1000.5", "0")]


async def test_two_users_trade_spot(harness: EngineHarness) -> None:
    h = harness
    await _fund(h, "alice", "USD", "1000", "a1")
    await _fund(h, "bob", "SOL", "10", "b1")
    ask = await h.stub.PlaceOrder(
        _limit("SOL-USD", order_pb2.SELL, "2", "100", client_order_id="s1"),
        metadata=h.auth("bob"))
    assert ask.order.status == order_pb2.NEW
    bid = await h.stub.PlaceOrder(_limit("SOL-USD", order_pb2.BUY, "1.5", "101"),
                                  metadata=h.auth("alice"))
    assert bid.order.status == order_pb2.FILLED
    assert (bid.order.filled_quantity, bid.order.average_price) == ("1.5", "100")
    assert [(f.price, f.quantity, f.liquidity) for f in bid.order.fills] == \
        [("100", "1.5", order_pb2.TAKER)]
    maker = await h.stub.GetOrder(engine_pb2.GetOrderRequest(order_id=ask.order.order_id),
                                  metadata=h.auth("bob"))
    assert (maker.order.status, maker.order.filled_quantity) == (order_pb2.PARTIALLY_FILLED, "1.5")
    alice = {b.asset: b for b in (await h.stub.GetBalances(
        engine_pb2.GetBalancesRequest(), metadata=h.auth("alice"))).balances}
    # 150 USD notional + 10 bps taker fee (0.15) spent; 1.5 SOL received
    assert (alice["USD"].available, alice["USD"].locked, alice["SOL"].available) == \
        ("849.85", "0", "1.5")


@pytest.mark.parametrize("raw", ["²", "٣", "\uff11", " 1", "1_0", "-1", "12345678901234567890"])
async def test_an_order_id_that_is_not_ascii_digits_is_invalid_argument(
        harness: EngineHarness, raw: str) -> None:
    """Issue #15: ``"²"`` (isdigit, yet int() raises) was an UNKNOWN with the exception's
    text; ``"٣"`` was read as order 3."""
    h = harness
    for call in (h.stub.GetOrder(engine_pb2.GetOrderRequest(order_id=raw), metadata=h.auth("bob")),
                 h.stub.CancelOrder(engine_pb2.CancelOrderRequest(order_id=raw),
                                    metadata=h.auth("bob")),
                 h.stub.ReplaceOrder(engine_pb2.ReplaceOrderRequest(order_id=raw, price="1"),
                                     metadata=h.auth("bob"))):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert _error(err.value) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT",
                                     ["orderId"])
        assert "ASCII digits" in (err.value.details() or "")


@pytest.mark.parametrize("raw", ["0", "9223372036854775808", "9999999999999999999"])
async def test_a_well_formed_id_no_order_can_have_is_not_found(harness: EngineHarness,
                                                                raw: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.stub.GetOrder(engine_pb2.GetOrderRequest(order_id=raw),
                                    metadata=harness.auth("bob"))
    assert _error(err.value)[:2] == (grpc.StatusCode.NOT_FOUND, "ORDER_NOT_FOUND")


async def test_a_user_cannot_see_or_touch_another_users_order(harness: EngineHarness) -> None:
    h = harness
    await _fund(h, "bob", "SOL", "10", "b1")
    ask = await h.stub.PlaceOrder(_limit("SOL-USD", order_pb2.SELL, "1", "100"),
                                  metadata=h.auth("bob"))
    oid = ask.order.order_id
    for call in (h.stub.GetOrder(engine_pb2.GetOrderRequest(order_id=oid), metadata=h.auth("eve")),
                 h.stub.CancelOrder(engine_pb2.CancelOrderRequest(order_id=oid),
                                    metadata=h.auth("eve"))):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert _error(err.value)[:2] == (grpc.StatusCode.NOT_FOUND, "ORDER_NOT_FOUND")
    canceled = await h.stub.CancelAllOrders(engine_pb2.CancelAllOrdersRequest(),
                                            metadata=h.auth("eve"))
    assert list(canceled.orders) == []
    mine = await h.stub.ListOpenOrders(engine_pb2.ListOpenOrdersRequest(), metadata=h.auth("bob"))
    assert [o.order_id for o in mine.orders] == [oid]
    done = await h.stub.CancelOrder(engine_pb2.CancelOrderRequest(order_id=oid),
                                    metadata=h.auth("bob"))
    assert done.order.status == order_pb2.CANCELED
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await h.stub.CancelOrder(engine_pb2.CancelOrderRequest(order_id=oid),
                                 metadata=h.auth("bob"))
    assert _error(again.value)[:2] == (grpc.StatusCode.ABORTED, "ORDER_ALREADY_FINAL")


@pytest.mark.parametrize(("change", "field"), [
    ({"market": ""}, "market"),
    ({"market": "DOGE-USD"}, "market"),
    ({"side": 0}, "side"),
    ({"side": 7}, "side"),
    ({"type": 0}, "type"),
    ({"quantity": ""}, "quantity"),
    ({"quantity": "-1"}, "quantity"),
    ({"quantity": "0"}, "quantity"),
    ({"quantity": "NaN"}, "quantity"),
    ({"quantity": "1e400"}, "quantity"),
    ({"quantity": "1e0"}, "quantity"),  # exact, but API.md's decimals have no exponent
    ({"price": "1E2"}, "price"),
    ({"price": "100e0"}, "price"),
    ({"quantity": "0.001"}, "quantity"),
    ({"quantity": "abc"}, "quantity"),
    ({"price": ""}, "price"),
    ({"price": "-100"}, "price"),
    ({"price": "100.0001"}, "price"),
    ({"price": "Infinity"}, "price"),
    ({"price": "99999999999999999999999"}, "price"),
    ({"leverage": 2}, "leverage"),
    ({"client_order_id": "x" * 65}, "clientOrderId"),
    ({"slippage_bps": 5}, "slippageBps"),
    ({"stop_loss": "90"}, "stopLoss"),
])
async def test_bad_orders_are_invalid_argument_naming_the_field(
    harness: EngineHarness, change: dict[str, object], field: str
) -> None:
    h = harness
    await _fund(h, "alice", "USD", "1000", "a1")
    before = h.sequencer.engine.state_hash() if h.sequencer else ""
    fields: dict[str, object] = {"market": "SOL-USD", "side": order_pb2.BUY,
                                 "type": order_pb2.LIMIT, "quantity": "1", "price": "100"}
    fields.update(change)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await h.stub.PlaceOrder(engine_pb2.PlaceOrderRequest(**fields),  # type: ignore[arg-type]
                                metadata=h.auth("alice"))
    code, reason, named = _error(err.value)
    unknown = change.get("market") == "DOGE-USD"  # well-formed, not listed: NOT_FOUND
    assert code == (grpc.StatusCode.NOT_FOUND if unknown else grpc.StatusCode.INVALID_ARGUMENT)
    assert named == [field]
    expected = {"price": "INVALID_PRICE", "quantity": "INVALID_QUANTITY",
                "leverage": "INVALID_LEVERAGE", "slippageBps": "INVALID_SLIPPAGE"}
    if change.get("market") == "DOGE-USD":
        assert reason == "UNKNOWN_MARKET"
    elif field in expected:
        assert reason == expected[field]
    assert h.sequencer is not None and h.sequencer.engine.state_hash() == before


async def test_insufficient_balance_is_a_rich_failed_precondition(harness: EngineHarness) -> None:
    h = harness
    await _fund(h, "alice", "USD", "10", "a1")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await h.stub.PlaceOrder(_limit("SOL-USD", order_pb2.BUY, "1", "100"),
                                metadata=h.auth("alice"))
    assert _error(err.value)[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "INSUFFICIENT_BALANCE")
    with pytest.raises(grpc.aio.AioRpcError) as wd:
        await h.stub.Withdraw(engine_pb2.WithdrawRequest(asset="USD", amount="11"),
                              metadata=h.auth("alice"))
    assert _error(wd.value)[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "INSUFFICIENT_BALANCE")


@pytest.mark.parametrize("metadata", [(), (("authorization", "Bearer nope"),),
                                      (("authorization", "Basic abc"),)])
async def test_private_calls_need_a_valid_token(harness: EngineHarness,
                                                metadata: tuple[tuple[str, str], ...]) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.stub.GetBalances(engine_pb2.GetBalancesRequest(), metadata=metadata)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_depth_quote_and_trades(harness: EngineHarness) -> None:
    h = harness
    await _fund(h, "mm", "SOL", "100", "m1")
    await _fund(h, "alice", "USD", "10000", "a1")
    for price, qty in (("101", "1"), ("102", "2"), ("103", "3")):
        await h.stub.PlaceOrder(_limit("SOL-USD", order_pb2.SELL, qty, price),
                                metadata=h.auth("mm"))
    depth = await h.stub.GetDepth(engine_pb2.GetDepthRequest(market="SOL-USD", limit=2))
    assert [[v.string_value for v in level.values] for level in depth.asks] == \
        [["101", "1"], ["102", "2"]]
    quote = await h.stub.QuoteOrder(engine_pb2.QuoteOrderRequest(
        market="SOL-USD", side=order_pb2.BUY, quantity="2"), metadata=h.auth("alice"))
    assert (quote.average_price, quote.worst_price, quote.fillable_quantity, quote.notional) == \
        ("101.5", "102", "2", "203")
    await h.stub.PlaceOrder(engine_pb2.PlaceOrderRequest(
        market="SOL-USD", side=order_pb2.BUY, type=order_pb2.MARKET, quantity="2",
        slippage_bps=200), metadata=h.auth("alice"))
    trades = await h.stub.GetRecentTrades(engine_pb2.GetRecentTradesRequest(market="SOL-USD"))
    assert [(t.price, t.quantity, t.taker_side) for t in trades.trades] == \
        [("102", "1", "BUY"), ("101", "1", "BUY")]
    ticker = await h.stub.GetTicker(engine_pb2.GetTickerRequest(market="SOL-USD"))
    assert (ticker.ticker.last, ticker.ticker.best_ask) == ("102", "102")


async def test_perp_position_and_close(harness: EngineHarness) -> None:
    h = harness
    await _fund(h, "mm", "USD", "100000", "m1")
    await _fund(h, "alice", "USD", "1000", "a1")
    await h.stub.PlaceOrder(_limit("SOL-PERP", order_pb2.SELL, "10", "100", leverage=5),
                            metadata=h.auth("mm"))
    await h.stub.PlaceOrder(_limit("SOL-PERP", order_pb2.BUY, "10", "100", leverage=10),
                            metadata=h.auth("alice"))
    positions = await h.stub.GetPositions(engine_pb2.GetPositionsRequest(),
                                          metadata=h.auth("alice"))
    [pos] = positions.positions
    assert (pos.market, pos.side, pos.size, pos.entry_price, pos.margin, pos.cost) == \
        ("SOL-PERP", order_pb2.BUY, "10", "100", "100", "1000")
    [short] = (await h.stub.GetPositions(engine_pb2.GetPositionsRequest(),
                                         metadata=h.auth("mm"))).positions
    assert (short.side, short.size, short.cost) == (order_pb2.SELL, "10", "-1000")
    await h.stub.PlaceOrder(_limit("SOL-PERP", order_pb2.BUY, "10", "110", leverage=5),
                            metadata=h.auth("mm"))
    closed = await h.stub.ClosePosition(engine_pb2.ClosePositionRequest(market="SOL-PERP"),
                                        metadata=h.auth("alice"))
    assert (closed.order.status, closed.order.reduce_only) == (order_pb2.FILLED, True)
    after = await h.stub.GetPositions(engine_pb2.GetPositionsRequest(), metadata=h.auth("alice"))
    assert list(after.positions) == []


async def test_streaming_placement_answers_in_order(harness: EngineHarness) -> None:
    h = harness
    h.settings = dataclasses.replace(h.settings, max_open_orders=300)  # 300 resting asks
    await h.restart()
    await _fund(h, "mm", "SOL", "1000", "m1")

    async def requests():  # type: ignore[no-untyped-def]
        for batch in range(3):
            yield engine_pb2.PlaceOrdersRequest(batch_id=batch, orders=[
                _limit("SOL-USD", order_pb2.SELL, "1", str(200 + i)) for i in range(100)]
                + [_limit("SOL-USD", order_pb2.SELL, "-1", "200")])

    replies = [r async for r in h.stub.PlaceOrders(requests(), metadata=h.auth("mm"))]
    assert [r.batch_id for r in replies] == [0, 1, 2]
    for reply in replies:
        assert [r.order.status for r in reply.results[:100]] == [order_pb2.NEW] * 100
        assert reply.results[100].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    book = await h.stub.GetDepth(engine_pb2.GetDepthRequest(market="SOL-USD", limit=200))
    assert [[v.string_value for v in lvl.values] for lvl in book.asks] == \
        [[str(200 + i), "3"] for i in range(100)]  # each message placed in order
    ids = [int(r.order.order_id) for reply in replies for r in reply.results[:100]]
    assert ids == sorted(ids) and len(set(ids)) == 300


async def test_streamed_orders_answer_whole_orders_and_refuse_triggers(
        harness: EngineHarness) -> None:
    h = harness
    await _fund(h, "mm", "SOL", "10", "m1")
    with_trigger = _limit("SOL-USD", order_pb2.SELL, "1", "201")
    with_trigger.stop_loss = "150"

    async def requests():  # type: ignore[no-untyped-def]
        yield engine_pb2.PlaceOrdersRequest(batch_id=7, full_orders=True, orders=[
            _limit("SOL-USD", order_pb2.SELL, "1", "200"), with_trigger])
        yield engine_pb2.PlaceOrdersRequest(batch_id=8, orders=[
            _limit("SOL-USD", order_pb2.SELL, "1", "202")])

    whole, lean = [r async for r in h.stub.PlaceOrders(requests(), metadata=h.auth("mm"))]
    order = whole.results[0].order
    assert (order.market, order.side, order.price, order.quantity, order.user_id) == \
        ("SOL-USD", order_pb2.SELL, "200", "1", "mm")
    assert order.HasField("create_time")
    refused = whole.results[1].error
    assert refused.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "stopLoss" in refused.message  # a spot order has none: never silently dropped
    assert (lean.results[0].order.market, lean.results[0].order.status) == ("", order_pb2.NEW)
    book = await h.stub.GetDepth(engine_pb2.GetDepthRequest(market="SOL-USD", limit=10))
    assert [lvl.values[0].string_value for lvl in book.asks] == ["200", "202"]


async def test_lean_streamed_answers_carry_fills_and_the_cores_refusals(
        harness: EngineHarness) -> None:
    """A lean answer (wire bytes written by hand) of an order that took liquidity carries
    its fills and average; one the core refused carries why, as PlaceOrder would."""
    h = harness
    await _fund(h, "mm", "SOL", "10", "m1")
    await _fund(h, "taker", "USD", "10000", "t1")
    await h.stub.PlaceOrder(_limit("SOL-USD", order_pb2.SELL, "1", "200"), metadata=h.auth("mm"))
    await h.stub.PlaceOrder(_limit("SOL-USD", order_pb2.SELL, "2", "200.5"),
                            metadata=h.auth("mm"))

    async def requests():  # type: ignore[no-untyped-def]
        yield engine_pb2.PlaceOrdersRequest(batch_id=3, orders=[
            _limit("SOL-USD", order_pb2.BUY, "2", "200.5", client_order_id="sweep"),
            _limit("SOL-USD", order_pb2.BUY, "1", "200.5", post_only=True)])

    [reply] = [r async for r in h.stub.PlaceOrders(requests(), metadata=h.auth("taker"))]
    taken = reply.results[0].order
    assert (taken.status, taken.client_order_id, taken.filled_quantity, taken.average_price) \
        == (order_pb2.FILLED, "sweep", "2", "200.25")
    assert [(f.price, f.quantity, f.liquidity, f.order_id, f.user_id, f.fee_asset)
            for f in taken.fills] == [("200", "1", order_pb2.TAKER, taken.order_id, "taker",
                                       "USD"), ("200.5", "1", order_pb2.TAKER, taken.order_id,
                                                "taker", "USD")]
    assert all(f.fee and f.HasField("time") and f.trade_id == f.fill_id for f in taken.fills)
    refused = reply.results[1]
    assert not refused.HasField("order")
    assert refused.error.code == errors.rejection(RejectReason.POST_ONLY_WOULD_TAKE).status.code
    info = error_details_pb2.ErrorInfo()
    assert any(d.Unpack(info) and info.reason == "POST_ONLY_WOULD_TAKE"
               for d in refused.error.details)


async def test_a_streamed_message_of_too_many_orders_ends_the_stream(
        harness: EngineHarness) -> None:
    h = harness
    await _fund(h, "mm", "SOL", "10", "m1")

    async def requests():  # type: ignore[no-untyped-def]
        yield engine_pb2.PlaceOrdersRequest(batch_id=1, orders=[
            _limit("SOL-USD", order_pb2.SELL, "1", "200")])
        yield engine_pb2.PlaceOrdersRequest(batch_id=2, orders=[
            _limit("SOL-USD", order_pb2.SELL, "1", "201")] * 1001)

    call = h.stub.PlaceOrders(requests(), metadata=h.auth("mm"))
    first = await call.read()
    assert first.batch_id == 1 and first.results[0].order.status == order_pb2.NEW
    with pytest.raises(grpc.aio.AioRpcError) as ended:
        await call.read()
    assert ended.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "at most 1000" in (ended.value.details() or "")


async def test_engine_status_reports_sequences(harness: EngineHarness) -> None:
    h = harness
    await _fund(h, "alice", "USD", "10", "a1")
    admin = (("authorization", f"Bearer {h.signer.issue('ops', admin=True)[0]}"),)
    status = await h.stub.GetEngineStatus(engine_pb2.GetEngineStatusRequest(), metadata=admin)
    assert (status.command_sequence, status.healthy) == (1, True)
    assert status.event_sequence >= 1
    assert status.persistence_lag == status.event_sequence  # nothing persisted in this harness


async def test_stop_loss_arms_on_the_filled_position_and_fires_on_the_mark(
        harness: EngineHarness) -> None:
    from engine_svc.core.commands import SetIndexPrice

    h = harness
    assert h.sequencer is not None
    await _fund(h, "mm", "USD", "100000", "m1")
    await _fund(h, "alice", "USD", "1000", "a1")
    await h.sequencer.submit(SetIndexPrice(market="SOL-PERP", price=100_000, ts=1),
                             lambda e, r: None)
    await h.stub.PlaceOrder(_limit("SOL-PERP", order_pb2.SELL, "10", "100", leverage=5),
                            metadata=h.auth("mm"))
    placed = await h.stub.PlaceOrder(
        _limit("SOL-PERP", order_pb2.BUY, "10", "100", leverage=5, stop_loss="95",
               take_profit="110"), metadata=h.auth("alice"))
    assert placed.order.status == order_pb2.FILLED
    assert (placed.order.stop_loss, placed.order.take_profit) == ("95", "110")
    await _fund(h, "bob", "USD", "1000", "b1")
    resting = await h.stub.PlaceOrder(
        _limit("SOL-PERP", order_pb2.BUY, "1", "90", leverage=5, stop_loss="80"),
        metadata=h.auth("bob"))  # fills nothing yet: armed, waiting for its fills
    assert (resting.order.status, resting.order.stop_loss) == (order_pb2.NEW, "80")
    await h.stub.PlaceOrder(_limit("SOL-PERP", order_pb2.BUY, "10", "94", leverage=5),
                            metadata=h.auth("mm"))
    await h.sequencer.submit(SetIndexPrice(market="SOL-PERP", price=94_000, ts=2),
                             lambda e, r: None)
    positions = await h.stub.GetPositions(engine_pb2.GetPositionsRequest(),
                                          metadata=h.auth("alice"))
    assert list(positions.positions) == []  # the stop-loss closed it
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await h.stub.PlaceOrder(_limit("SOL-USD", order_pb2.BUY, "1", "100", stop_loss="90"),
                                metadata=h.auth("alice"))
    assert _error(err.value)[2] == ["stopLoss"]


@pytest.mark.parametrize("amount", ["1e3", "1E3", "1000e0", " 5", "5.", "٣"])
async def test_amounts_are_the_contracts_decimal_text(harness: EngineHarness, amount: str) -> None:
    """Over gRPC as over REST: an exponent, a space, a bare point or another script's digit
    is refused naming the amount, and nothing is credited; a sign is the contract's."""
    h = harness
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await h.stub.Deposit(engine_pb2.DepositRequest(asset="USD", amount=amount,
                                                       transaction_id="tx-" + amount),
                             metadata=h.auth("alice"))
    assert _error(err.value) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_AMOUNT",
                                 ["amount"])
    assert "is not a decimal number" in (err.value.details() or "")
    balances = await h.stub.GetBalances(engine_pb2.GetBalancesRequest(), metadata=h.auth("alice"))
    assert list(balances.balances) == []
    signed = await h.stub.Deposit(engine_pb2.DepositRequest(
        asset="USD", amount="+5", transaction_id="tx-signed"), metadata=h.auth("alice"))
    assert not signed.duplicate
