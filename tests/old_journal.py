"""A journal, outbox and snapshot as the engine wrote them before fills carried account
changes (build a17a5e0): the fixture ``tests/data/journal_a17a5e0.json.gz`` and how it was
made.

The fixture holds a seeded stream of every kind of command (``mixed_commands``) as
journal records, every event those commands produced as outbox records (one
``BalanceChanged`` / ``PositionChanged`` per touched key at the end of each command), an
engine snapshot taken part way, the state hash after the last command, and the
``EngineEvent`` protos the event link sent for those outbox records. It is data from the
past: :func:`build` run today writes what today's engine emits, so never regenerate the
file once the event shape changes; tests that need the old format read it with
:func:`load`.
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import dataclass
from pathlib import Path

from trademesh.v1 import event_pb2, persistence_pb2

from engine_svc import command_codec
from engine_svc.core import Engine
from engine_svc.core.markets import default_markets
from engine_svc.engine_state import State, snapshot_image
from engine_svc.event_codec import EventEncoder
from engine_svc.order_views import OrderViews

FIXTURE = Path(__file__).parent / "data" / "journal_a17a5e0.json.gz"
SEED, COMMANDS, SNAPSHOT_AT = 7, 300, 200
ENCODE_SLICE = 64  # outbox records per encode_batch call, as the event link slices them


@dataclass(frozen=True)
class OldJournal:
    commands: list[bytes]
    """Journal records; the command of sequence ``i + 1`` at index ``i``."""
    events: list[list[bytes]]
    """Outbox records per command (event sequences run from 1, gap-free)."""
    snapshot_seq: int
    snapshot: bytes
    state_hash: str
    engine_events: list[event_pb2.EngineEvent]
    """What the event link encoded from ``events``, in ``ENCODE_SLICE`` slices."""


def load() -> OldJournal:
    image = json.loads(gzip.decompress(FIXTURE.read_bytes()))
    return OldJournal(
        [c.encode() for c in image["commands"]],
        [[e.encode() for e in evs] for evs in image["events"]], image["snapshot_seq"],
        image["snapshot"].encode(), image["state_hash"],
        [event_pb2.EngineEvent.FromString(base64.b64decode(e))
         for e in image["engine_events"]])


def encode_outbox(records: list[bytes]) -> list[event_pb2.EngineEvent]:
    """Outbox records → ``EngineEvent`` protos as the event link sends them."""
    encoder = EventEncoder(default_markets(), lambda: 1)
    request = persistence_pb2.SyncEventsRequest()
    for i in range(0, len(records), ENCODE_SLICE):
        encoder.encode_batch(records[i:i + ENCODE_SLICE], request.batch.events)
    return list(request.batch.events)


def build() -> dict[str, object]:
    from tests.unit.engine.mixed_commands import generate

    commands = generate(Engine(default_markets()), SEED, COMMANDS)
    engine, views = Engine(default_markets()), OrderViews()
    events: list[list[str]] = []
    snapshot = ""
    for i, cmd in enumerate(commands, 1):
        emitted = engine.apply(cmd)
        views.apply(cmd, emitted)
        events.append([command_codec.encode(e).decode() for e in emitted])
        if i == SNAPSHOT_AT:
            snapshot = json.dumps(snapshot_image(State(engine, views)), separators=(",", ":"))
    outbox = [e.encode() for evs in events for e in evs]
    return {
        "built_at": "a17a5e0", "commands": [command_codec.encode(c).decode() for c in commands],
        "events": events, "snapshot_seq": SNAPSHOT_AT, "snapshot": snapshot,
        "state_hash": engine.state_hash(),
        "engine_events": [base64.b64encode(e.SerializeToString(deterministic=True)).decode()
                          for e in encode_outbox(outbox)],
    }


if __name__ == "__main__":  # how the fixture was written, once, at build a17a5e0
    FIXTURE.write_bytes(gzip.compress(json.dumps(build(), separators=(",", ":")).encode(), 9,
                                      mtime=0))
