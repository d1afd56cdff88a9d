"""The transcoding endpoint: one handler for every annotated route.

match the route → read the body (size-limited) → build the request message → call upstream
with the caller's ``authorization``, the request id and a deadline → answer with the
route's success status and JSON, or the one error shape.
"""

from __future__ import annotations

import logging

import grpc
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.deadline import HEADER as TIMEOUT_HEADER
from gateway.deadline import call_timeout
from gateway.errors import GatewayError, error_response
from gateway.request_codec import build_request
from gateway.request_id import request_id_of
from gateway.response_codec import response_json
from gateway.router import RouteTable
from gateway.upstream import Upstreams
from gateway.upstream_errors import from_rpc_error

log = logging.getLogger("trademesh.gateway")

DEFAULT_MAX_BODY_BYTES = 64 * 1024


class Transcoder:
    """The ASGI endpoint (a Starlette request handler) for the annotated routes."""

    def __init__(
        self,
        table: RouteTable,
        upstreams: Upstreams,
        timeout_seconds: float,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.table = table
        self.upstreams = upstreams
        self.timeout_seconds = timeout_seconds
        self.max_body_bytes = max_body_bytes

    async def handle(self, request: Request) -> Response:
        request_id = request_id_of(request)
        try:
            return await self._transcode(request, request_id)
        except GatewayError as exc:
            return error_response(exc)
        except grpc.aio.AioRpcError as exc:
            return error_response(from_rpc_error(exc))
        except Exception:
            log.exception("unexpected error request_id=%s", request_id)
            return error_response(GatewayError(500, "INTERNAL", "internal error"))

    async def _transcode(self, request: Request, request_id: str) -> Response:
        found = self.table.match(request.method, request.url.path)
        route = found.route
        raw_body = await self._read_body(request) if route.body else b""
        message = build_request(route, raw_body, found.path_values,
                                request.query_params.multi_items())
        timeout = call_timeout(self.timeout_seconds, request.headers.get(TIMEOUT_HEADER))
        reply = await self.upstreams.call(route, message, _metadata(request, request_id),
                                          timeout)
        return JSONResponse(response_json(route, reply), status_code=route.success_status)

    async def _read_body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise _too_large(self.max_body_bytes)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _too_large(self.max_body_bytes)
            chunks.append(chunk)
        return b"".join(chunks)


def _metadata(request: Request, request_id: str) -> list[tuple[str, str]]:
    metadata = [("x-request-id", request_id)]
    authorization = request.headers.get("authorization")
    if authorization:
        metadata.append(("authorization", authorization))
    return metadata


def _too_large(limit: int) -> GatewayError:
    return GatewayError(413, "PAYLOAD_TOO_LARGE", f"the request body exceeds {limit} bytes",
                        [{"field": "body", "description": f"at most {limit} bytes"}])

