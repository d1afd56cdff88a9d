"""``Engine.RelayOrders``: the gateway relays many traders' orders on one stream; each order
is placed as its own token's verified subject, and an order whose token fails is refused
alone. Only the gateway's certificate may open the stream."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import grpc
import pytest
from trademesh.v1 import engine_pb2, order_pb2

from tests.service.engine.conftest import EngineHarness

pytestmark = pytest.mark.timeout(60)


def _sell(price: str, qty: str = "1") -> engine_pb2.PlaceOrderRequest:
    return engine_pb2.PlaceOrderRequest(market="SOL-USD", side=order_pb2.SELL,
                                        type=order_pb2.LIMIT, quantity=qty, price=price)


async def _fund(h: EngineHarness, user: str, amount: str) -> None:
    await h.stub.Deposit(engine_pb2.DepositRequest(asset="SOL", amount=amount,
                                                   transaction_id=f"fund-{user}"),
                         metadata=h.auth(user))


async def _relay(h: EngineHarness, identity: str,
                 *messages: engine_pb2.RelayOrdersRequest) -> list[engine_pb2.RelayOrdersResponse]:
    channel, stub = h.mesh_stub(identity)

    async def requests() -> AsyncIterator[engine_pb2.RelayOrdersRequest]:
        for message in messages:
            yield message

    try:
        return [reply async for reply in stub.RelayOrders(requests())]  # type: ignore[arg-type]
    finally:
        await channel.close()


def _token(h: EngineHarness, user: str) -> str:
    return h.signer.issue(user)[0]


async def test_each_relayed_order_is_placed_as_its_own_tokens_subject(
        harness: EngineHarness) -> None:
    h = harness
    await _fund(h, "alice", "5")
    await _fund(h, "bob", "5")
    revoked, expires = h.signer.issue("alice")
    await h.revocations.revoke(h.verifier.verify(revoked).token_id, expires)
    expired = h.signer.issue("bob", now=int(time.time()) - 3600)[0]
    message = engine_pb2.RelayOrdersRequest(batch_id=41, orders=[
        engine_pb2.RelayedOrder(token=_token(h, "alice"), order=_sell("200")),
        engine_pb2.RelayedOrder(token=_token(h, "bob"), order=_sell("201", "2")),
        engine_pb2.RelayedOrder(token="not-a-token", order=_sell("202")),
        engine_pb2.RelayedOrder(token=revoked, order=_sell("203")),
        engine_pb2.RelayedOrder(token=expired, order=_sell("204")),
        engine_pb2.RelayedOrder(token=_token(h, "bob"), order=_sell("205.0001")),
        engine_pb2.RelayedOrder(token=_token(h, "carol"), order=_sell("206")),
        engine_pb2.RelayedOrder(token=_token(h, "alice"), order=_sell("207", "9")),
    ])
    second = engine_pb2.RelayOrdersRequest(batch_id=42, orders=[
        engine_pb2.RelayedOrder(token=_token(h, "bob"), order=_sell("208"))])
    [reply, after] = await _relay(h, "gateway", message, second)
    assert (reply.batch_id, after.batch_id) == (41, 42)
    results = reply.results
    assert len(results) == 8
    placed = [(r.order.user_id, r.order.price, r.order.quantity, r.order.status)
              for r in (results[0], results[1], after.results[0])]
    assert placed == [("alice", "200", "1", order_pb2.NEW), ("bob", "201", "2", order_pb2.NEW),
                      ("bob", "208", "1", order_pb2.NEW)]
    assert results[0].order.HasField("create_time")  # whole orders, as PlaceOrder answers
    unauthenticated = grpc.StatusCode.UNAUTHENTICATED.value[0]
    assert [r.error.code for r in results[2:5]] == [unauthenticated] * 3
    assert "revoked" in results[3].error.message
    assert "expired" in results[4].error.message
    assert results[5].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "price" in results[5].error.message
    # carol has no SOL and alice's second order exceeds her 4 SOL left: refused on the
    # account of the token's subject, not of anyone else in the message
    assert results[6].error.code == results[7].error.code == \
        grpc.StatusCode.FAILED_PRECONDITION.value[0]
    book = await h.stub.GetDepth(engine_pb2.GetDepthRequest(market="SOL-USD", limit=10))
    assert [[v.string_value for v in lvl.values] for lvl in book.asks] == \
        [["200", "1"], ["201", "2"], ["208", "1"]]
    mine = await h.stub.ListOpenOrders(engine_pb2.ListOpenOrdersRequest(),
                                       metadata=h.auth("bob"))
    assert sorted(o.price for o in mine.orders) == ["201", "208"]


@pytest.mark.parametrize("identity", ["persistence", "feed", "engine"])
async def test_only_the_gateway_may_relay(harness: EngineHarness, identity: str) -> None:
    h = harness
    await _fund(h, "alice", "5")
    message = engine_pb2.RelayOrdersRequest(batch_id=1, orders=[
        engine_pb2.RelayedOrder(token=_token(h, "alice"), order=_sell("200"))])
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _relay(h, identity, message)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    book = await h.stub.GetDepth(engine_pb2.GetDepthRequest(market="SOL-USD", limit=10))
    assert list(book.asks) == []


async def test_a_trader_cannot_relay_even_with_a_valid_token(harness: EngineHarness) -> None:
    h = harness
    await _fund(h, "alice", "5")

    async def requests() -> AsyncIterator[engine_pb2.RelayOrdersRequest]:
        yield engine_pb2.RelayOrdersRequest(batch_id=1, orders=[
            engine_pb2.RelayedOrder(token=_token(h, "alice"), order=_sell("200"))])

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async for _ in h.stub.RelayOrders(requests(), metadata=h.auth("alice")):  # type: ignore[arg-type]
            pass
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_relayed_message_of_too_many_orders_ends_the_stream(
        harness: EngineHarness) -> None:
    h = harness
    token = _token(h, "alice")
    message = engine_pb2.RelayOrdersRequest(batch_id=1, orders=[
        engine_pb2.RelayedOrder(token=token, order=_sell("200"))] * 1001)
    with pytest.raises(grpc.aio.AioRpcError) as ended:
        await _relay(h, "gateway", message)
    assert ended.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "at most 1000" in (ended.value.details() or "")
