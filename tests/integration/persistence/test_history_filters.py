"""History filters over real gRPC and PostgreSQL: side, order status, from/to (RFC 3339
times, from inclusive, to exclusive), combined with market and paging; bad values are
INVALID_ARGUMENT naming the field by its JSON name."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from persistence_harness import T0, EngineSide, Persistence
from test_queries import auth, fund, stamp, trade
from trademesh.v1 import order_pb2
from trademesh.v1 import persistence_pb2 as pb

from engine_svc.core import CancelOrder, PlaceOrder, Side
from mesh_runtime.tokens import TokenSigner


def field_of(err: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None
    fields: list[str] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return fields


async def test_side_status_and_time_filters(engine: EngineSide, persistence: Persistence,
                                            signer: TokenSigner) -> None:
    await fund(engine, "maker", "taker")
    for i in range(4):  # fills at T0, T0+1s, T0+2s, T0+3s
        await trade(engine, 100_000 + i, 1, T0 + i * 1000)
    await engine.submit(PlaceOrder(user_id="taker", market="SOL-USD", side=Side.BUY,
                                   price=90_000, quantity=1, ts=T0 + 5000))
    [rest] = [o.order_id for o in engine.sequencer.engine.open_orders("taker")]  # type: ignore[union-attr]
    await engine.submit(CancelOrder(user_id="taker", order_id=rest, ts=T0 + 6000))
    await engine.drained()
    stub, taker = persistence.stub, auth(signer, "taker")

    window = await stub.ListFills(pb.ListFillsRequest(from_time=stamp(T0 + 1000),
                                                      to_time=stamp(T0 + 3000)), metadata=taker)
    assert [f.time.ToMilliseconds() - T0 for f in window.fills] == [2000, 1000]
    sells = await stub.ListFills(pb.ListFillsRequest(side=order_pb2.SELL), metadata=taker)
    assert list(sells.fills) == []  # the taker only bought
    buys = await stub.ListFills(pb.ListFillsRequest(side=order_pb2.BUY, limit=2,
                                                    from_time=stamp(T0)), metadata=taker)
    assert [f.price for f in buys.fills] == ["100.003", "100.002"]
    canceled = await stub.ListOrderHistory(pb.ListOrderHistoryRequest(
        status=order_pb2.CANCELED), metadata=taker)
    assert [(o.order_id, o.status) for o in canceled.orders] == [(str(rest), order_pb2.CANCELED)]
    filled = await stub.ListOrderHistory(pb.ListOrderHistoryRequest(
        status=order_pb2.FILLED, side=order_pb2.BUY, market="SOL-USD"), metadata=taker)
    assert len(filled.orders) == 4
    ledger = await stub.ListLedger(pb.ListLedgerRequest(to_time=stamp(T0)), metadata=taker)
    assert {e.time.ToMilliseconds() for e in ledger.entries} < {T0}  # deposits only
    empty = await stub.ListFills(pb.ListFillsRequest(from_time=stamp(T0 + 10_000),
                                                     to_time=stamp(T0 + 10_000)),
                                 metadata=taker)
    assert list(empty.fills) == []

    bad: list[tuple[object, str]] = [
        (pb.ListFillsRequest(from_time=stamp(T0 + 1), to_time=stamp(T0)), "from"),
        (pb.ListFillsRequest(side=7), "side"),  # type: ignore[arg-type]
        (pb.ListOrderHistoryRequest(status=42), "status"),  # type: ignore[arg-type]
        (pb.ListLedgerRequest(from_time=timestamp_pb2.Timestamp(seconds=10**12)), "from"),
        (pb.ListLiquidationsRequest(to_time=timestamp_pb2.Timestamp(nanos=-1)), "to"),
    ]
    for request, name in bad:
        method = {"ListFillsRequest": stub.ListFills,
                  "ListOrderHistoryRequest": stub.ListOrderHistory,
                  "ListLedgerRequest": stub.ListLedger,
                  "ListLiquidationsRequest": stub.ListLiquidations}[
            type(request).__name__]
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await method(request, metadata=taker)  # type: ignore[operator]
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request
        assert field_of(err.value) == [name], request
