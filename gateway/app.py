"""The gateway's composition root.

:func:`build_app` wires the ASGI app: the transcoded routes read from the proto annotations,
``/healthz``, ``/readyz``, ``/openapi.json`` and ``/docs``, with request ids on every
response. :func:`run` serves it with uvicorn beside the gRPC ``Auth`` service and stops both
on SIGTERM/SIGINT (uvicorn's own signal capture is turned off so one handler stops both).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route as HttpRoute

from gateway.auth_service import register_auth
from gateway.docs_page import render_docs
from gateway.errors import GatewayError, error_response
from gateway.openapi import build_openapi
from gateway.probes import DEFAULT_CHECK_SECONDS, Readiness, healthz
from gateway.request_id import RequestIdMiddleware
from gateway.router import RouteTable
from gateway.routes import SERVICE_UPSTREAMS, Route, default_file_descriptors, load_routes
from gateway.transcoder import DEFAULT_MAX_BODY_BYTES, Transcoder
from gateway.upstream import Upstreams
from mesh_runtime.config import Settings
from mesh_runtime.http_serving import AsgiServer
from mesh_runtime.serving import GrpcService, install_signal_handlers

log = logging.getLogger("trademesh.gateway")

# The transcoder takes every method: the route table, not Starlette, answers 404/405.
_ANY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
Endpoint = Callable[[Request], Awaitable[Response]]


def build_app(
    settings: Settings,
    *,
    routes: Sequence[Route] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    readiness_check_seconds: float = DEFAULT_CHECK_SECONDS,
) -> Starlette:
    """The gateway's ASGI app for ``settings`` (routes default to trademesh's services)."""
    route_list = list(routes) if routes is not None else load_routes(default_file_descriptors())
    upstreams = Upstreams({name: settings.address(name) for name in SERVICE_UPSTREAMS.values()})
    transcoder = Transcoder(RouteTable(route_list), upstreams, settings.upstream_timeout_seconds,
                            max_body_bytes)
    document = build_openapi(route_list)
    docs_html = render_docs(document)

    async def openapi_json(_: Request) -> JSONResponse:
        return JSONResponse(document)

    async def docs(_: Request) -> HTMLResponse:
        return HTMLResponse(docs_html)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await upstreams.close()

    fixed = {"/healthz": healthz,
             "/readyz": Readiness(upstreams, readiness_check_seconds).handle,
             "/openapi.json": openapi_json, "/docs": docs}
    return Starlette(
        routes=[
            *(HttpRoute(path, _get_only(endpoint), methods=_ANY_METHOD)
              for path, endpoint in fixed.items()),
            HttpRoute("/{path:path}", transcoder.handle, methods=_ANY_METHOD),
        ],
        middleware=[Middleware(RequestIdMiddleware)],
        exception_handlers={Exception: _internal_error, 404: _http_error, 405: _http_error},
        lifespan=lifespan,
    )


def _get_only(endpoint: Endpoint) -> Endpoint:
    """``endpoint`` for GET (and HEAD); any other method is 405 in the error shape."""

    async def handle(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return error_response(GatewayError(
                405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed on "
                f"{request.url.path}; allowed: GET", headers={"Allow": "GET"}))
        return await endpoint(request)

    return handle


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error request_id=%s: %r", request.headers.get("x-request-id"), exc)
    return error_response(GatewayError(500, "INTERNAL", "internal error"))


async def _http_error(request: Request, exc: Exception) -> Response:
    status = int(getattr(exc, "status_code", 500))
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(status, "INTERNAL")
    return error_response(GatewayError(status, code, f"{code.lower()}: {request.url.path}"))


async def run(settings: Settings) -> None:
    """Serves REST on ``gateway_port`` and gRPC Auth on ``auth_port`` until SIGTERM/SIGINT."""
    auth = GrpcService("gateway-auth", settings.host, settings.auth_port, [register_auth],
                       grace_seconds=settings.shutdown_grace_seconds)
    server = AsgiServer(build_app(settings), settings.host, settings.gateway_port,
                        settings.log_level, lifespan="on",
                        grace_seconds=settings.shutdown_grace_seconds)

    async def stop() -> None:
        server.stop()

    await auth.start()
    try:
        install_signal_handlers(stop)
        await auth.set_serving(True)
        await server.serve()
    finally:
        await auth.stop()
    log.info("gateway stopped")
