"""mesh_runtime.proto_json renders exactly what json_format.MessageToDict does (with the
gateway's options, fields in the same order), on random instances of every message of the
contracts."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from trademesh.v1 import (
    account_pb2,
    auth_pb2,
    engine_pb2,
    event_pb2,
    feed_pb2,
    market_pb2,
    order_pb2,
    persistence_pb2,
)

from mesh_runtime.proto_json import to_json

MODULES = [account_pb2, auth_pb2, engine_pb2, event_pb2, feed_pb2, market_pb2, order_pb2,
           persistence_pb2]
F = FieldDescriptor


def message_classes() -> list[type[Message]]:
    found: dict[str, type[Message]] = {}
    for module in MODULES:
        for descriptor in module.DESCRIPTOR.message_types_by_name.values():
            found[descriptor.full_name] = getattr(module, descriptor.name)
    return [found[name] for name in sorted(found)]


def fill(message: Message, rng: random.Random, depth: int = 0) -> None:
    """Sets a random subset of ``message``'s fields to random values."""
    for field in message.DESCRIPTOR.fields:
        if rng.random() < 0.3:
            continue  # left unset: defaults and absent presence fields
        repeated = field.is_repeated
        for _ in range(rng.randint(0, 3) if repeated else 1):
            put(message, field, rng, depth, repeated)


def put(message: Message, field: FieldDescriptor, rng: random.Random, depth: int,
        repeated: bool) -> None:
    if field.type == F.TYPE_MESSAGE:
        if depth > 3:
            return
        target = getattr(message, field.name)
        sub = target.add() if repeated else target
        name = field.message_type.full_name
        if name == "google.protobuf.Timestamp":
            sub.FromSeconds(rng.randint(0, 4_000_000_000))
            sub.nanos = rng.choice([0, 1_000_000, 123_456_789])
        elif name == "google.protobuf.ListValue":
            sub.extend([rng.choice(["1.5", "0", "abc"]) for _ in range(rng.randint(0, 3))])
        elif name.startswith("google.protobuf."):
            sub.SetInParent()
        else:
            fill(sub, rng, depth + 1)
            if not repeated:
                sub.SetInParent()
        return
    value = scalar(field, rng)
    if repeated:
        getattr(message, field.name).append(value)
    else:
        setattr(message, field.name, value)


def scalar(field: FieldDescriptor, rng: random.Random) -> Any:
    kind = field.type
    if kind == F.TYPE_STRING:
        return rng.choice(["", "x", "65000.5", "é ✓ \"q\"", "0"])
    if kind == F.TYPE_BOOL:
        return rng.random() < 0.5
    if kind == F.TYPE_ENUM:
        return rng.choice([v.number for v in field.enum_type.values])
    if kind == F.TYPE_BYTES:
        return rng.randbytes(rng.randint(0, 5))
    if kind in (F.TYPE_UINT64, F.TYPE_FIXED64):
        return rng.choice([0, 1, 2**53 + 1, 2**64 - 1])
    if kind in (F.TYPE_UINT32, F.TYPE_FIXED32):
        return rng.choice([0, 7, 2**32 - 1])
    if kind in (F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32):
        return rng.choice([0, -5, 2**31 - 1])
    if kind in (F.TYPE_FLOAT, F.TYPE_DOUBLE):
        return rng.choice([0.0, 1.5, -2.25])
    return rng.choice([0, -1, 2**63 - 1, -(2**63)])  # int64 kinds


@pytest.mark.parametrize("cls", message_classes(), ids=lambda c: c.DESCRIPTOR.full_name)
def test_the_same_json_as_json_format(cls: type[Message]) -> None:
    rng = random.Random(cls.DESCRIPTOR.full_name)
    for _ in range(25):
        message = cls()
        fill(message, rng)
        expected = json_format.MessageToDict(
            message, preserving_proto_field_name=False,
            always_print_fields_with_no_presence=True)
        assert to_json(message) == expected
        assert json.dumps(to_json(message)) == json.dumps(expected)  # the same order too
