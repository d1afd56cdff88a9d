"""One subscriber's bounded outgoing queue: what makes a slow client harmless to others.

Pushing never blocks and never waits for the client. Per mode:

* ``STRICT`` (trades, user events): queued in order; if the queue already holds ``limit``
  messages the subscriber is closed with a ``SLOW_CONSUMER`` reason: never silently dropped.
* ``DIFF`` (depth diffs): queued while the queue is under half full; past that the channel
  turns stale: its queued diffs are dropped and, once the client catches up, it gets one
  fresh snapshot (from ``resnapshot``) and diffs continue from there.
* ``SNAPSHOT``: replaces every queued message of its channel and clears staleness.
* ``CONFLATE`` (ticker, kline, mark): only the newest message per key is kept.

Messages of one channel leave in the order they were pushed (conflated ones collapse).
:meth:`Outbox.push_all` is ``push`` of each message in turn, in one call (a tick's worth
of messages shared by many outboxes: see ``Hub.settle``). When that list is all that waits,
``take_now`` returns the list itself and says so (``shared``): outboxes that got the same
list hand over the same object, which the pacer frames once (it must not be changed).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, TypeVar

P = TypeVar("P")


class Mode(Enum):
    STRICT = 1
    DIFF = 2
    SNAPSHOT = 3
    CONFLATE = 4


@dataclass(frozen=True, slots=True)
class Message(Generic[P]):
    channel: str
    mode: Mode
    payload: P
    key: str = ""


@dataclass(slots=True, eq=False)
class Outbox(Generic[P]):
    limit: int
    resnapshot: Callable[[str], Message[P] | None]
    closed_reason: str | None = None
    _items: deque[Message[P]] = field(default_factory=deque)
    _latest: dict[str, Message[P]] = field(default_factory=dict)
    _stale: set[str] = field(default_factory=set)
    #: Set on every push and on close; may be shared by many outboxes (one pacer waiting
    #: for any of them: see ``ws_bridge``); then only that pacer may call ``wait``.
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    #: Its public channels' messages come through ``Hub.settle`` (a pacer's outbox).
    deferred: bool = False
    #: The last ``take_now`` returned the very list ``push_all`` was given.
    shared: bool = False
    _whole: list[Message[P]] | None = None  # that list, while it is all that waits

    def push(self, message: Message[P]) -> None:
        if self.closed_reason is not None:
            return
        self._whole = None
        mode = message.mode
        if mode is Mode.STRICT:
            if len(self._items) >= self.limit:
                self.close(f"SLOW_CONSUMER: more than {self.limit} messages waiting")
                return
            self._items.append(message)
        elif mode is Mode.DIFF:
            if message.channel in self._stale:
                return
            if len(self._items) >= self.limit // 2:
                self._drop_items(message.channel)
                self._stale.add(message.channel)
            else:
                self._items.append(message)
        elif mode is Mode.SNAPSHOT:
            self._drop_items(message.channel)
            self._stale.discard(message.channel)
            self._items.append(message)
        else:
            key = message.key or message.channel
            self._latest.pop(key, None)
            self._latest[key] = message
        self.wakeup.set()

    def push_all(self, messages: list[Message[P]], plain: bool) -> None:
        """``push`` of each of ``messages`` in order; ``plain``: all of them are STRICT or
        DIFF, so while the queue stays under half full they are simply appended."""
        if self.closed_reason is not None:
            return
        items = self._items
        if plain and not self._stale and len(items) + len(messages) < self.limit // 2:
            self._whole = None if items or self._latest else messages
            items.extend(messages)  # what push does to each, below every limit
            self.wakeup.set()
            return
        for message in messages:
            self.push(message)

    def forget(self, channel: str) -> None:
        """Drops everything queued for ``channel`` (after an unsubscribe)."""
        self._whole = None
        self._drop_items(channel)
        self._stale.discard(channel)
        for key in [k for k, m in self._latest.items() if m.channel == channel]:
            del self._latest[key]

    def close(self, reason: str) -> None:
        if self.closed_reason is None:
            self.closed_reason = reason
            self._whole = None
            self._items.clear()
            self._latest.clear()
        self.wakeup.set()
        self.closed.set()

    def __len__(self) -> int:
        return len(self._items) + len(self._latest) + len(self._stale)

    async def wait(self) -> None:
        """Returns once something is waiting (or the outbox is closed)."""
        while not len(self) and self.closed_reason is None:
            self.wakeup.clear()
            await self.wakeup.wait()

    async def take(self, most: int = 256) -> list[Message[P]]:
        """Waits for messages and returns up to about ``most`` of them, oldest first; an
        empty list means the outbox was closed (see ``closed_reason``)."""
        await self.wait()
        return self.take_now(most)

    def take_now(self, most: int = 256) -> list[Message[P]]:
        """What :meth:`take` returns, without waiting (empty when nothing is waiting)."""
        if self.closed_reason is not None:
            return []
        items, whole = self._items, self._whole
        self._whole = None
        if whole is not None and len(items) <= most:  # nothing else waits (see push_all)
            self.shared = True
            items.clear()
            return whole
        self.shared = False
        if len(items) <= most:
            out = list(items)
            items.clear()
        else:
            out = [items.popleft() for _ in range(most)]
        if len(out) < most:
            if self._latest:
                out.extend(self._latest.values())
                self._latest.clear()
            if self._stale:
                for channel in sorted(self._stale):
                    fresh = self.resnapshot(channel)
                    if fresh is not None:
                        out.append(fresh)
                self._stale.clear()
        return out

    def _drop_items(self, channel: str) -> None:
        if any(m.channel == channel for m in self._items):
            self._items = deque(m for m in self._items if m.channel != channel)
