"""Only the engine may publish market data: a forged ``user_event`` with a huge sequence
(which would make the hub drop the user's later real events as stale) and a forged trade
print are refused from every other caller, and change nothing a client sees."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from feed_clients import WAIT, Feed, WsClient
from trademesh.v1 import event_pb2, feed_pb2, feed_pb2_grpc, market_pb2

from mesh_runtime.policy_interceptor import ENFORCER
from tests.tls import service_channel, user_channel

pytestmark = pytest.mark.timeout(60)
HUGE = 2**62


def _forgeries() -> list[feed_pb2.PublishMarketDataRequest]:
    event = event_pb2.EngineEvent(sequence=HUGE, user_id="victim")
    event.balance.user_id = "victim"
    event.balance.balance.asset, event.balance.balance.available = "USD", "1000000"
    trade = market_pb2.Trade(trade_id="999999", market="SOL-USD", price="1.0",
                             quantity="1000", taker_side="BUY")
    return [feed_pb2.PublishMarketDataRequest(user_event=event),
            feed_pb2.PublishMarketDataRequest(trade=trade)]


async def _requests() -> AsyncIterator[feed_pb2.PublishMarketDataRequest]:
    for item in _forgeries():
        yield item


async def _publish(channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...]
                   ) -> grpc.StatusCode:
    stub = feed_pb2_grpc.FeedStub(channel)
    try:
        await stub.PublishMarketData(_requests(), metadata=metadata,  # type: ignore[arg-type]
                                     timeout=5)
    except grpc.aio.AioRpcError as err:
        return err.code()
    finally:
        await channel.close(None)
    return grpc.StatusCode.OK


async def _plaintext_refused(address: str) -> None:
    """A plaintext client on the TLS port never gets a call through."""
    channel = grpc.aio.insecure_channel(address)
    try:
        await asyncio.wait_for(channel.channel_ready(), 1.5)
        raise AssertionError("a plaintext channel became ready on a TLS port")
    except TimeoutError:
        pass
    finally:
        await channel.close(None)


async def test_only_the_engine_publishes(feed: Feed) -> None:
    victim = await WsClient.connect(feed.ws_port)
    watcher = await WsClient.connect(feed.ws_port)
    trader = (("authorization", f"Bearer {feed.signer.issue('mallory')[0]}"),)
    admin = (("authorization", f"Bearer {feed.signer.issue('root', admin=True)[0]}"),)
    try:
        await victim.call("AUTH", [feed.signer.issue("victim")[0]])
        await victim.call("SUBSCRIBE", ["user"])
        await watcher.call("SUBSCRIBE", ["trades@SOL-USD"])
        await _plaintext_refused(feed.address)
        attempts = {
            "no certificate": (user_channel(feed.address), ()),
            "a trader's token": (user_channel(feed.address), trader),
            "an admin's token": (user_channel(feed.address), admin),
            "the gateway": (service_channel(feed.mesh_address, "gateway"), ()),
            "the gateway with a token": (service_channel(feed.mesh_address, "gateway"), trader),
            "persistence": (service_channel(feed.mesh_address, "persistence"), ()),
        }
        codes = {who: await _publish(channel, meta) for who, (channel, meta) in attempts.items()}
        assert codes == {
            "no certificate": grpc.StatusCode.UNAUTHENTICATED,
            "a trader's token": grpc.StatusCode.PERMISSION_DENIED,
            "an admin's token": grpc.StatusCode.PERMISSION_DENIED,
            "the gateway": grpc.StatusCode.PERMISSION_DENIED,
            "the gateway with a token": grpc.StatusCode.PERMISSION_DENIED,
            "persistence": grpc.StatusCode.PERMISSION_DENIED,
        }
        engine = feed.engine()  # the real publisher's identity: its events go through
        try:
            event = event_pb2.EngineEvent(sequence=1, user_id="victim")
            event.balance.user_id = "victim"
            event.balance.balance.asset, event.balance.balance.available = "USD", "5"
            engine.send(user_event=event)
            engine.trade("SOL-USD", 1, "150.5", "2", 1_700_000_000_000)
            mine = await victim.stream("user")
            assert (mine["userId"], mine["sequence"]) == ("victim", "1")
            print_ = await watcher.stream("trades@SOL-USD")
            assert (print_["price"], print_["quantity"]) == ("150.5", "2")
        finally:
            await engine.close()
    finally:
        await victim.close()
        await watcher.close()


async def test_the_refusal_says_it_is_the_call_policy(feed: Feed) -> None:
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    channel = user_channel(feed.address)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await feed_pb2_grpc.FeedStub(channel).PublishMarketData(
                _requests(), timeout=WAIT)  # type: ignore[arg-type]
    finally:
        await channel.close(None)
    status = rpc_status.from_call(err.value)  # type: ignore[arg-type]
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert (info.reason, info.metadata["enforcedBy"]) == ("CREDENTIAL_REQUIRED", ENFORCER)
    assert "service engine" in (err.value.details() or "")
