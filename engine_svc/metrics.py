"""The engine's metrics: the sequencer, the journal, snapshots, the persistence link, and
what the books did (orders accepted and rejected by reason, fills).

Gauges that mirror live state (queue depth, last sequence, persistence lag) are read at
scrape time through ``bind_*`` (a number read across threads: no lock, no cost per
command). Counters of events are fed by :class:`EventCounts`, a batch listener: one pass
over each durable batch, off the matching path.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram

from engine_svc.batch_scan import order_counts
from engine_svc.core.events import Event
from mesh_runtime.cheap_metrics import Count, CounterFamily
from mesh_runtime.metrics import LATENCY_BUCKETS

QUEUE_DEPTH = Gauge("trademesh_engine_queue_depth",
                    "Submissions waiting for the sequencer (callers, not commands).")
LAST_SEQUENCE = Gauge("trademesh_engine_last_sequence", "The last applied command sequence.")
BATCH_COMMANDS = Histogram("trademesh_engine_batch_commands",
                           "Commands per sequencer batch (one journal write each).",
                           buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048))
JOURNAL_APPEND = Histogram("trademesh_engine_journal_append_seconds",
                           "Time to append one batch to the Redis journal and outbox.",
                           buckets=LATENCY_BUCKETS)
JOURNAL_FAILURES = Counter("trademesh_engine_journal_append_failures_total",
                           "Batches whose journal append failed (the state was rebuilt).")
SNAPSHOT_SECONDS = Histogram("trademesh_engine_snapshot_duration_seconds",
                             "From taking a snapshot to its being saved (and the journal "
                             "trimmed).", buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                                                   10, 30, 60, 120))
SNAPSHOT_TIME = Gauge("trademesh_engine_snapshot_last_success_timestamp_seconds",
                      "Unix time of the last saved snapshot (0: none since start).")
SNAPSHOT_AGE = Gauge("trademesh_engine_snapshot_age_seconds",
                     "Seconds since the last saved snapshot (since start if none).")
SNAPSHOT_SEQUENCE = Gauge("trademesh_engine_snapshot_sequence",
                          "The command sequence of the last saved snapshot.")
SNAPSHOT_FAILURES = Counter("trademesh_engine_snapshot_failures_total",
                            "Snapshots that could not be saved.")
PERSISTENCE_LAG = Gauge("trademesh_engine_persistence_lag_events",
                        "Outbox events persistence has not committed yet.")
PERSISTENCE_UP = Gauge("trademesh_engine_persistence_link_up",
                       "1 while the event stream to persistence is connected.")
ORDERS_ACCEPTED = CounterFamily("trademesh_engine_orders_accepted_total",
                                "Orders the engine accepted.", ["market"])
ORDERS_REJECTED = CounterFamily("trademesh_engine_orders_rejected_total",
                                "Orders the engine rejected, by reason.", ["market", "reason"])
FILLS = CounterFamily("trademesh_engine_fills_total",
                      "Order fills (two per trade: maker and taker).", ["market"])

_last_saved = {"at": time.time()}  # since start until the first snapshot


def bind_sequencer(queue_size: Callable[[], int], last_seq: Callable[[], int]) -> None:
    QUEUE_DEPTH.set_function(queue_size)
    LAST_SEQUENCE.set_function(last_seq)


def bind_link(lag: Callable[[], int], connected: Callable[[], bool]) -> None:
    PERSISTENCE_LAG.set_function(lag)
    PERSISTENCE_UP.set_function(lambda: 1.0 if connected() else 0.0)


def snapshot_saved(seq: int, began: float) -> None:
    """A snapshot taken at ``time.perf_counter()`` ``began`` is saved."""
    SNAPSHOT_SECONDS.observe(time.perf_counter() - began)
    _last_saved["at"] = now = time.time()
    SNAPSHOT_TIME.set(now)
    SNAPSHOT_SEQUENCE.set(seq)


SNAPSHOT_AGE.set_function(lambda: time.time() - _last_saved["at"])


class EventCounts:
    """A :class:`~engine_svc.sequencer.BatchListener` counting orders and fills."""

    def __init__(self) -> None:
        self._accepted: dict[str, Count] = {}
        self._fills: dict[str, Count] = {}
        self._rejected: dict[tuple[str, str], Count] = {}

    def on_applied(self, events: list[Event]) -> None:
        """Counted once durable."""

    def on_batch(self, events: list[Event]) -> None:
        counts = order_counts(events)
        for market, n in counts.accepted.items():
            self._child(self._accepted, ORDERS_ACCEPTED, market).inc(n)
        for market, n in counts.fills.items():
            self._child(self._fills, FILLS, market).inc(n)
        for key, n in counts.rejected.items():
            child = self._rejected.get(key)
            if child is None:
                child = self._rejected[key] = ORDERS_REJECTED.labels(*key)
            child.inc(n)

    def on_reset(self) -> None:
        """Counters count what happened; a rebuilt state changes nothing here."""

    @staticmethod
    def _child(cache: dict[str, Count], family: CounterFamily, market: str) -> Count:
        child = cache.get(market)
        if child is None:
            child = cache[market] = family.labels(market)
        return child
