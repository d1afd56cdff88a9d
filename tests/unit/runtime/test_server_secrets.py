"""Server passwords: generated once (0600 in a 0700 directory), put into URLs that carry
none, read from files a deployment gives (docker secrets), never shown."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from mesh_runtime.config import Settings
from mesh_runtime.server_secrets import (
    ensure_password,
    generated_password_path,
    read_password,
    redacted,
    with_password,
)


def test_generated_once_and_private(tmp_path: Path) -> None:
    path = generated_password_path(tmp_path, "redis")
    first = ensure_password(path)
    assert len(first) >= 40 and ensure_password(path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_an_empty_password_file_is_an_error_not_an_open_door(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "postgres_password"
    path.parent.mkdir()
    path.write_text("\n")
    with pytest.raises(ValueError, match="no password"):
        ensure_password(path)


@pytest.mark.parametrize(("url", "expected"), [
    ("redis://127.0.0.1:6379/0", "redis://:p%40ss%2Fw@127.0.0.1:6379/0"),
    ("postgresql://postgres@db:5432/x", "postgresql://postgres:p%40ss%2Fw@db:5432/x"),
    ("postgresql://u:given@db/x", "postgresql://u:given@db/x"),  # a URL's own wins
])
def test_with_password(url: str, expected: str) -> None:
    assert with_password(url, "p@ss/w") == expected
    assert with_password(url, None) == url


def test_embedded_dsns_read_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.redis_dsn == "redis://127.0.0.1:56379/0"  # none generated yet
    redis_pw = ensure_password(generated_password_path(tmp_path, "redis"))
    pg_pw = ensure_password(generated_password_path(tmp_path, "postgres"))
    assert settings.redis_dsn == f"redis://:{redis_pw}@127.0.0.1:56379/0"
    assert settings.postgres_dsn == f"postgresql://postgres:{pg_pw}@127.0.0.1:55432/trademesh"


def test_external_urls_stay_as_given_unless_a_password_file_is_named(tmp_path: Path) -> None:
    ensure_password(generated_password_path(tmp_path, "redis"))
    external = Settings(data_dir=tmp_path, redis_url="redis://cache:6379/0")
    assert external.redis_dsn == "redis://cache:6379/0"
    (tmp_path / "pg").write_text("from-a-docker-secret\n")
    settings = Settings.from_env({
        "TRADEMESH_POSTGRES_URL": "postgresql://trademesh@postgres:5432/trademesh",
        "TRADEMESH_POSTGRES_PASSWORD_FILE": str(tmp_path / "pg")})
    assert settings.postgres_dsn == \
        "postgresql://trademesh:from-a-docker-secret@postgres:5432/trademesh"
    assert read_password(tmp_path / "missing") is None


def test_redacted_hides_both_spellings() -> None:
    assert redacted("auth p@ss and p%40ss", "p@ss") == "auth *** and ***"
