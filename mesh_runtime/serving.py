"""Serving a gRPC service: one way for every trademesh process.

A :class:`GrpcService` is a grpc.aio server on one port with the standard health service
(``grpc.health.v1.Health``), server reflection, a logging interceptor that tags each call
with a request id, and graceful shutdown: on SIGTERM/SIGINT health turns NOT_SERVING, new
calls are refused and in-flight calls get ``shutdown_grace_seconds`` to finish.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection, reflection_pb2
from grpc_reflection.v1alpha._async import ReflectionServicer as AsyncReflectionServicer

from mesh_runtime.grpc_metrics import server_interceptors

log = logging.getLogger("trademesh.serving")

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class RequestLogInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Logs every call's method and request id; installed only when DEBUG logging is on,
    since an interceptor costs every call on the hot path."""

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        metadata = dict(handler_call_details.invocation_metadata or ())
        request_id = metadata.get("x-request-id") or uuid.uuid4().hex[:16]
        log.debug("call %s request_id=%s", handler_call_details.method, request_id)
        return await continuation(handler_call_details)


Registrar = Callable[[grpc.aio.Server], Iterable[str]]


class GrpcService:
    """One process's gRPC server. ``registrars`` add servicers and return their full names."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        registrars: Iterable[Registrar],
        *,
        grace_seconds: float = 5.0,
        interceptors: Iterable[grpc.aio.ServerInterceptor[Any, Any]] = (),
        options: Iterable[tuple[str, Any]] = (),
    ) -> None:
        self.name = name
        self.grace_seconds = grace_seconds
        self.health = HealthServicer()
        call_log = [RequestLogInterceptor()] if log.isEnabledFor(logging.DEBUG) else []
        self.server = grpc.aio.server(
            interceptors=[*call_log, *server_interceptors(), *interceptors],
            options=[("grpc.so_reuseport", 0), *options],
        )
        self.service_names: list[str] = []
        for register in registrars:
            self.service_names.extend(register(self.server))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflected = [*self.service_names,
                     health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                     reflection.SERVICE_NAME, REFLECTION_V1]
        reflection.enable_server_reflection(reflected, self.server)
        self.server.add_generic_rpc_handlers((_reflection_v1(reflected),))
        self.port = self.server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise OSError(f"{name}: cannot bind {host}:{port}")
        self._stopping = False
        self._stopped = asyncio.Event()

    async def start(self) -> None:
        await self.server.start()
        await self.set_serving(False)
        log.info("%s gRPC listening on port %d", self.name, self.port)

    async def set_serving(self, serving: bool) -> None:
        """Reports SERVING (or NOT_SERVING) for the process and each of its services."""
        status = SERVING if serving else NOT_SERVING
        for service in ("", *self.service_names):
            await self.health.set(service, status)

    async def stop(self) -> None:
        """Graceful stop: NOT_SERVING, refuse new calls, let in-flight ones finish."""
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        await self.health.enter_graceful_shutdown()
        started = time.monotonic()
        await self.server.stop(self.grace_seconds)
        log.info("%s stopped in %.2fs", self.name, time.monotonic() - started)
        self._stopped.set()

    async def wait_stopped(self) -> None:
        """Returns once :meth:`stop` has finished."""
        await self._stopped.wait()


async def serve_until_signal(
    service: GrpcService,
    background: Iterable[Callable[[], Coroutine[Any, Any, None]]] = (),
    cleanup: Iterable[Callable[[], Awaitable[None]]] = (),
) -> None:
    """Starts ``service`` and its background loops, and returns after a signal stops it.

    Background loops are cancelled before the server stops; ``cleanup`` runs after.
    """
    await service.start()
    tasks = [asyncio.create_task(loop()) for loop in background]
    stop_requested = asyncio.Event()

    async def request_stop() -> None:
        stop_requested.set()

    install_signal_handlers(request_stop)
    await stop_requested.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await service.stop()
    for step in cleanup:
        await step()


def install_signal_handlers(stop: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Runs ``stop`` once on the first SIGTERM or SIGINT of the running loop."""
    loop = asyncio.get_running_loop()
    pending: list[asyncio.Task[None]] = []

    def handler() -> None:
        if not pending:
            pending.append(loop.create_task(stop()))

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, handler)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"


def _reflection_v1(service_names: list[str]) -> grpc.GenericRpcHandler[Any, Any]:
    """Server reflection under its v1 name too (grpcio-reflection serves only v1alpha; clients
    such as grpcurl and Postman try v1 first). The two protocols' messages are the same on
    the wire, so v1alpha's servicer and codecs answer both."""
    servicer = AsyncReflectionServicer(service_names)
    return grpc.method_handlers_generic_handler(REFLECTION_V1, {
        "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
            servicer.ServerReflectionInfo,
            request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
            response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString),
    })
