"""TRADEMESH_MAX_OPEN_ORDERS over real gRPC: the refusal, its status, and replay."""

from __future__ import annotations

import dataclasses

import grpc
import pytest
from trademesh.v1 import engine_pb2, order_pb2

from tests.service.engine.conftest import EngineHarness
from tests.service.engine.test_engine_service import _error, _fund, _limit


async def _bid(h: EngineHarness, price: str) -> engine_pb2.PlaceOrderResponse:
    return await h.stub.PlaceOrder(_limit("SOL-PERP", order_pb2.BUY, "1", price),
                                   metadata=h.auth("alice"))


async def test_cap_refuses_with_failed_precondition_and_survives_replay(
        harness: EngineHarness) -> None:
    h = harness
    h.settings = dataclasses.replace(h.settings, max_open_orders=2)
    await h.restart()
    status = await h.stub.GetEngineStatus(engine_pb2.GetEngineStatusRequest(),
                                          metadata=h.admin())
    assert status.max_open_orders == 2
    assert status.core_build in ("compiled", "interpreted")
    await _fund(h, "alice", "USD", "100000", "a1")
    first = await _bid(h, "100")
    await _bid(h, "99")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _bid(h, "98")
    code, reason, _ = _error(caught.value)
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "TOO_MANY_OPEN_ORDERS")
    assert "too many open orders" in (caught.value.details() or "")

    # The setting changes while the engine is down: the journal replays under the limit in
    # force when each command was applied (the refusal stays a refusal), then the new one
    # is journaled and applies to what comes next.
    h.settings = dataclasses.replace(h.settings, max_open_orders=3)
    await h.restart()
    status = await h.stub.GetEngineStatus(engine_pb2.GetEngineStatusRequest(),
                                          metadata=h.admin())
    assert status.max_open_orders == 3
    opened = await h.stub.ListOpenOrders(engine_pb2.ListOpenOrdersRequest(),
                                         metadata=h.auth("alice"))
    assert len(opened.orders) == 2
    await _bid(h, "98")
    await h.stub.CancelOrder(engine_pb2.CancelOrderRequest(order_id=first.order.order_id),
                             metadata=h.auth("alice"))
    await _bid(h, "97")
    with pytest.raises(grpc.aio.AioRpcError):
        await _bid(h, "96")
