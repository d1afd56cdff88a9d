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
from trademesh.v1 import event_pb2, feed_pb2

from feed_svc.codec import Frame
from tests.random_protos import fill

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


def response(kind: str, channel: str, rng: random.Random | None,
             event_kind: str = "") -> feed_pb2.SubscribeResponse:
    out = feed_pb2.SubscribeResponse(channel=channel)
    body = getattr(out, kind)
    if rng is not None:
        fill(body, rng, STRINGS, skip=0.35)
    body.SetInParent()
    if event_kind:
        event = getattr(body, event_kind)
        if rng is not None:
            fill(event, rng, STRINGS, skip=0.35)
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
