"""The compact link: elided balance changes, in-place batches and fast COPY text change
nothing persistence writes."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from trademesh.v1 import event_pb2, persistence_pb2

from engine_svc import command_codec
from engine_svc.core import Deposit, Engine, OrderType, PlaceOrder, Side
from engine_svc.core.markets import default_markets
from engine_svc.event_codec import EventEncoder, decode
from persistence_svc import event_fold as ef
from persistence_svc.copy_csv import csv_bytes, field, order_lines
from persistence_svc.event_writer import ORDER_VALUES
from persistence_svc.fold_rows import Rows


def outbox() -> list[bytes]:
    engine = Engine(default_markets())
    commands: list[object] = [Deposit(user_id=u, asset=a, amount=10**12, tx_id=f"{a}{u}", ts=1)
                              for u in ("a", "b") for a in ("USD", "SOL")]
    for n in range(6):
        commands += [
            PlaceOrder(user_id="a", market="SOL-USD", side=Side.SELL, price=100_000 + n,
                       quantity=2, ts=60_000 * n, leverage=1),
            PlaceOrder(user_id="b", market="SOL-USD", side=Side.BUY, type=OrderType.MARKET,
                       quantity=3, ts=60_000 * n, leverage=1),
            PlaceOrder(user_id="a", market="BTC-PERP", side=Side.SELL, price=500_000 + n,
                       quantity=1, ts=60_000 * n, leverage=1),
            PlaceOrder(user_id="b", market="BTC-PERP", side=Side.BUY, type=OrderType.MARKET,
                       quantity=1, ts=60_000 * n, leverage=1)]
    return [command_codec.encode(e) for c in commands for e in engine.apply(c)]


def compact(raws: list[bytes], slice_size: int) -> list[event_pb2.EngineEvent]:
    encoder = EventEncoder(default_markets(), lambda: 1)
    request = persistence_pb2.SyncEventsRequest()
    for i in range(0, len(raws), slice_size):
        encoder.encode_batch(raws[i:i + slice_size], request.batch.events)
    return list(request.batch.events)


def test_elided_balance_changes_fold_to_the_same_rows() -> None:
    raws = outbox()
    encoder = EventEncoder(default_markets(), lambda: 1)
    full = ef.fold([encoder.encode(r) for r in raws], {}, {})
    for size in (len(raws), 7):
        events = compact(raws, size)
        assert [e.sequence for e in events] == list(range(1, len(raws) + 1))
        assert sum(not e.WhichOneof("body") for e in events) > 0
        rows = ef.fold(events, {}, {})
        assert rows.balances == full.balances
        assert (rows.fills, rows.ledger, rows.trades) == (full.fills, full.ledger, full.trades)
        assert rows.orders == full.orders and rows.positions == full.positions


def test_big_integers_stay_exact() -> None:
    body = decode(b'{"@type":"X","seq":1,"amount":123456789012345678901234567890}')
    assert body["amount"] == 123456789012345678901234567890


def test_fast_copy_text_equals_the_csv_module() -> None:
    rows = ef.fold(compact(outbox(), 50), {}, {})
    fills = list(csv.reader(rows.fills))
    assert fills and all(len(r) == 13 for r in fills)  # realized_pnl last (NULL: spot)
    assert {r[1] for r in fills} == {"TAKER", "MAKER"}
    assert all(len(r) == 6 for r in csv.reader(rows.trades))
    created = [ORDER_VALUES(rows.orders[o]) for o in sorted(rows.new_orders)]
    assert created and all(r[3] is None for r in created)  # no client order ids: NULL
    assert "".join(order_lines(created)).encode() == csv_bytes(created)


def test_odd_text_is_quoted_and_reads_back() -> None:
    assert field('user:x,"y"') == '"user:x,""y"""'
    assert field("") == '""' and field("a\\b") == '"a\\b"' and field("plain") == "plain"
    rows = Rows({}, {})
    ef._post(rows, 1, 5, "USD", Decimal("-1E+2"), "DEPOSIT", "tx:a\nb", None,
             ("external", None), ('user:x,"y"', 'x,"y"'))
    back = list(csv.reader(io.StringIO("".join(rows.ledger))))
    assert back == [["1", "external", "", "USD", "1E+2", "DEPOSIT", "tx:a\nb", "", "5"],
                    ["1", 'user:x,"y"', 'x,"y"', "USD", "-1E+2", "DEPOSIT", "tx:a\nb", "", "5"]]


def test_every_core_event_has_an_encoder() -> None:
    """A new event class without a handler would stop the event link at its first use."""
    import dataclasses

    from engine_svc.core import events as core_events
    from engine_svc.core import perp_events
    from engine_svc.core.markets import default_markets
    from engine_svc.event_codec import EventEncoder

    names = {cls.__name__ for module in (core_events, perp_events)
             for cls in vars(module).values()
             if isinstance(cls, type) and dataclasses.is_dataclass(cls)
             and cls.__module__ == module.__name__}
    assert {"OrderFilled", "OpenOrderLimitSet", "FundingPaid"} <= names
    assert names - set(EventEncoder(default_markets(), lambda: 0)._handlers) == set()


def test_coalesced_batches_keep_each_tables_lines_in_order() -> None:
    from persistence_svc.event_writer import Prepared, coalesce

    cols = ("a",)
    first = Prepared([], base=0, last=10, upserts=[("U1", [])],
                     copies=[("fills", b"1\n", cols), ("orders", b"o1\n", cols)])
    then = Prepared([], base=10, last=25, copies=[("ledger_entries", b"l\n", cols),
                                                  ("fills", b"2\n", cols)], upserts=[("U2", [])])
    assert coalesce(first, then)
    assert (first.base, first.last) == (0, 25)
    assert {t: d for t, d, _ in first.copies} == {
        "fills": b"1\n2\n", "orders": b"o1\n", "ledger_entries": b"l\n"}
    assert [sql for sql, _ in first.upserts] == ["U1", "U2"]
    assert not coalesce(first, Prepared([], base=24, last=30))  # not folded right after
    assert not coalesce(Prepared([]), Prepared([], base=0, last=1))  # the plain path
