"""Order views saved in a snapshot by an older release (fills without realized PnL) load."""

from __future__ import annotations

from engine_svc.order_views import OrderRecord


def test_a_fill_saved_without_realized_pnl_loads_as_unknown() -> None:
    row = [7, "u", "SOL-PERP", "BUY", "LIMIT", "GTC", 100_000, 1000, None, False, False, 10,
           "CANCEL_TAKER", 0, "FILLED", 1000, 100_000_000, "", 1, 2,
           [[3, 100_000, 1000, 5, "TAKER", 2]]]
    record = OrderRecord.from_json(row)
    assert record.fills[0].realized is None
    again = OrderRecord.from_json(record.to_json())
    assert again == record and record.to_json()[20][0][-1] is None  # the fills
    record.fills[0].realized = -155
    assert OrderRecord.from_json(record.to_json()).fills[0].realized == -155
