"""The engine's state (the core and the order views), loaded and imaged.

A state is loaded from the newest snapshot plus every journaled command after it
(:func:`load_state`); a journal that does not continue the snapshot refuses to start
(:class:`CorruptJournal`). A snapshot is the state's image (:func:`snapshot_image`), encoded
by :mod:`engine_svc.snapshot_codec` (:func:`snapshot_blob`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from engine_svc import command_codec, snapshot_codec
from engine_svc.core.engine import Engine
from engine_svc.core.markets import MarketConfig
from engine_svc.journal import Journal
from engine_svc.order_views import OrderViews
from engine_svc.snapshot_store import SnapshotStore

log = logging.getLogger("trademesh.engine.sequencer")  # start-up lines read as before


class CorruptJournal(RuntimeError):
    """The journal does not continue the snapshot: refusing to start."""


@dataclass(slots=True)
class State:
    engine: Engine
    views: OrderViews


async def load_state(config: MarketConfig, journal: Journal, snapshots: SnapshotStore) -> State:
    """The newest snapshot plus every journaled command after it."""
    latest = await snapshots.latest()
    if latest is None:
        state = State(Engine(config), OrderViews())
    else:
        image = snapshot_codec.decode(latest[1])
        state = State(Engine.restore(config, image["engine"]), OrderViews.load(image["views"]))
        if state.engine.last_seq != latest[0]:
            raise CorruptJournal(f"snapshot {latest[0]} holds seq {state.engine.last_seq}")
    replayed = 0
    async for seq, raw in journal.commands_after(state.engine.last_seq):
        if seq != state.engine.last_seq + 1:
            raise CorruptJournal(f"journal jumps from {state.engine.last_seq} to {seq}")
        command = command_codec.decode(raw)
        state.views.apply(command, state.engine.apply(command))
        replayed += 1
    log.info("state loaded: snapshot %s + %d journaled commands → seq %d",
             latest[0] if latest else "none", replayed, state.engine.last_seq)
    return state


def snapshot_image(state: State) -> dict[str, Any]:
    return {"engine": state.engine.snapshot(), "views": state.views.dump()}


def snapshot_blob(state: State, *, compress: bool = True) -> tuple[int, bytes]:
    return state.engine.last_seq, snapshot_codec.encode(snapshot_image(state),
                                                        compress=compress)
