"""Traced orders waiting for persistence: the asynchronous hop after the journal.

The sequencer notes each traced batch (its callers' span contexts and its last event
sequence) once the batch is journaled. The event link asks for the ``traceparent``s of the
batches it sends (:meth:`DurableTraces.traceparents`) and carries them on the
``EventBatch``, so persistence records its own ``persistence.commit`` span in each trace;
when persistence acknowledges a committed sequence that covers a batch, the engine records
``engine.persistence_wait`` (from the journal write to that acknowledgement) there too.
Only traced batches are kept, and at most ``limit`` of them (the oldest are dropped):
nothing is held while tracing is off.
"""

from __future__ import annotations

import time
from collections import deque

from opentelemetry.trace import SpanContext

from mesh_runtime import tracing


class DurableTraces:
    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._waiting: deque[tuple[int, list[SpanContext], int]] = deque()

    def journaled(self, last_event_seq: int, traces: list[SpanContext], at_ns: int) -> None:
        """A batch with ``traces`` and events up to ``last_event_seq`` is in the journal."""
        self._waiting.append((last_event_seq, traces, at_ns))
        if len(self._waiting) > self._limit:
            self._waiting.popleft()

    def discard_from(self, first_event_seq: int | None) -> None:
        """The batches from ``first_event_seq`` on were not journaled after all."""
        while first_event_seq is not None and self._waiting and \
                self._waiting[-1][0] >= first_event_seq:
            self._waiting.pop()

    def traceparents(self, after: int, upto: int) -> list[str]:
        """The ``traceparent``s of the traced batches whose events end in (after, upto]."""
        return [tracing.traceparent(context) for last, traces, _ in self._waiting
                if after < last <= upto for context in traces]

    def committed(self, sequence: int) -> None:
        """Persistence has committed every event up to ``sequence``."""
        waiting = self._waiting
        if not waiting or waiting[0][0] > sequence:
            return
        now = time.time_ns()
        while waiting and waiting[0][0] <= sequence:
            last, traces, at_ns = waiting.popleft()
            tracing.span_in(traces, "engine.persistence_wait", at_ns, now,
                            {"trademesh.event.sequence": last,
                             "trademesh.persistence.committed_sequence": sequence})
