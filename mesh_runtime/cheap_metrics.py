"""Counters and histograms for hot paths: a plain float add per event, exported at scrape.

prometheus-client's own metric objects take a lock on every ``inc``/``observe`` (a few
microseconds each under load), which on a path that runs for every REST request, gRPC call
or WebSocket frame would cost more than the rest of the instrumentation together. These
families keep their numbers in slotted objects written only by the process' event-loop
thread, and a collector renders them when Prometheus scrapes (from the metrics thread).
A scrape may see a histogram's sum and buckets one observation apart; nothing is lost.
Each family registers itself in prometheus-client's default registry once, when created.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector


class Count:
    """One labelled counter's value."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class Histo:
    """One labelled histogram: non-cumulative bucket counts (the last is +Inf) and a sum."""

    __slots__ = ("bounds", "buckets", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.buckets = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, amount: float) -> None:
        self.buckets[bisect_left(self.bounds, amount)] += 1
        self.sum += amount


class CounterFamily(Collector):
    def __init__(self, name: str, documentation: str, labelnames: Sequence[str]) -> None:
        self.name, self.documentation = name, documentation
        self.labelnames = list(labelnames)
        self._children: dict[tuple[str, ...], Count] = {}
        REGISTRY.register(self)

    def labels(self, *values: str) -> Count:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = Count()
        return child

    def describe(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, child in list(self._children.items()):
            family.add_metric(list(values), child.value)
        yield family


class HistogramFamily(Collector):
    def __init__(self, name: str, documentation: str, labelnames: Sequence[str],
                 buckets: Sequence[float]) -> None:
        self.name, self.documentation = name, documentation
        self.labelnames = list(labelnames)
        self.bounds = tuple(sorted(float(b) for b in buckets))
        self._children: dict[tuple[str, ...], Histo] = {}
        REGISTRY.register(self)

    def labels(self, *values: str) -> Histo:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = Histo(self.bounds)
        return child

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        edges = [*(repr(b) for b in self.bounds), "+Inf"]  # 0.005, 1.0: as Go writes them
        for values, child in list(self._children.items()):
            counts, total = list(child.buckets), child.sum
            cumulative, running = [], 0
            for edge, count in zip(edges, counts, strict=True):
                running += count
                cumulative.append((edge, running))
            family.add_metric(list(values), cumulative, total)
        yield family
