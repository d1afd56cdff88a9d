"""Garbage-collector settings for a long-running service.

Every service allocates many short-lived objects per request or event (protobuf messages,
rows, frames) and holds a large, stable heap (modules, the engine's book, connections).
``tune_gc`` moves what is loaded at start-up out of the collector's way (``gc.freeze``) and
collects the young generation every 50,000 allocations instead of every 700, so that
collections are rarer and each one walks fewer objects: fewer pauses on the hot paths.

A heap that keeps growing with long-lived objects (the engine's resting orders: two
tracked objects each) makes the older generations' passes the cost: every young survivor
is walked again by the next middle-generation pass, and all of them by each full pass,
which come as the heap grows by a quarter (measured on a 600,000-order book: a quarter of
the engine's CPU in the collector, passes of 0.2-0.5 s). :func:`freeze_survivors` freezes
whatever survives a young collection instead, so each object is walked once; freed
objects are still freed at once by reference counting, so only reference *cycles* that
became garbage after being frozen wait, for :func:`collect_cycles` (a full collection of
everything, frozen included), which the service runs on a slow timer
(:func:`collect_cycles_every`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("trademesh.gc")


def tune_gc() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _freeze_after_young(phase: str, info: dict[str, Any]) -> None:
    if phase == "stop" and info["generation"] == 0:
        gc.freeze()


def freeze_survivors() -> Callable[[], None]:
    """From now on, whatever survives a young collection is frozen (walked by no later
    collection until :func:`collect_cycles`). Returns the undo."""
    gc.callbacks.append(_freeze_after_young)
    return lambda: gc.callbacks.remove(_freeze_after_young)


def collect_cycles() -> tuple[int, float]:
    """A full collection, frozen objects included, which are frozen again after: (the
    unreachable objects found, the seconds it took)."""
    began = time.perf_counter()
    gc.unfreeze()
    try:
        found = gc.collect()
    finally:
        gc.freeze()
    return found, time.perf_counter() - began


async def collect_cycles_every(seconds: float) -> None:
    """:func:`collect_cycles` every ``seconds``, logged with what it found and its pause."""
    while True:
        await asyncio.sleep(seconds)
        found, took = collect_cycles()
        log.info("full collection: %d unreachable objects, %.0f ms", found, took * 1000)
