"""Every kind of token a service must refuse, built from a real key pair (and a stranger's)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def claims_for(user_id: str, issuer: str, audience: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user_id, "iss": issuer, "aud": audience, "iat": now,
                              "nbf": now, "exp": now + 600, "jti": uuid.uuid4().hex}
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def bad_tokens(private_key_pem: bytes, user_id: str, issuer: str, audience: str
               ) -> dict[str, str]:
    """Token kind → a token that must be answered 401 (the revoked kind is separate)."""
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    stranger = Ed25519PrivateKey.generate()
    now = int(time.time())

    def signed(signing_key: Any = key, **changes: Any) -> str:
        return jwt.encode(claims_for(user_id, issuer, audience, **changes), signing_key,
                          algorithm="EdDSA")

    good = signed()
    header, payload, signature = good.split(".")
    none_header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return {
        "alg-none": f"{none_header}.{payload}.",
        "wrong-key": signed(stranger),
        "expired": signed(exp=now - 120, iat=now - 720, nbf=now - 720),
        "future-nbf": signed(nbf=now + 3600),
        "missing-exp": signed(exp=None),
        "wrong-aud": signed(aud="someone-else"),
        "wrong-iss": signed(iss="evil"),
        "missing-jti": signed(jti=None),
        "tampered": f"{header}.{_b64(json.dumps(claims_for('admin', issuer, audience)).encode())}"
                    f".{signature}",
        "garbage": "not-a-jwt",
        "hs256-with-public-key": jwt.encode(claims_for(user_id, issuer, audience),
                                            "a-shared-secret-of-32-bytes-len!", algorithm="HS256"),
    }
