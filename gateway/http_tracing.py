"""A server span for every REST request, continuing a caller's W3C ``traceparent`` header;
named ``<METHOD> <route template>`` once the transcoder has routed the request (see
:mod:`gateway.http_metrics`). Installed only while tracing is on; the upstream gRPC calls
made meanwhile carry the span's context (:func:`mesh_runtime.tracing.inject`)."""

from __future__ import annotations

from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.http_metrics import ROUTE_KEY
from mesh_runtime import tracing

_CARRIED = (b"traceparent", b"tracestate")


class HttpTracing:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1")
                   for k, v in scope["headers"] if k in _CARRIED}
        method = scope["method"]
        status = [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        with tracing.tracer().start_as_current_span(
                method, context=propagate.extract(carrier), kind=SpanKind.SERVER,
                attributes={"http.request.method": method, "url.path": scope["path"]},
        ) as span:
            try:
                await self.app(scope, receive, send_status)
            finally:
                label = scope.get(ROUTE_KEY)
                if label is not None:
                    span.update_name(f"{method} {label.template}")
                    span.set_attribute("http.route", label.template)
                span.set_attribute("http.response.status_code", status[0])
                if status[0] >= 500:
                    span.set_status(Status(StatusCode.ERROR))


def with_tracing(app: ASGIApp) -> ASGIApp:
    """``app`` traced while tracing is on (``OTEL_EXPORTER_OTLP_ENDPOINT``), else as is."""
    return HttpTracing(app) if tracing.active() else app
