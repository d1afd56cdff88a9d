"""Request ids: every request carries one (``X-Request-Id``, generated when absent), every
response echoes it, and one access-log line per request names it (with the method, path,
status and duration). A pure ASGI middleware, so it covers every route.
"""

from __future__ import annotations

import logging
import os
import re
import time

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.http_metrics import ROUTE_KEY, RouteMetrics

access_log = logging.getLogger("trademesh.gateway.access")
HEADER = b"x-request-id"
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Puts a request id into the request headers and echoes it in the response."""

    def __init__(self, app: ASGIApp, route_metrics: RouteMetrics | None = None) -> None:
        self.app = app
        self._metrics = route_metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = []
        given = b""
        for pair in scope["headers"]:  # one pass; the last one given counts
            if pair[0] == HEADER:
                given = pair[1]
            else:
                headers.append(pair)
        text = given.decode("latin-1")
        request_id = text if _ACCEPTABLE.match(text) else os.urandom(16).hex()
        encoded = request_id.encode("latin-1")
        headers.append((HEADER, encoded))
        scope = {**scope, "headers": headers}
        label = None if self._metrics is None else self._metrics.label(scope["path"])
        scope[ROUTE_KEY] = label
        started = time.perf_counter()
        status = [0]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
                kept = [pair for pair in message.get("headers", ())
                        if pair[0].lower() != HEADER]
                kept.append((b"X-Request-Id", encoded))
                message = {**message, "headers": kept}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            access_log.info("request_id=%s %s %s -> %d in %.1f ms", request_id,
                            scope["method"], scope["path"], status[0], seconds * 1000)
            if label is not None and self._metrics is not None:
                self._metrics.observe(label, scope["method"], status[0] or 500, seconds)


def request_id_of(request: Request) -> str:
    """The request's id (set by :class:`RequestIdMiddleware`)."""
    return request.headers.get("x-request-id") or os.urandom(16).hex()
