"""The transcoding endpoint: one handler for every annotated route.

match the route → rate limits (per client address — the TCP peer, or what a trusted
proxy forwarded: :mod:`mesh_runtime.client_address` — and per user with a valid token) →
the route's access rule (401/403) → read the body (JSON only, size-limited) → for a POST
with ``Idempotency-Key``, the stored answer or a claim on the key → build the request
message → call upstream with the caller's ``authorization``, the request id, the client
address (which only the Auth service believes, from the gateway) and a deadline → the
route's success status and JSON, or the one error shape.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import grpc
from starlette.requests import Request
from starlette.responses import Response

from gateway.access import Access
from gateway.client_origin import CLIENT_ADDRESS_KEY
from gateway.deadline import HEADER as TIMEOUT_HEADER
from gateway.deadline import call_timeout
from gateway.errors import GatewayError, error_response
from gateway.http_metrics import RATE_LIMITED, name_route
from gateway.idempotency import HEADER as IDEMPOTENCY_HEADER
from gateway.idempotency import (
    REPLAYED_HEADER,
    IdempotencyStore,
    StoredResponse,
    fingerprint,
    parse_key,
)
from gateway.order_streams import OutcomePending
from gateway.rate_limit import RateLimiter
from gateway.request_codec import build_request
from gateway.request_id import request_id_of
from gateway.response_codec import FastJSONResponse, response_json
from gateway.router import RouteMatch, RouteTable
from gateway.routes import Route
from gateway.upstream import Upstreams
from gateway.upstream_errors import from_rpc_error
from mesh_runtime import tracing
from mesh_runtime.ascii_digits import is_ascii_digits
from mesh_runtime.client_address import FORWARDED_FOR, NO_PROXIES, TrustedProxies
from mesh_runtime.tokens import Claims

log = logging.getLogger("trademesh.gateway")

DEFAULT_MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Guards:
    """What stands before an upstream call: access rules, rate limits, idempotency."""

    access: Access | None = None
    limiter: RateLimiter | None = None
    idempotency: IdempotencyStore | None = None


class Transcoder:
    """The ASGI endpoint (a Starlette request handler) for the annotated routes."""

    def __init__(
        self,
        table: RouteTable,
        upstreams: Upstreams,
        timeout_seconds: float,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        guards: Guards | None = None,
        proxies: TrustedProxies = NO_PROXIES,
    ) -> None:
        self.table = table
        self.upstreams = upstreams
        self.timeout_seconds = timeout_seconds
        self.max_body_bytes = max_body_bytes
        self.guards = guards or Guards()
        self.proxies = proxies

    async def handle(self, request: Request) -> Response:
        request_id = request_id_of(request)
        try:
            return await self._transcode(request, request_id)
        except GatewayError as exc:
            return error_response(exc)
        except Exception:
            log.exception("unexpected error request_id=%s", request_id)
            return error_response(GatewayError(500, "INTERNAL", "internal error"))

    async def _transcode(self, request: Request, request_id: str) -> Response:
        found = self.table.match(request.method, _sent_path(request))
        name_route(request.scope, found.route.template.source)
        client = self.client_address(request)
        claims = await self._admit(request, found, client)
        raw_body = await self._read_body(request) if found.route.body else b""
        key = None
        if found.route.http_method == "POST":
            key = parse_key(request.headers.get(IDEMPOTENCY_HEADER))
        store = self.guards.idempotency
        if key is None or store is None:
            response, _ = await self._answer(request, found, raw_body, request_id, client)
            return response
        scope = f"user:{claims.user_id}" if claims else f"ip:{client}"
        print_ = fingerprint(request.method, request.url.path, request.url.query, raw_body)
        stored, replayed = await store.run(
            scope, key, print_,
            lambda: self._call(request, found, raw_body, request_id, client))
        response = _to_response(stored)
        if replayed:
            response.headers[REPLAYED_HEADER] = "true"
        return response

    def client_address(self, request: Request) -> str:
        """Who sent ``request``: the TCP peer, or what a trusted proxy forwarded."""
        peer = request.client.host if request.client else "unknown"
        return self.proxies.client_address(peer, request.headers.getlist(FORWARDED_FOR))

    async def _admit(self, request: Request, found: RouteMatch, client: str) -> Claims | None:
        """Rate limits, then the route's access rule; the caller's claims if it has any."""
        access = self.guards.access
        identity = access.identify(request.headers.get("authorization")) if access else None
        if self.guards.limiter is not None:
            user = identity.claims.user_id if identity and identity.claims else None
            wait = await self.guards.limiter.wait_seconds(client, user)
            if wait > 0:
                RATE_LIMITED.inc()
                raise GatewayError(429, "RATE_LIMITED", "too many requests; slow down",
                                   headers={"Retry-After": str(max(1, math.ceil(wait)))})
        if access is None or identity is None:
            return None
        return await access.authorize(found.route, identity)

    async def _call(self, request: Request, found: RouteMatch, raw_body: bytes,
                    request_id: str, client: str) -> StoredResponse:
        """The answer to one upstream call, success or error, ready to store."""
        response, later = await self._answer(request, found, raw_body, request_id, client)
        return _stored(response, later)

    async def _answer(self, request: Request, found: RouteMatch, raw_body: bytes,
                      request_id: str, client: str,
                      ) -> tuple[Response, Callable[[], Awaitable[StoredResponse]] | None]:
        """The answer to one upstream call, success or error, ready to send; and for an
        order whose outcome was still pending at its deadline, how to render the outcome
        once it arrives (for an ``Idempotency-Key`` to store)."""
        route = found.route
        try:
            message = build_request(route, raw_body, found.path_values, _query(request))
            timeout = call_timeout(self.timeout_seconds, request.headers.get(TIMEOUT_HEADER))
            reply = await self.upstreams.call(route, message,
                                              _metadata(request, request_id, client,
                                                        route.public), timeout)
        except OutcomePending as exc:
            later = exc.reply
            return error_response(exc), None if later is None else \
                (lambda: _render(route, later()))
        except GatewayError as exc:
            return error_response(exc), None
        except grpc.aio.AioRpcError as exc:
            return error_response(from_rpc_error(exc)), None
        return FastJSONResponse(response_json(route, reply),
                                status_code=route.success_status), None

    async def _read_body(self, request: Request) -> bytes:
        _check_content_type(request.headers.get("content-type"))
        declared = request.headers.get("content-length")
        if declared is not None and is_ascii_digits(declared, 20) and (
                int(declared) > self.max_body_bytes):
            raise _too_large(self.max_body_bytes)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _too_large(self.max_body_bytes)
            chunks.append(chunk)
        return b"".join(chunks)


def _query(request: Request) -> list[tuple[str, str]]:
    """The query's parameters, in order (none parsed for a request without a query, as an
    order's POST is)."""
    if not request.scope.get("query_string"):
        return []
    return request.query_params.multi_items()


