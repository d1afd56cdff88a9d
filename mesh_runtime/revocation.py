"""Revoked tokens, shared by every service and replica through Redis.

A revoked token is remembered by its ``jti`` under ``trademesh:revoked:<jti>`` until the
token itself expires (``EXAT`` = the token's ``exp``), after which the signature check alone
refuses it and the key is gone. :class:`TokenCheck` is the one verification API for every
entry point — REST (gateway), gRPC (the call-policy interceptor,
:mod:`mesh_runtime.policy_interceptor`) and the WebSocket bridge: the signature and claims
through :class:`TokenVerifier`, then the revocation set, on every call (the verifier's
cache never skips the revocation check).
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

import redis.asyncio as aioredis

from mesh_runtime.tokens import Claims, InvalidToken, TokenVerifier

KEY_PREFIX = "trademesh:revoked:"
CHANNEL = "trademesh:revocations"


class RevocationUnavailable(Exception):
    """The revocation store cannot be reached: the token's standing is unknown."""


class Revocations(Protocol):
    """The port: revoke a token id until its expiry; ask whether one is revoked."""

    async def revoke(self, token_id: str, expires_at: int) -> None: ...

    async def is_revoked(self, token_id: str) -> bool: ...


class RedisRevocations:
    """:class:`Revocations` in Redis: one key per revoked ``jti``, expiring with the token.

    A busy service runs :meth:`follow`: it subscribes to the revocations channel, then loads
    every revoked key, and from then on answers :meth:`is_revoked` from memory (no round
    trip per call); while it is not subscribed (not started, or Redis lost) every check
    asks Redis. Subscribing before loading leaves no gap for a revocation to slip through.
    """

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._mirror: dict[str, int] | None = None  # jti -> expiry, while following

    @classmethod
    def from_url(cls, url: str, timeout: float = 2.0) -> RedisRevocations:
        return cls(aioredis.Redis.from_url(url, socket_connect_timeout=timeout,
                                           socket_timeout=timeout))

    async def revoke(self, token_id: str, expires_at: int) -> None:
        if expires_at <= time.time():
            return  # already refused by its expiry
        try:
            pipe = self._redis.pipeline(transaction=True)
            pipe.set(KEY_PREFIX + token_id, str(expires_at), exat=expires_at)
            pipe.publish(CHANNEL, f"{token_id} {expires_at}")
            await pipe.execute()
        except (OSError, aioredis.RedisError) as err:
            raise RevocationUnavailable(f"cannot record the revocation: {err}") from None

    async def is_revoked(self, token_id: str) -> bool:
        mirror = self._mirror
        if mirror is not None:
            expires_at = mirror.get(token_id)
            return expires_at is not None and expires_at > time.time()
        try:
            return bool(await self._redis.exists(KEY_PREFIX + token_id))
        except (OSError, aioredis.RedisError) as err:
            raise RevocationUnavailable(f"cannot check revocation: {err}") from None

    @property
    def following(self) -> bool:
        return self._mirror is not None

    async def follow(self) -> None:
        """Mirrors the revocations into memory until cancelled; re-subscribes after errors."""
        while True:
            try:
                await self._follow_once()
            except (OSError, aioredis.RedisError):
                self._mirror = None
                await asyncio.sleep(0.5)

    async def _follow_once(self) -> None:
        async with self._redis.pubsub() as pubsub:
            await pubsub.subscribe(CHANNEL)
            mirror: dict[str, int] = {}
            async for key in self._redis.scan_iter(match=KEY_PREFIX + "*", count=1000):
                value = await self._redis.get(key)
                name = key.decode() if isinstance(key, bytes) else str(key)
                mirror[name[len(KEY_PREFIX):]] = int(value or 0) or 2**62
            self._mirror = mirror
            while True:  # a bounded wait per read: the client's socket timeout stays in force
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is None or message.get("type") != "message":
                    continue
                token_id, _, expires = bytes(message["data"]).decode().partition(" ")
                mirror[token_id] = int(expires or 0)
                now = time.time()
                if len(mirror) % 1024 == 0:  # forget expired ones now and then
                    for jti in [j for j, exp in mirror.items() if exp <= now]:
                        del mirror[jti]

    async def close(self) -> None:
        await self._redis.aclose()


class MemoryRevocations:
    """:class:`Revocations` in one process (tests, single-process tools)."""

    def __init__(self) -> None:
        self._revoked: dict[str, int] = {}

    async def revoke(self, token_id: str, expires_at: int) -> None:
        self._revoked[token_id] = expires_at

    async def is_revoked(self, token_id: str) -> bool:
        expires_at = self._revoked.get(token_id)
        return expires_at is not None and expires_at > time.time()


class TokenCheck:
    """Verifies a token and refuses a revoked one: the check every entry point runs."""

    def __init__(self, verifier: TokenVerifier, revocations: Revocations | None) -> None:
        self.verifier = verifier
        self.revocations = revocations

    async def verify(self, token: str) -> Claims:
        """The claims of a valid, unrevoked ``token``.

        Raises :class:`InvalidToken` (answer 401 / UNAUTHENTICATED) or
        :class:`RevocationUnavailable` (answer 503 / UNAVAILABLE: fail closed).
        """
        claims = self.verifier.verify(token)
        await self.check(claims)
        return claims

    async def check(self, claims: Claims) -> None:
        """Raises :class:`InvalidToken` when ``claims``' token has been revoked."""
        if self.revocations is not None and await self.revocations.is_revoked(claims.token_id):
            raise InvalidToken("the token has been revoked")


__all__ = ["Claims", "InvalidToken", "MemoryRevocations", "RedisRevocations",
           "RevocationUnavailable", "Revocations", "TokenCheck"]
