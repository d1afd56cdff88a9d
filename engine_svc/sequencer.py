"""The sequencer: one asyncio task owns the engine core; every request queues to it.

Pipeline per batch: take every queued command (up to ``max_batch``) → apply each to the
core and fold it into the order views → render each caller's answer → append the batch's
commands and events to the journal in one round trip → only then answer the callers.
While one batch's journal write is out, the next batch (if anything is queued) is applied:
its write is sent once the first is answered, so one write is out at a time, in order.

Invariants:

* An answer is sent only after its command is durable in the journal. A caller that
  gave up meanwhile still has its command applied; it learns the outcome by
  ``clientOrderId`` or order id, as after any timeout.
* If the journal cannot be written, no caller of that batch, nor of the batch applied
  behind it, gets an acknowledgement (they get UNAVAILABLE), and the in-memory state,
  which is now ahead of the journal, is thrown away and rebuilt from snapshot + journal
  before anything else is applied. A batch's write is sent only after the one before it
  was answered, so the journal never holds a batch whose predecessor failed.
* Listeners read the book of a batch when it is applied (:meth:`BatchListener.on_applied`,
  before the next batch is applied) and publish it only once it is durable
  (:meth:`BatchListener.on_batch`): market data never shows a state the journal may lose.
* A ``JournalConflict`` (another engine wrote our sequence numbers) stops the engine:
  two writers must never both believe they own the books.
* Snapshots are written atomically with their sequence number, and taken only with no
  write out and nothing applied beyond the journal; the journal is trimmed only below a
  snapshot that has been saved.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generic, Protocol, TypeVar

from opentelemetry.trace import SpanContext

from engine_svc import command_codec, metrics
from engine_svc.core.commands import Command
from engine_svc.core.engine import Engine
from engine_svc.core.events import Event
from engine_svc.core.markets import MarketConfig
from engine_svc.durable_traces import DurableTraces
from engine_svc.engine_state import CorruptJournal, State, load_state, snapshot_blob
from engine_svc.journal import Journal, JournalConflict
from engine_svc.order_views import OrderRecord, OrderViews
from engine_svc.outbox_span import Record, records
from engine_svc.snapshot_fork import ForkedSnapshot, ForkedSnapshotFailed
from engine_svc.snapshot_store import SnapshotStore
from mesh_runtime import tracing
from mesh_runtime.grpc_env import FORK_SUPPORT_VAR, fork_is_safe

log = logging.getLogger("trademesh.engine.sequencer")

T = TypeVar("T")
Render = Callable[[list[Event], list[OrderRecord]], T]


class BatchListener(Protocol):
    """Told of every batch, in order, on the sequencer's task: must be quick (queue the
    work, do it elsewhere) and must not raise."""

    def on_applied(self, events: list[Event]) -> None:
        """A batch was applied (not yet durable) and the next one is not: the engine's book
        is the batch's. Read what :meth:`on_batch` will need; publish nothing yet."""

    def on_batch(self, events: list[Event]) -> None:
        """The events of a batch that is now durable in the journal and outbox (the
        sequencer's ``batch_traces`` are its traced callers meanwhile)."""

    def on_reset(self) -> None:
        """The state was rebuilt from the journal: batches applied but not heard of in
        :meth:`on_batch` were lost; resynchronise from a fresh read."""


def _traced(batch: list[_Pending[Any]], events: list[Record], began_ns: int,
            durable: DurableTraces) -> list[SpanContext]:
    """The traced callers in ``batch``; their events are noted as on their way to
    persistence before the journal write (the event link may read them from the outbox
    before the write's answer arrives here)."""
    traced = [item.trace for item in batch if item.trace is not None]
    if traced and events:
        durable.journaled(events[-1][1], traced, began_ns)
    return traced


class EngineUnavailable(RuntimeError):
    """The command was not applied (or not made durable): the caller may retry."""


@dataclass(slots=True)
class _Pending(Generic[T]):
    """Commands from one caller, applied in order; the caller gets one result per command."""

    commands: list[Command]
    render: Render[T]
    future: asyncio.Future[list[T]] = field(default_factory=asyncio.Future)
    trace: SpanContext | None = None  # the caller's span, when it is traced


