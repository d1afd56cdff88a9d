"""Failed sign-ins per (account, client address) and per client address, in Redis.

Counting per account alone would let anyone lock anyone out by guessing wrong a few times.
So each failure (for a known email or not: the answer must not tell them apart) counts
twice: once for the pair (email, address), locked at ``max_failures``, and once for the
address alone, locked at the higher ``max_failures_per_address`` (one address guessing
across many accounts). The owner signing in from another address is not affected by a
stranger's failures. Each counter lives ``window_seconds`` from its first failure; while a
counter is at its limit, sign-in answers 429 with the wait, without checking the password.
A successful sign-in clears its pair's counter only (a success must not wash an address's
guesses at other accounts away). An IPv6 address counts as its /64
(:func:`mesh_runtime.client_address.address_group`: hopping within one's own block does not
start afresh). Emails and addresses are hashed in the keys, so Redis holds neither.
"""

from __future__ import annotations

import hashlib
import logging

import redis.asyncio as aioredis

from mesh_runtime.client_address import address_group

log = logging.getLogger("trademesh.gateway.auth")
KEY_PREFIX = "trademesh:signin-failures:"
DEFAULT_MAX_FAILURES = 5
DEFAULT_MAX_FAILURES_PER_ADDRESS = 50
DEFAULT_WINDOW_SECONDS = 900

# INCR each key, and start its window on the first failure only (a lock is not extended).
# Returns the counts.
_RECORD_FAILURE = """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  if counts[i] == 1 then redis.call('EXPIRE', key, ARGV[1]) end
end
return counts
"""


class SigninLockout:
    def __init__(self, client: aioredis.Redis, max_failures: int = DEFAULT_MAX_FAILURES,
                 window_seconds: int = DEFAULT_WINDOW_SECONDS,
                 max_failures_per_address: int = DEFAULT_MAX_FAILURES_PER_ADDRESS) -> None:
        self._redis = client
        self.max_failures = max_failures
        self.max_failures_per_address = max_failures_per_address
        self.window_seconds = window_seconds
        self._record = client.register_script(_RECORD_FAILURE)

    async def locked_for(self, email: str, address: str) -> int:
        """Seconds until ``email`` may try again from ``address`` (0: not locked)."""
        keys = _keys(email, address)
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.get(key)
                pipe.ttl(key)
            pair_count, pair_ttl, address_count, address_ttl = await pipe.execute()
        wait = 0
        for count, ttl, limit in ((pair_count, pair_ttl, self.max_failures),
                                  (address_count, address_ttl, self.max_failures_per_address)):
            if count is not None and int(count) >= limit:
                wait = max(wait, int(ttl), 1)
        return wait

    async def failed(self, email: str, address: str) -> None:
        """Counts a failure; the moment a counter reaches its limit is logged (with the
        address, never the email)."""
        pair, alone = await self._record(keys=list(_keys(email, address)),
                                         args=[self.window_seconds])
        if int(pair) == self.max_failures:
            log.warning("sign-in lockout: an account locked for address %s (%d failures)",
                        address, self.max_failures)
        if int(alone) == self.max_failures_per_address:
            log.warning("sign-in lockout: address %s locked (%d failures across accounts)",
                        address, self.max_failures_per_address)

    async def succeeded(self, email: str, address: str) -> None:
        await self._redis.delete(_keys(email, address)[0])


def _keys(email: str, address: str) -> tuple[str, str]:
    """The (email, address) pair's key and the address's key."""
    address = address_group(address)
    pair = hashlib.sha256(f"{email}\0{address}".encode()).hexdigest()
    alone = hashlib.sha256(address.encode("utf-8")).hexdigest()
    return KEY_PREFIX + "pair:" + pair, KEY_PREFIX + "address:" + alone
