"""Outbox records written before fills carried account changes (build a17a5e0) still
become the very ``EngineEvent`` protos the event link sent for them, and fold."""

from __future__ import annotations

from persistence_svc import event_fold as ef
from tests.old_journal import encode_outbox, load


def test_old_outbox_records_encode_to_the_same_engine_events() -> None:
    old = load()
    records = [e for evs in old.events for e in evs]
    assert sum(b'"@type":"BalanceChanged"' in r for r in records) > 300  # the old shape
    events = encode_outbox(records)
    assert [e.sequence for e in events] == list(range(1, len(records) + 1))
    assert len(events) == len(old.engine_events)
    for got, want in zip(events, old.engine_events, strict=True):
        assert got == want, (got, want)


def test_old_outbox_folds_with_every_position_explained() -> None:
    old = load()
    rows = ef.fold(list(old.engine_events), {}, {})
    assert rows.fills and rows.positions and rows.balances
    assert rows.unexplained == []
