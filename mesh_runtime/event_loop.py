"""Running a service's main coroutine on the configured event loop.

uvloop (libuv) runs the same asyncio code with cheaper socket I/O and callbacks: for the
gateway and the feed, whose time goes mostly to the loop and the transports, that is a large
share of each request. ``TRADEMESH_EVENT_LOOP=asyncio`` selects the standard loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory for loop ``name`` ("uvloop" or "asyncio"; None: asyncio's default)."""
    if name == "asyncio":
        return None
    import uvloop

    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T], loop: str) -> T:
    """``asyncio.run(main)`` on the event loop named ``loop``."""
    with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        return runner.run(main)
