"""Rich gRPC errors for the gateway's own servicer (the Auth service).

Each error carries a ``google.rpc.Status`` with an ``ErrorInfo`` reason, a ``BadRequest``
field violation when a field is at fault, and a ``RetryInfo`` when the caller should wait;
:mod:`gateway.upstream_errors` turns them back into the REST error body (and
``Retry-After``).
"""

from __future__ import annotations

from typing import Any, NoReturn

import grpc
from google.rpc import status_pb2
from grpc_status import rpc_status

from mesh_runtime.rich_errors import abort as abort_with
from mesh_runtime.rich_errors import rich_status


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

    def status(self) -> status_pb2.Status:
        return rich_status(self.code, self.reason, self.message, self.field or None,
                           self.retry_after_seconds)

    def to_status(self) -> grpc.Status:
        return rpc_status.to_status(self.status())


async def abort(context: grpc.aio.ServicerContext[Any, Any], problem: RpcProblem) -> NoReturn:
    await abort_with(context, problem.status())


def unauthenticated(message: str = "invalid email or password") -> RpcProblem:
    return RpcProblem(grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED", message)


def invalid(field: str, description: str) -> RpcProblem:
    return RpcProblem(grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT",
                      f"{field}: {description}", field=field)


def unavailable(message: str) -> RpcProblem:
    return RpcProblem(grpc.StatusCode.UNAVAILABLE, "UNAVAILABLE", message)
