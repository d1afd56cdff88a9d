"""The journal's encoding of commands and events: byte for byte what orjson writes for the
dataclass (the form every journal and outbox written so far holds) over a seeded run of
every kind of command; and the commands whose ``__init__`` is written out (not generated)
take every field, by keyword, with the dataclass's defaults, and keep what they were given."""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine_svc import command_codec, outbox_span
from engine_svc.core import Engine
from engine_svc.core.commands import CancelOrder, PlaceOrder
from engine_svc.core.enums import MarginMode, OrderType, Side, StpMode, TimeInForce
from engine_svc.core.events import OrderAccepted, OrderCanceled, OrderFilled
from engine_svc.core.markets import default_markets
from engine_svc.event_codec import EventEncoder
from tests.unit.engine.mixed_commands import generate

EVERY_FIELD: dict[type, dict[str, Any]] = {
    PlaceOrder: dict(
        user_id="u-7", market="SOL-PERP", side=Side.SELL, quantity=12, type=OrderType.MARKET,
        price=1234, tif=TimeInForce.IOC, post_only=True, reduce_only=True,
        client_order_id="c-1", stp=StpMode.CANCEL_BOTH, leverage=5, slippage_bps=250, ts=99,
        stop_loss=1500, take_profit=900, margin_mode=MarginMode.ISOLATED, position_id=42),
    CancelOrder: dict(user_id="u-7", order_id=8, ts=99),
}


@pytest.mark.parametrize("cls", list(EVERY_FIELD))
def test_every_field_is_taken_and_kept(cls: type) -> None:
    values = EVERY_FIELD[cls]
    assert [f.name for f in dataclasses.fields(cls)] == list(values)
    built = cls(**values)
    assert {name: getattr(built, name) for name in values} == values
    assert command_codec.decode(command_codec.encode(built)) == built


@pytest.mark.parametrize("cls", list(EVERY_FIELD))
def test_defaults_are_the_dataclass_defaults(cls: type) -> None:
    required = {f.name: EVERY_FIELD[cls][f.name] for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING}
    built = cls(**required)
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            assert getattr(built, f.name) == f.default, f.name


def test_fields_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        CancelOrder("u-7", 8)  # type: ignore[misc]


def _orjson_form(record: object) -> bytes:
    return b'{"@type":"' + type(record).__name__.encode() + b'",' + orjson.dumps(record)[1:]


def test_records_encode_as_orjson_writes_the_dataclass() -> None:
    commands = generate(Engine(default_markets()), 5, 3000)
    engine = Engine(default_markets())
    events = [e for command in commands for e in engine.apply(command)]
    kinds = {type(r).__name__ for r in [*commands, *events]}
    assert len(kinds) >= 40, sorted(kinds)  # every kind of command, most kinds of event
    for record in [*commands, *events]:
        assert command_codec.encode(record) == _orjson_form(record), record  # type: ignore[arg-type]
    for command in commands:
        assert command_codec.decode(command_codec.encode(command)) == command


def test_fields_are_what_decoding_the_encoding_gives() -> None:
    """The market-data publisher reads events as ``fields`` (no JSON written and read):
    the same values as the outbox's bytes decoded, and the same protos from them."""
    config = default_markets()
    commands = generate(Engine(config), 11, 3000)
    engine = Engine(config)
    events = [e for command in commands for e in engine.apply(command)]
    assert len({type(e).__name__ for e in events}) >= 20
    for record in [*commands, *events]:
        assert command_codec.fields(record) == orjson.loads(command_codec.encode(record))  # type: ignore[arg-type]
    from_bytes, from_fields = (EventEncoder(config, lambda: 1) for _ in range(2))
    for event in events:
        assert from_fields.encode_fields(command_codec.fields(event)) == \
            from_bytes.encode(command_codec.encode(event)), event


WRITTEN_OUT = [PlaceOrder, CancelOrder, OrderAccepted, OrderFilled, OrderCanceled]


def _any(cls: type) -> st.SearchStrategy[Any]:
    """Instances of ``cls`` with any value of each field's type (ints within orjson's
    64 bits, any text). A compiled class's hints name ``type`` for an optional field: an
    optional int, but for the one optional text."""
    ints = st.integers(min_value=-(2**63), max_value=2**64 - 1)
    by_hint: dict[Any, st.SearchStrategy[Any]] = {
        int: ints, str: st.text(), bool: st.booleans(), type: st.none() | ints}
    hints = typing.get_type_hints(cls)
    return st.fixed_dictionaries({
        f.name: st.none() | st.text() if f.name == "client_order_id" else
        by_hint[hints[f.name]] if hints[f.name] in by_hint else
        st.sampled_from(list(hints[f.name]))
        for f in dataclasses.fields(cls)}).map(lambda kwargs: cls(**kwargs))


