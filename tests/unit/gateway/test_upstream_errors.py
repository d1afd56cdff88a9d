"""Upstream gRPC errors → the gateway's error, with the richer error model decoded."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from gateway.upstream_errors import DETAILS_KEY, from_rpc_error, from_status


def rpc_error(code: grpc.StatusCode, details: str, trailer: bytes | None) -> grpc.aio.AioRpcError:
    trailers = grpc.aio.Metadata() if trailer is None else grpc.aio.Metadata(
        (DETAILS_KEY, trailer))
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailers, details, None)


def test_plain_status_uses_the_code_name() -> None:
    error = from_rpc_error(rpc_error(grpc.StatusCode.NOT_FOUND, "no order o-1", None))
    assert (error.status, error.code, error.message, error.details) == (
        404, "NOT_FOUND", "no order o-1", [])


def test_rich_status_reason_and_field_violations() -> None:
    info, bad = any_pb2.Any(), any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason="DUPLICATE_CLIENT_ORDER_ID"))
    bad.Pack(error_details_pb2.BadRequest(field_violations=[
        error_details_pb2.BadRequest.FieldViolation(field="clientOrderId", description="live"),
    ]))
    status = status_pb2.Status(code=code_pb2.ALREADY_EXISTS, message="duplicate",
                               details=[bad, info])
    error = from_rpc_error(rpc_error(grpc.StatusCode.ALREADY_EXISTS, "x",
                                     status.SerializeToString()))
    assert (error.status, error.code, error.message) == (409, "DUPLICATE_CLIENT_ORDER_ID",
                                                         "duplicate")
    assert error.details == [{"field": "clientOrderId", "description": "live"}]


def test_undecodable_trailer_keeps_the_status() -> None:
    error = from_rpc_error(rpc_error(grpc.StatusCode.UNAVAILABLE, "down", b"\xff\xff\xff"))
    assert (error.status, error.code, error.message) == (503, "UNAVAILABLE", "down")


LEAK = "Unexpected <class 'ValueError'>: invalid literal for int() with base 10: '²'"


@pytest.mark.parametrize("code", [grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL,
                                  grpc.StatusCode.DATA_LOSS])
def test_an_upstream_fault_is_the_generic_500_without_its_text(code: grpc.StatusCode) -> None:
    info, bad = any_pb2.Any(), any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason="SECRET_REASON"))
    bad.Pack(error_details_pb2.BadRequest(field_violations=[
        error_details_pb2.BadRequest.FieldViolation(field="orderId", description=LEAK)]))
    rich = status_pb2.Status(code=code.value[0], message=LEAK, details=[info, bad])
    for error in (from_rpc_error(rpc_error(code, LEAK, None)),
                  from_rpc_error(rpc_error(code, LEAK, rich.SerializeToString())),
                  from_status(rich)):
        assert (error.status, error.code, error.message, error.details, error.headers) == (
            500, "INTERNAL", "internal error", [], {})
