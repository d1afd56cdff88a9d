"""A token lasts as long as it is valid, not as long as the stream it opened: once revoked,
``Engine.PlaceOrders`` places nothing more on the open stream and ends UNAUTHENTICATED."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from trademesh.v1 import engine_pb2, order_pb2

from tests.service.engine.conftest import EngineHarness

pytestmark = pytest.mark.timeout(60)


def _sell(price: str) -> engine_pb2.PlaceOrdersRequest:
    return engine_pb2.PlaceOrdersRequest(batch_id=int(price), orders=[
        engine_pb2.PlaceOrderRequest(market="SOL-USD", side=order_pb2.SELL,
                                     type=order_pb2.LIMIT, quantity="1", price=price)])


async def test_a_revoked_token_places_nothing_more_on_its_open_stream(
        harness: EngineHarness) -> None:
    h = harness
    token, expires = h.signer.issue("mm")
    bearer = (("authorization", f"Bearer {token}"),)
    await h.stub.Deposit(engine_pb2.DepositRequest(asset="SOL", amount="10", transaction_id="m1"),
                         metadata=bearer)
    outgoing: asyncio.Queue[engine_pb2.PlaceOrdersRequest | None] = asyncio.Queue()

    async def requests() -> AsyncIterator[engine_pb2.PlaceOrdersRequest]:
        while (item := await outgoing.get()) is not None:
            yield item

    call = h.stub.PlaceOrders(requests(), metadata=bearer)  # type: ignore[arg-type]
    outgoing.put_nowait(_sell("200"))
    first = await asyncio.wait_for(call.read(), 10)
    assert first.results[0].order.status == order_pb2.NEW
    await h.revocations.revoke(h.verifier.verify(token).token_id, expires)
    outgoing.put_nowait(_sell("201"))
    with pytest.raises(grpc.aio.AioRpcError) as ended:
        await asyncio.wait_for(call.read(), 10)
    assert ended.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "revoked" in (ended.value.details() or "")
    outgoing.put_nowait(None)
    book = await h.stub.GetDepth(engine_pb2.GetDepthRequest(market="SOL-USD", limit=10))
    assert [[v.string_value for v in level.values] for level in book.asks] == [["200", "1"]]
