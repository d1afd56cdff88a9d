"""The services' list of built-in markets is the engine's: the markets of an empty state."""

from __future__ import annotations

from engine_svc.core.markets import default_markets
from feed_svc.app import DEFAULT_MARKETS
from mesh_runtime.builtin_markets import BUILTIN_MARKETS


def test_the_builtin_markets_are_the_engines_defaults() -> None:
    assert sorted(BUILTIN_MARKETS) == sorted(default_markets().markets)
    assert DEFAULT_MARKETS == BUILTIN_MARKETS
