"""A server span for every gRPC call, continuing the caller's trace (W3C ``traceparent`` in
the call's metadata): ``<service>/<method>``, kind SERVER, the ``rpc.*`` attributes and the
final status code. Installed only while tracing is on (:mod:`mesh_runtime.tracing`)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeAlias

import grpc
from opentelemetry.context import Context as TraceContext
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from mesh_runtime import tracing
from mesh_runtime.method_wrapping import Behavior, Kind, MethodWrapping

ServicerContext: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


@contextmanager
def _server_span(path: str, context: ServicerContext) -> Iterator[Span]:
    service, _, method = path.lstrip("/").rpartition("/")
    parent = tracing.extract(context.invocation_metadata())
    assert parent is None or isinstance(parent, TraceContext)
    with tracing.tracer().start_as_current_span(
            path.lstrip("/"), context=parent, kind=SpanKind.SERVER,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": method},
    ) as span:
        try:
            yield span
        finally:
            code = context.code()
            if isinstance(code, grpc.StatusCode):
                span.set_attribute("rpc.grpc.status_code", code.value[0])
                if code is not grpc.StatusCode.OK:
                    span.set_status(Status(StatusCode.ERROR, code.name))


def _traced(path: str, inner: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(inner):
        async def stream(request: Any, context: ServicerContext) -> AsyncIterator[Any]:
            with _server_span(path, context):
                async for reply in inner(request, context):
                    yield reply

        return stream

    async def call(request: Any, context: ServicerContext) -> Any:
        with _server_span(path, context):
            return await inner(request, context)

    return call


class GrpcServerTracing(MethodWrapping):
    def wrap(self, kind: Kind, method: str, behavior: Behavior) -> Behavior:
        return _traced(method, behavior)
