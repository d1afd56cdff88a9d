"""mesh_runtime.proto_json renders exactly what json_format.MessageToDict does (with the
gateway's options, fields in the same order), on random instances of every message of the
contracts."""

from __future__ import annotations

import json
import random

import pytest
from google.protobuf import json_format, timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st
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
from tests.random_protos import fill

MODULES = [account_pb2, auth_pb2, engine_pb2, event_pb2, feed_pb2, market_pb2, order_pb2,
           persistence_pb2]
F = FieldDescriptor


def message_classes() -> list[type[Message]]:
    found: dict[str, type[Message]] = {}
    for module in MODULES:
        for descriptor in module.DESCRIPTOR.message_types_by_name.values():
            found[descriptor.full_name] = getattr(module, descriptor.name)
    return [found[name] for name in sorted(found)]


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


@settings(max_examples=2000, deadline=None)
@given(seconds=st.one_of(st.integers(-62_135_596_800, 253_402_300_799),
                         st.integers(1_700_000_000, 1_900_000_000)),
       nanos=st.one_of(st.integers(0, 999_999_999), st.integers(0, 999).map(lambda n: n * 10**6),
                       st.integers(0, 999_999).map(lambda n: n * 1000)))
def test_timestamps_as_protobuf_writes_them(seconds: int, nanos: int) -> None:
    stamp = timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)
    assert to_json(stamp) == stamp.ToJsonString()


@pytest.mark.parametrize("seconds, nanos", [(253_402_300_800, 0), (-62_135_596_801, 0),
                                            (0, -1), (0, 1_000_000_000)])
def test_an_invalid_timestamp_is_refused_as_protobuf_refuses_it(seconds: int, nanos: int) -> None:
    stamp = timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)
    with pytest.raises(ValueError):
        stamp.ToJsonString()
    with pytest.raises(ValueError):
        to_json(stamp)
