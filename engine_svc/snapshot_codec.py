"""An engine snapshot's bytes: the state image as compact JSON, zlib-compressed.

A snapshot holds every resting order (~240 bytes of JSON each: 140 MB at 600,000 orders).
Written as plain JSON, stdlib ``json`` took 1.8 s to serialize that in the snapshot child,
and PostgreSQL another 1.2 to 2 s to compress it into its TOAST storage, both on the cores
the engine runs on, while the engine's own event loop spent 0.4 s sending the bytes.
``orjson`` writes the same bytes in 0.3 s, zlib at level 1 makes them ~18x smaller in
0.5 s (the JSON's keys and values repeat), and the database then stores what it is given.

:func:`decode` reads both forms: a plain-JSON snapshot (an object starts with ``{``), as
engines before this module wrote them, and a compressed one (which starts with zlib's
header byte, never ``{``). ``TRADEMESH_ENGINE_SNAPSHOT_COMPRESS=off`` writes plain JSON, for
a rollback to an engine that cannot read compressed snapshots.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import orjson

LEVEL = 1  # zlib: ~300 MB/s here, ~18x on a snapshot; level 6 gives ~26x for 2.4x the time


class CorruptSnapshot(ValueError):
    pass


def encode(image: dict[str, Any], *, compress: bool = True) -> bytes:
    """The image's JSON (keys and values as ``json.dumps`` writes them), compressed unless
    ``compress`` is false (plain JSON is what engines before this module read)."""
    try:
        text = orjson.dumps(image, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # an integer past 64 bits: only the stdlib writes those
        text = json.dumps(image, separators=(",", ":")).encode()
    return zlib.compress(text, LEVEL) if compress else text


def decode(blob: bytes) -> dict[str, Any]:
    """The image of a snapshot written by :func:`encode` or as plain JSON."""
    try:
        text = blob if blob[:1] == b"{" else zlib.decompress(blob)
        image = json.loads(text)
    except (zlib.error, ValueError) as err:
        raise CorruptSnapshot(f"the snapshot is neither JSON nor compressed JSON: {err}") \
            from err
    if not isinstance(image, dict):
        raise CorruptSnapshot(f"the snapshot is a JSON {type(image).__name__}, not an object")
    return image
