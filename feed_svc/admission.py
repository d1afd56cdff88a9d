"""How many WebSocket connections one client address may hold open at once.

The address is the TCP peer, or — when the peer is one of ``TRADEMESH_TRUSTED_PROXIES`` —
what that proxy put in ``X-Forwarded-For`` (:mod:`mesh_runtime.client_address`, the same
rule as the gateway's); an IPv6 address counts as its /64. A connection past
``TRADEMESH_FEED_MAX_CONNECTIONS_PER_ADDRESS`` is refused before the upgrade: HTTP 429 with
a ``TOO_MANY_CONNECTIONS`` error body (a server without the ASGI denial-response extension
sends 403 instead). Nothing is exempt: a benchmark that opens thousands of clients from one
address raises the cap for its own feed (``bench/bench_feed.py``).
"""

from __future__ import annotations

import logging
from collections import Counter

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket

from mesh_runtime.client_address import (
    FORWARDED_FOR,
    NO_PROXIES,
    TrustedProxies,
    address_group,
)

log = logging.getLogger("trademesh.feed.ws")
DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 100
TOO_MANY_CONNECTIONS = "TOO_MANY_CONNECTIONS"


class ConnectionCap:
    """Counts open connections per client address; :meth:`admit` takes a place,
    :meth:`release` gives it back."""

    def __init__(self, limit: int = DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
                 proxies: TrustedProxies = NO_PROXIES) -> None:
        self.limit = limit
        self.proxies = proxies
        self.open: Counter[str] = Counter()

    def address_of(self, websocket: WebSocket) -> str:
        peer = websocket.client.host if websocket.client else "unknown"
        address = self.proxies.client_address(peer, websocket.headers.getlist(FORWARDED_FOR))
        return address_group(address)

    def admit(self, address: str) -> bool:
        if self.open[address] >= self.limit:
            log.info("refused a websocket from %s: %d open", address, self.open[address])
            return False
        self.open[address] += 1
        return True

    def release(self, address: str) -> None:
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]

    def refusal(self) -> JSONResponse:
        """The answer to a connection past the cap (sent instead of the upgrade)."""
        return JSONResponse(
            {"error": {"code": TOO_MANY_CONNECTIONS,
                       "message": f"at most {self.limit} WebSocket connections per client "
                                  "address; close one first"}},
            status_code=429, headers={"Retry-After": "1"})
