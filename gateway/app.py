"""The gateway's composition root.

:func:`build_app` wires the ASGI app: the transcoded routes read from the proto annotations,
``/healthz``, ``/readyz``, ``/openapi.json`` and ``/docs``, with request ids on every
response and the guards (access rules, rate limits, idempotency keys — Redis-backed, built
by :mod:`gateway.wiring`) before every transcoded call. :func:`run` serves it with uvicorn
beside the gRPC ``Auth`` service and stops both on SIGTERM/SIGINT (uvicorn's own signal
capture is turned off so one handler stops both).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route as HttpRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.auth_service import auth_registrar
from gateway.docs_page import render_docs
from gateway.errors import GatewayError, error_response
from gateway.http_metrics import route_metrics
from gateway.http_tracing import with_tracing
from gateway.idempotency import REPLAYED_HEADER
from gateway.openapi import build_openapi
from gateway.policy import GatewayPolicy
from gateway.probes import DEFAULT_CHECK_SECONDS, Probe, Readiness, healthz
from gateway.request_id import RequestIdMiddleware
from gateway.router import RouteTable, method_not_allowed
from gateway.routes import SERVICE_UPSTREAMS, Route, default_file_descriptors, load_routes
from gateway.transcoder import Guards, Transcoder
from gateway.upstream import Upstreams
from gateway.web_assets import WebAssets
from gateway.wiring import build_auth, build_guards, ensure_signing_key, redis_client
from mesh_runtime.client_address import TrustedProxies
from mesh_runtime.config import Settings
from mesh_runtime.gc_tuning import tune_gc
from mesh_runtime.http_serving import AsgiServer
from mesh_runtime.revocation import RedisRevocations
from mesh_runtime.serving import GrpcService, install_signal_handlers

log = logging.getLogger("trademesh.gateway")

# The transcoder takes every method: the route table, not Starlette, answers 404/405; the
# operational paths take every standard one too, so their 405 is ours, with ``Allow``.
_ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"]
Endpoint = Callable[[Request], Awaitable[Response]]


def build_app(
    settings: Settings,
    *,
    routes: Sequence[Route] | None = None,
    max_body_bytes: int | None = None,
    readiness_check_seconds: float = DEFAULT_CHECK_SECONDS,
    guards: Guards | None = None,
) -> ASGIApp:
    """The gateway's ASGI app for ``settings`` (routes default to trademesh's services;
    guards to the Redis-backed ones of :func:`gateway.wiring.build_guards`)."""
    route_list = list(routes) if routes is not None else load_routes(default_file_descriptors())
    upstreams = Upstreams({name: settings.mesh_address(name)
                           for name in SERVICE_UPSTREAMS.values()}, settings.tls_files("gateway"))
    policy = GatewayPolicy.from_settings(settings)
    client = redis_client(settings) if guards is None else None
    revocations = RedisRevocations(client) if client is not None else None
    if client is not None:
        guards = build_guards(settings, client, policy, revocations)
    transcoder = Transcoder(RouteTable(route_list), upstreams, settings.upstream_timeout_seconds,
                            max_body_bytes or policy.max_body_bytes, guards,
                            TrustedProxies.parse(policy.trusted_proxies))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # revoked tokens mirrored in memory: no Redis round trip per request for them
        follower = asyncio.create_task(revocations.follow()) if revocations else None
        yield
        if follower is not None:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
        await upstreams.close()
        if guards is not None and guards.limiter is not None:
            await guards.limiter.close()  # its own connection (it reopens one if called)
        if client is not None:
            await client.aclose()

    fixed = {"/healthz": healthz,
             "/readyz": Readiness(upstreams, readiness_check_seconds,
                                  _redis_probe(settings, client)).handle,
             **_document_endpoints(route_list)}
    operational = Starlette(
        routes=[HttpRoute(path, _get_only(endpoint), methods=_ANY_METHOD)
                for path, endpoint in fixed.items()],
        exception_handlers={Exception: _internal_error, 404: _http_error, 405: _http_error},
        lifespan=lifespan,
    )
    front: ASGIApp = _Front(operational, transcoder, frozenset(fixed))
    front = WebAssets(front, settings.web_dir, settings.ws_port)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        front = CORSMiddleware(
            front, allow_origins=origins, allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-Id",
                           "grpc-timeout"],
            expose_headers=["X-Request-Id", "Retry-After", REPLAYED_HEADER], max_age=600)
    return RequestIdMiddleware(with_tracing(front), route_metrics(fixed))


class _Front:
    """Sends the operational paths (and lifespan) to Starlette and every other HTTP request
    straight to the transcoder, which answers every outcome itself (its 404/405 included):
    the hot path skips Starlette's router and exception middlewares."""

    def __init__(self, operational: Starlette, transcoder: Transcoder,
                 paths: frozenset[str]) -> None:
        self._operational, self._transcoder, self._paths = operational, transcoder, paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._paths:
            await self._operational(scope, receive, send)
            return
        # HEAD is GET without the body (the server leaves the body out: its own scope
        # still says HEAD)
        request = Request({**scope, "method": "GET"} if scope["method"] == "HEAD" else scope,
                          receive)
        response = await self._transcoder.handle(request)
        await response(scope, receive, send)


