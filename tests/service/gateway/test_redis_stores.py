"""The Redis-backed stores on the real embedded Redis: revocations (expiring with the
token), the sign-in lockout, the rate limiter's script, and failure when Redis is gone."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from gateway.rate_limit import Bucket, RateLimiter, RateLimits
from gateway.signin_lockout import SigninLockout
from gateway.wiring import redis_client
from mesh_runtime.config import Settings
from mesh_runtime.ports import free_port
from mesh_runtime.revocation import KEY_PREFIX, RedisRevocations, RevocationUnavailable

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def redis(base_settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = redis_client(base_settings)
    yield client
    await client.aclose()


@pytest.fixture
async def nowhere() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0",
                                     socket_connect_timeout=0.5, socket_timeout=0.5)
    yield client
    await client.aclose()


async def test_revocation_lives_until_the_token_expires(redis: aioredis.Redis) -> None:
    revocations = RedisRevocations(redis)
    expires = int(time.time()) + 300
    await revocations.revoke("jti-1", expires)
    assert await revocations.is_revoked("jti-1")
    assert not await revocations.is_revoked("jti-2")
    ttl = await redis.ttl(KEY_PREFIX + "jti-1")
    assert 0 < ttl <= 300
    await revocations.revoke("jti-old", int(time.time()) - 5)  # expired: nothing to keep
    assert not await redis.exists(KEY_PREFIX + "jti-old")


async def test_a_follower_answers_from_memory_and_sees_new_revocations(
        redis: aioredis.Redis, base_settings: Settings) -> None:
    """A replica that follows: revocations made before it started are loaded, ones made by
    another replica afterwards arrive through the channel, and checks need no round trip."""
    writer = RedisRevocations(redis)
    expires = int(time.time()) + 300
    await writer.revoke("before", expires)
    follower_client = redis_client(base_settings)
    follower = RedisRevocations(follower_client)
    task = asyncio.create_task(follower.follow())
    try:
        for _ in range(200):
            if follower.following:
                break
            await asyncio.sleep(0.01)
        assert follower.following and await follower.is_revoked("before")
        await writer.revoke("after", expires)
        for _ in range(200):
            if await follower.is_revoked("after"):
                break
            await asyncio.sleep(0.01)
        assert await follower.is_revoked("after")
        assert not await follower.is_revoked("never")
        await follower_client.aclose()  # Redis lost: no longer answers from memory
        for _ in range(200):
            if not follower.following:
                break
            await asyncio.sleep(0.01)
        assert not follower.following
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_revocations_fail_closed(nowhere: aioredis.Redis) -> None:
    revocations = RedisRevocations(nowhere)
    with pytest.raises(RevocationUnavailable):
        await revocations.is_revoked("jti")
    with pytest.raises(RevocationUnavailable):
        await revocations.revoke("jti", int(time.time()) + 60)


async def test_lockout(redis: aioredis.Redis, caplog: pytest.LogCaptureFixture) -> None:
    lockout = SigninLockout(redis, max_failures=3, window_seconds=60,
                            max_failures_per_address=5)
    for _ in range(2):
        await lockout.failed("a@example.com", "10.0.0.1")
    assert await lockout.locked_for("a@example.com", "10.0.0.1") == 0
    await lockout.failed("a@example.com", "10.0.0.1")
    assert 0 < await lockout.locked_for("a@example.com", "10.0.0.1") <= 60
    assert await lockout.locked_for("a@example.com", "10.0.0.2") == 0  # the owner elsewhere
    assert await lockout.locked_for("b@example.com", "10.0.0.1") == 0
    await lockout.succeeded("a@example.com", "10.0.0.1")
    assert await lockout.locked_for("a@example.com", "10.0.0.1") == 0
    for email in ("c@example.com", "d@example.com"):  # 5 from 10.0.0.1 in all
        await lockout.failed(email, "10.0.0.1")
    assert 0 < await lockout.locked_for("e@example.com", "10.0.0.1") <= 60  # the address
    assert await lockout.locked_for("e@example.com", "10.0.0.2") == 0
    stored = b"".join(await redis.keys("*"))
    assert b"example" not in stored and b"10.0.0" not in stored  # hashed, not stored
    locks = [r.getMessage() for r in caplog.records if "sign-in lockout" in r.getMessage()]
    assert len(locks) == 2 and all("10.0.0.1" in m and "example" not in m for m in locks)


async def test_lockout_counts_an_ipv6_64_as_one_address(redis: aioredis.Redis) -> None:
    lockout = SigninLockout(redis, max_failures=5, window_seconds=60,
                            max_failures_per_address=3)
    for n in range(3):  # hopping within one's own /64 starts nothing afresh
        await lockout.failed(f"v{n}@example.com", f"2001:db8:0:7::{n + 1}")
    assert await lockout.locked_for("w@example.com", "2001:db8:0:7:ffff::1") > 0
    assert await lockout.locked_for("w@example.com", "2001:db8:0:8::1") == 0


async def test_the_limiter_takes_from_every_bucket_or_none(redis: aioredis.Redis) -> None:
    limits = RateLimits(per_user=Bucket(2, 0.001), per_ip=Bucket(3, 0.001))
    limiter = RateLimiter(redis, limits)
    assert await limiter.wait_seconds("10.0.0.1", "u1") == 0
    assert await limiter.wait_seconds("10.0.0.1", "u1") == 0
    assert await limiter.wait_seconds("10.0.0.1", "u1") > 0  # the user's bucket is empty
    assert await limiter.wait_seconds("10.0.0.1", "u2") == 0  # the IP had one left
    assert await limiter.wait_seconds("10.0.0.1", None) > 0
    assert await limiter.wait_seconds("10.0.0.2", "u2") == 0
    await limiter.close()


async def test_concurrent_checks_share_a_call_and_each_takes_its_own_token(
        redis: aioredis.Redis) -> None:
    limits = RateLimits(per_user=Bucket(3, 0.001), per_ip=Bucket(1000, 0.001))
    limiter = RateLimiter(redis, limits)
    users = ["u1"] * 10 + ["u2"] * 2 + [None] * 4
    waits = await asyncio.gather(*(limiter.wait_seconds("10.0.0.9", u) for u in users))
    assert sum(w == 0 for w in waits[:10]) == 3  # u1's bucket: three, whoever came first
    assert waits[:3] == [0, 0, 0] and all(w > 0 for w in waits[3:10])
    assert waits[10:] == [0] * 6  # other buckets untouched by u1's refusals
    refused = await limiter.wait_seconds("10.0.0.9", "u1")
    assert 0 < refused <= waits[3]  # the refusals took nothing: no deeper into debt
    await limiter.close()


async def test_the_limiter_loads_its_script_again_into_a_redis_that_lost_it(
        redis: aioredis.Redis) -> None:
    limiter = RateLimiter(redis, RateLimits(per_user=Bucket(2, 0.001),
                                            per_ip=Bucket(100, 0.001)))
    assert await limiter.wait_seconds("10.0.1.1", "flushed") == 0
    await redis.script_flush()  # as after a restart without persistence
    assert await limiter.wait_seconds("10.0.1.1", "flushed") == 0
    assert await limiter.wait_seconds("10.0.1.1", "flushed") > 0  # the same bucket, empty
    await limiter.close()


async def test_the_limiter_opens_a_new_connection_after_losing_its_own(
        redis: aioredis.Redis) -> None:
    limiter = RateLimiter(redis, RateLimits(per_user=Bucket(1, 0.001),
                                            per_ip=Bucket(100, 0.001)))
    assert await limiter.wait_seconds("10.0.1.2", "killed") == 0
    await redis.client_kill_filter(_type="normal", skipme=True)  # the limiter's connection
    await limiter.wait_seconds("10.0.1.2", "killed")  # admitted (failing open) or refused
    assert await limiter.wait_seconds("10.0.1.2", "killed") > 0  # reconnected: bucket empty
    await limiter.close()


async def test_the_limiter_admits_when_redis_is_gone(nowhere: aioredis.Redis) -> None:
    limiter = RateLimiter(nowhere, RateLimits())
    assert await limiter.wait_seconds("10.0.0.1", "u1") == 0
    assert await limiter.wait_seconds("10.0.0.1", "u1") == 0  # tried again, still admitting
    await limiter.close()
