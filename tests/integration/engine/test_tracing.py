"""One trace follows a REST order: the gateway's request span, the engine's PlaceOrder span
(the ``traceparent`` travelled in the gRPC metadata), the sequencer's journal write, then
the asynchronous hops, joined by the ``traceparent``s carried on the event and market-data
batches: persistence's commit of the order's events (and the engine's wait for it), and the
feed's fan-out of its market data. Recorded by an in-memory exporter. Real engine
(sequencer, Redis journal, PostgreSQL snapshots, event link, market-data publisher), real
persistence service on a fresh database, a real feed replica (Redis relay), real gateway
app on uvicorn, real gRPC with mutual TLS between them."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import redis.asyncio as aioredis
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from engine_svc.app import build, register, wall_clock_ms
from engine_svc.event_link import EventLink
from engine_svc.market_data import MarketDataPublisher
from engine_svc.servicer import EngineServicer
from feed_svc.app import FeedConfig, FeedNode
from gateway.app import build_app
from gateway.transcoder import Guards
from mesh_runtime.config import Settings
from mesh_runtime.http_serving import AsgiServer
from mesh_runtime.ports import free_port
from mesh_runtime.revocation import TokenCheck
from mesh_runtime.serving import GrpcService
from mesh_runtime.tokens import TokenSigner, TokenVerifier, ensure_keypair
from persistence_svc import app as persistence_app
from tests.tls import use_pki

WAIT = 20.0


async def reset_stores(redis_url: str) -> None:
    """An empty journal and outbox (the database is a fresh one)."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.delete("trademesh:journal", "trademesh:outbox")
    finally:
        await client.aclose()


def token_check(settings: Settings) -> TokenCheck:
    return TokenCheck(TokenVerifier.from_file(settings.public_key_path, settings.jwt_issuer,
                                              settings.jwt_audience), None)


async def start_persistence(settings: Settings, stack: AsyncExitStack) -> int:
    """Persistence on free ports; returns its mesh port (where the engine links)."""
    servicer = await persistence_app.build(settings, stack)
    service = GrpcService("persistence", "127.0.0.1", 0, [persistence_app.register(servicer)],
                          tls=settings.tls_files("persistence"), mesh_port=0,
                          grace_seconds=1, token_check=token_check(settings))
    await service.start()
    stack.push_async_callback(service.stop)
    return service.mesh_port


async def start_feed(settings: Settings, stack: AsyncExitStack) -> int:
    """A feed replica on free ports (its own relay stream); returns its mesh port."""
    mesh_port = free_port()
    config = FeedConfig(relay_channel=f"test-trace-{uuid.uuid4().hex}", oracle="off")
    node = FeedNode(settings, config, grpc_port=0, mesh_port=mesh_port, ws_port=free_port())
    await node.start()
    stack.push_async_callback(node.stop)
    return mesh_port


async def start_engine(settings: Settings, stack: AsyncExitStack) -> int:
    sequencer, journal = await build(settings, stack)
    link = EventLink(journal, settings, sequencer.config)
    link.durable = sequencer.durable
    publisher = MarketDataPublisher(sequencer, settings)
    sequencer.add_listener(publisher)
    task = asyncio.create_task(sequencer.run())
    link_task = asyncio.create_task(link.run())
    publisher_task = asyncio.create_task(publisher.run())
    servicer = EngineServicer(sequencer, wall_clock_ms)
    service = GrpcService("engine", "127.0.0.1", 0, [register(servicer)],
                          tls=settings.tls_files("engine"), mesh_port=0, grace_seconds=1,
                          token_check=token_check(settings))
    await service.start()
    await service.set_serving(True)

    async def stop() -> None:
        await service.stop()
        link_task.cancel()
        publisher_task.cancel()
        await asyncio.gather(link_task, publisher_task, return_exceptions=True)
        await sequencer.close()
        await asyncio.wait_for(task, WAIT)

    stack.push_async_callback(stop)
    await asyncio.wait_for(publisher.connected.wait(), WAIT)
    return service.mesh_port


