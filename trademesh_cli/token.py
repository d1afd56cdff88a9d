"""``trademesh token [--admin] [--user ID]``: prints a JWT the local mesh accepts.

It signs with the mesh's key pair (``TRADEMESH_JWT_PRIVATE_KEY_FILE``, by default
``<data_dir>/keys/jwt_private.pem``), creating the pair if this is the first use, so the
services started afterwards verify with the same public key. Without ``--user`` the subject
is a fixed id per role, the same on every machine, so scripts can rely on it.
"""

from __future__ import annotations

import argparse
import uuid

from mesh_runtime.config import Settings
from mesh_runtime.tokens import TokenSigner, ensure_keypair

LOCAL_USER = str(uuid.uuid5(uuid.NAMESPACE_URL, "trademesh:local-user"))
LOCAL_ADMIN = str(uuid.uuid5(uuid.NAMESPACE_URL, "trademesh:local-admin"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--admin", action="store_true", help="a token with the admin role")
    parser.add_argument("--user", metavar="ID", default="",
                        help=f"the token's subject (default {LOCAL_USER}, "
                             f"with --admin {LOCAL_ADMIN})")


def command(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    print(issue(settings, admin=args.admin, user_id=args.user))
    return 0


def issue(settings: Settings, *, admin: bool, user_id: str = "") -> str:
    """A signed token for ``user_id`` (or the local default for the role)."""
    ensure_keypair(settings.private_key_path, settings.public_key_path)
    signer = TokenSigner.from_file(settings.private_key_path, settings.jwt_issuer,
                                   settings.jwt_audience, settings.jwt_ttl_seconds)
    token, _ = signer.issue(user_id or (LOCAL_ADMIN if admin else LOCAL_USER), admin=admin)
    return token
