"""``TokenCheck``: the signature, then the revocation set, on every call (the verifier's
cache never skips revocation). The gRPC servers run it in the call-policy interceptor
(``tests/service/runtime/test_call_policy.py``)."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mesh_runtime.revocation import MemoryRevocations, RevocationUnavailable, TokenCheck
from mesh_runtime.tokens import InvalidToken, TokenSigner, TokenVerifier


@pytest.fixture
def keys() -> tuple[TokenSigner, TokenVerifier]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return (TokenSigner(private, "trademesh", "api", 600),
            TokenVerifier(public, "trademesh", "api"))


class DownRevocations:
    async def revoke(self, token_id: str, expires_at: int) -> None:
        raise RevocationUnavailable("down")

    async def is_revoked(self, token_id: str) -> bool:
        raise RevocationUnavailable("down")


async def test_revoked_after_a_cached_verify(keys: tuple[TokenSigner, TokenVerifier]) -> None:
    signer, verifier = keys
    revocations = MemoryRevocations()
    check = TokenCheck(verifier, revocations)
    token, expires = signer.issue("u1")
    assert (await check.verify(token)).user_id == "u1"  # now in the verifier's cache
    claims = verifier.verify(token)
    await revocations.revoke(claims.token_id, expires)
    with pytest.raises(InvalidToken, match="revoked"):
        await check.verify(token)
    other, _ = signer.issue("u1")
    assert (await check.verify(other)).user_id == "u1"


async def test_memory_revocation_ends_with_the_token() -> None:
    revocations = MemoryRevocations()
    await revocations.revoke("old", int(time.time()) - 1)
    assert not await revocations.is_revoked("old")


async def test_unreachable_store_fails_closed(keys: tuple[TokenSigner, TokenVerifier]) -> None:
    signer, verifier = keys
    check = TokenCheck(verifier, DownRevocations())
    with pytest.raises(RevocationUnavailable):
        await check.verify(signer.issue("u3")[0])


async def test_without_revocations_only_the_signature(
        keys: tuple[TokenSigner, TokenVerifier]) -> None:
    signer, verifier = keys
    assert (await TokenCheck(verifier, None).verify(signer.issue("u4")[0])).user_id == "u4"
