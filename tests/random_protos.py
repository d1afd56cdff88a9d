"""Random instances of any protobuf message, for tests that compare renderings."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

F = FieldDescriptor
STRINGS = ("", "x", "65000.5", "é ✓ \"q\"", "0")


def fill(message: Message, rng: random.Random, strings: Sequence[str] = STRINGS,
         depth: int = 0, skip: float = 0.3) -> None:
    """Sets a random subset of ``message``'s fields to random values (each field left
    unset with probability ``skip``: defaults and absent presence fields)."""
    for field in message.DESCRIPTOR.fields:
        if rng.random() < skip:
            continue
        repeated = field.is_repeated
        for _ in range(rng.randint(0, 3) if repeated else 1):
            _put(message, field, rng, strings, depth, repeated, skip)


def _put(message: Message, field: FieldDescriptor, rng: random.Random,
         strings: Sequence[str], depth: int, repeated: bool, skip: float) -> None:
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
            fill(sub, rng, strings, depth + 1, skip)
            if not repeated:
                sub.SetInParent()
        return
    value = scalar(field, rng, strings)
    if repeated:
        getattr(message, field.name).append(value)
    else:
        setattr(message, field.name, value)


def scalar(field: FieldDescriptor, rng: random.Random, strings: Sequence[str] = STRINGS
           ) -> Any:
    kind = field.type
    if kind == F.TYPE_STRING:
        return rng.choice(list(strings))
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
