"""A journal and snapshot written before fills carried account changes (build a17a5e0)
replay to the same state, and the engine's event sequence continues the old outbox
exactly (no gap, no reuse), whether it starts from the snapshot or from nothing."""

from __future__ import annotations

import json

from engine_svc import command_codec
from engine_svc.core import Engine
from engine_svc.core.markets import default_markets
from tests.old_journal import load


def test_the_whole_old_journal_replays_to_the_same_state_and_sequence() -> None:
    old = load()
    engine = Engine(default_markets())
    for raw in old.commands:
        engine.apply(command_codec.decode(raw))
    assert engine.state_hash() == old.state_hash
    assert engine.last_seq == len(old.commands)
    assert engine.event_seq == sum(map(len, old.events))


def test_the_old_snapshot_and_its_journal_tail_continue_the_old_outbox() -> None:
    old = load()
    image = json.loads(old.snapshot)
    engine = Engine.restore(default_markets(), image["engine"])
    assert engine.last_seq == old.snapshot_seq
    assert engine.event_seq == sum(map(len, old.events[:old.snapshot_seq]))
    for raw in old.commands[old.snapshot_seq:]:
        engine.apply(command_codec.decode(raw))
    assert engine.state_hash() == old.state_hash
    assert engine.event_seq == sum(map(len, old.events))
