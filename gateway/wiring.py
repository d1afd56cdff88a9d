"""Building the gateway's collaborators from :class:`Settings` (used by the composition
root, :mod:`gateway.app`): the REST guards and the Auth servicer, over one Redis client.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
import redis.asyncio as aioredis

from gateway.access import Access
from gateway.auth_servicer import AuthServicer
from gateway.credentials import PasswordHasher
from gateway.idempotency import IdempotencyStore
from gateway.policy import GatewayPolicy
from gateway.rate_limit import RateLimiter
from gateway.signin_lockout import SigninLockout
from gateway.transcoder import Guards
from gateway.user_directory import UserDirectory
from mesh_runtime.config import Settings
from mesh_runtime.revocation import RedisRevocations, TokenCheck
from mesh_runtime.tls import mesh_channel
from mesh_runtime.tokens import TokenSigner, TokenVerifier, ensure_keypair

REDIS_TIMEOUT_SECONDS = 2.0


def redis_client(settings: Settings) -> aioredis.Redis:
    """A Redis client (connects on first use) with bounded connect and read timeouts."""
    return aioredis.Redis.from_url(settings.redis_dsn,
                                   socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                                   socket_timeout=REDIS_TIMEOUT_SECONDS)


def token_check(settings: Settings, revocations: RedisRevocations) -> TokenCheck:
    verifier = TokenVerifier.from_file(settings.public_key_path, settings.jwt_issuer,
                                       settings.jwt_audience)
    return TokenCheck(verifier, revocations)


def build_guards(settings: Settings, client: aioredis.Redis,
                 policy: GatewayPolicy | None = None,
                 revocations: RedisRevocations | None = None) -> Guards:
    """Access rules, rate limits and idempotency keys for the REST routes."""
    policy = policy or GatewayPolicy.from_settings(settings)
    revocations = revocations or RedisRevocations(client)
    return Guards(access=Access(token_check(settings, revocations)),
                  limiter=RateLimiter(client, policy.rate_limits),
                  idempotency=IdempotencyStore(client, policy.idempotency_ttl_seconds))


def ensure_signing_key(settings: Settings) -> None:
    """Generates the key pair into the data dir when none is configured (a configured
    private key file that is missing is an error, not something to invent)."""
    if not settings.jwt_private_key_file:
        ensure_keypair(settings.private_key_path, settings.public_key_path)


@dataclass
class AuthParts:
    servicer: AuthServicer
    persistence: grpc.aio.Channel
    check: TokenCheck  # the Auth server's call policy verifies tokens with it


def build_auth(settings: Settings, client: aioredis.Redis,
               policy: GatewayPolicy | None = None) -> AuthParts:
    """The Auth servicer: persistence's users, bcrypt, the signing key, Redis stores."""
    policy = policy or GatewayPolicy.from_settings(settings)
    channel = mesh_channel(settings.mesh_address("persistence"), settings.tls_files("gateway"),
                           server_name="persistence")
    signer = TokenSigner.from_file(settings.private_key_path, settings.jwt_issuer,
                                   settings.jwt_audience, settings.jwt_ttl_seconds)
    revocations = RedisRevocations(client)
    servicer = AuthServicer(
        UserDirectory(channel, settings.upstream_timeout_seconds),
        PasswordHasher(policy.bcrypt_rounds), signer, revocations,
        SigninLockout(client, policy.signin_max_failures, policy.signin_lockout_seconds,
                      policy.signin_max_failures_per_address))
    return AuthParts(servicer, channel, token_check(settings, revocations))
