"""API.md's REST table as data: what the OpenAPI document and the mesh must offer."""

from __future__ import annotations

API_MD_ROUTES = [
    ("post", "/api/v1/auth/signup"), ("post", "/api/v1/auth/signin"),
    ("get", "/api/v1/auth/whoami"), ("post", "/api/v1/auth/logout"),
    ("get", "/api/v1/markets"), ("post", "/api/v1/account/deposit"),
    ("post", "/api/v1/account/withdraw"), ("get", "/api/v1/account/balances"),
    ("get", "/api/v1/account/positions"), ("post", "/api/v1/orders"),
    ("get", "/api/v1/orders/{orderId}"), ("get", "/api/v1/orders"),
    ("patch", "/api/v1/orders/{orderId}"), ("delete", "/api/v1/orders/{orderId}"),
    ("delete", "/api/v1/orders/by-client-id/{clientOrderId}"), ("delete", "/api/v1/orders"),
    ("post", "/api/v1/orders/quote"), ("post", "/api/v1/positions/{market}/close"),
    ("get", "/api/v1/history/orders"), ("get", "/api/v1/history/fills"),
    ("get", "/api/v1/history/positions"), ("get", "/api/v1/history/funding"),
    ("get", "/api/v1/history/ledger"), ("get", "/api/v1/history/liquidations"),
    ("get", "/api/v1/account/summary"), ("get", "/api/v1/markets/{market}/depth"),
    ("get", "/api/v1/markets/{market}/trades"), ("get", "/api/v1/markets/{market}/ticker"),
    ("get", "/api/v1/markets/{market}/candles"), ("post", "/api/v1/admin/oracle/{market}"),
    ("get", "/api/v1/markets/tickers"),
    ("post", "/api/v1/admin/assets"), ("post", "/api/v1/admin/markets"),
    ("get", "/api/v1/admin/markets"), ("patch", "/api/v1/admin/markets/{market}"),
    ("get", "/api/v1/triggers"), ("post", "/api/v1/triggers"),
    ("patch", "/api/v1/triggers/{triggerId}"), ("delete", "/api/v1/triggers/{triggerId}"),
]
OPERATIONAL_ROUTES = [("get", "/healthz"), ("get", "/readyz"), ("get", "/openapi.json"),
                      ("get", "/docs")]
ALL_ROUTES = API_MD_ROUTES + OPERATIONAL_ROUTES
