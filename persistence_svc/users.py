"""The users table: create (emails normalised to lower case, unique) and look up.

Persistence stores the bcrypt hash the gateway computed; it never sees a password.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence_svc import schema
from persistence_svc.history import InvalidQuery

MAX_EMAIL = 320


class EmailTaken(Exception):
    """Another user already has this email."""


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    email: str
    password_hash: str
    admin: bool
    created_ms: int


def normalise_email(email: str) -> str:
    value = email.strip().lower()
    local, at, domain = value.partition("@")
    if not at or not local or not domain or "@" in domain or len(value) > MAX_EMAIL \
            or any(ch.isspace() for ch in value):
        raise InvalidQuery("email", "is not an email address")
    return value


class UserRepository:
    def __init__(self, engine: AsyncEngine, clock_ms: Callable[[], int]) -> None:
        self._engine = engine
        self._clock = clock_ms

    async def create(self, email: str, password_hash: str, admin: bool = False) -> UserRecord:
        if not password_hash:
            raise InvalidQuery("passwordHash", "is required")
        record = UserRecord(str(uuid.uuid4()), normalise_email(email), password_hash, admin,
                            self._clock())
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(schema.users).values(
                    id=record.id, email=record.email, password_hash=record.password_hash,
                    admin=record.admin, created_ms=record.created_ms))
        except IntegrityError as err:
            raise EmailTaken(record.email) from err
        return record

    async def by_id(self, user_id: str) -> UserRecord | None:
        return await self._one(schema.users.c.id == user_id)

    async def by_email(self, email: str) -> UserRecord | None:
        return await self._one(schema.users.c.email == email.strip().lower())

    async def _one(self, condition: object) -> UserRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(schema.users).where(condition))).first()  # type: ignore[arg-type]
        if row is None:
            return None
        return UserRecord(row.id, row.email, row.password_hash, row.admin, row.created_ms)