@pytest.mark.parametrize("cls", WRITTEN_OUT, ids=lambda cls: cls.__name__)
@settings(max_examples=200)
@given(data=st.data())
def test_written_out_kinds_encode_as_every_other(cls: type, data: st.DataObject) -> None:
    """The kinds whose fields are written out by hand give what the general loop gives,
    key for key in order, and the bytes orjson writes for the dataclass."""
    record = data.draw(_any(cls))
    assert list(command_codec.fields(record).items()) == \
        list(command_codec.general_fields(record).items())
    assert command_codec.encode(record) == _orjson_form(record)


# ------------------------------------------------------------------ the compact form

LAYOUTS = Path(__file__).with_name("compact_layouts.json")


def test_every_kinds_field_order_only_grows() -> None:
    """The compact form reads values by position: a record's fields may only be appended.
    Each kind's fields begin with the ones pinned in ``compact_layouts.json`` (append a new
    field's name there too; never reorder, rename or remove one)."""
    pinned: dict[str, list[str]] = json.loads(LAYOUTS.read_text())
    kinds = {**command_codec.COMMAND_TYPES, **command_codec.EVENT_TYPES}
    assert set(pinned) == set(kinds)
    for kind, cls in kinds.items():
        names = [f.name for f in dataclasses.fields(cls)]
        assert names[:len(pinned[kind])] == pinned[kind], kind


def test_compact_records_hold_the_objects_values_in_order() -> None:
    """Over a seeded run of every kind: the compact array is ``[kind, values...]`` of the
    object form, reads back as the object form, and commands decode to themselves."""
    commands = generate(Engine(default_markets()), 7, 3000)
    engine = Engine(default_markets())
    events = [e for command in commands for e in engine.apply(command)]
    for record in [*commands, *events]:
        whole = orjson.loads(command_codec.encode(record))  # type: ignore[arg-type]
        raw = command_codec.compact(record)  # type: ignore[arg-type]
        assert orjson.loads(raw) == list(whole.values()), record
        assert list(command_codec.body_of(orjson.loads(raw)).items()) == list(whole.items())
        assert len(raw) < len(command_codec.encode(record))  # type: ignore[arg-type]
    for command in commands:
        assert command_codec.decode(command_codec.compact(command)) == command


def test_events_from_compact_records_are_the_same_protos() -> None:
    config = default_markets()
    commands = generate(Engine(config), 13, 3000)
    engine = Engine(config)
    events = [e for command in commands for e in engine.apply(command)]
    from_object, from_compact = (EventEncoder(config, lambda: 1) for _ in range(2))
    for event in events:
        assert from_compact.encode(command_codec.compact(event)) == \
            from_object.encode(command_codec.encode(event)), event
        assert command_codec.decode_event(command_codec.compact(event)) == \
            command_codec.decode_event(command_codec.encode(event))
        assert outbox_span.expand_raw(event.seq, command_codec.compact(event)) == \
            [(event.seq, command_codec.encode(event))]


def test_a_shorter_compact_record_takes_the_defaults() -> None:
    """A compact command written before its last fields existed."""
    command = PlaceOrder(user_id="u-1", market="BTC-PERP", side=Side.BUY, quantity=3,
                         price=7, leverage=2)
    values = orjson.loads(command_codec.compact(command))
    short = orjson.dumps(values[:-2])  # without margin_mode and position_id
    assert command_codec.decode(short) == command


@pytest.mark.parametrize("raw", [
    b'["PlaceOrder"' + b',1' * 19 + b"]",  # more values than fields
    b'["NoSuchKind",1]', b"[]", b"[1,2]", b"3", b'"PlaceOrder"'])
def test_malformed_compact_records_are_corrupt(raw: bytes) -> None:
    with pytest.raises(command_codec.CorruptJournalEntry):
        command_codec.decode(raw)


@pytest.mark.parametrize("cls", WRITTEN_OUT, ids=lambda cls: cls.__name__)
@settings(max_examples=200)
@given(data=st.data())
def test_written_out_kinds_compact_as_every_other(cls: type, data: st.DataObject) -> None:
    record = data.draw(_any(cls))
    assert command_codec.compact(record) == \
        orjson.dumps(command_codec.general_compact(record))
