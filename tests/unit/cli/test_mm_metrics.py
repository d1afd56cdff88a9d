"""The market maker counts its refused quotes by the engine's ErrorInfo reason."""

from __future__ import annotations

from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from prometheus_client import REGISTRY

from trademesh_cli.mm import metrics


def refused(reason: str) -> status_pb2.Status:
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="trademesh"))
    return status_pb2.Status(code=9, message="refused", details=[detail])


def test_reasons_come_from_error_info_or_the_code() -> None:
    assert metrics.reason(refused("POST_ONLY_WOULD_TAKE")) == "POST_ONLY_WOULD_TAKE"
    assert metrics.reason(status_pb2.Status(code=14)) == "CODE_14"


def test_a_ladder_placed_counts_quotes_orders_and_refusals() -> None:
    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    placed = value("trademesh_mm_orders_placed_total", market="TEST-MM")
    metrics.placed("TEST-MM", 4, ["POST_ONLY_WOULD_TAKE", "POST_ONLY_WOULD_TAKE"])
    assert value("trademesh_mm_orders_placed_total", market="TEST-MM") - placed == 4
    assert value("trademesh_mm_quotes", market="TEST-MM") == 4
    assert value("trademesh_mm_orders_rejected_total", market="TEST-MM",
                 reason="POST_ONLY_WOULD_TAKE") == 2