@dataclass(slots=True)
class _Applied:
    """A batch applied to the core, with what its journal write and its callers need."""

    batch: list[_Pending[Any]]
    commands: list[tuple[int, bytes]] = field(default_factory=list)
    events: list[Record] = field(default_factory=list)  # a command's account changes: one record
    emitted: list[Event] = field(default_factory=list)
    results: list[tuple[_Pending[Any], list[Any], BaseException | None]] = \
        field(default_factory=list)


@dataclass(slots=True)
class _Write:
    """An applied batch whose journal write is out."""

    applied: _Applied
    task: asyncio.Task[None]
    began: float
    began_ns: int
    traced: list[SpanContext]


class _Signal(Enum):
    SNAPSHOT = 1  # take a snapshot between batches


_SNAPSHOT = _Signal.SNAPSHOT
_Item = _Pending[Any] | _Signal | None


class Sequencer:
    def __init__(self, config: MarketConfig, state: State, journal: Journal,
                 snapshots: SnapshotStore, *, max_batch: int = 2048,
                 snapshot_every: int = 200_000, compress_snapshots: bool = True) -> None:
        self._defaults = config
        self.state = state
        self._journal = journal
        self._snapshots = snapshots
        self._max_batch = max_batch
        self._snapshot_every = snapshot_every
        self._compress = compress_snapshots
        self._since_snapshot = 0
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._closing = False
        self.healthy = True
        self.fatal: BaseException | None = None
        self._snapshotting: asyncio.Task[None] | None = None
        self._snapshot_due = False
        # a forked child is safe only with gRPC's fork handlers off (mesh_runtime.grpc_env)
        self._fork_snapshots = fork_is_safe()
        if not self._fork_snapshots:
            log.warning("snapshots are serialized in-process: gRPC loaded with its fork "
                        "handlers on (%s)", FORK_SUPPORT_VAR)
        self._listeners: list[BatchListener] = [metrics.EventCounts()]
        self.durable = DurableTraces()
        # the traced callers of the batch being told to listeners (see BatchListener)
        self.batch_traces: list[SpanContext] = []  # traced batches waiting for persistence
        metrics.bind_sequencer(self._queue.qsize, lambda: self.state.engine.last_seq)

    @property
    def config(self) -> MarketConfig:
        """The live registry: the engine's, runtime markets included (the object changes
        when the state is rebuilt: look it up, do not keep it)."""
        return self.state.engine.config

    @property
    def engine(self) -> Engine:
        return self.state.engine

    @property
    def views(self) -> OrderViews:
        return self.state.views

    def add_listener(self, listener: BatchListener) -> None:
        self._listeners.append(listener)

    async def submit(self, command: Command, render: Render[T]) -> T:
        """Applies ``command``; returns ``render(events, orders)`` once it is durable."""
        return (await self.submit_many([command], render))[0]

    async def submit_many(self, commands: list[Command], render: Render[T]) -> list[T]:
        """Applies ``commands`` in order (other callers' commands may not come between
        them); returns one ``render(events, orders)`` per command once all are durable."""
        return await self.enqueue_many(commands, render)

    def enqueue_many(self, commands: list[Command], render: Render[T]) -> asyncio.Future[list[T]]:
        """:meth:`submit_many` without waiting: ``commands`` are queued now (behind
        everything queued before this call), the future resolves once they are durable."""
        if self._closing:
            raise EngineUnavailable("the engine is shutting down; retry shortly")
        if not self.healthy:
            raise EngineUnavailable("the engine is recovering; retry shortly")
        pending: _Pending[T] = _Pending(commands, render, trace=tracing.current_context())
        self._queue.put_nowait(pending)
        return pending.future

    async def run(self) -> None:
        """The sequencer task: runs until :meth:`close` (then saves a final snapshot) or a
        fatal journal conflict."""
        stop = False
        writing: _Write | None = None  # the batch whose journal write is out
        while not stop:
            if writing is not None and (self._queue.empty() or self._snapshot_ready()):
                await self._settle(writing, None)
                writing = None
            if self._snapshot_ready():  # nothing out: the state is all journaled
                self._snapshot_now()
            first = await self._queue.get()
            if first is None:
                break
            if first is _SNAPSHOT:
                self._snapshot_due = True
                continue
            batch, stop = self._take(first)
            applied = self._apply(batch)
            if writing is not None:
                durable = await self._settle(writing, applied)
                writing = None
                if not durable:  # ``applied`` was failed with it; the state rebuilt
                    continue
            writing = await self._write(applied)
        if writing is not None:
            await self._settle(writing, None)
        if self._snapshotting is not None:
            await self._snapshotting
        began = time.perf_counter()
        seq, blob = self._blob(self.state)
        await self._save_snapshot(seq, blob, began)

    async def close(self) -> None:
        """Refuses new commands; ``run`` finishes what is queued and snapshots."""
        self._closing = True
        self._queue.put_nowait(None)

    def _take(self, first: _Pending[Any]) -> tuple[list[_Pending[Any]], bool]:
        """``first`` and what is queued behind it, up to ``max_batch`` commands; True when
        :meth:`close` was queued among them."""
        batch, size = [first], len(first.commands)
        while size < self._max_batch and not self._queue.empty():
            item = self._queue.get_nowait()
            if item is None:
                return batch, True
            if item is _SNAPSHOT:
                self._snapshot_due = True
                continue
            batch.append(item)
            size += len(item.commands)
        return batch, False

    def _snapshot_ready(self) -> bool:
        return self._snapshot_due and self.healthy and (
            self._snapshotting is None or self._snapshotting.done())

    def _apply(self, batch: list[_Pending[Any]]) -> _Applied:
        applied = _Applied(batch)
        commands, events, emitted_all = applied.commands, applied.events, applied.emitted
        engine, views, encode = self.state.engine, self.state.views, command_codec.compact
        for item in batch:
            rendered: list[Any] = []
            failure: BaseException | None = None
            for command in item.commands:
                emitted = engine.apply(command)
                touched = views.apply(command, emitted)
                commands.append((engine.last_seq, encode(command)))
                events.extend(records(emitted))
                emitted_all.extend(emitted)
                try:
                    rendered.append(item.render(emitted, touched))
                except Exception as err:  # a rendering bug must not lose the batch
                    log.exception("rendering a result failed")
                    failure = err
            applied.results.append((item, rendered, failure))
        for listener in self._listeners:
            try:
                listener.on_applied(emitted_all)
            except Exception:
                log.exception("a batch listener failed")
        return applied

    async def _write(self, applied: _Applied) -> _Write:
        """Sends ``applied``'s journal write; returns at once, the write left out."""
        began, began_ns = time.perf_counter(), time.time_ns()
        events = applied.events
        traced = _traced(applied.batch, events, began_ns, self.durable) \
            if tracing.active() else []
        task = asyncio.create_task(self._journal.append(applied.commands, events))
        if not self._queue.empty():  # the next batch is applied now: send this write first
            await asyncio.sleep(0)
        return _Write(applied, task, began, began_ns, traced)

    async def _settle(self, write: _Write, after: _Applied | None) -> bool:
        """Waits for ``write``; once durable, tells the listeners and answers its callers
        (True). If it failed, its callers and ``after``'s (applied behind it, not sent) get
        UNAVAILABLE and the state is rebuilt from the journal (False)."""
        applied = write.applied
        callers = applied.batch if after is None else applied.batch + after.batch
        try:
            await write.task
            metrics.JOURNAL_APPEND.observe(time.perf_counter() - write.began)
            tracing.span_in(write.traced, "engine.journal_append", write.began_ns,
                            time.time_ns(), {"trademesh.batch.commands": len(applied.commands)})
            metrics.BATCH_COMMANDS.observe(len(applied.commands))
        except JournalConflict as err:
            self._fail(callers, "another engine is writing this journal")
            self.fatal = err
            raise
        except Exception:
            events = applied.events
            self.durable.discard_from(events[0][0] if write.traced and events else None)
            metrics.JOURNAL_FAILURES.inc()
            log.exception("journal append failed; rebuilding state from the journal")
            self.healthy = False  # before anyone hears of it: reads must not see this state
            self._fail(callers, "the journal is unavailable; the command was not applied")
            await self._recover()
            return False
        self.batch_traces = write.traced
        for listener in self._listeners:
            try:
                listener.on_batch(applied.emitted)
            except Exception:
                log.exception("a batch listener failed")
        for item, result, error in applied.results:
            if item.future.done():
                continue
            if error is not None:
                item.future.set_exception(error)
            else:
                item.future.set_result(result)
        self._since_snapshot += len(applied.commands)
        if self._since_snapshot >= self._snapshot_every:
            self._snapshot_due = True
        return True

    def _fail(self, batch: list[_Pending[Any]], message: str) -> None:
        for item in batch:
            if not item.future.done():
                item.future.set_exception(EngineUnavailable(message))

    async def _recover(self) -> None:
        self.healthy = False
        delay = 0.05
        while True:
            try:
                self.state = await load_state(self._defaults, self._journal, self._snapshots)
                break
            except CorruptJournal:
                raise
            except Exception as err:
                log.warning("recovery failed (%s); retrying in %.2fs", err, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        pending: list[_Item] = []
        while not self._queue.empty():  # queued while broken: not applied, not acked
            item = self._queue.get_nowait()
            if item is None or item is _SNAPSHOT:
                pending.append(item)  # keep a close() or snapshot request
            else:
                self._fail([item], "the engine was recovering")
        for item in pending:
            self._queue.put_nowait(item)
        self.healthy = True
        for listener in self._listeners:
            try:
                listener.on_reset()
            except Exception:
                log.exception("a batch listener failed to reset")

    def request_snapshot(self) -> None:
        """Asks for a snapshot. The sequencer takes it between batches, never while a
        batch's journal write is out: the state it saves is always all journaled (a failed
        write must not leave its commands in a snapshot)."""
        self._queue.put_nowait(_SNAPSHOT)

    def _snapshot_now(self) -> None:
        """Snapshots the state as it is now: serialized by a forked child (the engine goes
        on meanwhile), or here if forking fails or a child has failed before. One at a
        time: asked for while one is being taken, it stays due for the next boundary."""
        if self._snapshotting is not None and not self._snapshotting.done():
            self._snapshot_due = True
            return
        self._snapshot_due = False
        self._since_snapshot = 0
        state = self.state
        seq, began = state.engine.last_seq, time.perf_counter()
        if self._fork_snapshots:
            try:
                child = ForkedSnapshot.start(lambda: self._blob(state)[1])
            except ForkedSnapshotFailed as err:
                log.warning("snapshot at seq %d in-process (%s)", seq, err)
            else:
                self._snapshotting = asyncio.create_task(self._save_forked(seq, child, began))
                self._snapshotting.add_done_callback(self._after_snapshot)
                return
        self._snapshotting = asyncio.create_task(
            self._save_snapshot(*self._blob(state), began))
        self._snapshotting.add_done_callback(self._after_snapshot)

    def _blob(self, state: State) -> tuple[int, bytes]:
        return snapshot_blob(state, compress=self._compress)

    def _after_snapshot(self, _: asyncio.Task[None]) -> None:
        if self._snapshot_due and not self._closing:  # asked for meanwhile: take it now
            self.request_snapshot()

    async def _save_forked(self, seq: int, child: ForkedSnapshot, began: float) -> None:
        try:
            blob = await child.result()
        except ForkedSnapshotFailed as err:
            # that state is gone; the next boundary's state is serialized here instead
            log.error("snapshot at seq %d failed (%s); snapshots are serialized in-process "
                      "from now on", seq, err)
            self._fork_snapshots = False
            self._snapshot_due = True
            return
        await self._save_snapshot(seq, blob, began)

    async def _save_snapshot(self, seq: int, blob: bytes, began: float) -> None:
        try:
            await self._snapshots.save(seq, blob)
            await self._journal.trim_below(seq)
            metrics.snapshot_saved(seq, began)
            log.info("snapshot at seq %d saved (%d bytes)", seq, len(blob))
        except Exception:
            metrics.SNAPSHOT_FAILURES.inc()
            log.exception("snapshot at seq %d failed; the journal is kept", seq)
