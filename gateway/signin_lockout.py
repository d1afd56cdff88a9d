"""Failed sign-ins per account, shared by replicas through Redis.

Each failure for an email (known or not: the answer must not tell them apart) increments a
counter that lives ``window_seconds`` from the first failure. At ``max_failures`` the
account is locked until the counter expires: sign-in answers 429 with the wait, without
checking the password. A successful sign-in clears the counter. Emails are hashed in the
key so Redis holds no address.
"""

from __future__ import annotations

import hashlib

import redis.asyncio as aioredis

KEY_PREFIX = "trademesh:signin-failures:"
DEFAULT_MAX_FAILURES = 5
DEFAULT_WINDOW_SECONDS = 900

# INCR, and start the window on the first failure only (a locked account is not extended).
_RECORD_FAILURE = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


class SigninLockout:
    def __init__(self, client: aioredis.Redis, max_failures: int = DEFAULT_MAX_FAILURES,
                 window_seconds: int = DEFAULT_WINDOW_SECONDS) -> None:
        self._redis = client
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self._record = client.register_script(_RECORD_FAILURE)

    async def locked_for(self, email: str) -> int:
        """Seconds until ``email`` may try again (0: not locked)."""
        key = _key(email)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(key)
            pipe.ttl(key)
            count, ttl = await pipe.execute()
        if count is None or int(count) < self.max_failures:
            return 0
        return max(int(ttl), 1)

    async def failed(self, email: str) -> None:
        await self._record(keys=[_key(email)], args=[self.window_seconds])

    async def succeeded(self, email: str) -> None:
        await self._redis.delete(_key(email))


def _key(email: str) -> str:
    return KEY_PREFIX + hashlib.sha256(email.encode("utf-8")).hexdigest()
