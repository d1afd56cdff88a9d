"""The account summary's margin ratio: maintenance margin over equity, rounded up."""

from __future__ import annotations

from engine_svc.account_summary import margin_ratio


def test_margin_ratio_edges() -> None:
    assert margin_ratio(0, 0) == "0"  # no positions
    assert margin_ratio(0, 5) == "0"
    assert margin_ratio(1, 3) == "0.333334"  # rounded up: towards liquidation
    assert margin_ratio(5, 10) == "0.5"
    assert margin_ratio(12, 10) == "1.2"  # past 1: the engine liquidates
    assert margin_ratio(5, 0) == "" and margin_ratio(5, -3) == ""  # equity not positive
