"""The gateway's gRPC clients: one shared channel per upstream service.

The channels go to each service's mesh listener with mutual TLS, presenting the gateway's
certificate; a user's call carries the user's token, which the service's policy checks.

Order placement (without triggers) goes over the gateway's ``RelayOrders`` stream, each
order with its caller's token (:mod:`gateway.order_streams`); everything else is a unary
call.

Calls are generic: a ``unary_unary`` multicallable per rpc path, with the request and
response classes taken from the route's descriptors. Python gRPC propagates no deadline on
its own, so every call passes ``timeout=`` explicitly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.order_streams import OrderStreams, OutcomePending, Result
from gateway.routes import Route
from gateway.upstream_errors import from_status
from mesh_runtime import tracing
from mesh_runtime.pki import TlsFiles
from mesh_runtime.tls import certificate_name, mesh_channel

PLACE_ORDER = "/trademesh.v1.Engine/PlaceOrder"


class Upstreams:
    """Channels to the upstream services, opened on first use, closed by :meth:`close`."""

    def __init__(self, addresses: dict[str, str], tls: TlsFiles) -> None:
        self.addresses = dict(addresses)
        self._tls = tls
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._callables: dict[str, Any] = {}
        self.orders = OrderStreams(lambda: self.channel("engine"))

    def channel(self, upstream: str) -> grpc.aio.Channel:
        channel = self._channels.get(upstream)
        if channel is None:
            channel = mesh_channel(self.addresses[upstream], self._tls,
                                   server_name=certificate_name(upstream))
            self._channels[upstream] = channel
        return channel

    async def call(
        self,
        route: Route,
        request: Any,
        metadata: Sequence[tuple[str, str]],
        deadline_seconds: float,
    ) -> Any:
        """Calls ``route``'s rpc; raises grpc.aio.AioRpcError (or, for an order placed over
        the relay stream, GatewayError) when it fails."""
        if route.grpc_path == PLACE_ORDER and not (request.stop_loss or request.take_profit) \
                and not tracing.traced(metadata):  # a traced order goes unary: its trace too
            authorization = dict(metadata).get("authorization")
            if authorization:
                try:
                    result = await self.orders.place(authorization, request, deadline_seconds)
                except OutcomePending as pending:
                    outcome = pending.outcome
                    pending.reply = lambda: _placed(route, outcome)
                    raise
                if result is not None:
                    return _reply(route, result)
        multicallable = self._callables.get(route.grpc_path)
        if multicallable is None:
            multicallable = self.channel(route.upstream).unary_unary(
                route.grpc_path,
                request_serializer=route.request_class.SerializeToString,
                response_deserializer=route.response_class.FromString,
            )
            self._callables[route.grpc_path] = multicallable
        return await multicallable(request, metadata=tuple(metadata),
                                   timeout=deadline_seconds)

    async def health(self, upstream: str, deadline_seconds: float) -> str:
        """The upstream's overall health status name, or the failing gRPC code's name."""
        stub = health_pb2_grpc.HealthStub(self.channel(upstream))
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""),
                                     timeout=deadline_seconds)
        except grpc.aio.AioRpcError as exc:
            return str(exc.code().name)
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))

    async def close(self) -> None:
        await self.orders.close()
        channels = list(self._channels.values())
        self._channels.clear()
        self._callables.clear()
        for channel in channels:
            await channel.close(None)


def _reply(route: Route, result: Result) -> Any:
    """A streamed order's answer as the unary call's response (or its error)."""
    if result.HasField("error"):
        raise from_status(result.error)
    return route.response_class(order=result.order)


async def _placed(route: Route, outcome: asyncio.Future[Result]) -> Any:
    return _reply(route, await outcome)
