"""An upstream gRPC error → a :class:`GatewayError`, decoding the richer error model.

``grpc-status-details-bin`` carries a ``google.rpc.Status``: its ``ErrorInfo.reason`` (e.g.
``INSUFFICIENT_BALANCE``) becomes the error code and its ``BadRequest.field_violations``
become ``details`` entries ``{"field", "description"}``; a ``RetryInfo`` becomes a
``Retry-After`` header (whole seconds, at least 1). Without rich details the code is the
gRPC status code's name.

An upstream fault (UNKNOWN, INTERNAL, DATA_LOSS: an exception in a servicer, a broken
invariant) is the generic 500 ``INTERNAL`` / ``internal error``: its text (an exception's
message, a file path) is logged with the request id, never sent to the client.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

from gateway.errors import Detail, GatewayError
from gateway.status_map import http_status

log = logging.getLogger("trademesh.gateway")

DETAILS_KEY = "grpc-status-details-bin"
UPSTREAM_FAULTS = frozenset({grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL,
                             grpc.StatusCode.DATA_LOSS})


def from_rpc_error(error: grpc.aio.AioRpcError) -> GatewayError:
    """The client-facing error for an upstream call that failed with ``error``."""
    code = error.code()
    return _gateway_error(code, error.details() or code.name, _rich_status(error))


def from_status(status: status_pb2.Status) -> GatewayError:
    """The client-facing error for a ``google.rpc.Status`` carried in a reply (a streamed
    order's refusal), decoded as :func:`from_rpc_error` decodes a failed call's."""
    code = next((c for c in grpc.StatusCode if c.value[0] == status.code),
                grpc.StatusCode.UNKNOWN)
    return _gateway_error(code, status.message or code.name, status)


def _gateway_error(code: grpc.StatusCode, message: str, rich: Any) -> GatewayError:
    if code in UPSTREAM_FAULTS:
        log.error("upstream fault %s: %s", code.name, message)
        return GatewayError(500, "INTERNAL", "internal error")
    reason = code.name
    details: list[Detail] = []
    headers: dict[str, str] = {}
    if rich is not None:
        message = rich.message or message
        for packed in rich.details:
            reason = _unpack_detail(packed, details) or reason
            retry = _retry_after(packed)
            if retry is not None:
                headers["Retry-After"] = retry
    return GatewayError(http_status(code), reason, message, details, headers)


def _retry_after(packed: Any) -> str | None:
    info = error_details_pb2.RetryInfo()
    if not packed.Unpack(info):
        return None
    delay = info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return str(max(1, math.ceil(delay)))


def _rich_status(error: grpc.aio.AioRpcError) -> Any:
    trailers: Any = error.trailing_metadata() or ()
    for key, value in trailers:
        if key == DETAILS_KEY and isinstance(value, bytes):
            try:
                return status_pb2.Status.FromString(value)
            except Exception:  # a malformed trailer must not hide the status code
                log.warning("undecodable %s trailer", DETAILS_KEY)
                return None
    return None


def _unpack_detail(packed: Any, details: list[Detail]) -> str | None:
    """Appends ``packed``'s field violations to ``details``; returns an ErrorInfo reason."""
    info = error_details_pb2.ErrorInfo()
    if packed.Unpack(info):
        return str(info.reason) or None
    bad_request = error_details_pb2.BadRequest()
    if packed.Unpack(bad_request):
        details.extend(
            {"field": v.field, "description": v.description}
            for v in bad_request.field_violations
        )
    return None
