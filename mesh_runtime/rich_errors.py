"""The gRPC richer error model, built one way for every service.

An error is a ``google.rpc.Status``: code and message, an ``ErrorInfo`` (reason such as
``INSUFFICIENT_BALANCE``, domain ``trademesh``), a ``BadRequest`` field violation when a
field is at fault, and a ``RetryInfo`` when the caller should wait. :func:`abort` sends it
as the call's code, message and ``grpc-status-details-bin`` trailer.
"""

from __future__ import annotations

import math
from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

DOMAIN = "trademesh"


def _pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def rich_status(code: grpc.StatusCode, reason: str, message: str, field: str | None = None,
                retry_after_seconds: float = 0.0) -> status_pb2.Status:
    details = [_pack(error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN))]
    if field:
        violation = error_details_pb2.BadRequest.FieldViolation(field=field,
                                                                 description=message)
        details.append(_pack(error_details_pb2.BadRequest(field_violations=[violation])))
    if retry_after_seconds > 0:
        delay = duration_pb2.Duration(seconds=math.ceil(retry_after_seconds))
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    return status_pb2.Status(code=code.value[0], message=message, details=details)


async def abort(context: grpc.aio.ServicerContext[Any, Any],
                status: status_pb2.Status) -> NoReturn:
    """Ends the call with ``status`` (code, message and the details trailer)."""
    rich = rpc_status.to_status(status)
    await context.abort(rich.code, rich.details, rich.trailing_metadata)
    raise AssertionError("unreachable")  # context.abort raises
