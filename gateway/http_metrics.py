"""RED metrics for every REST route, recorded by the gateway's outermost ASGI middleware
(:class:`gateway.request_id.RequestIdMiddleware`, which times every request anyway).

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

from collections.abc import Iterable

from prometheus_client import Counter
from starlette.types import Scope

from mesh_runtime import metrics
from mesh_runtime.cheap_metrics import Count, CounterFamily, HistogramFamily

ROUTE_KEY = "trademesh.route"
UNMATCHED = "unmatched"
REQUESTS = CounterFamily("http_requests_total", "HTTP requests answered, by route template, "
                         "method and status code.", ["route", "method", "code"])
DURATION = HistogramFamily("http_request_duration_seconds",
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
        self._codes: dict[int, Count] = {}

    def count(self, code: int) -> None:
        counter = self._codes.get(code)
        if counter is None:
            counter = self._codes[code] = REQUESTS.labels(*self._labels, str(code))
        counter.inc()


class RouteMetrics:
    """Records one answered request: used by the request-id middleware, which already
    wraps every request (no second ASGI layer on the hot path)."""

    def __init__(self, fixed_paths: Iterable[str]) -> None:
        self._fixed = frozenset(fixed_paths)
        self._routes: dict[tuple[str, str], _Route] = {}

    def label(self, path: str) -> RouteLabel:
        """The label of a request for ``path`` (the router names the template later)."""
        return RouteLabel(path if path in self._fixed else UNMATCHED)

    def observe(self, label: RouteLabel, method: str, code: int, seconds: float) -> None:
        key = (label.template, method)
        bound = self._routes.get(key)
        if bound is None:
            if len(self._routes) > 1000:  # methods are client-chosen strings: bounded
                key = (label.template, "OTHER")
                bound = self._routes.get(key)
            if bound is None:
                bound = self._routes[key] = _Route(*key)
        bound.seconds.observe(seconds)
        bound.count(code)


def route_metrics(fixed_paths: Iterable[str]) -> RouteMetrics | None:
    """The recorder for the gateway, or None when ``TRADEMESH_METRICS=off``."""
    return RouteMetrics(fixed_paths) if metrics.enabled() else None
