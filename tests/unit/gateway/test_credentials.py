"""Email and password rules; bcrypt always runs once, in a worker thread."""

from __future__ import annotations

import threading
from typing import Any

import bcrypt
import pytest

from gateway.credentials import CredentialError, PasswordHasher, new_password_bytes, normalise_email


@pytest.mark.parametrize("email", ["a@example.com", "First.Last+tag@sub.example.co.uk",
                                   "  x_y@ex-ample.io "])
def test_good_emails_are_lower_cased(email: str) -> None:
    assert normalise_email(email) == email.strip().lower()


@pytest.mark.parametrize("email", ["", "plain", "a@b", "a@@b.com", "a b@c.com", "@b.com",
                                   "a@.com", "a@b..com", "a@-b.com", "a@b.c", "a@b.co\nm",
                                   "a@b.com\nx",
                                   "x" * 65 + "@b.com", "a@" + "b" * 250 + ".com"])
def test_bad_emails_name_the_field(email: str) -> None:
    with pytest.raises(CredentialError) as caught:
        normalise_email(email)
    assert caught.value.field == "email"


def test_password_bounds() -> None:
    assert new_password_bytes("12345678") == b"12345678"
    assert len(new_password_bytes("é" * 36)) == 72
    for bad in ("1234567", "é" * 37, "x" * 73, "é" * 40):
        with pytest.raises(CredentialError) as caught:
            new_password_bytes(bad)
        assert caught.value.field == "password"
    with pytest.raises(CredentialError, match="80"):
        new_password_bytes("é" * 40)


class Spy:
    def __init__(self) -> None:
        self.calls: list[tuple[bytes, bytes, str]] = []
        self.real = bcrypt.checkpw

    def __call__(self, password: bytes, hashed: bytes) -> bool:
        self.calls.append((password, hashed, threading.current_thread().name))
        return bool(self.real(password, hashed))


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    checker = Spy()
    monkeypatch.setattr(bcrypt, "checkpw", checker)
    return checker


async def test_verify_runs_bcrypt_off_the_loop(spy: Spy) -> None:
    hasher = PasswordHasher(rounds=4)
    hashed = await hasher.hash(b"a password")
    assert await hasher.verify("a password", hashed)
    assert not await hasher.verify("another one", hashed)
    assert len(spy.calls) == 2
    assert all(thread != threading.main_thread().name for *_, thread in spy.calls)


@pytest.mark.parametrize(("password", "hashed"), [
    ("whatever", None), ("é" * 40, "known"), ("", "known"), ("x", "$2b$04$corrupt")])
async def test_every_failure_still_runs_one_bcrypt_check(
        spy: Spy, password: str, hashed: Any) -> None:
    hasher = PasswordHasher(rounds=4)
    if hashed == "known":
        hashed = await hasher.hash(b"a password")
    assert not await hasher.verify(password, hashed)
    assert len(spy.calls) == 1
