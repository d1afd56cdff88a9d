"""An authenticated subscription lasts as long as its token: expiry and revocation (logout)
stop the user channel on the WebSocket (the connection stays, with an error message) and
end a gRPC ``user`` subscription with UNAUTHENTICATED."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from feed_clients import Feed, WsClient, make_settings, start_node
from trademesh.v1 import feed_pb2, feed_pb2_grpc

from feed_svc.session import Limits
from mesh_runtime.ports import free_port
from mesh_runtime.revocation import RedisRevocations
from mesh_runtime.tokens import TokenSigner
from tests.tls import user_channel


@pytest.fixture
async def feed(redis_url: str, tmp_path: Path) -> AsyncIterator[Feed]:
    settings, signer = make_settings(tmp_path, redis_url)
    port, channel = free_port(), f"test-feed-{uuid.uuid4().hex}"
    node = await start_node(settings, port, channel, limits=Limits(token_recheck_seconds=0.2))
    try:
        yield Feed(node, settings, signer, port, channel)
    finally:
        await node.stop()


def short_lived(feed: Feed, seconds: int) -> TokenSigner:
    private = feed.settings.jwt_private_key_file
    return TokenSigner.from_file(Path(private), feed.settings.jwt_issuer,
                                 feed.settings.jwt_audience, seconds)


async def unsolicited_error(client: WsClient) -> dict[str, object]:
    message = await client.until(lambda m: "error" in m and m.get("id") is None)
    return dict(message["error"])


async def test_an_expired_token_stops_the_user_channel_not_the_connection(feed: Feed) -> None:
    token = short_lived(feed, 2).issue("alice")[0]
    client = await WsClient.connect(feed.ws_port)
    try:
        assert (await client.call("AUTH", [token]))["result"] == {"userId": "alice"}
        assert (await client.call("SUBSCRIBE", ["user"]))["result"] is None
        error = await unsolicited_error(client)
        assert error["code"] == "UNAUTHENTICATED" and "expired" in str(error["message"])
        again = await client.call("SUBSCRIBE", ["user"])
        assert again["error"]["code"] == "UNAUTHENTICATED"  # AUTH first, again
        assert (await client.call("PING"))["result"] == "PONG"  # still connected
        fresh = feed.signer.issue("alice")[0]
        assert (await client.call("AUTH", [fresh]))["result"] == {"userId": "alice"}
        assert (await client.call("SUBSCRIBE", ["user"]))["result"] is None
    finally:
        await client.close()


async def test_a_revoked_token_stops_the_user_channel(feed: Feed) -> None:
    token, expires = feed.signer.issue("bob")
    client = await WsClient.connect(feed.ws_port)
    revocations = RedisRevocations.from_url(feed.settings.redis_dsn)
    try:
        assert (await client.call("AUTH", [token]))["result"] == {"userId": "bob"}
        assert (await client.call("SUBSCRIBE", ["user"]))["result"] is None
        claims = feed.node.bridge._verifier.verifier.verify(token)  # type: ignore[union-attr]
        await revocations.revoke(claims.token_id, expires)
        error = await unsolicited_error(client)
        assert error["code"] == "UNAUTHENTICATED" and "revoked" in str(error["message"])
    finally:
        await client.close()
        await revocations.close()


async def test_a_grpc_user_subscription_ends_when_its_token_expires(feed: Feed) -> None:
    token = short_lived(feed, 2).issue("carol")[0]
    async with user_channel(feed.address) as channel:
        stub = feed_pb2_grpc.FeedStub(channel)
        call = stub.Subscribe(feed_pb2.SubscribeRequest(channels=["user"]),
                              metadata=(("authorization", f"Bearer {token}"),))
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            async for _ in call:
                pass  # no user events in this test: the stream just has to end
        assert ended.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "expired" in (ended.value.details() or "")
        await asyncio.sleep(0)
