"""``stale_modules`` names every source an extension module shadows wrongly: a compiled
module older than its source, and one left beside a source that is no longer compiled."""

from __future__ import annotations

import importlib.machinery
import os
from pathlib import Path

from engine_svc.core_build import COMPILED_SOURCES, stale_modules

EXT = importlib.machinery.EXTENSION_SUFFIXES[0]


def _tree(root: Path) -> None:
    """Every compiled source, each with a fresh extension module beside it."""
    for entry in COMPILED_SOURCES:
        source = root / (entry if entry.endswith(".py") else entry + "/__init__.py")
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text("")
        _built(source, newer=True)


def _built(source: Path, newer: bool) -> Path:
    built = source.with_name(source.stem + EXT)
    built.write_bytes(b"")
    stamp = source.stat().st_mtime + (10 if newer else -10)
    os.utime(built, (stamp, stamp))
    return built


def test_a_fresh_build_is_not_stale(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert stale_modules(tmp_path) == []


def test_an_edited_source_is_stale(tmp_path: Path) -> None:
    _tree(tmp_path)
    codec = tmp_path / "engine_svc" / "codec.py"
    _built(codec, newer=False)
    assert stale_modules(tmp_path) == ["engine_svc/codec.py"]


def test_an_extension_module_of_a_source_no_longer_compiled_is_stale(tmp_path: Path) -> None:
    _tree(tmp_path)
    servicer = tmp_path / "engine_svc" / "servicer.py"  # never compiled
    servicer.write_text("")
    _built(servicer, newer=True)
    (tmp_path / "engine_svc" / ("gone" + EXT)).write_bytes(b"")  # no source: not imported
    assert stale_modules(tmp_path) == ["engine_svc/servicer.py"]
