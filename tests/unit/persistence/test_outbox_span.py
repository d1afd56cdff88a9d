"""Span records (a command's account changes as one outbox record) stand for exactly the
events they replace: the same one-event JSON byte for byte, and the same ``EngineEvent``
protos on the link as the one-record-per-event form, over a seeded run of every kind of
command."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st
from trademesh.v1 import event_pb2, persistence_pb2

from engine_svc import command_codec
from engine_svc.core import Engine
from engine_svc.core.events import BalanceChanged, Event, PositionChanged
from engine_svc.core.markets import MarketConfig, default_markets
from engine_svc.event_codec import EventEncoder
from engine_svc.journal import split_entry
from engine_svc.outbox_span import Record, expand_raw, is_span, joined, joined_commands, records
from tests.unit.engine.mixed_commands import generate

SEED, COMMANDS = 11, 1500


@pytest.fixture(scope="module")
def applied() -> tuple[Engine, list[list[Event]]]:
    """A seeded run of every command kind: the engine, and the events of each command."""
    commands = generate(Engine(default_markets()), SEED, COMMANDS)
    engine = Engine(default_markets())
    return engine, [engine.apply(command) for command in commands]


@pytest.fixture(scope="module")
def run(applied: tuple[Engine, list[list[Event]]]) -> list[list[Event]]:
    return applied[1]


def old_form(run: list[list[Event]]) -> list[bytes]:
    return [command_codec.encode(e) for emitted in run for e in emitted]


def new_form(run: list[list[Event]]) -> list[Record]:
    return [r for emitted in run for r in records(emitted)]


def link(raws: list[bytes], cut: list[int], after: int = 0,
         registry: MarketConfig | None = None) -> list[event_pb2.EngineEvent]:
    """``raws`` encoded as the event link does, one ``encode_batch`` per slice of ``cut``
    (the encoder learns ``registry`` first: the markets added before ``after``)."""
    encoder = EventEncoder(default_markets(), lambda: 1)
    if registry is not None:
        encoder.learn(registry)
    request = persistence_pb2.SyncEventsRequest()
    for start, end in zip([0, *cut], [*cut, len(raws)], strict=True):
        encoder.encode_batch(raws[start:end], request.batch.events, after)
    return list(request.batch.events)


def test_spans_cover_the_account_changes_of_each_command(run: list[list[Event]]) -> None:
    kinds = {type(e).__name__ for emitted in run for e in emitted}
    assert {"OrderFilled", "PositionLiquidated", "FundingPaid", "TriggerFired",
            "WithdrawalApplied", "MarketChanged"} <= kinds  # every kind of command ran
    spans = 0
    for emitted in run:
        recs = records(emitted)
        if emitted:
            assert recs[0][0] == emitted[0].seq and recs[-1][1] == emitted[-1].seq
        for (_, last, _), (first, _, _) in pairwise(recs):
            assert first == last + 1  # gap-free, no overlap
        for first, last, raw in recs:
            covered = [e for e in emitted if first <= e.seq <= last]
            if is_span(raw):
                spans += 1
                assert all(type(e) in (BalanceChanged, PositionChanged) for e in covered)
            else:
                assert first == last
    old, new = old_form(run), new_form(run)
    assert spans > 500
    assert len(new) + sum(last - first for first, last, _ in new) == len(old)
    assert sum(len(r) for _, _, r in new) < 0.9 * sum(map(len, old))


def test_a_span_expands_to_the_old_records_byte_for_byte(run: list[list[Event]]) -> None:
    expanded = [item for first, _, raw in new_form(run) for item in expand_raw(first, raw)]
    old = old_form(run)
    assert [seq for seq, _ in expanded] == list(range(1, len(old) + 1))
    assert [raw for _, raw in expanded] == old


def test_spans_reach_the_link_as_the_same_engine_events(run: list[list[Event]]) -> None:
    old, new = old_form(run), new_form(run)
    # the same events per slice: cut both forms after the same commands
    old_cut, new_cut, o, n = [], [], 0, 0
    for i, emitted in enumerate(run):
        o, n = o + len(emitted), n + len(records(emitted))
        if i % 40 == 39:
            old_cut.append(o)
            new_cut.append(n)
    want = link(old, old_cut)
    got = link([raw for _, _, raw in new], new_cut)
    assert [e.sequence for e in got] == list(range(1, len(old) + 1))
    assert sum(e.HasField("balance") for e in got) > 500
    assert sum(e.HasField("position") for e in got) > 100
    for g, w in zip(got, want, strict=True):
        assert g == w, (g, w)
    assert link([raw for _, _, raw in new], []) == link(old, [])


def test_a_read_starting_inside_a_span_sends_only_what_follows(
        applied: tuple[Engine, list[list[Event]]]) -> None:
    engine, run = applied
    new = new_form(run)
    first, last, _ = next(r for r in new if is_span(r[2]) and r[1] > r[0] + 1)
    tail = [r for r in new if r[1] >= last]
    got = link([r for _, _, r in tail], [], after=first, registry=engine.config)
    assert got[0].sequence == first + 1
    assert [e.sequence for e in got] == list(range(first + 1, new[-1][1] + 1))


def test_an_entry_names_the_span_of_each_record() -> None:
    plain = {b"f": b"7", b"r": b"a\nb"}
    assert split_entry(plain) == [(7, 7, b"a"), (8, 8, b"b")]  # as written before spans
    spans = {b"f": b"7", b"r": b"a\nb\nc", b"n": b"1 4 1"}
    assert split_entry(spans) == [(7, 7, b"a"), (8, 11, b"b"), (12, 12, b"c")]
    with pytest.raises(ValueError, match="3 records, 2 spans"):
        split_entry({b"f": b"7", b"r": b"a\nb\nc", b"n": b"1 4"})


def test_a_span_row_of_the_wrong_shape_is_refused() -> None:
    raw = b'{"@type":"AccountsChanged","seq":3,"cmd_seq":2,"b":[["u","USD",1]],"p":[]}'
    with pytest.raises(ValueError):
        expand_raw(3, raw)


@given(st.integers(min_value=1, max_value=10**12),
       st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=50))
def test_a_joined_entry_splits_into_its_records(first: int, counts: list[int]) -> None:
    """What the journal writes for consecutive records (:func:`joined`) reads back as those
    records; an entry whose records each cover one sequence number has no ``n``."""
    written: list[Record] = []
    seq = first
    for i, count in enumerate(counts):
        written.append((seq, seq + count - 1, b'{"i":%d}' % i))
        seq += count
    bodies, spans = joined(written)
    assert (spans is None) == all(count == 1 for count in counts)
    entry = {b"f": b"%d" % first, b"r": bodies, **({} if spans is None else {b"n": spans})}
    assert split_entry(entry) == written
    assert joined_commands([(s, b) for s, _, b in written]) == bodies
