"""Serving a gRPC service: one way for every trademesh process.

A :class:`GrpcService` is a grpc.aio server with the standard health service
(``grpc.health.v1.Health``), server reflection (v1 and v1alpha), a logging interceptor that
tags each call with a request id, and graceful shutdown: on SIGTERM/SIGINT health turns
NOT_SERVING, new calls are refused and in-flight calls get ``shutdown_grace_seconds`` to
finish. It listens twice, both with TLS and never in plaintext (:mod:`mesh_runtime.tls`):
the public port (server certificate only) and the mesh port (mutual TLS, a client
certificate from the mesh CA required). Both serve the same services and interceptors.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any, cast

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from mesh_runtime.grpc_metrics import server_wrappings
from mesh_runtime.log_output import SecondCachedFormatter, TurnFlushedHandler
from mesh_runtime.method_wrapping import MethodWrapping, UnknownMethods, WrappedHandlers
from mesh_runtime.pki import TlsFiles
from mesh_runtime.policy_interceptor import CallPolicyInterceptor
from mesh_runtime.reflection import enable_reflection
from mesh_runtime.revocation import TokenCheck
from mesh_runtime.tls import mesh_server_credentials, public_server_credentials

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


class GenericOnly:
    """The server as the generated ``add_*Servicer_to_server`` functions see it: their
    method handlers reach it as one generic handler per service, never as *registered*
    methods. grpc.aio's server loop keeps one pending call request per registered method
    and, for every call that arrives, waits on all of them again (``asyncio.wait``, which
    checks and hooks each future): about 35 per call on the engine, ~6-8% of its event
    loop at unary saturation. With generic handlers only it waits on one; gRPC core serves
    the same methods either way (unknown ones are still UNIMPLEMENTED). Each handler's
    methods are wrapped (:class:`~mesh_runtime.method_wrapping.WrappedHandlers`) as they are
    added, instead of by interceptors on every call."""

    def __init__(self, server: grpc.aio.Server, wrappings: Sequence[MethodWrapping]) -> None:
        self._server = server
        self._wrappings = wrappings

    def add_generic_rpc_handlers(self,
                                 handlers: Iterable[grpc.GenericRpcHandler[Any, Any]]) -> None:
        self._server.add_generic_rpc_handlers(
            tuple(WrappedHandlers(handler, self._wrappings) for handler in handlers))

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        """Dropped: the generic handler added with them serves the same methods."""


class GrpcService:
    """One process's gRPC server. ``registrars`` add servicers and return their full names.

    ``port`` is the public listener (TLS), ``mesh_port`` the mutual-TLS one; 0 picks a free
    port. The bound ports are :attr:`port` and :attr:`mesh_port`. Every call passes the
    call-policy interceptor (:mod:`mesh_runtime.policy_interceptor`) first; ``token_check``
    verifies the user JWTs it accepts (without one, a presented token is refused).
    """

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        registrars: Iterable[Registrar],
        *,
        tls: TlsFiles,
        mesh_port: int,
        grace_seconds: float = 5.0,
        interceptors: Iterable[grpc.aio.ServerInterceptor[Any, Any]] = (),
        options: Iterable[tuple[str, Any]] = (),
        token_check: TokenCheck | None = None,
    ) -> None:
        self.name = name
        self.grace_seconds = grace_seconds
        self.health = HealthServicer()
        call_log = [RequestLogInterceptor()] if log.isEnabledFor(logging.DEBUG) else []
        self.server = grpc.aio.server(interceptors=[*call_log, *interceptors],
                                      options=[("grpc.so_reuseport", 0), *options])
        # every method, health and reflection too, wrapped once as it is registered:
        # metrics see every call (refusals too); then every rpc's declared call_policy,
        # before anything else sees the call
        wrappings = [*server_wrappings(), CallPolicyInterceptor(token_check)]
        self.service_names: list[str] = []
        generic_only = cast(grpc.aio.Server, GenericOnly(self.server, wrappings))
        for register in registrars:
            self.service_names.extend(register(generic_only))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, generic_only)
        enable_reflection([*self.service_names,
                           health_pb2.DESCRIPTOR.services_by_name["Health"].full_name],
                          generic_only)
        self.server.add_generic_rpc_handlers((UnknownMethods(wrappings),))
        self.port = self._bind(host, port, public_server_credentials(tls))
        self.mesh_port = self._bind(host, mesh_port, mesh_server_credentials(tls))
        self._stopping = False
        self._stopped = asyncio.Event()

    def _bind(self, host: str, port: int, credentials: grpc.ServerCredentials) -> int:
        bare_ipv6 = ":" in host and not host.startswith("[")
        address = f"[{host}]:{port}" if bare_ipv6 else f"{host}:{port}"
        try:
            bound = self.server.add_secure_port(address, credentials)
        except RuntimeError as err:
            raise OSError(f"{self.name}: cannot bind {address}: {err}") from None
        if bound == 0:
            raise OSError(f"{self.name}: cannot bind {address}")
        return bound

    async def start(self) -> None:
        await self.server.start()
        await self.set_serving(False)
        log.info("%s gRPC listening on port %d (TLS) and mesh port %d (mutual TLS)",
                 self.name, self.port, self.mesh_port)

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
    handler = TurnFlushedHandler()  # standard error; a loop turn's lines in one write
    handler.setFormatter(SecondCachedFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    # The format names no thread, process or source line: records need not look them up
    # (the logging HOWTO's "Optimization"; the gateway logs a line per request).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None

