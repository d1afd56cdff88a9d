"""The feed's WebSocket text for every kind of message it sends is, byte for byte, what
``json.dumps`` of ``json_format.MessageToDict`` wrote before the feed used the shared
renderer (:mod:`mesh_runtime.proto_json`): empty messages, default fields, every
``user`` event kind, non-ASCII and control characters included."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from trademesh.v1 import event_pb2, feed_pb2

from feed_svc.codec import Frame

F = FieldDescriptor
DATA_KINDS = [f.name for f in feed_pb2.SubscribeResponse.DESCRIPTOR.oneofs_by_name["data"].fields]
EVENT_KINDS = [f.name for f in event_pb2.EngineEvent.DESCRIPTOR.oneofs_by_name["body"].fields]
STRINGS = ["", "0", "SOL-USD", "65000.00000001", "é ✓ \"q\" \\ /", "tab\tnl\n", "del\x7f",
           "\u2028"]


def before(response: feed_pb2.SubscribeResponse) -> str:
    """The text the feed wrote with ``json_format`` and ``json.dumps``."""
    field = response.WhichOneof("data")
    assert field is not None
    data: dict[str, Any] = json_format.MessageToDict(
        getattr(response, field), always_print_fields_with_no_presence=True)
    if field == "depth_snapshot":
        data["type"] = "snapshot"
    elif field == "depth_update":
        data["type"] = "update"
    return json.dumps({"stream": response.channel, "data": data}, separators=(",", ":"))


def fill(message: Message, rng: random.Random, depth: int = 0) -> None:
    """Sets a random subset of ``message``'s fields (the rest stay at their defaults)."""
    for field in message.DESCRIPTOR.fields:
        if rng.random() < 0.35:
            continue
        if field.is_repeated:
            for _ in range(rng.randint(0, 3)):
                _put(message, field, rng, depth, repeated=True)
        else:
            _put(message, field, rng, depth, repeated=False)


def _put(message: Message, field: FieldDescriptor, rng: random.Random, depth: int,
         repeated: bool) -> None:
    if field.type == F.TYPE_MESSAGE:
        target = getattr(message, field.name)
        sub = target.add() if repeated else target
        if field.message_type.full_name == "google.protobuf.Timestamp":
            sub.FromSeconds(rng.randint(0, 4_000_000_000))
            sub.nanos = rng.choice([0, 1_000_000, 123_456_789])
        elif depth < 3:
            fill(sub, rng, depth + 1)
        if not repeated:
            sub.SetInParent()
        return
    value = _scalar(field, rng)
    if repeated:
        getattr(message, field.name).append(value)
    else:
        setattr(message, field.name, value)


def _scalar(field: FieldDescriptor, rng: random.Random) -> Any:
    kind = field.type
    if kind == F.TYPE_STRING:
        return rng.choice(STRINGS)
    if kind == F.TYPE_BOOL:
        return rng.random() < 0.5
    if kind == F.TYPE_ENUM:
        return rng.choice([v.number for v in field.enum_type.values])
    if kind in (F.TYPE_UINT64, F.TYPE_FIXED64):
        return rng.choice([0, 1, 2**53 + 1, 2**64 - 1])
    if kind in (F.TYPE_UINT32, F.TYPE_FIXED32):
        return rng.choice([0, 7, 2**32 - 1])
    if kind in (F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32):
        return rng.choice([0, -5, 2**31 - 1])
    assert kind in (F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64), field.full_name
    return rng.choice([0, -1, 2**63 - 1, -(2**63)])


def response(kind: str, channel: str, rng: random.Random | None,
             event_kind: str = "") -> feed_pb2.SubscribeResponse:
    out = feed_pb2.SubscribeResponse(channel=channel)
    body = getattr(out, kind)
    if rng is not None:
        fill(body, rng)
    body.SetInParent()
    if event_kind:
        event = getattr(body, event_kind)
        if rng is not None:
            fill(event, rng)
        event.SetInParent()
    return out


def test_every_kind_the_feed_sends_is_covered() -> None:
    assert set(DATA_KINDS) == {"depth_snapshot", "depth_update", "trade", "ticker", "candle",
                               "mark", "user_event", "index"}
    assert len(EVENT_KINDS) >= 13


@pytest.mark.parametrize("kind", DATA_KINDS)
def test_empty_messages_as_before(kind: str) -> None:
    for message in (response(kind, "", None), response(kind, "trades@SOL-USD", None)):
        assert Frame(message).text == before(message)


@pytest.mark.parametrize("kind", DATA_KINDS)
def test_filled_messages_as_before(kind: str) -> None:
    rng = random.Random(kind)
    for _ in range(200):
        message = response(kind, rng.choice(["depth@SOL-USD", "user", "tickers", "é"]), rng)
        text = Frame(message).text
        assert text == before(message)
        assert text.isascii()


@pytest.mark.parametrize("event_kind", EVENT_KINDS)
def test_every_user_event_as_before(event_kind: str) -> None:
    rng = random.Random(event_kind)
    assert Frame(response("user_event", "user", None, event_kind)).text == \
        before(response("user_event", "user", None, event_kind))
    for _ in range(100):
        message = response("user_event", "user", rng, event_kind)
        assert Frame(message).text == before(message)


def test_the_wire_frame_carries_the_text() -> None:
    message = response("trade", "trades@SOL-USD", random.Random(7))
    frame = Frame(message)
    payload = frame.text.encode()
    assert frame.wire[0] == 0x81 and frame.wire.endswith(payload)
