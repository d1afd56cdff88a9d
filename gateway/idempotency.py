"""``Idempotency-Key`` on POST: the first answer is kept (per caller, 24 h) and replayed.

A key is claimed atomically (``SET NX``) with a *pending* record holding the request's
fingerprint (method, path, query, body hash). A retry with the same key then gets:
the stored answer (``Idempotent-Replayed: true``) when the first is done; 409 while it is
still in flight; 422 when its fingerprint differs. Answers the client cannot act on
(5xx: nothing happened, or the outcome is unknown) release the key so a retry runs again
— except an order the engine has but had not answered by the deadline: its key stays
pending until the engine's answer comes and then stores that answer (so a retry learns
what happened rather than placing the order again). A pending claim
expires after ``pending_seconds``, so a crashed replica does not block a key for a day.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import redis.asyncio as aioredis

from gateway.errors import GatewayError, bad_request

HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PREFIX = "trademesh:idempotency:"
DEFAULT_TTL_SECONDS = 24 * 3600
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: bytes
    media_type: str
    headers: dict[str, str] = field(default_factory=dict)
    # For a 5xx whose real outcome is still coming (an order the engine had not answered
    # by the deadline): produces that outcome's answer, to store in place of the 5xx.
    later: Callable[[], Awaitable[StoredResponse]] | None = field(default=None, compare=False)


Handler = Callable[[], Awaitable[StoredResponse]]


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def parse_key(value: str | None) -> str | None:
    """The header's key, None when absent; a 400 naming the header when malformed."""
    if value is None:
        return None
    if not _VALID_KEY.match(value):
        raise bad_request("Idempotency-Key", "must be 1..255 printable ASCII characters")
    return value


class IdempotencyStore:
    def __init__(self, client: aioredis.Redis, ttl_seconds: int = DEFAULT_TTL_SECONDS,
                 pending_seconds: int = 120) -> None:
        self._redis = client
        self.ttl_seconds = ttl_seconds
        self.pending_seconds = pending_seconds
        self._settling: set[asyncio.Task[None]] = set()

    async def run(self, scope: str, key: str, print_: str, handler: Handler
                  ) -> tuple[StoredResponse, bool]:
        """The answer for ``key`` and whether it is a replay; runs ``handler`` at most once
        per key while its answer is kept."""
        redis_key = f"{KEY_PREFIX}{scope}:{key}"
        pending = json.dumps({"state": "pending", "fingerprint": print_})
        try:
            claimed = await self._redis.set(redis_key, pending, nx=True,
                                            ex=self.pending_seconds)
            if not claimed:
                return _replay(await self._redis.get(redis_key), print_), True
        except (OSError, aioredis.RedisError):
            raise GatewayError(503, "UNAVAILABLE", "the idempotency store is unavailable; "
                               "try again") from None
        try:
            response = await handler()
        except BaseException:
            await self._release(redis_key)
            raise
        await self._settle(redis_key, print_, response)
        return response, False

    async def _settle(self, redis_key: str, print_: str, response: StoredResponse) -> None:
        if response.status >= 500 and response.later is not None:
            task = asyncio.create_task(self._settle_later(redis_key, print_, response.later))
            self._settling.add(task)
            task.add_done_callback(self._settling.discard)
            return
        if response.status >= 500:
            await self._release(redis_key)
            return
        record = json.dumps({"state": "done", "fingerprint": print_, "status": response.status,
                             "body": response.body.decode("utf-8"),
                             "mediaType": response.media_type,
                             "headers": response.headers})
        try:
            await self._redis.set(redis_key, record, ex=self.ttl_seconds)
        except (OSError, aioredis.RedisError):
            await self._release(redis_key)

    async def _settle_later(self, redis_key: str, print_: str,
                            later: Callable[[], Awaitable[StoredResponse]]) -> None:
        """Keeps the key pending until the outcome is known, then stores its answer (a
        retry meanwhile gets 409, afterwards the real answer)."""
        try:
            final = await asyncio.wait_for(later(), self.pending_seconds * 0.8)
        except Exception:
            await self._release(redis_key)
            return
        await self._settle(redis_key, print_, replace(final, later=None))

    async def _release(self, redis_key: str) -> None:
        with contextlib.suppress(OSError, aioredis.RedisError):  # else it expires anyway
            await self._redis.delete(redis_key)


def _replay(raw: Any, print_: str) -> StoredResponse:
    if raw is None:  # released or expired between our SET and GET
        raise GatewayError(409, "IDEMPOTENCY_KEY_IN_USE",
                           "a request with this Idempotency-Key just finished; retry")
    record = json.loads(raw)
    if record["fingerprint"] != print_:
        raise GatewayError(422, "IDEMPOTENCY_KEY_REUSED",
                           "this Idempotency-Key was used for a different request",
                           [{"field": "Idempotency-Key",
                             "description": "already used with another body or path"}])
    if record["state"] == "pending":
        raise GatewayError(409, "IDEMPOTENCY_KEY_IN_USE",
                           "a request with this Idempotency-Key is still in flight",
                           headers={"Retry-After": "1"})
    return StoredResponse(int(record["status"]), record["body"].encode("utf-8"),
                          str(record["mediaType"]), dict(record.get("headers", {})))
