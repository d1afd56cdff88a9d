"""OpenTelemetry traces: off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

:func:`setup` (called once per process, before its servers are built) installs a tracer
provider that exports by OTLP/HTTP to that endpoint (the standard ``OTEL_*`` variables
configure it further); without the variable nothing is installed, :func:`active` is False,
and no tracing interceptor or middleware is put on any request path, so tracing costs
nothing when off. The W3C ``traceparent`` travels in gRPC metadata: :func:`inject` adds it
to a call's metadata, the server interceptor (:mod:`mesh_runtime.grpc_tracing`) continues
the trace. Tests install a provider of their own (an in-memory exporter) with
:func:`use_provider`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from opentelemetry import propagate, trace
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    Tracer,
    TracerProvider,
    set_span_in_context,
)

ENDPOINT_VAR = "OTEL_EXPORTER_OTLP_ENDPOINT"
INSTRUMENTATION = "trademesh"
_installed: list[TracerProvider] = []


def setup(service: str, environ: Mapping[str, str] | None = None) -> bool:
    """Exports ``service``'s spans by OTLP when the endpoint is configured; True if so."""
    env = os.environ if environ is None else environ
    if not env.get(ENDPOINT_VAR) or _installed:
        return bool(_installed)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = SdkProvider(resource=Resource.create(
        {"service.name": env.get("OTEL_SERVICE_NAME") or f"trademesh-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    use_provider(provider)
    return True


def use_provider(provider: TracerProvider, *, process_wide: bool = True) -> None:
    """Records spans through ``provider`` from now on (``process_wide``: also as the
    OpenTelemetry API's global provider, which can be set once per process)."""
    if process_wide:
        trace.set_tracer_provider(provider)
    _installed.append(provider)


def stop() -> None:
    """No more spans (servers and clients built afterwards are not instrumented)."""
    _installed.clear()


def active() -> bool:
    """Whether spans are recorded in this process."""
    return bool(_installed)


def tracer() -> Tracer:
    if _installed:
        return _installed[-1].get_tracer(INSTRUMENTATION)
    return trace.get_tracer(INSTRUMENTATION)


def traced(metadata: Iterable[tuple[str, str]]) -> bool:
    """Whether call metadata carries a trace context (see :func:`inject`)."""
    return any(key == "traceparent" for key, _ in metadata)


def span_in(parents: Iterable[SpanContext], name: str, start_ns: int, end_ns: int,
            attributes: Mapping[str, int | str]) -> None:
    """Records the finished operation ``name`` (times from ``time.time_ns``) once in the
    trace of each of ``parents``: work done once for many traced callers (a sequencer
    batch, a journal write) appears in every one of their traces."""
    if not _installed:
        return
    for parent in parents:
        span = tracer().start_span(name, context=set_span_in_context(NonRecordingSpan(parent)),
                                   start_time=start_ns, attributes=attributes)
        span.end(end_time=end_ns)


def traceparent(context: SpanContext) -> str:
    """``context`` as a W3C ``traceparent`` header value (carried on event batches)."""
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def parent_of(value: str) -> SpanContext | None:
    """The span context a W3C ``traceparent`` names, or None when it is not one."""
    span = trace.get_current_span(propagate.extract({"traceparent": value}))
    context = span.get_span_context()
    return context if context.is_valid else None


def span_under(traceparents: Iterable[str], name: str, start_ns: int, end_ns: int,
               attributes: Mapping[str, int | str]) -> None:
    """:func:`span_in` for parents carried as ``traceparent`` strings (malformed ones are
    skipped: they come from another process)."""
    if not _installed:
        return
    parents = [c for c in map(parent_of, traceparents) if c is not None]
    span_in(parents, name, start_ns, end_ns, attributes)


def current_context() -> SpanContext | None:
    """The current span's context when tracing is on and it is sampled, else None."""
    if not _installed:
        return None
    context = trace.get_current_span().get_span_context()
    return context if context.is_valid and context.trace_flags.sampled else None


def inject(metadata: list[tuple[str, str]]) -> None:
    """Adds the current trace context (``traceparent``, ``tracestate``) to gRPC metadata."""
    if not _installed:
        return
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    metadata.extend(carrier.items())


def extract(metadata: Iterable[tuple[str, str | bytes]] | None) -> object:
    """The trace context carried by gRPC metadata (``traceparent``), for a server span."""
    carrier = {key: value for key, value in metadata or () if isinstance(value, str)}
    return propagate.extract(carrier)