async def start_gateway(settings: Settings, stack: AsyncExitStack) -> str:
    port = free_port()
    server = AsgiServer(build_app(settings, guards=Guards()), "127.0.0.1", port,
                        lifespan="on", grace_seconds=1)
    task = asyncio.create_task(server.serve())

    async def stop() -> None:
        server.stop()
        await asyncio.wait_for(task, WAIT)

    stack.push_async_callback(stop)
    for _ in range(2000):  # bounded: uvicorn sets no event when it is up
        if server.started:
            return f"http://127.0.0.1:{port}/api/v1"
        await asyncio.sleep(0.01)
    raise TimeoutError("the gateway did not start")


def in_order_trace(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    """The spans called ``name`` in the order's trace (not the deposit's)."""
    rpcs = [s for s in spans if s.name == "trademesh.v1.Engine/PlaceOrder"]
    if not rpcs or rpcs[0].context is None:
        return []
    trace_id = rpcs[0].context.trace_id
    return [s for s in spans if s.name == name and s.context is not None
            and s.context.trace_id == trace_id]


ASYNC_HOPS = ("persistence.commit", "engine.persistence_wait", "feed.fanout")


def one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, (name, [s.name for s in spans])
    return found[0]


async def test_one_trace_from_the_rest_request_to_persistence_and_the_feed(
        spans: InMemorySpanExporter, redis_url: str, database: str, tmp_path: Path) -> None:
    await reset_stores(redis_url)
    private, public = tmp_path / "jwt.pem", tmp_path / "jwt.pub.pem"
    ensure_keypair(private, public)
    settings = use_pki(Settings(data_dir=tmp_path / "data", redis_url=redis_url,
                                postgres_url=database, jwt_private_key_file=str(private),
                                jwt_public_key_file=str(public)))
    token = TokenSigner.from_file(private, settings.jwt_issuer, settings.jwt_audience,
                                  600).issue(f"user-{uuid.uuid4().hex[:8]}")[0]
    async with AsyncExitStack() as stack:
        persistence_port = await start_persistence(settings, stack)
        feed_port = await start_feed(settings, stack)
        settings = settings.with_overrides(
            persistence_mesh_addr=f"127.0.0.1:{persistence_port}",
            feed_mesh_addr=f"127.0.0.1:{feed_port}")
        engine_port = await start_engine(settings, stack)
        base = await start_gateway(
            settings.with_overrides(engine_mesh_addr=f"127.0.0.1:{engine_port}"), stack)
        auth = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, headers=auth, timeout=WAIT) as client:
            deposit = await client.post("/account/deposit", json={
                "asset": "USD", "amount": "1000", "transactionId": uuid.uuid4().hex})
            assert deposit.status_code == 200, deposit.text
            spans.clear()
            placed = await client.post("/orders", json={
                "market": "SOL-USD", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                "quantity": "1", "price": "1.000"})
            assert placed.status_code == 201, placed.text
            for _ in range(2000):  # bounded: until every asynchronous hop is recorded
                finished = list(spans.get_finished_spans())
                if all(in_order_trace(finished, hop) for hop in ASYNC_HOPS):
                    break
                await asyncio.sleep(0.01)
    finished = list(spans.get_finished_spans())
    rest = one(finished, "POST /api/v1/orders")
    rpc = one(finished, "trademesh.v1.Engine/PlaceOrder")
    journal = one(finished, "engine.journal_append")
    assert rest.context is not None and rpc.context is not None and journal.context is not None
    assert rpc.parent is not None and rpc.parent.span_id == rest.context.span_id
    assert journal.parent is not None and journal.parent.span_id == rpc.context.span_id
    assert rest.context.trace_id == rpc.context.trace_id == journal.context.trace_id
    for hop in ASYNC_HOPS:  # each recorded once, under the engine's PlaceOrder span
        found = in_order_trace(finished, hop)
        assert len(found) == 1, (hop, [s.name for s in finished])
        assert found[0].parent is not None and found[0].parent.span_id == rpc.context.span_id
    commit = in_order_trace(finished, "persistence.commit")[0]
    assert commit.attributes is not None
    assert int(str(commit.attributes["trademesh.persistence.committed_sequence"])) >= \
        int(str(commit.attributes["trademesh.event.sequence"]))
    fanout = in_order_trace(finished, "feed.fanout")[0]
    assert fanout.attributes is not None
    assert int(str(fanout.attributes["trademesh.feed.items"])) >= 1
    assert rest.attributes is not None and rest.attributes["http.response.status_code"] == 201
