"""``trademesh token``: a token the mesh's own verifier accepts, admin with ``--admin``."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh_runtime.config import Settings
from mesh_runtime.tokens import Claims, TokenVerifier
from trademesh_cli.main import main
from trademesh_cli.token import LOCAL_ADMIN, LOCAL_USER


def _token(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["token", *argv]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    return out.strip()


def _verifier(data_dir: Path) -> TokenVerifier:
    settings = Settings(data_dir=data_dir)
    return TokenVerifier.from_file(settings.public_key_path, settings.jwt_issuer,
                                   settings.jwt_audience)


def test_tokens_verify_with_the_mesh_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRADEMESH_DATA_DIR", str(tmp_path))
    user = _verifier_claims(tmp_path, _token([], capsys))
    admin = _verifier_claims(tmp_path, _token(["--admin"], capsys))
    assert (user.user_id, user.admin) == (LOCAL_USER, False)
    assert (admin.user_id, admin.admin) == (LOCAL_ADMIN, True)
    assert (tmp_path / "keys" / "jwt_private.pem").stat().st_mode & 0o077 == 0


def test_user_option_sets_the_subject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRADEMESH_DATA_DIR", str(tmp_path))
    claims = _verifier_claims(tmp_path, _token(["--user", "u-42"], capsys))
    assert claims.user_id == "u-42"


def _verifier_claims(data_dir: Path, token: str) -> Claims:
    return _verifier(data_dir).verify(token)
