"""Passwords for PostgreSQL and Redis: generated once into the data dir, read into URLs.

The embedded servers require a password even on loopback (any local account could
otherwise connect). Each password is generated on first use into
``<data dir>/secrets/<server>_password`` (directory 0700, file 0600, created exclusively so
two starters cannot write different ones) and read from there by every process that
connects. A deployment gives its own files instead (docker secrets,
``TRADEMESH_POSTGRES_PASSWORD_FILE`` / ``TRADEMESH_REDIS_PASSWORD_FILE``).

A password is put into a URL only when the URL carries none, percent-encoded; it never
appears in a message (:func:`redacted` removes it from text that might quote it).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

SECRETS_DIR = "secrets"
PASSWORD_BYTES = 32


def generated_password_path(data_dir: Path, server: str) -> Path:
    """Where ``server``'s (``postgres`` or ``redis``) generated password lives."""
    return data_dir / SECRETS_DIR / f"{server}_password"


def ensure_password(path: Path) -> str:
    """The password in ``path``, generated (and written, 0600) when there is none yet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    candidate = secrets.token_urlsafe(PASSWORD_BYTES)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(candidate + "\n")
            out.flush()
            os.fsync(out.fileno())
    password = read_password(path)
    if not password:
        raise ValueError(f"{path} holds no password; remove it to have one generated")
    return password


def read_password(path: Path | None) -> str | None:
    """The first line of ``path`` (None when there is no such file)."""
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    lines = text.splitlines()
    return lines[0] if lines and lines[0] else None


def with_password(url: str, password: str | None) -> str:
    """``url`` with ``password`` in it, unless it already has one (or there is none)."""
    if not password:
        return url
    parts = urlsplit(url)
    if parts.password is not None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    netloc = f"{user}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def redacted(text: str, password: str) -> str:
    """``text`` with every occurrence of ``password`` (plain or percent-encoded) hidden."""
    for form in {password, quote(password, safe="")}:
        if form:
            text = text.replace(form, "***")
    return text
