"""The gateway's tunables, read from :class:`Settings` (env ``TRADEMESH_<NAME>``).

The defaults below are used for any field a settings object lacks (tests pass partial
ones).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from gateway.credentials import DEFAULT_ROUNDS
from gateway.idempotency import DEFAULT_TTL_SECONDS
from gateway.rate_limit import Bucket, RateLimits
from gateway.signin_lockout import (
    DEFAULT_MAX_FAILURES,
    DEFAULT_MAX_FAILURES_PER_ADDRESS,
    DEFAULT_WINDOW_SECONDS,
)
from gateway.transcoder import DEFAULT_MAX_BODY_BYTES


@dataclass(frozen=True, slots=True)
class GatewayPolicy:
    bcrypt_rounds: int = DEFAULT_ROUNDS
    rate_limit_user_burst: int = 200
    rate_limit_user_per_second: float = 100.0
    rate_limit_ip_burst: int = 5000
    rate_limit_ip_per_second: float = 2500.0
    signin_max_failures: int = DEFAULT_MAX_FAILURES
    signin_lockout_seconds: int = DEFAULT_WINDOW_SECONDS
    signin_max_failures_per_address: int = DEFAULT_MAX_FAILURES_PER_ADDRESS
    trusted_proxies: str = ""
    idempotency_ttl_seconds: int = DEFAULT_TTL_SECONDS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    @classmethod
    def from_settings(cls, settings: Any) -> GatewayPolicy:
        """Every field ``settings`` has (by name), the default for the others."""
        values = {f.name: getattr(settings, f.name) for f in fields(cls)
                  if hasattr(settings, f.name)}
        return cls(**values)

    @property
    def rate_limits(self) -> RateLimits:
        return RateLimits(
            per_user=Bucket(self.rate_limit_user_burst, self.rate_limit_user_per_second),
            per_ip=Bucket(self.rate_limit_ip_burst, self.rate_limit_ip_per_second))
