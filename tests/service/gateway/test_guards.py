"""Rate limits (per user, per IP, shared by replicas) and Idempotency-Key, over real HTTP
with the real Redis behind them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from gateway_harness import GatewayFactory, Mesh

from gateway.policy import GatewayPolicy
from gateway.transcoder import Guards
from gateway.wiring import build_guards, redis_client
from mesh_runtime.config import Settings
from mesh_runtime.tokens import TokenSigner

pytestmark = pytest.mark.timeout(60)
ORDER = {"market": "BTC-PERP", "side": "BUY", "type": "LIMIT", "quantity": "1", "price": "100"}


@pytest.fixture
async def redis(base_settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = redis_client(base_settings)
    yield client
    await client.aclose()


def limited(settings: Settings, client: aioredis.Redis, **policy: int | float) -> Guards:
    return build_guards(settings, client, GatewayPolicy(**policy))  # type: ignore[arg-type]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_per_user_bucket(gateway: GatewayFactory, base_settings: Settings,
                               redis: aioredis.Redis, signer: TokenSigner) -> None:
    guards = limited(base_settings, redis, rate_limit_user_burst=3,
                     rate_limit_user_per_second=0.01)
    client = await gateway(guards=guards)
    statuses = [(await client.get("/api/v1/orders")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = await client.get("/api/v1/orders")
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert int(refused.headers["Retry-After"]) >= 1
    other = bearer(signer.issue("user-2")[0])
    assert (await client.get("/api/v1/orders", headers=other)).status_code == 200


async def test_per_ip_bucket_covers_anonymous_calls(
        gateway: GatewayFactory, base_settings: Settings, redis: aioredis.Redis) -> None:
    guards = limited(base_settings, redis, rate_limit_ip_burst=3, rate_limit_ip_per_second=0.01)
    client = await gateway(token=None, guards=guards)
    statuses = [(await client.get("/api/v1/markets")).status_code for _ in range(3)]
    statuses.append((await client.get("/api/v1/orders")).status_code)  # 429 before 401
    assert statuses == [200, 200, 200, 429]


async def test_buckets_are_shared_by_replicas(
        gateway: GatewayFactory, base_settings: Settings, redis: aioredis.Redis) -> None:
    policy = {"rate_limit_user_burst": 4, "rate_limit_user_per_second": 0.01}
    first = await gateway(guards=limited(base_settings, redis, **policy))
    second = await gateway(guards=limited(base_settings, redis, **policy))
    statuses = [(await client.get("/api/v1/orders")).status_code
                for client in (first, second, first, second, first, second)]
    assert statuses == [200, 200, 200, 200, 429, 429]


async def test_bucket_refills(gateway: GatewayFactory, base_settings: Settings,
                              redis: aioredis.Redis) -> None:
    guards = limited(base_settings, redis, rate_limit_user_burst=1,
                     rate_limit_user_per_second=20.0)
    client = await gateway(guards=guards)
    assert (await client.get("/api/v1/orders")).status_code == 200
    for _ in range(200):  # bounded: refills in ~50 ms
        if (await client.get("/api/v1/orders")).status_code == 200:
            return
        await asyncio.sleep(0.02)
    pytest.fail("the bucket never refilled")


async def test_idempotency_key_replays_the_first_answer(
        gateway: GatewayFactory, mesh: Mesh) -> None:
    client = await gateway()
    headers = {"Idempotency-Key": "order-1"}
    first = await client.post("/api/v1/orders", json=ORDER, headers=headers)
    again = await client.post("/api/v1/orders", json=ORDER, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len([c for c in mesh.recorder.calls if c.request.DESCRIPTOR.name ==
                "PlaceOrderRequest"]) == 1


async def test_an_error_answer_is_replayed_too(gateway: GatewayFactory, mesh: Mesh) -> None:
    client = await gateway()
    body = {**ORDER, "quantity": "1000000"}
    answers = [await client.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "k"})
               for _ in range(2)]
    assert [a.status_code for a in answers] == [400, 400]
    assert answers[1].json()["error"]["code"] == "INSUFFICIENT_BALANCE"
    assert len(mesh.recorder.calls) == 1


async def test_same_key_other_body_is_422(gateway: GatewayFactory) -> None:
    client = await gateway()
    headers = {"Idempotency-Key": "order-2"}
    assert (await client.post("/api/v1/orders", json=ORDER, headers=headers)).status_code == 201
    other = await client.post("/api/v1/orders", json={**ORDER, "price": "101"}, headers=headers)
    assert other.status_code == 422, other.text
    assert other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"


async def test_keys_are_per_user(gateway: GatewayFactory, mesh: Mesh,
                                 signer: TokenSigner) -> None:
    client = await gateway()
    headers = {"Idempotency-Key": "shared"}
    await client.post("/api/v1/orders", json=ORDER, headers=headers)
    other = {**headers, **bearer(signer.issue("user-2")[0])}
    response = await client.post("/api/v1/orders", json={**ORDER, "price": "5"}, headers=other)
    assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers
    assert len(mesh.recorder.calls) == 2


async def test_retry_while_in_flight_is_409(gateway: GatewayFactory,
                                            redis: aioredis.Redis) -> None:
    client = await gateway()
    body = {"market": "BTC-PERP", "side": "BUY", "quantity": "1"}
    headers = {"Idempotency-Key": "slow-quote"}
    first = asyncio.create_task(client.post("/api/v1/orders/quote", json=body, headers=headers))
    for _ in range(500):  # bounded: until the first has claimed the key (its upstream is slow)
        if await redis.keys("trademesh:idempotency:*:slow-quote"):
            break
        await asyncio.sleep(0.01)
    retry = await client.post("/api/v1/orders/quote", json=body, headers=headers)
    assert retry.status_code == 409, retry.text
    assert retry.json()["error"]["code"] == "IDEMPOTENCY_KEY_IN_USE"
    assert (await first).status_code == 200  # the quote double answers after 3 s
    replay = await client.post("/api/v1/orders/quote", json=body, headers=headers)
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"


async def test_an_order_answered_after_its_deadline_is_stored_not_placed_again(
        gateway: GatewayFactory, mesh: Mesh) -> None:
    client = await gateway()
    body = {**ORDER, "quantity": "7"}  # the engine double answers it after 1.5 s
    headers = {"Idempotency-Key": "late-order", "grpc-timeout": "300m"}
    late = await client.post("/api/v1/orders", json=body, headers=headers)
    assert late.status_code == 504 and late.json()["error"]["code"] == "DEADLINE_EXCEEDED"
    retry = await client.post("/api/v1/orders", json=body, headers=headers)
    assert retry.status_code == 409, retry.text  # the outcome is still coming
    for _ in range(100):  # bounded: until the engine's answer has been stored
        await asyncio.sleep(0.05)
        replay = await client.post("/api/v1/orders", json=body, headers=headers)
        if replay.status_code != 409:
            break
    assert replay.status_code == 201, replay.text
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["quantity"] == "7"
    placed = [c for c in mesh.recorder.calls if c.request.DESCRIPTOR.name == "PlaceOrderRequest"]
    assert len(placed) == 1  # once, though asked three times


async def test_a_server_error_releases_the_key(gateway: GatewayFactory, mesh: Mesh) -> None:
    client = await gateway()
    headers = {"Idempotency-Key": "withdraw-1"}
    answers = [await client.post("/api/v1/account/withdraw", json={"asset": "USD", "amount": "1"},
                                 headers=headers) for _ in range(2)]
    assert [a.status_code for a in answers] == [501, 501]
    assert "Idempotent-Replayed" not in answers[1].headers


@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "naïve"])
async def test_malformed_key_is_400(gateway: GatewayFactory, key: str) -> None:
    client = await gateway()
    response = await client.post("/api/v1/orders", json=ORDER,
                                 headers={b"Idempotency-Key": key.encode()})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["details"][0]["field"] == "Idempotency-Key"


async def test_public_post_keys_are_scoped_by_ip(gateway: GatewayFactory) -> None:
    client = await gateway(token=None)
    body = {"email": "kim@example.com", "password": "a fine password"}
    headers = {"Idempotency-Key": "signup-1"}
    first = await client.post("/api/v1/auth/signup", json=body, headers=headers)
    again = await client.post("/api/v1/auth/signup", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
