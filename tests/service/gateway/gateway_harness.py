"""Helpers for the gateway service tests: real gRPC upstream servicers and small utilities.

The upstream servicers are the generated base classes with a few rpcs implemented; they
record the metadata and deadline each call arrived with.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import uvicorn
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from trademesh.v1 import (
    account_pb2,
    engine_pb2,
    engine_pb2_grpc,
    market_pb2,
    order_pb2,
    persistence_pb2,
    persistence_pb2_grpc,
)

from mesh_runtime.serving import GrpcService

STEP_SECONDS = 10.0


@dataclass
class Seen:
    """What one upstream call arrived with."""

    metadata: dict[str, str]
    time_remaining: float | None
    request: Any = None


@dataclass
class Recorder:
    calls: list[Seen] = field(default_factory=list)
    relayed: list[int] = field(default_factory=list)  # orders per RelayOrders message

    def record(self, request: Any, context: Any, token: str | None = None) -> None:
        metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        if token is not None:
            metadata["authorization"] = f"Bearer {token}"
        self.calls.append(Seen(metadata, context.time_remaining(), request))


def insufficient_balance_status() -> grpc.Status:
    return rpc_status.to_status(_insufficient_balance())


def _insufficient_balance() -> status_pb2.Status:
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason="INSUFFICIENT_BALANCE", domain="trademesh"))
    bad = any_pb2.Any()
    bad.Pack(error_details_pb2.BadRequest(field_violations=[
        error_details_pb2.BadRequest.FieldViolation(field="price", description="off the tick"),
    ]))
    return status_pb2.Status(code=code_pb2.FAILED_PRECONDITION,
                             message="not enough USD", details=[info, bad])


class EngineServicer(engine_pb2_grpc.EngineServicer):
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    async def GetOrder(self, request: Any, context: Any) -> Any:
        self.recorder.record(request, context)
        order = order_pb2.Order(order_id=request.order_id, status=order_pb2.NEW)
        return engine_pb2.GetOrderResponse(order=order)

    async def PlaceOrder(self, request: Any, context: Any) -> Any:
        self.recorder.record(request, context)
        if request.quantity == "1000000":
            status = insufficient_balance_status()
            await context.abort(status.code, status.details, status.trailing_metadata)
        order = order_pb2.Order(order_id="o-1", market=request.market, side=request.side,
                                quantity=request.quantity, status=order_pb2.NEW)
        return engine_pb2.PlaceOrderResponse(order=order)

    async def RelayOrders(self, requests: Any, context: Any) -> Any:
        """What the gateway places orders over: each answered as PlaceOrder would, and
        recorded with the token it was relayed with as its ``authorization``."""
        async for message in requests:
            self.recorder.relayed.append(len(message.orders))
            results = []
            for relayed in message.orders:
                request = relayed.order
                self.recorder.record(request, context, token=relayed.token)
                if request.quantity == "7":  # a slow answer (the caller's deadline passes)
                    await asyncio.sleep(1.5)
                if request.quantity == "13":  # the stream breaks (an engine restart)
                    await context.abort(grpc.StatusCode.UNAVAILABLE, "engine restarting")
                if request.quantity == "1000000":
                    results.append(engine_pb2.PlaceOrderResult(error=_insufficient_balance()))
                    continue
                order = order_pb2.Order(order_id="o-1", market=request.market,
                                        side=request.side, quantity=request.quantity,
                                        status=order_pb2.NEW)
                results.append(engine_pb2.PlaceOrderResult(order=order))
            yield engine_pb2.RelayOrdersResponse(results=results, batch_id=message.batch_id)

    async def ListMarkets(self, request: Any, context: Any) -> Any:
        markets = [market_pb2.Market(symbol="BTC-PERP", kind=market_pb2.PERP, max_leverage=20),
                   market_pb2.Market(symbol="SOL-USD", kind=market_pb2.SPOT)]
        return engine_pb2.ListMarketsResponse(markets=markets)

    async def ListOpenOrders(self, request: Any, context: Any) -> Any:
        self.recorder.record(request, context)
        return engine_pb2.ListOpenOrdersResponse()

    async def GetDepth(self, request: Any, context: Any) -> Any:
        return engine_pb2.GetDepthResponse(market=request.market, sequence=2**60 + request.limit)

    async def QuoteOrder(self, request: Any, context: Any) -> Any:
        await asyncio.sleep(3)
        return engine_pb2.QuoteOrderResponse()

    async def CancelOrder(self, request: Any, context: Any) -> Any:
        raise RuntimeError("a servicer bug")


class PersistenceServicer(persistence_pb2_grpc.PersistenceServicer):
    """A test double of the remote persistence service: users in a dict."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.users: dict[str, tuple[account_pb2.User, str]] = {}  # by email
        self.unavailable = False

    async def CreateUser(self, request: Any, context: Any) -> Any:
        if self.unavailable:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "database down")
        email = request.email.lower()
        if email in self.users:
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, "email: already registered")
        user = account_pb2.User(id=f"u-{len(self.users) + 1}", email=email, admin=request.admin)
        self.users[email] = (user, request.password_hash)
        return persistence_pb2.CreateUserResponse(user=user)

    async def GetUser(self, request: Any, context: Any) -> Any:
        if self.unavailable:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "database down")
        for user, hashed in self.users.values():
            if request.id == user.id or request.email.lower() == user.email:
                return persistence_pb2.GetUserResponse(user=user, password_hash=hashed)
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such user")

    async def GetCandles(self, request: Any, context: Any) -> Any:
        self.recorder.record(request, context)
        candle = market_pb2.Candle(interval=request.interval)
        candle.open_time.CopyFrom(request.start)
        return persistence_pb2.GetCandlesResponse(candles=[candle])


Registrar = Callable[[grpc.aio.Server], Iterable[str]]


def registrar(add: Callable[[Any, grpc.aio.Server], None], servicer: Any, name: str
              ) -> Registrar:
    def register(server: grpc.aio.Server) -> Iterable[str]:
        add(servicer, server)
        return [name]
    return register


@dataclass
class Mesh:
    recorder: Recorder
    addresses: dict[str, str]
    services: dict[str, GrpcService]
    persistence: Any = None


def instantiate(cls: Any, *args: Any) -> Any:
    """The stubs mark unimplemented rpcs abstract; at run time they answer UNIMPLEMENTED."""
    return cls(*args)


GatewayFactory = Callable[..., Awaitable[httpx.AsyncClient]]


async def wait_started(server: uvicorn.Server) -> None:
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
        await asyncio.sleep(0.01)