def _sent_path(request: Request) -> str:
    """The path as the client sent it, percent-encoded (the server's ``path`` is decoded
    already: matching it would split on an encoded ``/`` and decode ``%25`` twice)."""
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace")
    return quote(request.url.path)


def _stored(rendered: Response,
            later: Callable[[], Awaitable[StoredResponse]] | None = None) -> StoredResponse:
    headers = {k: v for k, v in rendered.headers.items()
               if k.lower() not in ("content-length", "content-type")}
    return StoredResponse(rendered.status_code, bytes(rendered.body),
                          rendered.media_type or "application/json", headers, later)


async def _render(route: Route, reply: Awaitable[Any]) -> StoredResponse:
    """The answer ``reply`` turns into: the route's success or the error it raised."""
    try:
        return _stored(FastJSONResponse(response_json(route, await reply),
                                        status_code=route.success_status))
    except GatewayError as exc:
        return _stored(error_response(exc))


def _to_response(stored: StoredResponse) -> Response:
    return Response(stored.body, status_code=stored.status, media_type=stored.media_type,
                    headers=dict(stored.headers))


def _metadata(request: Request, request_id: str, client: str,
              public: bool) -> list[tuple[str, str]]:
    """The upstream call's metadata. A public route's call carries no token: the
    upstream's call policy would refuse an invalid one even where none is needed, and the
    gateway does not check it there."""
    metadata = [("x-request-id", request_id), (CLIENT_ADDRESS_KEY, client)]
    authorization = None if public else request.headers.get("authorization")
    if authorization:
        metadata.append(("authorization", authorization))
    tracing.inject(metadata)
    return metadata


def _check_content_type(value: str | None) -> None:
    """A body must be JSON: no Content-Type (curl-style clients) or a JSON media type."""
    if value is None:
        return
    media_type = value.split(";", 1)[0].strip().lower()
    if media_type in ("application/json", "") or media_type.endswith("+json"):
        return
    raise GatewayError(415, "UNSUPPORTED_MEDIA_TYPE",
                       f"the body must be application/json, not {media_type}",
                       [{"field": "Content-Type", "description": "must be application/json"}])


def _too_large(limit: int) -> GatewayError:
    return GatewayError(413, "PAYLOAD_TOO_LARGE", f"the request body exceeds {limit} bytes",
                        [{"field": "body", "description": f"at most {limit} bytes"}])
