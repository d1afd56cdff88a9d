"""The lock-free families render what prometheus-client's own would: cumulative ``le``
buckets, ``_sum``, ``_count`` and counters' ``_total``, in the text exposition format."""

from __future__ import annotations

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mesh_runtime.cheap_metrics import CounterFamily, HistogramFamily

COUNTER = CounterFamily("test_cheap_events_total", "Events.", ["kind"])
HISTOGRAM = HistogramFamily("test_cheap_latency_seconds", "Latency.", ["op"],
                            buckets=(0.1, 1.0, 10.0))


def samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(REGISTRY).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            if family.name.startswith("test_cheap") for s in family.samples}


def test_counters_and_histograms_are_exposed_cumulatively() -> None:
    COUNTER.labels("a").inc()
    COUNTER.labels("a").inc(2)
    child = HISTOGRAM.labels("write")
    for value in (0.05, 0.1, 0.5, 5.0, 50.0):
        child.observe(value)
    seen = samples()
    assert seen[("test_cheap_events_total", (("kind", "a"),))] == 3
    buckets = {le: seen[("test_cheap_latency_seconds_bucket", (("le", le), ("op", "write")))]
               for le in ("0.1", "1.0", "10.0", "+Inf")}
    assert buckets == {"0.1": 2, "1.0": 3, "10.0": 4, "+Inf": 5}
    assert seen[("test_cheap_latency_seconds_count", (("op", "write"),))] == 5
    assert seen[("test_cheap_latency_seconds_sum", (("op", "write"),))] == 55.65
