"""Persistence's metrics: how fast event batches commit and how far the record has got.

The engine reports the lag itself (``trademesh_engine_persistence_lag_events``: outbox
events not committed here); these say what each commit costs.
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram

from mesh_runtime.metrics import LATENCY_BUCKETS

COMMIT_SECONDS = Histogram("trademesh_persistence_commit_seconds",
                           "Time to write and commit one event batch to PostgreSQL.",
                           buckets=LATENCY_BUCKETS)
EVENTS_COMMITTED = Counter("trademesh_persistence_events_committed_total",
                           "Engine events committed to PostgreSQL.")
POSITION_MISMATCHES = Counter("trademesh_persistence_position_mismatches_total",
                              "Position events whose size the batch's fills did not explain "
                              "(folded over a stale prior state).")
COMMITTED_SEQUENCE = Gauge("trademesh_persistence_committed_sequence",
                           "The last committed engine event sequence.")


def committed(began: float, before: int, after: int) -> None:
    """A batch transaction begun at ``time.perf_counter()`` ``began`` moved the committed
    sequence from ``before`` to ``after``."""
    COMMIT_SECONDS.observe(time.perf_counter() - began)
    if after > before:
        EVENTS_COMMITTED.inc(after - before)
    COMMITTED_SEQUENCE.set(after)
