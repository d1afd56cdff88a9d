"""The Auth servicer's rich errors decode back into the REST error (and Retry-After)."""

from __future__ import annotations

from typing import Any

import grpc

from gateway.rich_status import RpcProblem, invalid, unauthenticated
from gateway.upstream_errors import from_rpc_error


class FakeRpcError(grpc.aio.AioRpcError):
    def __init__(self, status: grpc.Status) -> None:
        self._status = status

    def code(self) -> grpc.StatusCode:
        return self._status.code

    def details(self) -> str:
        return str(self._status.details)

    def trailing_metadata(self) -> Any:
        return self._status.trailing_metadata


def decoded(problem: RpcProblem) -> Any:
    return from_rpc_error(FakeRpcError(problem.to_status()))


def test_field_violation_round_trip() -> None:
    error = decoded(invalid("password", "must be at most 72 bytes"))
    assert (error.status, error.code) == (400, "INVALID_ARGUMENT")
    assert error.details == [{"field": "password",
                              "description": "password: must be at most 72 bytes"}]
    assert "Retry-After" not in error.headers


def test_retry_info_becomes_retry_after() -> None:
    problem = RpcProblem(grpc.StatusCode.RESOURCE_EXHAUSTED, "SIGNIN_LOCKED", "wait",
                         retry_after_seconds=12.2)
    error = decoded(problem)
    assert (error.status, error.code, error.headers["Retry-After"]) == (429, "SIGNIN_LOCKED",
                                                                        "13")


def test_unauthenticated() -> None:
    error = decoded(unauthenticated())
    assert (error.status, error.code, error.message) == (401, "UNAUTHENTICATED",
                                                         "invalid email or password")
