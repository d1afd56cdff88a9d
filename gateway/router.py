"""Finding the route for a method and path.

Among the templates matching a path the most specific wins (a literal segment beats a
variable at the first position where they differ), for every method: ``/orders/quote`` is
the quote resource, so PATCH on it is 405 (Allow: POST), not an amendment of an order
whose id is "quote". A path that no template matches is 404;
a path that matches only under other methods is 405 with the allowed methods in ``Allow``
(RFC 9110: HEAD beside GET, which the gateway answers as GET without the body).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gateway.errors import GatewayError
from gateway.routes import Route


@dataclass(frozen=True, slots=True)
class RouteMatch:
    route: Route
    path_values: dict[str, str]


class RouteTable:
    """The routes, ordered most specific first."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = sorted(routes, key=lambda r: r.template.specificity())
        seen: set[tuple[str, str]] = set()
        for route in self.routes:
            key = (route.http_method, route.template.source)
            if key in seen:
                raise ValueError(f"two rpcs bind {key[0]} {key[1]}")
            seen.add(key)

    def match(self, http_method: str, path: str) -> RouteMatch:
        """The route for ``http_method path``; raises GatewayError 404 or 405."""
        allowed: list[str] = []
        best: tuple[int, ...] | None = None
        for route in self.routes:
            values = route.template.match(path)
            if values is None:
                continue
            specificity = route.template.specificity()
            if best is None:
                best = specificity
            elif specificity != best:  # a less specific template: another resource
                continue
            if route.http_method == http_method.upper():
                return RouteMatch(route, values)
            allowed.append(route.http_method)
        if allowed:
            raise method_not_allowed(http_method, path, allowed)
        raise GatewayError(404, "NOT_FOUND", f"no route for {path}")


def allow_header(methods: Iterable[str]) -> str:
    """The ``Allow`` value for a resource served under ``methods`` (HEAD comes with GET)."""
    names = {m.upper() for m in methods}
    if "GET" in names:
        names.add("HEAD")
    return ", ".join(sorted(names))


def method_not_allowed(http_method: str, path: str, allowed: Iterable[str]) -> GatewayError:
    """The 405 for ``http_method`` on ``path``, with ``Allow``."""
    allow = allow_header(allowed)
    return GatewayError(405, "METHOD_NOT_ALLOWED",
                        f"{http_method.upper()} is not allowed on {path}; allowed: {allow}",
                        headers={"Allow": allow})
