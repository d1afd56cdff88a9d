"""The gateway's one error shape: ``{"error": {"code", "message", "details"}}``.

A :class:`GatewayError` raised anywhere while handling a request becomes that body with its
HTTP status; nothing else (and never a stack trace) reaches the client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.responses import JSONResponse

Detail = dict[str, Any]


class GatewayError(Exception):
    """An error answer: HTTP status, a code (a reason or gRPC code name), a message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Sequence[Detail] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details)
        self.headers = dict(headers or {})


def bad_request(field: str, description: str) -> GatewayError:
    """A 400 naming ``field`` in the message and in a field-violation detail."""
    return GatewayError(
        400, "INVALID_ARGUMENT", f"{field}: {description}",
        [{"field": field, "description": description}],
    )


def error_body(code: str, message: str, details: Sequence[Detail] = ()) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": list(details)}}


def error_response(error: GatewayError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        error_body(error.code, error.message, error.details),
        status_code=error.status,
        headers={**error.headers, **(headers or {})},
    )
