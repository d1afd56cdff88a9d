"""schemathesis hooks for the live fuzz run (``SCHEMATHESIS_HOOKS``), steering inputs the
document cannot: which markets and assets exist now, and that an ``Idempotency-Key`` is
one request's (both are state, not schema). Only *schema-valid* values are replaced, by
other schema-valid ones, so a negative case stays negative; schemathesis re-validates a
case a ``before_call`` hook changed.

- a ``market`` / ``asset`` that matches its pattern becomes one of the listed ones
  (``TRADEMESH_FUZZ_MARKETS`` / ``TRADEMESH_FUZZ_ASSETS``) for most examples, keeping some
  unlisted ones, whose documented answer is 404;
- a valid ``Idempotency-Key`` gets a unique prefix: hypothesis repeats small values across
  examples and operations, and a key's second use with another request is (rightly) 422;
- the user's bearer token (schemathesis' auth) becomes an admin's on the admin routes
  (``TRADEMESH_FUZZ_ADMIN_TOKEN``), and on ``/auth/logout`` a token of its own
  (``TRADEMESH_FUZZ_LOGOUT_TOKEN``: logout revokes the token it is called with). Only the
  user's token is swapped: a request schemathesis sends without one, or with a broken one
  (the ``ignored_auth`` and missing-header checks), goes as it is.
"""

from __future__ import annotations

import os
import re
import uuid
import zlib
from typing import Any

import schemathesis

from gateway.request_rules import ASSET_PATTERN, MARKET_PATTERN

_USER = f"Bearer {os.environ.get('TRADEMESH_FUZZ_TOKEN', '')}"
_SWAPS = ((re.compile(r"^/api/v1/admin/"), os.environ.get("TRADEMESH_FUZZ_ADMIN_TOKEN", "")),
          (re.compile(r"^/api/v1/auth/logout$"),
           os.environ.get("TRADEMESH_FUZZ_LOGOUT_TOKEN", "")))
_MARKETS = [m for m in os.environ.get("TRADEMESH_FUZZ_MARKETS", "").split(",") if m]
_ASSETS = [a for a in os.environ.get("TRADEMESH_FUZZ_ASSETS", "").split(",") if a]
_KEY = re.compile(r"[\x21-\x7e]{1,255}", re.ASCII)
_STEERED = {"market": (re.compile(MARKET_PATTERN[:-1] + r"\Z"), _MARKETS),
            "asset": (re.compile(ASSET_PATTERN[:-1] + r"\Z"), _ASSETS)}


def _listed(value: str, choices: list[str]) -> str:
    """A listed symbol for most values (deterministic: the same value, the same choice),
    the value itself for one in five."""
    digest = zlib.crc32(value.encode())
    if not choices or digest % 5 == 0:
        return value
    return choices[digest % len(choices)]


def _steer(container: Any) -> None:
    if not isinstance(container, dict):
        return
    for name, (pattern, choices) in _STEERED.items():
        value = container.get(name)
        if isinstance(value, str) and pattern.match(value):
            container[name] = _listed(value, choices)


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    for container in (case.path_parameters, case.query, case.body):
        _steer(container)
    headers = case.headers
    if headers and headers.get("Authorization") == _USER:
        for path, token in _SWAPS:
            if path.match(case.operation.path):
                headers["Authorization"] = f"Bearer {token}"
    if headers and isinstance(headers.get("Idempotency-Key"), str):
        key = headers["Idempotency-Key"]
        if _KEY.fullmatch(key):
            headers["Idempotency-Key"] = (uuid.uuid4().hex + key)[:255]
