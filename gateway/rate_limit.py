"""Token-bucket rate limits in Redis, shared by every gateway replica.

One Lua script (atomic in Redis, one round trip) takes a token from every bucket a request
draws on — the caller's IP and, with a valid token, the user — or from none of them, and
answers how long to wait otherwise. Time is Redis' own clock (``TIME``), so replicas with
skewed clocks agree. A bucket's state is a hash ``{tokens, at_ms}`` that expires once it
would be full again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis.asyncio as aioredis

log = logging.getLogger("trademesh.gateway")
KEY_PREFIX = "trademesh:ratelimit:"

# KEYS: buckets; ARGV: capacity, refill per second for each key in turn.
# Returns 0 when a token was taken from every bucket, else the wait in milliseconds.
_TAKE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local levels = {}
local wait = 0
for i, key in ipairs(KEYS) do
  local capacity = tonumber(ARGV[2 * i - 1])
  local rate = tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', key, 'tokens', 'at_ms')
  local tokens = tonumber(state[1]) or capacity
  local at = tonumber(state[2]) or now_ms
  tokens = math.min(capacity, tokens + math.max(0, now_ms - at) * rate / 1000)
  levels[i] = tokens
  if tokens < 1 then
    wait = math.max(wait, math.ceil((1 - tokens) * 1000 / rate))
  end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  local capacity = tonumber(ARGV[2 * i - 1])
  local rate = tonumber(ARGV[2 * i])
  local left = levels[i] - 1
  redis.call('HSET', key, 'tokens', left, 'at_ms', now_ms)
  redis.call('PEXPIRE', key, math.ceil((capacity - left) * 1000 / rate) + 1000)
end
return 0
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


class RateLimiter:
    """Admits a request if every bucket it draws on has a token."""

    def __init__(self, client: aioredis.Redis, limits: RateLimits) -> None:
        self.limits = limits
        self._take = client.register_script(_TAKE)

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
        try:
            wait_ms = int(await self._take(keys=keys, args=args))
        except (OSError, aioredis.RedisError) as err:
            log.warning("rate limiter unavailable, admitting: %r", err)
            return 0.0
        return wait_ms / 1000
