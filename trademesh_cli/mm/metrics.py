"""The market maker's metrics: its quotes, the orders it placed and why any were refused."""

from __future__ import annotations

from typing import Any

from google.rpc import error_details_pb2
from prometheus_client import Counter, Gauge

QUOTES = Gauge("trademesh_mm_quotes", "Quotes the market maker has resting, per market.",
               ["market"])
REQUOTES = Counter("trademesh_mm_requotes_total",
                   "Times the market maker replaced its ladder, per market.", ["market"])
ORDERS_PLACED = Counter("trademesh_mm_orders_placed_total",
                        "Orders the market maker placed and the engine accepted.", ["market"])
ORDERS_REJECTED = Counter("trademesh_mm_orders_rejected_total",
                          "Orders of the market maker the engine refused, by reason.",
                          ["market", "reason"])
ERRORS = Counter("trademesh_mm_errors_total",
                 "Failed calls of the market maker to the engine, by gRPC code.", ["code"])


def reason(status: Any) -> str:
    """The ``ErrorInfo`` reason of a ``google.rpc.Status`` (else its numeric code)."""
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason)
    return f"CODE_{status.code}"


def placed(market: str, accepted: int, refused: list[str]) -> None:
    """One ladder placed: ``accepted`` orders in, the ``refused`` ones' reasons."""
    REQUOTES.labels(market).inc()
    QUOTES.labels(market).set(accepted)
    if accepted:
        ORDERS_PLACED.labels(market).inc(accepted)
    for reason in refused:
        ORDERS_REJECTED.labels(market, reason or "UNKNOWN").inc()
