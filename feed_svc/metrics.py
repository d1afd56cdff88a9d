"""The feed's metrics: connections and subscriptions, messages sent, clients closed for
falling behind (or for other reasons), and the Redis fan-out between replicas.

``transport`` is ``ws`` (the WebSocket bridge) or ``grpc`` (``Feed.Subscribe``).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter, Gauge

from mesh_runtime.cheap_metrics import CounterFamily

CONNECTIONS = Gauge("trademesh_feed_connections", "Open subscriber connections.",
                    ["transport"])
SUBSCRIPTIONS = Gauge("trademesh_feed_subscriptions",
                      "Channel subscriptions held by this replica's connections.")
MESSAGES = CounterFamily("trademesh_feed_messages_sent_total",
                         "Messages sent to subscribers.", ["transport"])
CLOSES = Counter("trademesh_feed_disconnects_total",
                 "Connections the feed closed, by reason (SLOW_CONSUMER: fell too far "
                 "behind).", ["transport", "reason"])
RATE_LIMITED = Counter("trademesh_feed_rate_limited_total",
                       "WebSocket requests refused by the per-connection request limit.")
RELAY_ITEMS = Counter("trademesh_feed_relay_items_total",
                      "Market-data items this replica applied from the Redis fan-out.")
RELAY_RECONNECTS = Counter("trademesh_feed_relay_reconnects_total",
                           "Times this replica's Redis fan-out connection was re-established.")
RELAY_GAPS = Counter("trademesh_feed_relay_gaps_total",
                     "Times this replica came back to find fan-out entries it had not read "
                     "trimmed away (its clients missed them).")
RELAY_DUPLICATES = Counter("trademesh_feed_relay_duplicates_total",
                           "Fan-out entries skipped as duplicates of a retried publish.")
RELAY_DROPPED = Counter("trademesh_feed_relay_dropped_total",
                        "Items dropped because Redis did not keep up with publishing.")

WS_CONNECTIONS = CONNECTIONS.labels("ws")
GRPC_CONNECTIONS = CONNECTIONS.labels("grpc")
WS_MESSAGES = MESSAGES.labels("ws")
GRPC_MESSAGES = MESSAGES.labels("grpc")


def bind_subscriptions(count: Callable[[], int]) -> None:
    SUBSCRIPTIONS.set_function(count)


def closed(transport: str, reason: str) -> None:
    """A connection closed with ``reason`` (``CODE: text``): counted by its code."""
    CLOSES.labels(transport, reason.split(":", 1)[0] or "UNKNOWN").inc()
