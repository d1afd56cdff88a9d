"""Persistence outcomes → gRPC statuses (richer error model): the one place they are mapped."""

from __future__ import annotations

from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from persistence_svc.history import InvalidQuery

DOMAIN = "trademesh"


def status(code: grpc.StatusCode, reason: str, message: str,
           field: str | None = None) -> status_pb2.Status:
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN))
    details = [info]
    if field is not None:
        bad = any_pb2.Any()
        bad.Pack(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=field, description=message)]))
        details.append(bad)
    return status_pb2.Status(code=code.value[0], message=message, details=details)


def invalid(err: InvalidQuery) -> status_pb2.Status:
    return status(grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT", str(err), err.field)


async def abort(context: grpc.aio.ServicerContext[Any, Any],
                error: status_pb2.Status) -> NoReturn:
    """Ends the call with ``error`` as code, message and ``grpc-status-details-bin``."""
    rich = rpc_status.to_status(error)
    await context.abort(rich.code, rich.details, rich.trailing_metadata)
    raise AssertionError("unreachable")  # context.abort raises

