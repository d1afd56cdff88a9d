"""A snapshot's bytes: compressed JSON equal to what ``json.dumps`` writes, read back to the
same image and state; plain-JSON snapshots (written before compression) still read; what
is neither is refused with a clear error."""

from __future__ import annotations

import json
import zlib
from typing import Any

import pytest

from engine_svc import snapshot_codec
from engine_svc.core import Engine
from engine_svc.core.markets import default_markets
from engine_svc.engine_state import State, snapshot_blob, snapshot_image
from engine_svc.order_views import OrderViews
from tests.old_journal import load
from tests.unit.engine.mixed_commands import generate


def _state(seed: int, n: int) -> State:
    engine, views = Engine(default_markets()), OrderViews()
    for cmd in generate(Engine(default_markets()), seed, n):
        views.apply(cmd, engine.apply(cmd))
    return State(engine, views)


def _plain(image: dict[str, Any]) -> bytes:
    return json.dumps(image, separators=(",", ":")).encode()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_state_of_every_command_kind_round_trips(seed: int) -> None:
    state = _state(seed, 1_500)
    image = snapshot_image(state)
    seq, blob = snapshot_blob(state)
    assert seq == state.engine.last_seq
    assert zlib.decompress(blob) == _plain(image)  # the same JSON the stdlib writes
    assert len(blob) * 3 < len(_plain(image))  # compressed (~18x on a large book)
    back = snapshot_codec.decode(blob)
    assert back == json.loads(_plain(image))
    restored = Engine.restore(default_markets(), back["engine"])
    assert restored.state_hash() == state.engine.state_hash()
    assert OrderViews.load(back["views"]).dump() == back["views"]


def test_uncompressed_snapshots_are_the_plain_json_older_engines_read() -> None:
    state = _state(4, 500)
    _, blob = snapshot_blob(state, compress=False)
    assert blob == _plain(snapshot_image(state))
    assert snapshot_codec.decode(blob) == json.loads(blob)


def test_a_plain_json_snapshot_reads_as_before() -> None:
    old = load()  # written at build a17a5e0, uncompressed
    image = snapshot_codec.decode(old.snapshot)
    assert image == json.loads(old.snapshot)
    assert Engine.restore(default_markets(), image["engine"]).last_seq == old.snapshot_seq


def test_integers_past_64_bits_and_integer_keys_are_written_as_the_stdlib_writes_them() -> None:
    image: dict[str, Any] = {"big": [2**70, -(2**65)], "keyed": {5: "five"}}
    blob = snapshot_codec.encode(image)
    assert zlib.decompress(blob) == _plain(image)
    assert snapshot_codec.decode(blob) == {"big": [2**70, -(2**65)], "keyed": {"5": "five"}}
    keyed = snapshot_codec.encode({"keyed": {5: "five"}})
    assert zlib.decompress(keyed) == b'{"keyed":{"5":"five"}}'


@pytest.mark.parametrize("blob", [b"", b"not a snapshot", b"\x78\x01garbage",
                                  zlib.compress(b"[1,2]"), b'{"engine": ', b"[]"])
def test_what_is_not_a_snapshot_is_refused_by_name(blob: bytes) -> None:
    with pytest.raises(snapshot_codec.CorruptSnapshot, match="snapshot"):
        snapshot_codec.decode(blob)
