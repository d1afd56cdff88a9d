"""Traced orders waiting for persistence: the asynchronous hop after the journal, as the
engine sees it.

The sequencer notes each traced batch (its callers' span contexts and its last event
sequence) once the batch is journaled; when persistence acknowledges a committed sequence
that covers it, a ``persistence.commit`` span (from the journal write to that
acknowledgement) is recorded in each caller's trace. Only traced batches are kept, and at
most ``limit`` of them (the oldest are dropped): nothing is held while tracing is off.
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

    def committed(self, sequence: int) -> None:
        """Persistence has committed every event up to ``sequence``."""
        waiting = self._waiting
        if not waiting or waiting[0][0] > sequence:
            return
        now = time.time_ns()
        while waiting and waiting[0][0] <= sequence:
            last, traces, at_ns = waiting.popleft()
            tracing.span_in(traces, "persistence.commit", at_ns, now,
                            {"trademesh.event.sequence": last,
                             "trademesh.persistence.committed_sequence": sequence})