def _redis_probe(settings: Settings, client: Redis | None) -> dict[str, tuple[str, Probe]]:
    """Readiness asks Redis too when the guards use it (built here, from ``settings``)."""
    if client is None:
        return {}

    async def ping() -> bool:
        try:
            return bool(await client.ping())
        except (OSError, RedisError):
            return False

    return {"redis": (settings.redis_dsn.rsplit("@", 1)[-1], ping)}


def _document_endpoints(routes: list[Route]) -> dict[str, Endpoint]:
    """``/openapi.json`` and ``/docs`` for ``routes``."""
    document = build_openapi(routes)
    docs_html = render_docs(document)

    async def openapi_json(_: Request) -> Response:
        return JSONResponse(document)

    async def docs(_: Request) -> Response:
        return HTMLResponse(docs_html)

    return {"/openapi.json": openapi_json, "/docs": docs}


def _get_only(endpoint: Endpoint) -> Endpoint:
    """``endpoint`` for GET (and HEAD); any other method is 405 in the error shape."""

    async def handle(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return error_response(method_not_allowed(request.method, request.url.path, ["GET"]))
        return await endpoint(request)

    return handle


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error request_id=%s: %r", request.headers.get("x-request-id"), exc)
    return error_response(GatewayError(500, "INTERNAL", "internal error"))


async def _http_error(request: Request, exc: Exception) -> Response:
    status = int(getattr(exc, "status_code", 500))
    if status == 405:  # a method beyond _ANY_METHOD: every operational path is GET only
        return error_response(method_not_allowed(request.method, request.url.path, ["GET"]))
    code = {404: "NOT_FOUND"}.get(status, "INTERNAL")
    return error_response(GatewayError(status, code, f"{code.lower()}: {request.url.path}"))


async def run(settings: Settings) -> None:
    """Serves REST on ``gateway_port`` and gRPC Auth on ``auth_port`` until SIGTERM/SIGINT."""
    ensure_signing_key(settings)
    client = redis_client(settings)
    parts = build_auth(settings, client)
    auth = GrpcService("gateway-auth", settings.host, settings.auth_port,
                       [auth_registrar(parts.servicer)], tls=settings.tls_files("gateway"),
                       mesh_port=settings.auth_mesh_port, token_check=parts.check,
                       grace_seconds=settings.shutdown_grace_seconds)
    server = AsgiServer(build_app(settings), settings.host, settings.gateway_port,
                        settings.log_level, lifespan="on",
                        grace_seconds=settings.shutdown_grace_seconds, coalesce_writes=True)
    tune_gc()

    async def stop() -> None:
        server.stop()

    await auth.start()
    try:
        install_signal_handlers(stop)
        await auth.set_serving(True)
        await server.serve()
    finally:
        await auth.stop()
        await parts.persistence.close(None)
        await client.aclose()
    log.info("gateway stopped")
