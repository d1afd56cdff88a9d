"""What carries a trace across the asynchronous hops: ``traceparent`` strings on event and
market-data batches, and the engine's record of which traced batches await persistence."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, TraceFlags

from engine_svc.durable_traces import DurableTraces
from mesh_runtime import tracing


def context(trace_id: int, span_id: int) -> SpanContext:
    return SpanContext(trace_id, span_id, is_remote=False,
                       trace_flags=TraceFlags(TraceFlags.SAMPLED))


def test_a_traceparent_names_the_span_it_was_made_from() -> None:
    original = context(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7)
    value = tracing.traceparent(original)
    assert value == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    parsed = tracing.parent_of(value)
    assert parsed is not None
    assert (parsed.trace_id, parsed.span_id) == (original.trace_id, original.span_id)
    assert parsed.trace_flags.sampled


@pytest.mark.parametrize("value", ["", "garbage", "00-" + "0" * 32 + "-" + "0" * 16 + "-01",
                                   "00-xyz-abc-01"])
def test_what_is_not_a_traceparent_names_no_span(value: str) -> None:
    assert tracing.parent_of(value) is None


def test_spans_go_under_each_carried_parent_and_malformed_ones_are_skipped(
        spans: InMemorySpanExporter) -> None:
    parents = [context(1, 2), context(3, 4)]
    carried = [tracing.traceparent(c) for c in parents] + ["not-a-traceparent"]
    tracing.span_under(carried, "persistence.commit", 1_000, 2_000, {"k": 1})
    finished = spans.get_finished_spans()
    assert [(s.name, s.start_time, s.end_time) for s in finished] == \
        [("persistence.commit", 1_000, 2_000)] * 2
    assert sorted((s.parent.trace_id, s.parent.span_id) for s in finished
                  if s.parent is not None) == [(1, 2), (3, 4)]


def test_the_event_link_gets_the_traceparents_of_the_batches_it_sends() -> None:
    durable = DurableTraces()
    durable.journaled(5, [context(1, 1)], 0)
    durable.journaled(9, [context(2, 2), context(3, 3)], 0)
    durable.journaled(12, [context(4, 4)], 0)
    assert durable.traceparents(0, 4) == []
    assert [tracing.parent_of(t).span_id for t in durable.traceparents(5, 12)  # type: ignore[union-attr]
            ] == [2, 3, 4]
    durable.discard_from(10)  # the last batch's journal write failed
    assert len(durable.traceparents(0, 100)) == 3
    durable.discard_from(None)
    assert len(durable.traceparents(0, 100)) == 3


def test_a_commit_ends_the_wait_of_the_batches_it_covers(spans: InMemorySpanExporter) -> None:
    durable = DurableTraces()
    durable.journaled(5, [context(1, 1)], 10)
    durable.journaled(9, [context(2, 2)], 20)
    durable.committed(7)
    assert [s.parent.trace_id for s in spans.get_finished_spans()  # type: ignore[union-attr]
            ] == [1]
    assert durable.traceparents(0, 100) == [tracing.traceparent(context(2, 2))]
