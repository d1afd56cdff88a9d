"""RED metrics for every gRPC method a server handles, under go-grpc-prometheus' names.

* ``grpc_server_started_total{grpc_type, grpc_service, grpc_method}``
* ``grpc_server_handled_total{grpc_type, grpc_service, grpc_method, grpc_code}``
* ``grpc_server_handling_seconds{grpc_type, grpc_service, grpc_method}`` (histogram; for a
  stream, its whole life)

One wrapping wraps each method's behavior once (:mod:`mesh_runtime.method_wrapping`), with its
label children bound up front, so a call costs two clock reads, one histogram observation
and two counter increments. The code is the one the call ended with: OK, what the servicer
set or aborted with, CANCELLED when the client went away, UNKNOWN for an unhandled error.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from mesh_runtime import metrics, tracing
from mesh_runtime.cheap_metrics import Count, CounterFamily, HistogramFamily
from mesh_runtime.grpc_tracing import GrpcServerTracing
from mesh_runtime.method_wrapping import Behavior, Kind, MethodWrapping, streams_responses

_LABELS = ("grpc_type", "grpc_service", "grpc_method")
STARTED = CounterFamily("grpc_server_started_total", "RPCs started on the server.", _LABELS)
HANDLED = CounterFamily("grpc_server_handled_total",
                        "RPCs completed on the server, regardless of success or failure.",
                        (*_LABELS, "grpc_code"))
HANDLING = HistogramFamily("grpc_server_handling_seconds",
                           "Response latency (seconds) of gRPC calls handled by the server.",
                           _LABELS, buckets=metrics.LATENCY_BUCKETS)


class _Method:
    """One method's pre-bound label children."""

    __slots__ = ("_codes", "_labels", "seconds", "started")

    def __init__(self, kind: str, path: str) -> None:
        service, _, name = path.lstrip("/").rpartition("/")
        self._labels = (kind, service, name)
        self.started = STARTED.labels(*self._labels)
        self.seconds = HANDLING.labels(*self._labels)
        self._codes: dict[grpc.StatusCode, Count] = {}

    def done(self, began: float, code: grpc.StatusCode) -> None:
        self.seconds.observe(time.perf_counter() - began)
        counter = self._codes.get(code)
        if counter is None:
            counter = self._codes[code] = HANDLED.labels(*self._labels, code.name)
        counter.inc()


def _outcome(context: grpc.aio.ServicerContext[Any, Any], error: BaseException | None) -> (
        grpc.StatusCode):
    if isinstance(error, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    return grpc.StatusCode.OK if error is None else grpc.StatusCode.UNKNOWN


def _unary_reply(method: _Method, inner: Callable[..., Awaitable[Any]]) -> (
        Callable[..., Awaitable[Any]]):
    """A unary-response behavior (unary-unary or stream-unary), measured."""

    async def behavior(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        method.started.inc()
        began = time.perf_counter()
        try:
            reply = await inner(request, context)
        except BaseException as err:
            method.done(began, _outcome(context, err))
            raise
        method.done(began, _outcome(context, None))
        return reply

    return behavior


def _stream_reply(method: _Method, inner: Callable[..., Any]) -> Callable[..., Any]:
    """A streaming-response behavior: an async generator, or a coroutine that writes."""
    if not inspect.isasyncgenfunction(inner):
        return _unary_reply(method, inner)

    async def behavior(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> (
            AsyncIterator[Any]):
        method.started.inc()
        began = time.perf_counter()
        try:
            async for reply in inner(request, context):
                yield reply
        except BaseException as err:
            method.done(began, _outcome(context, err))
            raise
        method.done(began, _outcome(context, None))

    return behavior


class GrpcServerMetrics(MethodWrapping):
    """Counts and times every call; wraps each method's behavior once."""

    def wrap(self, kind: Kind, method: str, behavior: Behavior) -> Behavior:
        measured = _Method(kind, method)
        if streams_responses(kind):
            return _stream_reply(measured, behavior)
        return _unary_reply(measured, behavior)


def server_wrappings() -> list[MethodWrapping]:
    """The metrics wrapping (unless ``TRADEMESH_METRICS=off``) and the tracing one (while
    tracing is on: ``OTEL_EXPORTER_OTLP_ENDPOINT``), each method's behavior wrapped once."""
    chosen: list[MethodWrapping] = []
    if metrics.enabled():
        chosen.append(GrpcServerMetrics())
    if tracing.active():
        chosen.append(GrpcServerTracing())
    return chosen
