"""JWT signing and verification: every bad token kind is refused."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mesh_runtime.tokens import (
    Claims,
    InvalidToken,
    TokenSigner,
    TokenVerifier,
    bearer_token,
    ensure_keypair,
)

ISS, AUD = "trademesh", "trademesh-api"


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    private, public = tmp_path / "k" / "priv.pem", tmp_path / "k" / "pub.pem"
    ensure_keypair(private, public)
    return private, public


def _pair(keys: tuple[Path, Path]) -> tuple[TokenSigner, TokenVerifier]:
    signer = TokenSigner.from_file(keys[0], ISS, AUD, 60)
    return signer, TokenVerifier.from_file(keys[1], ISS, AUD)


def test_round_trip_carries_subject_and_role(keys: tuple[Path, Path]) -> None:
    signer, verifier = _pair(keys)
    token, expires = signer.issue("user-1")
    claims = verifier.verify(token)
    assert (claims.user_id, claims.admin, claims.expires_at) == ("user-1", False, expires)
    assert verifier.verify(signer.issue("root", admin=True)[0]).admin


def test_keypair_is_kept_and_private_key_is_private(keys: tuple[Path, Path]) -> None:
    before = keys[0].read_bytes()
    ensure_keypair(*keys)
    assert keys[0].read_bytes() == before
    assert keys[0].stat().st_mode & 0o077 == 0


def _unsigned(claims: dict[str, object]) -> str:
    def b64(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


def _claims(**changes: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {"sub": "u", "iss": ISS, "aud": AUD, "iat": now, "nbf": now,
                                 "exp": now + 60, "jti": "j"}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize("case", ["none", "other_key", "expired", "future_nbf", "no_exp",
                                  "wrong_aud", "wrong_iss", "tampered", "garbage", "hs256"])
def test_bad_tokens_are_refused(keys: tuple[Path, Path], case: str) -> None:
    signer, verifier = _pair(keys)
    private = serialization.load_pem_private_key(keys[0].read_bytes(), password=None)
    other = Ed25519PrivateKey.generate()
    tokens = {
        "none": _unsigned(_claims()),
        "other_key": jwt.encode(_claims(), other, algorithm="EdDSA"),
        "expired": jwt.encode(_claims(exp=int(time.time()) - 10), private, algorithm="EdDSA"),
        "future_nbf": jwt.encode(_claims(nbf=int(time.time()) + 600), private, algorithm="EdDSA"),
        "no_exp": jwt.encode(_claims(exp=None), private, algorithm="EdDSA"),
        "wrong_aud": jwt.encode(_claims(aud="other"), private, algorithm="EdDSA"),
        "wrong_iss": jwt.encode(_claims(iss="other"), private, algorithm="EdDSA"),
        "tampered": signer.issue("u")[0][:-4] + "AAAA",
        "garbage": "not.a.token",
        "hs256": jwt.encode(_claims(), "x" * 32, algorithm="HS256"),
    }
    with pytest.raises(InvalidToken):
        verifier.verify(tokens[case])


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer ", "token"])
def test_bearer_header_must_be_bearer(header: str | None) -> None:
    with pytest.raises(InvalidToken):
        bearer_token(header)


def test_bearer_header_yields_token() -> None:
    assert bearer_token("Bearer abc.def") == "abc.def"


def test_an_expired_cache_entry_is_checked_again(keys: tuple[Path, Path]) -> None:
    signer = TokenSigner.from_file(keys[0], ISS, AUD, 60)
    verifier = TokenVerifier.from_file(keys[1], ISS, AUD)
    token, expires = signer.issue("u")
    assert verifier.verify(token).user_id == "u"
    stale = Claims("someone-else", "j", int(time.time()) - 1)
    verifier._verified[token] = stale
    fresh = verifier.verify(token)  # the stale entry is not served: the token is re-verified
    assert (fresh.user_id, fresh.expires_at) == ("u", expires)


def test_a_missing_or_broken_key_file_is_a_config_error_naming_the_setting(
        tmp_path: Path) -> None:
    from mesh_runtime.config import ConfigError
    from mesh_runtime.tokens import TokenSigner, TokenVerifier

    with pytest.raises(ConfigError, match="TRADEMESH_JWT_PUBLIC_KEY_FILE: cannot read"):
        TokenVerifier.from_file(tmp_path / "none.pem", "iss", "aud")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    with pytest.raises(ConfigError, match=r"TRADEMESH_JWT_PRIVATE_KEY_FILE: .* not a usable"):
        TokenSigner.from_file(junk, "iss", "aud", 60)
