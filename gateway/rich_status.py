"""Rich gRPC errors for the gateway's own servicer (the Auth service).

Each error carries a ``google.rpc.Status`` with an ``ErrorInfo`` reason, a ``BadRequest``
field violation when a field is at fault, and a ``RetryInfo`` when the caller should wait;
:mod:`gateway.upstream_errors` turns them back into the REST error body (and
``Retry-After``).
"""

from __future__ import annotations

import math
from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

DOMAIN = "trademesh"


class RpcProblem(Exception):
    """An error answer of a servicer: code, reason, message, maybe a field or a wait."""

    def __init__(self, code: grpc.StatusCode, reason: str, message: str, field: str = "",
                 retry_after_seconds: float = 0.0) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.field = field
        self.retry_after_seconds = retry_after_seconds

    def to_status(self) -> grpc.Status:
        details = [_pack(error_details_pb2.ErrorInfo(reason=self.reason, domain=DOMAIN))]
        if self.field:
            violation = error_details_pb2.BadRequest.FieldViolation(
                field=self.field, description=self.message)
            details.append(_pack(error_details_pb2.BadRequest(field_violations=[violation])))
        if self.retry_after_seconds > 0:
            delay = duration_pb2.Duration(seconds=math.ceil(self.retry_after_seconds))
            details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
        status = status_pb2.Status(code=self.code.value[0], message=self.message,
                                   details=details)
        return rpc_status.to_status(status)


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


async def abort(context: grpc.aio.ServicerContext[Any, Any], problem: RpcProblem) -> NoReturn:
    status = problem.to_status()
    await context.abort(status.code, status.details, status.trailing_metadata)
    raise AssertionError("unreachable: abort raises")  # pragma: no cover


def unauthenticated(message: str = "invalid email or password") -> RpcProblem:
    return RpcProblem(grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED", message)


def invalid(field: str, description: str) -> RpcProblem:
    return RpcProblem(grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT",
                      f"{field}: {description}", field=field)


def unavailable(message: str) -> RpcProblem:
    return RpcProblem(grpc.StatusCode.UNAVAILABLE, "UNAVAILABLE", message)
