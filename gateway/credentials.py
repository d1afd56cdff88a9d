"""Emails and passwords: syntax, the bcrypt limits, and hashing off the event loop.

bcrypt reads at most 72 bytes of a password; a longer one is refused at sign-up (a 400
naming ``password``), never silently truncated. Sign-in always runs one bcrypt check — for
an unknown email or an over-long password against a dummy hash — so neither the answer nor
its timing tells whether an account exists.
"""

from __future__ import annotations

import asyncio
import re

import bcrypt

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_BYTES = 72  # bcrypt's limit
MAX_EMAIL_CHARS = 254
DEFAULT_ROUNDS = 12
# local@domain.tld: no spaces, one "@", a dotted domain of letters, digits and hyphens.
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"(?=.{1,253}\Z)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


class CredentialError(ValueError):
    """A field of the credentials is invalid; ``field`` names it."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(f"{field}: {description}")
        self.field = field
        self.description = description


def normalise_email(email: str) -> str:
    """``email`` lower-cased, or :class:`CredentialError` naming ``email``."""
    value = email.strip().lower()
    if len(value) > MAX_EMAIL_CHARS or not _EMAIL.fullmatch(value) or ".." in value:
        raise CredentialError("email", "is not a valid email address")
    return value


def new_password_bytes(password: str) -> bytes:
    """``password`` as bcrypt input, or :class:`CredentialError` naming ``password``."""
    encoded = password.encode("utf-8")
    if len(password) < MIN_PASSWORD_CHARS:
        raise CredentialError("password", f"must be at least {MIN_PASSWORD_CHARS} characters")
    if len(encoded) > MAX_PASSWORD_BYTES:
        raise CredentialError("password", f"must be at most {MAX_PASSWORD_BYTES} bytes in "
                              f"UTF-8 (this one is {len(encoded)})")
    return encoded


class PasswordHasher:
    """bcrypt in a worker thread, so a hash never blocks the event loop."""

    def __init__(self, rounds: int = DEFAULT_ROUNDS) -> None:
        self.rounds = rounds
        # Checked against for unknown emails: the same cost as a real account's hash.
        self._dummy = bcrypt.hashpw(b"trademesh-dummy-password", bcrypt.gensalt(rounds))

    async def hash(self, password: bytes) -> str:
        hashed = await asyncio.to_thread(bcrypt.hashpw, password, bcrypt.gensalt(self.rounds))
        return hashed.decode("ascii")

    async def verify(self, password: str, hashed: str | None) -> bool:
        """Whether ``password`` matches ``hashed``; with no hash (unknown account) or an
        unusable password, the same work is done against the dummy hash and it is False."""
        encoded = password.encode("utf-8")
        usable = hashed is not None and 0 < len(encoded) <= MAX_PASSWORD_BYTES
        target = hashed.encode("ascii") if hashed is not None and usable else self._dummy
        candidate = encoded if usable else b"x" * MAX_PASSWORD_BYTES
        try:
            matched = await asyncio.to_thread(bcrypt.checkpw, candidate, target)
        except ValueError:  # a corrupt stored hash is a mismatch, not a 500
            return False
        return matched and usable
