"""A field refusal's reason and code: a known market that a request cannot use is not an
unknown one."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2

from engine_svc.core.units import ValidationError
from engine_svc.errors import invalid


def reason_of(err: ValidationError) -> tuple[grpc.StatusCode, str]:
    error = invalid(err)
    for detail in error.status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return error.code, info.reason
    raise AssertionError("no ErrorInfo")


def test_a_spot_market_on_a_perp_only_request_is_not_an_unknown_market() -> None:
    assert reason_of(ValidationError("market", "NOT_A_PERP", "triggers fire on perps")) == \
        (grpc.StatusCode.INVALID_ARGUMENT, "NOT_A_PERP")


def test_an_unlisted_market_is_not_found() -> None:
    assert reason_of(ValidationError("market", "UNKNOWN_MARKET", "unknown market 'X-Y'")) == \
        (grpc.StatusCode.NOT_FOUND, "UNKNOWN_MARKET")


def test_other_field_errors_carry_the_fields_reason() -> None:
    assert reason_of(ValidationError("price", "OFF_GRID", "not a multiple of 0.01")) == \
        (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PRICE")
