"""RED metrics for every REST route: a pure ASGI middleware, outermost.

* ``http_requests_total{route, method, code}``
* ``http_request_duration_seconds{route, method}`` (histogram)
* ``trademesh_gateway_rate_limited_total``: requests refused by the rate limits (429)

``route`` is the route's template (``/api/v1/orders/{order_id}``), never the raw path, so
the label set stays as small as the API: the middleware puts a :class:`RouteLabel` into the
scope and the transcoder names the route it matched (:func:`name_route`); the fixed paths
(``/healthz``, ``/readyz``, ``/openapi.json``, ``/docs``) are their own templates, and
anything else is ``unmatched``. Label children are bound once per (route, method) and code.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mesh_runtime import metrics

ROUTE_KEY = "trademesh.route"
UNMATCHED = "unmatched"
REQUESTS = Counter("http_requests_total", "HTTP requests answered, by route template, method "
                   "and status code.", ["route", "method", "code"])
DURATION = Histogram("http_request_duration_seconds",
                     "HTTP request latency (seconds), by route template and method.",
                     ["route", "method"], buckets=metrics.LATENCY_BUCKETS)
RATE_LIMITED = Counter("trademesh_gateway_rate_limited_total",
                       "Requests refused by the per-IP or per-user rate limits (429).")


class RouteLabel:
    """The route template a request matched (filled in by whoever routes it)."""

    __slots__ = ("template",)

    def __init__(self, template: str) -> None:
        self.template = template


def name_route(scope: Scope, template: str) -> None:
    """Records that the request of ``scope`` matched the route ``template``."""
    label = scope.get(ROUTE_KEY)
    if label is not None:
        label.template = template


class _Route:
    """One (route, method)'s pre-bound children."""

    __slots__ = ("_codes", "_labels", "seconds")

    def __init__(self, route: str, method: str) -> None:
        self._labels = (route, method)
        self.seconds = DURATION.labels(route, method)
        self._codes: dict[int, Any] = {}

    def count(self, code: int) -> None:
        counter = self._codes.get(code)
        if counter is None:
            counter = self._codes[code] = REQUESTS.labels(*self._labels, str(code))
        counter.inc()


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp, fixed_paths: Iterable[str]) -> None:
        self.app = app
        self._fixed = frozenset(fixed_paths)
        self._routes: dict[tuple[str, str], _Route] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        label = RouteLabel(path if path in self._fixed else UNMATCHED)
        status = [500]  # what an app that raises before answering amounts to

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        began = time.perf_counter()
        try:
            await self.app({**scope, ROUTE_KEY: label}, receive, send_status)
        finally:
            self._observe(label.template, scope["method"], status[0],
                          time.perf_counter() - began)

    def _observe(self, route: str, method: str, code: int, seconds: float) -> None:
        key = (route, method)
        bound = self._routes.get(key)
        if bound is None:
            if len(self._routes) > 1000:  # methods are client-chosen strings: bounded
                key = (route, "OTHER")
                bound = self._routes.get(key)
            if bound is None:
                bound = self._routes[key] = _Route(*key)
        bound.seconds.observe(seconds)
        bound.count(code)


def with_http_metrics(app: ASGIApp, fixed_paths: Iterable[str]) -> ASGIApp:
    """``app`` measured, unless ``TRADEMESH_METRICS=off``."""
    return HttpMetricsMiddleware(app, fixed_paths) if metrics.enabled() else app
