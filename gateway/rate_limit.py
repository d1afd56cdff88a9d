"""Token-bucket rate limits in Redis, shared by every gateway replica.

One Lua script (atomic in Redis; one round trip for every request waiting) takes a token
from every bucket a request draws on — the caller's IP and, with a valid token, the user —
or from none of them, and answers how long to wait otherwise. Time is Redis' own clock
(``TIME``), so replicas with skewed clocks agree. A bucket's state is a hash
``{tokens, at_ms}`` that expires once it would be full again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import redis.asyncio as aioredis

from mesh_runtime.direct_script import DirectScript

log = logging.getLogger("trademesh.gateway")
KEY_PREFIX = "trademesh:ratelimit:"

# Several requests at once (every check waiting when the previous call returned), each
# taken in turn exactly as if alone. KEYS: every request's buckets, one after another.
# ARGV: the number of requests, then per request its number of buckets followed by
# capacity, refill per second for each of them. Returns one number per request: 0 when a
# token was taken from each of its buckets, else the wait in milliseconds.
_TAKE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local waits = {}
local k, a = 1, 2
for r = 1, tonumber(ARGV[1]) do
  local count = tonumber(ARGV[a])
  local levels = {}
  local wait = 0
  for i = 0, count - 1 do
    local capacity = tonumber(ARGV[a + 1 + 2 * i])
    local rate = tonumber(ARGV[a + 2 + 2 * i])
    local state = redis.call('HMGET', KEYS[k + i], 'tokens', 'at_ms')
    local tokens = tonumber(state[1]) or capacity
    local at = tonumber(state[2]) or now_ms
    tokens = math.min(capacity, tokens + math.max(0, now_ms - at) * rate / 1000)
    levels[i] = tokens
    if tokens < 1 then
      wait = math.max(wait, math.ceil((1 - tokens) * 1000 / rate))
    end
  end
  if wait == 0 then
    for i = 0, count - 1 do
      local capacity = tonumber(ARGV[a + 1 + 2 * i])
      local rate = tonumber(ARGV[a + 2 + 2 * i])
      local left = levels[i] - 1
      redis.call('HSET', KEYS[k + i], 'tokens', left, 'at_ms', now_ms)
      redis.call('PEXPIRE', KEYS[k + i], math.ceil((capacity - left) * 1000 / rate) + 1000)
    end
  end
  waits[r] = wait
  k = k + count
  a = a + 1 + 2 * count
end
return waits
"""


@dataclass(frozen=True, slots=True)
class Bucket:
    """``capacity`` requests at once, refilled at ``per_second``."""

    capacity: int
    per_second: float


@dataclass(frozen=True, slots=True)
class RateLimits:
    per_user: Bucket = Bucket(capacity=200, per_second=100.0)
    per_ip: Bucket = Bucket(capacity=5000, per_second=2500.0)


Check = tuple[list[str], list[float], "asyncio.Future[float]"]


class RateLimiter:
    """Admits a request if every bucket it draws on has a token.

    Checks that arrive while a script call is out are sent together as the next call (one
    round trip for all of them, each still all-or-nothing on its own buckets, in arrival
    order): under load the limiter costs one Redis call per burst, not per request.
    """

    def __init__(self, client: aioredis.Redis, limits: RateLimits) -> None:
        self.limits = limits
        self._take = DirectScript(client, _TAKE)
        self._waiting: list[Check] = []
        self._sender: asyncio.Task[None] | None = None

    async def wait_seconds(self, ip: str, user_id: str | None) -> float:
        """0 when admitted; else how long until the request would be (nothing is taken).

        When Redis cannot be reached the request is admitted (logged): limits protect
        capacity, they must not turn a Redis outage into a full outage.
        """
        keys = [f"{KEY_PREFIX}ip:{ip}"]
        args: list[float] = [self.limits.per_ip.capacity, self.limits.per_ip.per_second]
        if user_id:
            keys.append(f"{KEY_PREFIX}user:{user_id}")
            args += [self.limits.per_user.capacity, self.limits.per_user.per_second]
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting.append((keys, args, future))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send())
        return await future

    async def _send(self) -> None:
        while self._waiting:
            checks, self._waiting = self._waiting, []
            keys: list[str] = []
            args: list[float] = [len(checks)]
            for check_keys, check_args, _ in checks:
                keys += check_keys
                args += [len(check_keys), *check_args]
            try:
                waits = [int(w) / 1000 for w in await self._take(keys, args)]
            except (OSError, aioredis.RedisError) as err:
                log.warning("rate limiter unavailable, admitting: %r", err)
                waits = [0.0] * len(checks)
            except BaseException:
                for _, _, future in checks:
                    future.cancel()
                raise
            for (_, _, future), wait in zip(checks, waits, strict=True):
                if not future.done():
                    future.set_result(wait)

    async def close(self) -> None:
        """Closes the limiter's own connection (the client's are the client's)."""
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
        await self._take.close()
