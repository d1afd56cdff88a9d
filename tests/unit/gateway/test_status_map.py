"""The canonical gRPC status → HTTP status table."""

from __future__ import annotations

import grpc
import pytest

from gateway.status_map import HTTP_STATUS, code_from_number, http_status

CANONICAL = {
    "OK": 200, "INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409, "ABORTED": 409, "RESOURCE_EXHAUSTED": 429, "CANCELLED": 499,
    "UNIMPLEMENTED": 501, "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504, "INTERNAL": 500,
    "UNKNOWN": 500, "DATA_LOSS": 500,
}


@pytest.mark.parametrize(("name", "status"), sorted(CANONICAL.items()))
def test_canonical_mapping(name: str, status: int) -> None:
    assert http_status(grpc.StatusCode[name]) == status


def test_every_grpc_code_is_mapped() -> None:
    assert set(HTTP_STATUS) == set(grpc.StatusCode)
    assert len(CANONICAL) == len(grpc.StatusCode)


def test_code_from_number() -> None:
    assert code_from_number(9) is grpc.StatusCode.FAILED_PRECONDITION
    assert code_from_number(99) is grpc.StatusCode.UNKNOWN
