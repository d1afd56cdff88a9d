"""``trademesh user create --email E [--admin]``: an account made from the command line.

This is the only way to make an admin account: ``Persistence.CreateUser`` refuses the
``admin`` flag from the wire, and sign-up never sets it. The command works where the
operator can reach PostgreSQL (``TRADEMESH_POSTGRES_URL``, or the embedded server of a
running ``trademesh up``) and writes through persistence's own user store; the password is
checked by the sign-up rules and hashed with bcrypt (``TRADEMESH_BCRYPT_ROUNDS``) like the
gateway does. It is read from ``--password-file`` (``-`` for standard input), else asked
twice on a terminal, else read from the first line of standard input; never from the
command line, where other users of the machine could see it.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
from pathlib import Path
from typing import TextIO

from gateway.credentials import CredentialError, PasswordHasher, new_password_bytes, normalise_email
from mesh_runtime.config import Settings


class UserCommandError(Exception):
    """A problem to report in one line; ``code`` is the exit status."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create an account (an admin one with --admin)",
                                description="create an account (an admin one with --admin)")
    create.add_argument("--email", required=True)
    create.add_argument("--admin", action="store_true", help="give the account the admin role")
    create.add_argument("--password-file", metavar="PATH", default="",
                        help="read the password from PATH ('-': standard input)")


def command(args: argparse.Namespace) -> int:
    try:
        email = normalise_email(args.email)
        password = read_password(args.password_file, sys.stdin)
        new_password_bytes(password)
        settings = Settings.from_env()
        user_id = asyncio.run(create_user(settings, email, password, admin=args.admin))
    except CredentialError as err:
        print(f"trademesh user create: {err}", file=sys.stderr)
        return 2
    except UserCommandError as err:
        print(f"trademesh user create: {err}", file=sys.stderr)
        return err.code
    role = "admin" if args.admin else "user"
    print(f"created {role} {email} id {user_id}")
    return 0


def read_password(password_file: str, stdin: TextIO) -> str:
    """The password: from ``password_file`` (``-``: ``stdin``), a terminal prompt (twice),
    or the first line of ``stdin``."""
    if password_file == "-" or (not password_file and not stdin.isatty()):
        return stdin.readline().rstrip("\r\n")
    if password_file:
        try:
            return Path(password_file).read_text(encoding="utf-8").splitlines()[0]
        except (OSError, UnicodeDecodeError, IndexError) as err:
            raise UserCommandError(f"--password-file {password_file}: cannot read a "
                                   f"password ({type(err).__name__})", 2) from None
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UserCommandError("the passwords differ", 2)
    return first


async def create_user(settings: Settings, email: str, password: str, *, admin: bool) -> str:
    """Hashes ``password`` and inserts the account; returns its id."""
    import asyncpg
    import sqlalchemy.exc

    from persistence_svc.db import create_engine
    from persistence_svc.users import EmailTaken, UserRepository

    hashed = await PasswordHasher(settings.bcrypt_rounds).hash(new_password_bytes(password))
    where = settings.postgres_dsn.rsplit("@", 1)[-1]  # no credentials in messages
    engine = create_engine(settings.postgres_dsn, pool_size=1)
    try:
        users = UserRepository(engine, lambda: time.time_ns() // 1_000_000)
        record = await users.create(email, hashed, admin=admin)
    except EmailTaken:
        raise UserCommandError(f"email: {email} is already registered", 1) from None
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError,
            sqlalchemy.exc.SQLAlchemyError) as err:
        cause = getattr(err, "orig", None) or err
        detail = (str(cause).splitlines() or [""])[0]
        raise UserCommandError(
            f"cannot write to PostgreSQL at {where}: {type(cause).__name__}: {detail} "
            "(is the mesh up and migrated? `trademesh migrate`)", 1) from None
    finally:
        await engine.dispose()
    return record.id
