"""Order views saved in a snapshot by an older release (fills without realized PnL) load;
the records' written-out ``__init__`` keeps every field."""

from __future__ import annotations

import dataclasses

from engine_svc.core.enums import Liquidity, OrderStatus, OrderType, Side, StpMode, TimeInForce
from engine_svc.order_views import FillRecord, OrderRecord


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


def test_every_field_round_trips_and_defaults_hold() -> None:
    """``OrderRecord`` / ``FillRecord`` write their ``__init__`` out: each field is taken
    (in definition order) and kept, and the defaults are the dataclass's."""
    fill = FillRecord(3, 100_000, 1000, 5, Liquidity.MAKER, 2, 77)
    values = [9, "u", "ETH-PERP", Side.SELL, OrderType.MARKET, TimeInForce.IOC, 123, 456,
              "c-9", True, True, 7, StpMode.CANCEL_BOTH, 250, OrderStatus.FILLED, 456, 56_088,
              "why", 1, 2, [fill], 130, 110, 42]
    record = OrderRecord(*values)
    assert [getattr(record, f.name) for f in dataclasses.fields(OrderRecord)] == values
    assert [getattr(fill, f.name) for f in dataclasses.fields(FillRecord)] == \
        [3, 100_000, 1000, 5, Liquidity.MAKER, 2, 77]
    assert OrderRecord.from_json(record.to_json()) == record
    bare = OrderRecord(*values[:9])
    for f in dataclasses.fields(OrderRecord)[9:]:
        assert getattr(bare, f.name) == f.default, f.name
    assert bare.fills == () and bare._fills is None  # no list until the first fill
    other = OrderRecord(*values[:9])
    bare.add_fill(fill)
    bare.add_fill(fill)
    assert list(bare.fills) == [fill, fill] and other.fills == ()  # a list of its own each
    assert OrderRecord.from_json(other.to_json()) == other
