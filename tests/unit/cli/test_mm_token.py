"""The market maker's token is re-signed before it expires (the servers refuse an expired
one), and it is a plain user's token."""

from __future__ import annotations

from pathlib import Path

from mesh_runtime.config import Settings
from mesh_runtime.tokens import TokenVerifier
from trademesh_cli.market_maker import MM_USER, RenewingToken


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_the_token_is_renewed_at_half_its_lifetime(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, jwt_ttl_seconds=600)
    clock = Clock()
    token = RenewingToken(settings, clock=clock)
    first = token()
    clock.now += 299
    assert token() == first
    clock.now += 1
    second = token()
    assert second != first
    verifier = TokenVerifier.from_file(settings.public_key_path, settings.jwt_issuer,
                                       settings.jwt_audience)
    for metadata in (first, second):
        (key, value), = metadata
        claims = verifier.verify(value.removeprefix("Bearer "))
        assert (key, claims.user_id, claims.admin) == ("authorization", MM_USER, False)
