"""JWTs: signing (the gateway only) and verification (every service).

Tokens are EdDSA (Ed25519) with ``exp``, ``iat``, ``nbf``, ``iss``, ``aud``, ``sub`` and
``jti``; verification pins the algorithm and requires every one of those claims, so
``alg: none``, another key, an expired or not-yet-valid token and a wrong audience or
issuer are all refused. The token's ``sub`` is the only identity a service trusts.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mesh_runtime.config import ConfigError

ALGORITHM = "EdDSA"
REQUIRED_CLAIMS = ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]


class InvalidToken(Exception):
    """The token cannot be trusted; the message says why (safe to show the caller)."""


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: str
    token_id: str
    expires_at: int
    admin: bool = False


class TokenVerifier:
    """Verifies tokens; a token verified once is remembered (bounded) until it expires,
    so a busy client does not pay a signature check per call."""

    CACHE_SIZE = 10_000

    def __init__(self, public_key_pem: bytes, issuer: str, audience: str) -> None:
        self._key = serialization.load_pem_public_key(public_key_pem)
        self._issuer = issuer
        self._audience = audience
        self._verified: OrderedDict[str, Claims] = OrderedDict()

    @classmethod
    def from_file(cls, path: Path, issuer: str, audience: str) -> TokenVerifier:
        """Raises ConfigError naming the setting when the key is missing or not a key."""
        return cls(_read_key(path, "JWT_PUBLIC_KEY_FILE"), issuer, audience)

    def verify(self, token: str) -> Claims:
        known = self._verified.get(token)
        if known is not None:
            if known.expires_at > time.time():
                return known
            del self._verified[token]
        claims = self._verify(token)
        self._verified[token] = claims
        if len(self._verified) > self.CACHE_SIZE:
            self._verified.popitem(last=False)
        return claims

    def _verify(self, token: str) -> Claims:
        try:
            claims = jwt.decode(
                token, self._key, algorithms=[ALGORITHM], audience=self._audience,  # type: ignore[arg-type]
                issuer=self._issuer, options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.InvalidTokenError as err:
            raise InvalidToken(f"invalid token: {err}") from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("invalid token: no subject")
        return Claims(user_id=subject, token_id=str(claims["jti"]),
                      expires_at=int(claims["exp"]), admin=claims.get("role") == "admin")


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` value."""
    if not authorization:
        raise InvalidToken("missing bearer token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("the authorization is not a bearer token")
    return token.strip()


class TokenSigner:
    def __init__(self, private_key_pem: bytes, issuer: str, audience: str,
                 ttl_seconds: int) -> None:
        self._key = serialization.load_pem_private_key(private_key_pem, password=None)
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl_seconds

    @classmethod
    def from_file(cls, path: Path, issuer: str, audience: str, ttl_seconds: int) -> TokenSigner:
        return cls(_read_key(path, "JWT_PRIVATE_KEY_FILE"), issuer, audience, ttl_seconds)

    def issue(
        self, user_id: str, *, admin: bool = False, now: int | None = None
    ) -> tuple[str, int]:
        """A new token for ``user_id`` and its expiry (seconds since the epoch)."""
        issued = int(time.time()) if now is None else now
        expires = issued + self._ttl
        claims: dict[str, object] = {
            "sub": user_id, "iss": self._issuer, "aud": self._audience, "iat": issued,
            "nbf": issued, "exp": expires, "jti": uuid.uuid4().hex,
        }
        if admin:
            claims["role"] = "admin"
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM)  # type: ignore[arg-type]
        return token, expires


def ensure_keypair(private_path: Path, public_path: Path) -> None:
    """Creates an Ed25519 key pair at the given paths unless the private key exists."""
    if private_path.exists():
        if not public_path.exists():
            key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
            public_path.write_bytes(key.public_key().public_bytes(  # type: ignore[union-attr]
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        return
    private_path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public_path.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def _read_key(path: Path, setting: str) -> bytes:
    """The PEM at ``path`` (checked to parse); ConfigError naming ``setting`` otherwise."""
    try:
        pem = path.read_bytes()
    except OSError as err:
        raise ConfigError(
            f"TRADEMESH_{setting}: cannot read {path} ({err.strerror}); `trademesh up` and "
            "`trademesh gateway` create the key pair in the data directory "
            "(TRADEMESH_DATA_DIR) when none is configured") from None
    try:
        if "PRIVATE" in setting:
            serialization.load_pem_private_key(pem, password=None)
        else:
            serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"TRADEMESH_{setting}: {path} is not a usable PEM key ({err})") from None
    return pem
